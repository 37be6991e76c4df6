"""The drift reference: the exported model's view of the validation sentences.

    python -m monitoring.reference                          # the config's data (Hub or data.path)
    python -m monitoring.reference --set data.path=data/cola   # what the reference stage runs

Scores the validation sentences with the int8 model (onnx.quantized), turns them into the
prediction events the service would have written (prediction_log.py), and saves their
statistics (drift.py) with the training labels' counts to monitoring.reference, which
drift_report.py compares production traffic with. A DVC stage of its own: changing the drift
code re-computes it without exporting the model again.
Exit status: 0 written, 2 an error (no model, no data, a bad setting).
"""

import argparse
import json
import sys
from pathlib import Path

from data import load_cola
from inference_onnx import ColaONNXPredictor
from monitoring.drift import reference_stats
from monitoring.prediction_log import PredictionLog

BATCH = 64  # sentences per predict call: the scores do not depend on it, only the memory


def save_reference(model_path: str, data_path: str | None, out_path: str) -> dict:
    """The model's predictions on the validation sentences, as prediction events, summarised,
    with the training labels' counts; written to out_path as JSON."""
    splits, source = load_cola(data_path)
    predictor = ColaONNXPredictor(model_path)
    texts = list(splits["validation"]["sentence"])
    predictions = [p for start in range(0, len(texts), BATCH)
                   for p in predictor.predict(texts[start:start + BATCH])]
    log = PredictionLog(predictor.tokenizer, "", "", "reference")
    reference = reference_stats(log.events("reference", texts, predictions, 0.0),
                                list(splits["train"]["label"]))
    reference["data"] = source
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(reference), encoding="utf-8")
    print(f"reference statistics of {len(texts)} validation sentences ({source}): {out}")
    return reference


def main(argv: list[str] | None = None) -> int:
    from config_schema import CONFIG_ERRORS, add_override_option, load_config

    parser = argparse.ArgumentParser(description="Write the drift reference statistics.")
    add_override_option(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(*args.set)
        save_reference(cfg.onnx.quantized, cfg.data.path, cfg.monitoring.reference)
    except (OSError, ValueError, *CONFIG_ERRORS) as err:  # a DataError is a ValueError too
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
