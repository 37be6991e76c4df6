"""What the tests share besides fixtures (those are in conftest.py): the week's folder, where
the real CoLA files would be, a small learnable task written as CoLA's TSV files, a free port,
the image build context; and the monitoring's prediction events and stand-in servers."""

import json
import random
import shutil
import socket
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
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


def copy_build_context(dest: Path) -> Path:
    """This week's image build context, as .dockerignore lets it through (its "!" lines): the
    Dockerfiles and the code, without the model (the tests export their own into it)."""
    keep = [line[1:] for line in (WEEK_DIR / ".dockerignore").read_text().splitlines()
            if line.startswith("!") and not line.startswith("!outputs/")]
    for name in (*(p.name for p in WEEK_DIR.glob("Dockerfile*")), ".dockerignore", *keep):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(WEEK_DIR / name, dest / name)
    return dest


# --- monitoring (week 9) ----------------------------------------------------------------------

class JSONHandler(BaseHTTPRequestHandler):
    """A quiet request handler for stand-in servers that answer in JSON."""

    def log_message(self, *args) -> None:
        pass

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def make_events(n: int, start: datetime | None = None, step_s: float = 1.0) -> list[dict]:
    """n prediction events, one request each, as prediction_log.py writes them: from `start`,
    or by default ending a minute before now (the clock the test runs on)."""
    if start is None:
        start = datetime.now(UTC) - timedelta(seconds=n * step_s + 60)
    events = []
    for i in range(n):
        stamp = (start + timedelta(seconds=i * step_s)).isoformat(timespec="milliseconds")
        events.append({
            "event": "prediction", "@timestamp": stamp.replace("+00:00", "Z"),
            "event_id": f"req{i:05d}-0", "request_id": f"req{i:05d}", "source": "fastapi",
            "model_sha256": "ab" * 32, "model_version": "local", "text_chars": 10 + i % 50,
            "text_tokens": 3 + i % 12, "unk_share": 0.0, "label": ("acceptable", "unacceptable")[
                i % 3 == 0], "score": 0.503 + (i % 49) / 100,
            "latency_ms": round(2.0 + i * 7919 % 1000 / 100, 2),  # 2-12 ms, spread: p95 < max
            "batch_size": 1})
    return events


def daily_index(event: dict) -> str:
    """The index an event belongs in: its day's, as the template names them."""
    return "cola-predictions-" + event["@timestamp"][:10].replace("-", ".")


def indexed_ids(url: str) -> list[str]:
    from opensearchpy import OpenSearch

    client = OpenSearch([url])
    client.indices.refresh(index="cola-predictions-*")
    hits = client.search(index="cola-predictions-*", body={"size": 10_000, "_source": False})
    return [hit["_id"] for hit in hits["hits"]["hits"]]
