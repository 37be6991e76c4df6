"""Each week stands alone: its own pinned requirements (the root's versions), its own
.gitignore, and, copied out of the course into an empty folder, its fast tests pass there."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import weekdiff
from conftest import ROOT

WEEKS = weekdiff.week_dirs(ROOT)
GENERATED = {".": {"outputs", "lightning_logs", "wandb", "multirun", "dvc-storage", "metrics.json",
                   "dvc.lock", ".pytest_cache", ".hypothesis"},
             "data": {"cola"}, ".dvc": {"cache", "tmp", "config.local"}}
# import name -> the pinned package that provides it (directly or as its declared dependency)
PROVIDERS = {"pytorch_lightning": "pytorch-lightning", "huggingface_hub": "huggingface-hub",
             "hydra": "hydra-core", "omegaconf": "hydra-core", "yaml": "PyYAML",
             "moto": "moto[server]", "boto3": "boto3", "botocore": "boto3", "numpy": "onnxruntime",
             "pydantic": "fastapi", "onnx_ir": "onnxscript", "opensearchpy": "opensearch-py"}


def pins(path: Path) -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return dict(line.split("==") for line in lines if line)


ROOT_PINS = pins(ROOT / "requirements.txt")


@pytest.mark.parametrize("week", WEEKS.values(), ids=lambda p: p.name)
def test_a_week_pins_the_root_versions_and_keeps_the_last_weeks(week: Path) -> None:
    own = pins(week / "requirements.txt")
    assert own and {name: ROOT_PINS.get(name) for name in own} == own
    number = list(WEEKS.values()).index(week)
    if number:
        previous = pins(WEEKS[number - 1] / "requirements.txt")
        assert previous.items() <= own.items(), "a later week keeps every earlier package"


@pytest.mark.parametrize("week", WEEKS.values(), ids=lambda p: p.name)
def test_a_week_requires_every_package_it_imports(week: Path) -> None:
    own = {name.lower() for name in pins(week / "requirements.txt")}
    local = {p.stem for p in [*week.glob("*.py"), *week.glob("tests/*.py")]} | {
        p.parent.name for p in week.glob("*/__init__.py")}  # the week's own packages
    for source in (week / name for name in weekdiff.week_files(week) if name.endswith(".py")):
        for name in re.findall(r"^(?:from|import) (\w+)", source.read_text(), re.MULTILINE):
            if name in sys.stdlib_module_names or name in local:
                continue
            package = PROVIDERS.get(name, name.replace("_", "-")).lower()
            assert package in own, f"{source.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("week", WEEKS.values(), ids=lambda p: p.name)
def test_a_week_ignores_what_its_runs_generate(week: Path) -> None:
    ignored = (week / ".gitignore").read_text().splitlines()
    assert {"outputs/", "*.ckpt", "__pycache__/"} <= set(ignored)


@pytest.mark.slow
@pytest.mark.parametrize("week", WEEKS.values(), ids=lambda p: p.name)
def test_a_week_copied_out_passes_its_fast_tests(week: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="this environment has only the linters installed")
    copy = shutil.copytree(week, tmp_path / week.name, ignore=lambda folder, names: (
        {"__pycache__"} | GENERATED.get(str(Path(folder).relative_to(week)), set())) & set(names))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-m", "not slow", "tests"], cwd=copy, env=env, capture_output=True, text=True,
        timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
