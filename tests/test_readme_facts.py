"""The top README's facts that the repository itself can confirm: the weeks it lists, the weeks
that run act, the make targets it names, the files in Layout, the exit statuses."""

import ast
import re
import subprocess

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
WEEKS = sorted(p.name for p in ROOT.glob("week_*_*") if p.is_dir())


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_weeks_table_lists_every_week_folder_in_order() -> None:
    rows = re.findall(r"^\| (\d+) \| \[(week_\w+)\]\((week_\w+)/\) \|", section("The weeks"),
                      re.M)
    assert [name for _, name, _ in rows] == sorted(WEEKS, key=lambda w: int(w.split("_")[1]))
    assert all(link == name and name.startswith(f"week_{n}_") for n, name, link in rows)


def test_the_readme_names_the_weeks_whose_tests_run_act() -> None:
    first, last = map(int, re.search(r"weeks (\d+) to (\d+) run their own GitHub workflow with "
                                     r"`act`", README).groups())
    running = [int(week.split("_")[1]) for week in WEEKS
               if any('which("act"' in test.read_text(encoding="utf-8")
                      for test in (ROOT / week / "tests").glob("test_*.py"))]
    assert running == list(range(first, last + 1))


def test_every_make_command_in_the_readme_is_a_target_of_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", README)) - {"it", "the", "a"}
    assert named and not named - targets, named - targets


def test_the_layout_names_every_file_and_folder_at_the_top() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    layout = section("Layout")
    expected = {name.split("/")[0] + ("/" if "/" in name else "") for name in tracked
                if not name.startswith("week_") and name.split("/")[0] not in (".gitignore",
                                                                                "README.md")}
    expected = {".ci/run" if e == ".ci/" else e for e in expected}
    expected |= {name for name in tracked if name.startswith("scripts/")}
    expected |= {".github/workflows/"} - {".github/"}
    missing = sorted(e for e in expected - {".github/"} if e not in layout)
    assert not missing, missing


def exit_statuses(path) -> set[int]:
    """The statuses a module's commands can end with: sys.exit(N), SystemExit(N), and what a
    function called main returns (a number, or a module constant holding one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {target.id: node.value.value for node in tree.body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                 for target in node.targets if isinstance(target, ast.Name)}

    def number(node: ast.expr | None) -> int | None:
        value = constants.get(node.id) if isinstance(node, ast.Name) else \
            node.value if isinstance(node, ast.Constant) else None
        return value if isinstance(value, int) else None

    found = {number(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call)
             and ast.unparse(node.func) in ("sys.exit", "SystemExit") and node.args}
    for main in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"):
        returned = [n.value for n in ast.walk(main) if isinstance(n, ast.Return)]
        found |= {number(value) for r in returned
                  for value in ([r.body, r.orelse] if isinstance(r, ast.IfExp) else [r])}
    return found - {None}


def test_every_command_ends_with_a_status_the_readme_explains() -> None:
    table = section("Exit statuses")
    explained = {int(n) for n in re.findall(r"^\| (\d) \|", table, re.M)}
    assert explained == {0, 1, 2, 3}
    used = {}
    for path in sorted(ROOT.glob("week_*_*/*.py")):
        for status in exit_statuses(path):
            used.setdefault(status, set()).add(path.name)
    assert set(used) <= explained, {s: used[s] for s in set(used) - explained}
    assert {0, 1, 2} <= set(used)
    for path in sorted(ROOT.glob("week_*_*/scripts/*.sh")):
        statuses = {int(n) for n in re.findall(r"\bexit (\d+)", path.read_text())}
        assert statuses <= explained, (path, statuses)
