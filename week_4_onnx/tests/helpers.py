"""What the tests share besides fixtures (those are in conftest.py): the week's folder, where
the real CoLA files would be, a small learnable task written as CoLA's TSV files, a free port."""

import random
import socket
from pathlib import Path

WEEK_DIR = Path(__file__).resolve().parents[1]
SHARED_COLA = WEEK_DIR.parent.parent / "shared" / "data" / "cola"

# A learnable toy task: the two classes use different words, so a tiny model separates them fast.
GOOD_WORDS = ["the", "cat", "sat", "on", "a", "warm", "mat", "and", "slept", "well", "today"]
BAD_WORDS = ["green", "ideas", "sleep", "furiously", "colour", "below", "over", "quickly", "yes",
             "seven"]


def toy_rows(n: int, seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.choices(GOOD_WORDS if label else BAD_WORDS, k=rng.randint(3, 9))
        rows.append((label, " ".join(words).capitalize() + "."))
    return rows


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tsv(path: Path, rows: list[tuple[int, str]]) -> Path:
    path.write_text("".join(f"toy\t{label}\t\t{text}\n" for label, text in rows), encoding="utf-8")
    return path
