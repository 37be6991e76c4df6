"""scripts/mutants.py's mutmut settings: the files to mutate, and everything else of the week
copied beside them, a module inside a package included."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import mutants  # noqa: E402


def settings(text: str) -> dict[str, list[str]]:
    """setup.cfg's [mutmut] section: each key's items, one a line."""
    values: dict[str, list[str]] = {}
    key = ""
    for line in text.splitlines()[1:]:
        if line.startswith("    "):
            values[key].append(line.strip())
        else:
            key = line.split("=")[0].strip()
            values[key] = []
    return values


def test_a_module_in_a_package_is_mutated_and_its_siblings_copied(tmp_path: Path) -> None:
    for name in ["train.py", "data.py", "monitoring/__init__.py", "monitoring/drift.py",
                 "monitoring/shipper.py", "monitoring/index_template.json", "tests/test_x.py",
                 ".dockerignore"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    cfg = settings(mutants.config(tmp_path, ["monitoring/drift.py"], ["tests/test_x.py"],
                                  "not slow"))
    assert cfg["paths_to_mutate"] == ["monitoring/drift.py"]
    assert cfg["tests_dir"] == ["tests/test_x.py"]
    assert cfg["also_copy"] == ["data.py", "monitoring/__init__.py",
                                "monitoring/index_template.json", "monitoring/shipper.py",
                                "train.py", "tests"]
    assert cfg["pytest_add_cli_args"] == ["-p", "no:cacheprovider", "-k", "not slow"]


def test_a_top_level_module_leaves_the_package_whole(tmp_path: Path) -> None:
    for name in ["serving.py", "monitoring/drift.py"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    cfg = settings(mutants.config(tmp_path, ["serving.py"], ["tests"], None))
    assert cfg["also_copy"] == ["monitoring", "tests"]
    assert cfg["pytest_add_cli_args"] == ["-p", "no:cacheprovider"]
