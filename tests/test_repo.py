"""Course-level promises: pinned requirements, README commands that exist, a reproducible
sample (the CI promises are in test_ci.py)."""

import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def readme_quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quickstart.*?```(?:bash|sh)?\n(.*?)```", text, re.DOTALL)
    assert block, "README.md has no Quickstart code block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_quickstart_is_two_make_targets_that_exist() -> None:
    commands = readme_quickstart()
    assert len(commands) == 2, commands
    for command in commands:
        target = command.split("#")[0].split()
        assert target[0] == "make", command
        dry = subprocess.run(["make", "-n", *target[1:]], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr


def test_every_requirement_is_pinned() -> None:
    lines = [line.split("#")[0].strip()
             for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    unpinned = [r for r in requirements if not re.fullmatch(r"[\w.\-\[\]]+==[\w.+]+", r)]
    assert requirements and not unpinned


def test_the_shipped_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_data.py"), str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("train.tsv", "validation.tsv"):
        shipped = (ROOT / "week_0_project_setup" / "sample_data" / name).read_text()
        assert (tmp_path / name).read_text() == shipped
        labels = [line.split("\t")[1] for line in shipped.splitlines()]
        assert set(labels) == {"0", "1"}
