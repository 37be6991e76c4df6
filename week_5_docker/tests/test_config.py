"""The Hydra config: composition, overrides, interpolation, sweeps and readable errors."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from config_schema import ConfigError, check, load_config
from helpers import WEEK_DIR
from inference import main as predict_main
from sweep_report import main as sweep_report_main
from train import train


def test_defaults_compose_into_the_documented_config() -> None:
    cfg = load_config()
    assert cfg.model.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert cfg.checkpoint == "outputs/checkpoints/best.ckpt"
    assert cfg.logger.wandb.project == "mlops-basics"
    trainer = cfg.training.trainer
    for knob in ("accelerator", "devices", "strategy", "precision", "accumulate_grad_batches"):
        assert knob in trainer
    check(cfg)


def test_overrides_and_group_choices() -> None:
    cfg = load_config("model=tiny", "training=quick", "training.lr=1e-4", "logger=csv",
                         "data.path=/data/cola", "output_dir=elsewhere")
    assert cfg.model.name == "prajjwal1/bert-tiny"
    assert cfg.training.trainer.limit_train_batches == 20 and cfg.training.lr == 1e-4
    assert cfg.logger.wandb is None and cfg.data.path == "/data/cola"
    assert cfg.checkpoint == "elsewhere/checkpoints/best.ckpt"  # interpolated


def test_environment_variables_fill_defaults(monkeypatch) -> None:
    monkeypatch.setenv("COLA_DATA_DIR", "/from/env")
    monkeypatch.setenv("WANDB_MODE", "online")
    cfg = load_config()
    assert cfg.data.path == "/from/env" and cfg.logger.wandb.mode == "online"


def test_predictor_reads_the_checkpoint_path_from_the_same_config(tmp_path: Path, capsys) -> None:
    assert predict_main(["--set", f"output_dir={tmp_path}", "Hello."]) == 2
    expected = load_config(f"output_dir={tmp_path}").checkpoint
    assert capsys.readouterr().err.startswith(f"error: checkpoint not found: {expected} (")


@pytest.mark.parametrize("override, error, message", [
    ("model=nope", ConfigCompositionException, "Could not find 'model/nope'"),
    ("training.lr=fast", ConfigCompositionException, "training.lr"),
    ("training.lrr=1", ConfigCompositionException, "Could not override 'training.lrr'"),
])
def test_bad_overrides_are_rejected_when_composing(override, error, message) -> None:
    with pytest.raises(error, match=message):
        load_config(override)


@pytest.mark.parametrize("override, message", [
    ("model.name=???", "missing value for model.name"),
    ("training.lr=-1", "training.lr must be positive"),
    ("data.max_length=0", "data.max_length must be at least 1"),
    ("training.monitor=val/speed", "training.monitor must be one of"),
    ("logger.wandb.mode=sometimes", "logger.wandb.mode must be online, offline or disabled"),
])
def test_values_that_compose_but_cannot_work_are_rejected(override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        check(load_config(override))


def test_wrong_type_is_caught_by_the_schema() -> None:
    with pytest.raises((ValidationError, ConfigCompositionException)):
        load_config("data.batch_size=many")


def run_train(*overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    return subprocess.run([sys.executable, "train.py", *overrides], cwd=WEEK_DIR, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("override, message", [
    ("model=nope", "Could not find 'model/nope'"),
    ("training.lr=fast", "could not be converted to Float"),
    ("training.trainer.max_epochs=0", "error: training.trainer.max_epochs must be at least 1"),
])
def test_command_line_errors_are_readable(tmp_path: Path, override: str, message: str) -> None:
    result = run_train(override, f"output_dir={tmp_path}")
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_two_job_multirun(tmp_path: Path, toy_data_dir: Path, tiny_model_dir: str) -> None:
    result = run_train("-m", "training.lr=1e-3,3e-3", f"data.path={toy_data_dir}",
                       f"model.name={tiny_model_dir}", "training.trainer.max_epochs=1",
                       "logger=csv", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    for job, lr in (("job0", 1e-3), ("job1", 3e-3)):
        summary = json.loads((tmp_path / job / "run.json").read_text())
        assert summary["config"]["training"]["lr"] == lr
        assert summary["checkpoint"] == str(tmp_path / job / "checkpoints" / "best.ckpt")
        assert Path(summary["checkpoint"]).is_file()


@pytest.mark.slow
def test_an_optuna_search(tmp_path: Path, toy_data_dir: Path, tiny_model_dir: str,
                          capsys) -> None:
    result = run_train("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2",
                       f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                       "training.trainer.max_epochs=1", "logger=csv",
                       f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_params:" in best and "training.lr:" in best
    trials = [json.loads((tmp_path / job / "run.json").read_text()) for job in ("job0", "job1")]
    assert trials[0]["config"]["training"]["lr"] != trials[1]["config"]["training"]["lr"]
    check_sweep_report(tmp_path, trials, capsys)


def check_sweep_report(sweep_dir: Path, trials: list[dict], capsys) -> None:
    """sweep_report.py shows each trial's score, minutes and own overrides; the shared ones
    once; a trial that did not finish as such; and a folder that is no sweep in one line."""
    overrides = (sweep_dir / "job1" / ".hydra" / "overrides.yaml").read_text()
    (sweep_dir / "job2" / ".hydra").mkdir(parents=True)  # a trial that crashed
    (sweep_dir / "job2" / ".hydra" / "overrides.yaml").write_text(
        re.sub(r"training\.lr=\S+", "training.lr=0.5", overrides))
    assert sweep_report_main([str(sweep_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("every trial: python train.py ") and "logger=csv" in lines[0]
    rows = [line.split(" | ") for line in lines[4:]]
    assert [row[0] for row in rows] == ["| 0", "| 1", "| 2"]
    scores = [trial["val_metrics"]["val/mcc"] for trial in trials]
    for row, trial, score in zip(rows[:2], trials, scores, strict=True):
        shown_score = row[1].strip("*")
        assert float(shown_score) == pytest.approx(score, abs=5e-4)
        assert row[1].startswith("**") == (trial is trials[scores.index(max(scores))])
        assert float(row[4]) == pytest.approx(trial["minutes"], abs=0.05)
        assert f"training.lr={trial['config']['training']['lr']:.3g}" in row[5]
        assert "logger=csv" not in row[5]
    assert rows[2][1] == "did not finish"
    assert sweep_report_main([str(sweep_dir / "job0")]) == 2
    assert "no job folders" in capsys.readouterr().err


def test_the_quick_preset_validates_and_keeps_a_checkpoint_on_long_epochs(
        tmp_path: Path, toy_data_dir: Path, tiny_model_dir: str) -> None:
    """40 batches an epoch, quick stops after 20: validation still runs, a checkpoint is kept."""
    summary = train(load_config(f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                                "training=quick", "data.batch_size=4", "logger=csv",
                                f"output_dir={tmp_path}"))
    assert Path(summary["checkpoint"]).is_file() and "val/mcc" in summary["val_metrics"]
    metrics = (tmp_path / "logs" / "version_0" / "metrics.csv").read_text().splitlines()
    steps = {line.split(",")[metrics[0].split(",").index("step")] for line in metrics[1:]}
    assert max(int(step) for step in steps if step) < 40
