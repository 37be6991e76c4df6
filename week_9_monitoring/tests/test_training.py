"""Training: the model learns a learnable task, checkpoints it, and keeps dropout on."""

import csv
from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from config_schema import load_config
from inference import ColaPredictor
from model import ColaModel
from train import train


def test_a_short_run_learns_the_toy_task(trained_run: dict) -> None:
    metrics = pd.read_csv(next(Path(trained_run["checkpoint"]).parents[1].glob(
        "logs/version_*/metrics.csv")))
    epoch_loss = metrics.dropna(subset=["val/loss"])["val/loss"].tolist()
    assert epoch_loss[-1] < epoch_loss[0] - 0.1, f"validation loss did not drop: {epoch_loss}"
    assert trained_run["val_metrics"]["val/acc"] >= 0.85  # chance is 0.5
    assert trained_run["val_metrics"]["val/mcc"] >= 0.7


def test_the_run_records_its_sources_and_best_checkpoint(trained_run: dict) -> None:
    assert Path(trained_run["checkpoint"]).name == "best.ckpt"
    assert trained_run["data_source"].startswith("local:")
    assert trained_run["model_source"].startswith("local:")
    hparams = torch.load(trained_run["checkpoint"], map_location="cpu",
                         weights_only=False)["hyper_parameters"]
    assert hparams["data_source"] == trained_run["data_source"]


def test_predictor_matches_the_trained_weights_run_by_hand(trained_run: dict,
                                                          tiny_model_dir: str,
                                                          toy_data_dir: Path) -> None:
    """The checkpoint's weights in a plain transformers model built from the base folder, run
    by hand, give the predictor's labels and scores."""
    with open(toy_data_dir / "validation.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    sentences = [row[3] for row in rows]
    weights = torch.load(trained_run["checkpoint"], map_location="cpu",
                         weights_only=False)["state_dict"]
    reference = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    reference.load_state_dict({k.removeprefix("model."): v for k, v in weights.items()})
    reference.eval()
    batch = AutoTokenizer.from_pretrained(tiny_model_dir)(sentences, padding=True,
                                                          return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(reference(**batch).logits, dim=-1)
    predictions = ColaPredictor(trained_run["checkpoint"]).predict(sentences)
    for pred, p in zip(predictions, probs, strict=True):
        assert pred["label"] == ("acceptable" if p[1] > p[0] else "unacceptable")
        assert abs(pred["score"] - float(p.max())) < 1e-5
    accuracy = sum(p["label"] == ("acceptable" if r[1] == "1" else "unacceptable")
                   for p, r in zip(predictions, rows, strict=True)) / len(rows)
    assert accuracy >= 0.85


def test_dropout_is_active_while_fine_tuning(tiny_model_dir: str) -> None:
    model = ColaModel(tiny_model_dir)
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(m.training for m in dropouts)


def test_a_run_too_short_to_validate_is_one_clear_error(tmp_path: Path, toy_data_dir: Path,
                                                        tiny_model_dir: str) -> None:
    cfg = load_config(f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                      "training.trainer.max_steps=1", "logger=csv", f"output_dir={tmp_path}")
    with pytest.raises(ValueError, match="stopped before its first validation"):
        train(cfg)
