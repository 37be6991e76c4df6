"""Write the small CoLA-style sample that ships with week 0 (used when the Hub is unreachable).

The sentences are generated from templates written for this course, so the sample carries no
third-party data. Unacceptable sentences break one rule each: agreement, word order, auxiliary
form or verb subcategorisation.

    python scripts/make_sample_data.py week_0_project_setup/sample_data
"""

import random
import sys
from pathlib import Path

SINGULAR = ["The cat", "My sister", "The old farmer", "A student", "The teacher", "Our neighbour",
            "The dog", "This child", "The pilot", "A musician", "The baker", "Her brother"]
PLURAL = ["The cats", "My parents", "The farmers", "Many students", "The teachers",
          "Our neighbours", "The dogs", "These children", "The pilots", "Two musicians",
          "The bakers", "Her brothers"]
# base, 3rd person singular, past, past participle, objects
TRANSITIVE = [
    ("read", "reads", "read", "read", ["the letter", "a newspaper", "the old map"]),
    ("write", "writes", "wrote", "written", ["a song", "the letter", "a short story"]),
    ("eat", "eats", "ate", "eaten", ["the bread", "an apple", "the soup"]),
    ("see", "sees", "saw", "seen", ["the bridge", "a red car", "the river"]),
    ("take", "takes", "took", "taken", ["the bus", "a photo", "the last train"]),
    ("find", "finds", "found", "found", ["the keys", "a coin", "the missing book"]),
    ("carry", "carries", "carried", "carried", ["the boxes", "a heavy bag", "the chair"]),
    ("paint", "paints", "painted", "painted", ["the fence", "a portrait", "the kitchen"]),
]
# base, 3rd person singular, past, place
INTRANSITIVE = [
    ("sleep", "sleeps", "slept", "in the garden"),
    ("arrive", "arrives", "arrived", "at noon"),
    ("laugh", "laughs", "laughed", "at the party"),
    ("wait", "waits", "waited", "outside the station"),
    ("smile", "smiles", "smiled", "at the camera"),
]


def acceptable(rng: random.Random) -> str:
    plural = rng.random() < 0.5
    subj = rng.choice(PLURAL if plural else SINGULAR)
    base, third, past, part, objects = rng.choice(TRANSITIVE)
    obj = rng.choice(objects)
    ibase, ithird, ipast, place = rng.choice(INTRANSITIVE)
    low = subj[0].lower() + subj[1:]
    return rng.choice([
        f"{subj} {base if plural else third} {obj}.",
        f"{subj} {past} {obj} yesterday.",
        f"{subj} {'have' if plural else 'has'} {part} {obj}.",
        f"{'Do' if plural else 'Does'} {low} {base} {obj}?",
        f"{subj} {'do' if plural else 'does'} not {base} {obj}.",
        f"{subj} {ibase if plural else ithird} {place}.",
        f"{subj} {ipast} {place} last week.",
        f"{subj} will {base} {obj} tomorrow.",
    ])


def unacceptable(rng: random.Random) -> str:
    plural = rng.random() < 0.5
    subj = rng.choice(PLURAL if plural else SINGULAR)
    base, third, past, part, objects = rng.choice(TRANSITIVE)
    obj = rng.choice(objects)
    ibase, ithird, ipast, place = rng.choice(INTRANSITIVE)
    low = subj[0].lower() + subj[1:]
    return rng.choice([
        f"{subj} {third if plural else base} {obj}.",  # agreement
        f"{subj} {obj} {base if plural else third}.",  # word order
        f"{subj} {'has' if plural else 'have'} {part} {obj}.",  # auxiliary agreement
        f"{subj} {'have' if plural else 'has'} {past if past != part else base} {obj}.",
        f"{'Do' if plural else 'Does'} {low} {past} {obj}?",  # tense after do
        f"{subj} will {third} {obj} tomorrow.",  # inflected verb after a modal
        f"{subj} {ibase if plural else ithird} {obj}.",  # intransitive verb with an object
        f"{subj} {ipast} {obj} {place}.",
    ])


def main(out_dir: Path, train_rows: int = 320, val_rows: int = 80) -> None:
    rng = random.Random(2024)
    rows: dict[str, int] = {}
    while len(rows) < train_rows + val_rows:
        label = int(rng.random() < 0.66)
        sentence = acceptable(rng) if label else unacceptable(rng)
        rows.setdefault(sentence, label)
    items = list(rows.items())
    rng.shuffle(items)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in [("train.tsv", items[:train_rows]), ("validation.tsv", items[train_rows:])]:
        lines = [f"mlb\t{label}\t{'' if label else '*'}\t{text}\n" for text, label in part]
        (out_dir / name).write_text("".join(lines), encoding="utf-8")
        print(f"{out_dir / name}: {len(lines)} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("week_0_project_setup/sample_data"))
