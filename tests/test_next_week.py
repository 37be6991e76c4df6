"""scripts/next_week.py: what was trained in one week serves the next without training again.
Run for real on copies of weeks 3-5 in a new git repository, with the offline fallback (the
shipped sample and the tiny BERT) standing in for CoLA and MiniLM."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import next_week
import weekdiff
from conftest import ROOT

pytestmark = pytest.mark.slow
WEEKS = weekdiff.week_dirs(ROOT)


def tracked_copy(week: Path, root: Path) -> None:
    """The week as git has it (no outputs), training shortened to one epoch."""
    files = subprocess.run(["git", "ls-files", "-z", week.name], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    training = root / week.name / "configs" / "training" / "default.yaml"
    training.write_text(training.read_text().replace("max_epochs: 5", "max_epochs: 1"))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    pytest.importorskip("torch", reason="this environment has only the linters installed")
    root = tmp_path_factory.mktemp("course")
    for number in (3, 4, 5):
        tracked_copy(WEEKS[number], root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    env.pop("COLA_DATA_DIR", None)
    return root, env


def dvc(week: Path, env: dict, *args: str) -> str:
    result = subprocess.run(["dvc", *args], cwd=week, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_a_week_without_a_trained_model_says_so(course) -> None:
    root, _ = course
    with pytest.raises(ValueError, match=r"week_3_dvc has no trained model .*train there first"):
        next_week.bring(4, root=root)


def test_trained_once_in_week_3_then_carried_to_weeks_4_and_5(course, monkeypatch) -> None:
    root, env = course
    week3, week4, week5 = (root / WEEKS[n].name for n in (3, 4, 5))
    assert "Running stage 'train'" in dvc(week3, env, "repro")
    monkeypatch.setenv("PATH", env["PATH"])

    assert "outputs/checkpoints/best.ckpt" in next_week.bring(4, root=root)
    stale = json.loads(dvc(week4, env, "status", "--json"))
    assert "train" not in stale and "prepare" not in stale and "export" in stale
    rerun = dvc(week4, env, "repro")
    assert "Running stage 'export'" in rerun and "Running stage 'train'" not in rerun
    assert (week4 / "outputs" / "checkpoints" / "best.ckpt").read_bytes() == (
        week3 / "outputs" / "checkpoints" / "best.ckpt").read_bytes()

    copied = next_week.bring(5, root=root)
    assert "outputs/onnx" in copied
    stale = json.loads(dvc(week5, env, "status", "--json"))
    assert not {"prepare", "train", "export"} & set(stale), stale
    assert (week5 / "outputs" / "onnx" / "model.int8.onnx").is_file()  # ready to build
