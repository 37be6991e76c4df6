"""Course-level promises: pinned requirements, README commands that exist, a reproducible
sample (the CI promises are in test_ci.py)."""

import os
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


def test_what_readme_commands_write_is_ignored_by_git() -> None:
    """A log a README command writes (`python app.py | tee service.log`, `... > events.log`)
    may hold users' sentences: git must not offer to commit it."""
    written = []
    for readme in sorted(ROOT.glob("week_*/README.md")):
        for name in re.findall(r"(?:>|\btee) ([\w./-]+\.(?:log|jsonl))\b", readme.read_text()):
            written.append(readme.parent / name)
    assert any(path.name == "service.log" for path in written)
    for path in written:
        ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", str(path)],
                                 cwd=ROOT, capture_output=True)
        assert ignored.returncode == 0, f"{path.relative_to(ROOT)} is not in .gitignore"


def test_the_sam_cli_virtualenv_has_one_name() -> None:
    """The root's make sam-setup and each week's make sam-setup make the same folder, and the
    READMEs, tests and .gitignore files call it by that name."""
    defaults = {re.search(r"^SAM_VENV \?= (\S+)$", path.read_text(), re.M).group(1)
                for path in ROOT.glob("week_*/Makefile") if "SAM_VENV ?=" in path.read_text()}
    assert defaults == {".venv-sam"}
    assert "abspath .venv-sam" in (ROOT / "Makefile").read_text()
    for path in [*ROOT.glob("week_*/**/*.md"), *ROOT.glob("week_*/**/*.py"),
                 *ROOT.glob("week_*/Makefile"), *ROOT.glob("week_*/.gitignore"),
                 ROOT / "README.md"]:
        assert ".sam-venv" not in path.read_text(encoding="utf-8"), path
    for week in {path.parent for path in ROOT.glob("week_*/Makefile")
                 if "SAM_VENV ?=" in path.read_text()}:
        assert ".venv-sam/" in (week / ".gitignore").read_text().splitlines()


def test_readme_sam_local_commands_keep_the_container_warm_as_the_tests_do() -> None:
    """Without --warm-containers EAGER, sam local starts a container per request (about 2.3 s
    each): the README's latency holds only with the flag the week's test uses."""
    commands = [line for readme in ROOT.glob("week_*/README.md")
                for line in readme.read_text().splitlines()
                if re.search(r"sam local start-(api|lambda)", line) and "`" not in line]
    assert commands
    for line in commands:
        assert "--warm-containers EAGER" in line, line
    for test in ROOT.glob("week_*/tests/test_sam.py"):
        assert '"--warm-containers", "EAGER"' in test.read_text()


def test_every_script_of_a_week_is_executable() -> None:
    """The workflows and Makefiles run scripts/*.sh directly: a copy without its x bit fails
    there with 'Permission denied' (as a carried script once did)."""
    scripts = sorted(ROOT.glob("week_*/scripts/*.sh"))
    assert scripts
    listed = subprocess.run(["git", "ls-files", "-s", "--", *map(str, scripts)], cwd=ROOT,
                            capture_output=True, text=True).stdout.splitlines()
    modes = {line.split()[-1]: line.split()[0] for line in listed}
    for script in scripts:
        assert os.access(script, os.X_OK), script
        name = script.relative_to(ROOT).as_posix()
        assert modes.get(name, "100755") == "100755", f"{name}: git records it without its x bit"


def test_every_week_module_sorts_as_first_party_without_a_list_of_names() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "known-first-party" not in pyproject, "the week folders are found through ruff's src"
    for week in sorted(ROOT.glob("week_*_*")):
        modules = sorted(["conftest", *(p.stem for p in week.glob("*.py"))])
        # a test file with one block of third-party imports, then one of the week's own: ruff
        # accepts it only if it takes every module of the week as first-party
        source = "import numpy\n\n" + "".join(f"import {m}\n" for m in modules) + "\nprint()\n"
        result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "I",
                                 "--stdin-filename", str(week / "tests" / "test_probe.py"), "-"],
                                input=source, cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"{week.name}: {result.stdout}"
