"""Traffic for the monitoring to look at: sentences through the exported model, each written
as the prediction event the service would write (prediction_log.py), one JSON line each.

    python -m monitoring.simulate_traffic sample_data/validation.tsv > events.log   # like training
    python -m monitoring.simulate_traffic sample_data/validation.tsv --drift > drifted.log
    python -m monitoring.simulate_traffic test.tsv --spread-hours 24 > events.log   # over a day

Sentences come from the last column of a TSV file (CoLA's train/validation/test files).
--drift makes them what a model in production meets and was not trained on: two or three
sentences run together, in capitals, with characters its vocabulary lacks.
"""

import argparse
import csv
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inference_onnx import ColaONNXPredictor
from monitoring.prediction_log import PredictionLog, timestamp
from serving import DEFAULT_MODEL, model_summary

NOISE = ["→", "☺", "漢字", "ü", "🙂", "…"]


def read_sentences(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]
    return [row[-1] for row in rows if row[-1] != "sentence"]  # test.tsv has a header


def drifted(sentences: list[str], rng: random.Random) -> list[str]:
    out = []
    for _ in sentences:
        text = " ".join(rng.sample(sentences, rng.randint(2, 3))).upper()
        words = text.split()
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(NOISE))
        out.append(" ".join(words))
    return out


def simulate(model: str, sentences: list[str], spread_hours: float, seed: int = 0) -> list[dict]:
    predictor = ColaONNXPredictor(model)
    log = PredictionLog(predictor.tokenizer, model_summary(model)["sha256"], "simulated",
                        "simulation")
    rng, now, events = random.Random(seed), datetime.now(UTC), []
    for i, text in enumerate(sentences):
        event = log.events(f"sim{seed}-{i:06d}", [text], predictor.predict([text]),
                           rng.uniform(1.5, 6))[0]
        stamp = now - timedelta(hours=spread_hours * (1 - i / len(sentences)))
        event["@timestamp"] = timestamp(stamp)
        events.append(event)
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prediction events for a file of sentences.")
    parser.add_argument("sentences", type=Path, help="a TSV file; its last column is used")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--drift", action="store_true", help="make the sentences unlike CoLA's")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many (1000)")
    parser.add_argument("--spread-hours", type=float, default=0.0,
                        help="stamp the events over the last N hours (default: now)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        sentences = read_sentences(args.sentences)[:args.limit]
        if not sentences:
            raise ValueError(f"{args.sentences}: no sentences")
        if args.drift:
            sentences = drifted(sentences, random.Random(args.seed))
        events = simulate(args.model, sentences, args.spread_hours, args.seed)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sys.stdout.writelines(json.dumps(e) + "\n" for e in events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
