"""Pipeline stage 3: score the trained checkpoint on the validation split and write
metrics.json (accuracy, F1, MCC) for `dvc metrics show` and `dvc metrics diff`.

    python evaluate.py data.path=data/cola      # the configured checkpoint
"""

import json
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torchmetrics.functional.classification import (
    binary_accuracy,
    binary_f1_score,
    binary_matthews_corrcoef,
)

import config_schema  # noqa: F401  (registers the config's types)
from data import LABELS, SPLIT_FILES, DataError, read_cola_tsv
from inference import ColaPredictor

METRICS_FILE = Path("metrics.json")


def score(predict: Callable[[list[str]], list[dict]], sentences: list[str], labels: list[int],
          batch_size: int = 64) -> dict[str, float]:
    """Accuracy, F1 and MCC of any predictor (PyTorch or ONNX) on labelled sentences."""
    predictions = []
    for start in range(0, len(sentences), batch_size):
        predictions += predict(sentences[start:start + batch_size])
    preds = torch.tensor([LABELS.index(p["label"]) for p in predictions])
    target = torch.tensor(labels)
    return {"accuracy": round(float(binary_accuracy(preds, target)), 4),
            "f1": round(float(binary_f1_score(preds, target)), 4),
            "mcc": round(float(binary_matthews_corrcoef(preds, target)), 4),
            "rows": len(sentences)}


def evaluate(checkpoint: str, data_dir: str) -> dict[str, float]:
    validation = read_cola_tsv(Path(data_dir) / SPLIT_FILES["validation"])
    return score(ColaPredictor(checkpoint).predict, validation["sentence"][:],
                 validation["label"][:])


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        if cfg.data.path is None:
            raise ValueError("set data.path to the folder with the prepared validation.tsv")
        metrics = evaluate(cfg.checkpoint, cfg.data.path)
    except (DataError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    METRICS_FILE.write_text(json.dumps(metrics, indent=2) + "\n")
    print("validation:", "  ".join(f"{k}={v}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
