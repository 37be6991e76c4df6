"""scripts/next_week.py: a learner trains once, in week 0, and carries that model through weeks
1 to 5 without training again. Run for real on copies of the weeks in a new git repository,
with the offline fallback (the shipped sample and the tiny BERT) standing in for CoLA and
MiniLM."""

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
    """The week as git has it (no outputs), its config's training shortened to one epoch."""
    files = subprocess.run(["git", "ls-files", "-z", week.name], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    training = root / week.name / "configs" / "training" / "default.yaml"
    if training.is_file():  # week 2 on
        training.write_text(training.read_text().replace("max_epochs: 5", "max_epochs: 1"))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    pytest.importorskip("torch", reason="this environment has only the linters installed")
    root = tmp_path_factory.mktemp("course")
    for number in range(6):
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


def run(week: Path, env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=week, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_a_week_without_a_trained_model_says_so(course) -> None:
    root, _ = course
    with pytest.raises(ValueError, match=r"week_2_hydra_config has no trained model .*train "
                                         r"there first"):
        next_week.bring(3, root=root)


def test_trained_once_in_week_0_then_carried_to_week_5(course, monkeypatch) -> None:
    root, env = course
    monkeypatch.setenv("PATH", env["PATH"])
    weeks = [root / WEEKS[n].name for n in range(6)]
    run(weeks[0], env, "train.py", "--epochs", "1")
    original = (weeks[0] / next_week.CHECKPOINT).read_bytes()
    sentence = "The cat sat on the mat."
    expected = run(weeks[0], env, "inference.py", sentence)

    for number in (1, 2):  # no DVC yet: the checkpoint is copied, the predictor reads it
        assert next_week.bring(number, root=root) == [next_week.CHECKPOINT]
        assert run(weeks[number], env, "inference.py", sentence) == expected

    next_week.bring(3, root=root)  # DVC arrives: prepare runs, train is recorded, not rerun
    stale = json.loads(dvc(weeks[3], env, "status", "--json"))
    assert set(stale) == {"evaluate"}, stale
    assert "Running stage 'train'" not in dvc(weeks[3], env, "repro")

    next_week.bring(4, root=root)  # only what week 4 adds runs: the export
    stale = json.loads(dvc(weeks[4], env, "status", "--json"))
    assert "train" not in stale and "prepare" not in stale and "export" in stale
    rerun = dvc(weeks[4], env, "repro")
    assert "Running stage 'export'" in rerun and "Running stage 'train'" not in rerun

    assert "outputs/onnx" in next_week.bring(5, root=root)
    stale = json.loads(dvc(weeks[5], env, "status", "--json"))
    assert not {"prepare", "train", "export"} & set(stale), stale
    assert (weeks[5] / "outputs" / "onnx" / "model.int8.onnx").is_file()  # ready to build
    assert (weeks[5] / next_week.CHECKPOINT).read_bytes() == original
    assert run(weeks[5], env, "inference.py", sentence) == expected
