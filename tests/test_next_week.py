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


PIPELINE = """stages:
  prepare:
    cmd: mkdir -p data/cola && echo "a sentence" > data/cola/train.tsv
    outs:
      - data/cola
  train:
    cmd: mkdir -p outputs/checkpoints && cp data/cola/train.tsv outputs/checkpoints/best.ckpt
    deps:
      - data/cola
    outs:
      - outputs/checkpoints/best.ckpt
  export:
    cmd: python convert_model_to_onnx.py{arguments}
    deps:
      - outputs/checkpoints/best.ckpt
      - convert_model_to_onnx.py
    outs:
      - outputs/onnx
"""
EXPORT = """import pathlib, sys
out = pathlib.Path("outputs/onnx")
out.mkdir(parents=True, exist_ok=True)
(out / "model.onnx").write_text(pathlib.Path("outputs/checkpoints/best.ckpt").read_text())
for name in sys.argv[1:]:
    (out / name).write_text("statistics")
"""


def test_a_stage_the_next_week_changes_is_left_to_run(tmp_path, capsys, monkeypatch) -> None:
    """Two small DVC weeks: the second one's export stage also writes a reference file. Carried
    over, the first week's export must not count as the second's: dvc repro runs it (and only
    it), and the reference appears."""
    pytest.importorskip("dvc", reason="this environment has only the linters installed")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    env = dict(os.environ)
    for name, arguments in (("week_0_before", ""), ("week_1_after", " reference.json")):
        week = tmp_path / name
        week.mkdir()
        (week / "dvc.yaml").write_text(PIPELINE.format(arguments=arguments))
        (week / "convert_model_to_onnx.py").write_text(EXPORT)
        dvc(week, env, "init", "--subdir", "-q")
    before, after = tmp_path / "week_0_before", tmp_path / "week_1_after"
    dvc(before, env, "repro")

    next_week.bring(1, root=tmp_path)
    assert "week_1_after changes the stage export: left for `dvc repro` to run" \
        in capsys.readouterr().out
    assert set(json.loads(dvc(after, env, "status", "--json"))) == {"export"}
    rerun = dvc(after, env, "repro")
    assert "Running stage 'export'" in rerun and "Running stage 'train'" not in rerun
    assert (after / "outputs" / "onnx" / "reference.json").is_file()
