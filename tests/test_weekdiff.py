"""The snapshot invariant: each week README declares exactly what changed since the week before."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import weekdiff
from conftest import ROOT

WEEKS = weekdiff.week_dirs(ROOT)


def test_week_0_exists_and_weeks_are_numbered_without_gaps() -> None:
    assert list(WEEKS) == list(range(len(WEEKS))) and 0 in WEEKS


@pytest.mark.parametrize("week", list(WEEKS)[1:] or [pytest.param(None, marks=pytest.mark.skip(
    reason="only week 0 exists: nothing to compare yet"))])
def test_each_week_declares_its_changes(week: int) -> None:
    problems = [p for p in weekdiff.check(ROOT) if p.startswith(f"week {week}:")]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("week", list(WEEKS))
def test_each_week_stands_alone_with_readme_and_tests(week: int) -> None:
    folder = WEEKS[week]
    assert (folder / "README.md").is_file() and list((folder / "tests").glob("test_*.py"))


def make_weeks(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "week_0_setup", tmp_path / "week_1_next"
    old.mkdir()
    (old / "train.py").write_text("print('train')\n")
    (old / "data.py").write_text("DATA = 1\n")
    (old / "old.py").write_text("gone = True\n")
    shutil.copytree(old, new)
    (new / "old.py").unlink()
    (new / "data.py").write_text("DATA = 2\n")
    (new / "extra.py").write_text("EXTRA = 3\n")
    (new / "outputs").mkdir()
    (new / "outputs" / "best.ckpt").write_text("generated")
    return old, new


def test_the_checker_catches_an_undeclared_change(tmp_path: Path) -> None:
    old, new = make_weeks(tmp_path)
    assert weekdiff.compare(old, new) == weekdiff.Changes(["extra.py"], ["data.py"], ["old.py"])
    readme = new / "README.md"
    readme.write_text("# Week 1\n## Changes since week 0\n- added: `extra.py`, `README.md`\n"
                      "- modified: none\n- removed: `old.py`\n")
    (old / "README.md").write_text("# Week 0\n")
    assert weekdiff.check(tmp_path) == [
        "week 1: README.md is declared added but is not",
        "week 1: README.md is modified but not declared as modified",
        "week 1: data.py is modified but not declared as modified",
    ]
    readme.write_text(weekdiff.compare(old, new).as_markdown(0))
    assert weekdiff.check(tmp_path) == []


def test_unified_diff_shows_the_changed_lines(tmp_path: Path) -> None:
    old, new = make_weeks(tmp_path)
    diff = weekdiff.unified(old, new)
    assert "--- week_0_setup/data.py" in diff and "-DATA = 1" in diff and "+DATA = 2" in diff
    assert "+EXTRA = 3" in diff and "-gone = True" in diff and "best.ckpt" not in diff


def git_repo_with_weeks(tmp_path: Path) -> Path:
    """Four weeks of one file in a git repo: week 1 a copy of week 0, week 2 with a line of its
    own, week 3 a copy of week 2."""
    base = "import os\n\n\ndef load():\n    return 1\n\n\ndef save():\n    return 2\n"
    for number, name in enumerate(["week_0_a", "week_1_b", "week_2_c", "week_3_d"]):
        (tmp_path / name).mkdir()
        text = base if number < 2 else base.replace("return 2", "return 2  # week 2")
        (tmp_path / name / "data.py").write_text(text)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "weeks"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *command],
                       cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def test_carry_applies_a_fix_to_every_later_week(tmp_path: Path) -> None:
    root = git_repo_with_weeks(tmp_path)
    fixed = (root / "week_0_a" / "data.py").read_text().replace("return 1", "return 10")
    (root / "week_0_a" / "data.py").write_text(fixed)
    (root / "week_0_a" / "new.py").write_text("NEW = 1\n")
    (root / "week_0_a" / "run.sh").write_text("#!/bin/sh\necho run\n")
    (root / "week_0_a" / "run.sh").chmod(0o755)
    assert weekdiff.carry([str(root / "week_0_a")], root=root) == []
    assert os.access(root / "week_2_c" / "run.sh", os.X_OK), "a carried script stays executable"
    assert (root / "week_1_b" / "data.py").read_text() == fixed  # a copy: replaced
    merged = (root / "week_2_c" / "data.py").read_text()  # its own line kept, the fix merged in
    assert "return 10" in merged and "return 2  # week 2" in merged and "<<<<" not in merged
    assert (root / "week_2_c" / "new.py").read_text() == "NEW = 1\n"


def test_carry_stops_on_a_conflict_and_names_it(tmp_path: Path) -> None:
    root = git_repo_with_weeks(tmp_path)
    original = (root / "week_0_a" / "data.py").read_text()
    (root / "week_0_a" / "data.py").write_text(original.replace("return 2", "return 20"))
    conflicts = weekdiff.carry([str(root / "week_0_a" / "data.py")], root=root)
    assert conflicts == ["week_2_c/data.py", "week_3_d/data.py: waits for week 2 (resolve it "
                         "there, then carry that file)"]
    assert "<<<<" not in (root / "week_3_d" / "data.py").read_text()
    assert "return 20" in (root / "week_1_b" / "data.py").read_text()
    text = (root / "week_2_c" / "data.py").read_text()
    assert "<<<<<<< week_2_c/data.py" in text and ">>>>>>> week 0" in text


def test_stat_and_code_only_views(tmp_path: Path) -> None:
    old, new = make_weeks(tmp_path)
    (new / "README.md").write_text("# new\n")
    (new / "tests").mkdir()
    (new / "tests" / "test_x.py").write_text("def test(): pass\n")
    stat = weekdiff.stat(old, new)
    assert " data.py " in stat and "+1 -1" in stat and "README.md" in stat
    code = weekdiff.stat(old, new, code_only=True)
    assert "README.md" not in code and "test_x.py" not in code and "extra.py" in code
    assert "3 files changed" in code


def test_each_slow_test_file_runs_in_its_own_week_and_the_last(tmp_path: Path) -> None:
    """make test's choice (weekdiff --own-tests): a week runs the test files it adds or
    changes (and those whose code it changes, below); the first and the last week run all of
    theirs."""
    for number, tests in enumerate([{"test_a.py": "A = 1\n", "test_b.py": "B = 1\n"},
                                    {"test_a.py": "A = 1\n", "test_b.py": "B = 2\n",
                                     "test_c.py": "C = 1\n"},
                                    {"test_a.py": "A = 1\n", "test_b.py": "B = 2\n",
                                     "test_c.py": "C = 1\n"}]):
        folder = tmp_path / f"week_{number}_x" / "tests"
        folder.mkdir(parents=True)
        for name, text in tests.items():
            (folder / name).write_text(text)
        (folder / "conftest.py").write_text("")
    assert weekdiff.own_tests(0, tmp_path) == ["tests/test_a.py", "tests/test_b.py"]
    assert weekdiff.own_tests(1, tmp_path) == ["tests/test_b.py", "tests/test_c.py"]
    assert weekdiff.own_tests(2, tmp_path) == ["tests/test_a.py", "tests/test_b.py",
                                               "tests/test_c.py"]
    every_test = set().union(*(weekdiff.own_tests(n) for n in WEEKS))
    assert every_test == {n for week in WEEKS.values() for n in weekdiff.week_files(week)
                          if n.startswith("tests/test_") and n.endswith(".py")}


def write_weeks(root: Path, weeks: list[dict[str, str]]) -> None:
    for number, files in enumerate(weeks):
        for name, text in files.items():
            path = root / f"week_{number}_x" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def test_a_week_runs_the_tests_of_the_code_it_changes(tmp_path: Path) -> None:
    """A test file unchanged in a week still runs there when something it reads changed: a
    module it imports (directly, through another module, or inside a package), a file its code
    names, or the definition it imports from conftest; not a conftest fixture it does not use."""
    base = {
        "serve.py": "import core\n", "core.py": "X = 1\n", "pkg/__init__.py": "",
        "pkg/drift.py": "Y = 1\n", ".dockerignore": "*\n", "README.md": "# x\n",
        "tests/conftest.py": "def helper():\n    return 1\n\n\ndef other():\n    return 1\n",
        "tests/test_serve.py": "import serve\n",
        "tests/test_drift.py": "from pkg import drift\n",
        "tests/test_image.py": "from conftest import helper\nNAME = '.dockerignore'\n",
        "tests/test_other.py": "from conftest import other\n",
        "tests/test_docs.py": "TEXT = 'README'\n",  # not a file's name: README.md is
    }
    changes = [{}, {"core.py": "X = 2\n"}, {"pkg/drift.py": "Y = 2\n"},
               {".dockerignore": "*\n!a\n"},
               {"tests/conftest.py": "def helper():\n    return 2\n\n\ndef other():\n"
                                     "    return 1\n\n\ndef new_fixture():\n    pass\n"},
               {"README.md": "# y\n"}, {}]
    weeks, files = [], dict(base)
    for change in changes:
        files = {**files, **change}
        weeks.append(files)
    write_weeks(tmp_path, weeks)
    assert weekdiff.own_tests(1, tmp_path) == ["tests/test_serve.py"]  # through serve.py
    assert weekdiff.own_tests(2, tmp_path) == ["tests/test_drift.py"]
    assert weekdiff.own_tests(3, tmp_path) == ["tests/test_image.py"]
    assert weekdiff.own_tests(4, tmp_path) == ["tests/test_image.py"]  # helper(), not other()
    assert weekdiff.own_tests(5, tmp_path) == []


def test_week_8s_dockerignore_change_reruns_its_container_tests() -> None:
    owned = weekdiff.own_tests(8)
    assert {"tests/test_container.py", "tests/test_lambda_image.py", "tests/test_sam.py"} <= set(
        owned)
    assert "tests/test_data.py" not in owned  # nothing it reads changed in week 8


def test_the_clock_ahead_run_takes_the_tests_that_deal_with_time(tmp_path: Path) -> None:
    """make test's clock-ahead part (weekdiff --clock-tests): test files that handle dates,
    and those that import a module of the week that reads the clock; no others."""
    week = tmp_path / "week_0_x"
    (week / "tests").mkdir(parents=True)
    (week / "stamps.py").write_text("from datetime import UTC, datetime\n"
                                    "def now():\n    return datetime.now(UTC)\n")
    (week / "pure.py").write_text("def double(x):\n    return 2 * x  # datetime in a comment\n")
    (week / "timer.py").write_text("import time\nSTART = time.time()\n")
    for name, text in {"test_dates.py": "from datetime import timedelta\n",
                       "test_stamps.py": "import stamps\n",
                       "test_timer.py": "from timer import START\n",
                       "test_events.py": "from conftest import make_events\n",
                       "test_pure.py": "from pure import double\n",
                       "test_other.py": "import json  # no clock here: runtime, time zone\n"
                       }.items():
        (week / "tests" / name).write_text(text)
    assert weekdiff.clock_tests(week) == [
        "tests/test_dates.py", "tests/test_events.py", "tests/test_stamps.py",
        "tests/test_timer.py"]
    assert weekdiff.clock_tests(WEEKS[9]) and "tests/test_shipper.py" in weekdiff.clock_tests(
        WEEKS[9])
