"""ColaPredictor and the inference CLI: output shape, a checkpoint that loads alone, and clear
errors for bad input."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config_schema import load_config
from helpers import WEEK_DIR
from inference import ColaPredictor, main
from train import train


def test_one_sentence_gives_a_dict_and_a_list_gives_a_list(trained_run: dict) -> None:
    predictor = ColaPredictor(trained_run["checkpoint"])
    single = predictor.predict("The cat sat on a warm mat.")
    assert set(single) == {"label", "score"}
    several = predictor.predict(["The cat slept.", "Green ideas sleep furiously.",
                                 "The cat sat on a warm mat."])
    assert [p["label"] for p in several] == ["acceptable", "unacceptable", "acceptable"]
    assert several[2]["score"] == pytest.approx(single["score"], abs=1e-5)  # padding is masked


@pytest.mark.parametrize("bad", ["", "   ", 42, None, [], ["ok", ""], ["ok", 3], "bad \ud800"])
def test_bad_input_is_rejected_with_a_clear_error(trained_run: dict, bad) -> None:
    with pytest.raises(ValueError, match=r"expected a|not valid Unicode"):
        ColaPredictor(trained_run["checkpoint"]).predict(bad)


def test_missing_checkpoint_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        ColaPredictor(tmp_path / "nope.ckpt")


def test_corrupt_checkpoint_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "best.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable ColaModel checkpoint"):
        ColaPredictor(path)


def test_cli_prints_predictions(trained_run: dict, capsys) -> None:
    assert main(["--checkpoint", trained_run["checkpoint"], "The cat slept well."]) == 0
    assert capsys.readouterr().out.split()[0] == "acceptable"


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--checkpoint", str(tmp_path / "missing.ckpt"), "Hello."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint not found") and err.count("\n") == 1


def test_the_checkpoint_loads_alone_on_another_machine(tmp_path: Path, toy_data_dir: Path,
                                                       tiny_model_dir: str) -> None:
    """Trained from a base model that is gone afterwards, moved to a fresh folder, loaded with
    no Hub: weights, tokenizer, labels and max_length all come from the checkpoint."""
    base = shutil.copytree(tiny_model_dir, tmp_path / "base-model")
    summary = train(load_config(f"data.path={toy_data_dir}", f"model.name={base}",
                                "training.trainer.max_epochs=1", "data.max_length=6",
                                f"output_dir={tmp_path / 'run'}", "logger=csv"))
    shutil.rmtree(base)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checkpoint = shutil.move(summary["checkpoint"], elsewhere / "model.ckpt")
    shutil.rmtree(tmp_path / "run")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(WEEK_DIR / "inference.py"), "--checkpoint",
                             str(checkpoint), "The cat sat on a warm mat."], cwd=elsewhere,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] in ("acceptable", "unacceptable")
    predictor = ColaPredictor(checkpoint)
    assert predictor.max_length == 6
    assert predictor.model.model.config.id2label == {0: "unacceptable", 1: "acceptable"}
    long = "The cat sat on a warm mat and slept well today."
    assert len(predictor.tokenizer(long, truncation=True, max_length=predictor.max_length)
               ["input_ids"]) == 6
    # truncation at 6 tokens: words after the fifth change nothing
    assert predictor.predict(long) == predictor.predict("The cat sat on a warm mat and.")
