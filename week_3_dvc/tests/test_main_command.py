"""The week's main job as a learner runs it, with no Hub and no data given: it must fall back
loudly to the shipped sample and a tiny model, train, and print predictions."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import WEEK_DIR

pytestmark = pytest.mark.slow  # starts Python processes that train


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=WEEK_DIR, env=env, capture_output=True,
                          text=True, timeout=300)


def test_train_then_predict_without_the_hub(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("COLA_DATA_DIR", None)
    train = run(["train.py", f"output_dir={tmp_path}", "training.trainer.max_epochs=2"], env)
    assert train.returncode == 0, train.stderr[-2000:]
    assert "WARNING: the Hugging Face Hub is unreachable" in train.stdout
    assert "WARNING: model 'sentence-transformers/all-MiniLM-L6-v2'" in train.stdout
    assert "validation: val/loss=" in train.stdout
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()

    predict = run(["inference.py", "--set", f"output_dir={tmp_path}",
                   "The cat sat on the mat.", "Mat the on sat cat the."], env)
    assert predict.returncode == 0, predict.stderr[-2000:]
    lines = predict.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all(line.split()[0] in ("acceptable", "unacceptable") for line in lines)


def test_bad_arguments_fail_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = run(["train.py", f"data.path={tmp_path / 'nowhere'}", f"output_dir={tmp_path}"], env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nowhere'}: data directory not found"


@pytest.mark.parametrize("override, message", [
    ("model.name={folder}", "error: {folder}: not a Hugging Face model folder"),
    ("training.trainer.accelerator=gpu", "error: No supported gpu backend found"),
])
def test_a_bad_setting_fails_in_one_line(tmp_path: Path, toy_data_dir: Path, tiny_model_dir: str,
                                         override: str, message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    result = run(["train.py", f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                  override.format(folder=tmp_path), f"output_dir={tmp_path / 'out'}",
                  "logger=csv"], {**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]  # before it: progress bars of model loading
    assert last.startswith(message.format(folder=tmp_path)), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
