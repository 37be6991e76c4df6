"""The snapshot invariant: each week README declares exactly what changed since the week before."""

import shutil
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
