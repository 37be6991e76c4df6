"""Compare two week folders: the files added, modified and removed, or their unified diff.

    python scripts/weekdiff.py 0 1              # unified diff of week 0 -> week 1
    python scripts/weekdiff.py 0 1 --stat       # lines added/removed per file
    python scripts/weekdiff.py 0 1 --code       # code only: READMEs and tests left out
    python scripts/weekdiff.py 0 1 --summary    # the change list, as the week README gives it
    python scripts/weekdiff.py 0 1 --html > diff.html   # one page: side by side or unified
    python scripts/weekdiff.py --check          # every README's change list against the truth
    python scripts/weekdiff.py carry week_0_project_setup/data.py   # carry a fix forward

`carry` takes the uncommitted change of files in one week (against git's HEAD) and applies it
to the same files in every later week with a three-way merge (`git merge-file`), then runs
--check. Conflicts are left in the files with the usual markers and listed; the exit status
is then 1. Naming a whole week folder carries every changed file in it except its README.
Only the standard library is used, so no virtualenv is needed (--html highlights the code
with Pygments where it is installed, and shows it plain where it is not).

Generated files (checkpoints, logs, caches) are left out: inside a git checkout the folder's
files are those git tracks or would track (.gitignore applies); elsewhere IGNORED applies.
"""

import argparse
import ast
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = {"outputs", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "wandb",
           "multirun", "lightning_logs", ".venv"}
IGNORED_SUFFIXES = (".pyc", ".ckpt", ".onnx", ".onnx.data")
SECTION = re.compile(r"^## Changes since week (\d+)\s*$", re.MULTILINE)
ENTRY = re.compile(r"^- (added|modified|removed):(.*)$", re.MULTILINE)


@dataclass
class Changes:
    added: list[str]
    modified: list[str]
    removed: list[str]

    def as_markdown(self, previous: int) -> str:
        def files(names: list[str]) -> str:
            return ", ".join(f"`{n}`" for n in names) or "none"

        return (f"## Changes since week {previous}\n- added: {files(self.added)}\n"
                f"- modified: {files(self.modified)}\n- removed: {files(self.removed)}\n")


def week_dirs(root: Path = ROOT) -> dict[int, Path]:
    found = {}
    for path in root.glob("week_*"):
        match = re.fullmatch(r"week_(\d+)_\w+", path.name)
        if match and path.is_dir():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def week_files(week: Path) -> set[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
            cwd=week, capture_output=True, text=True, check=True).stdout
        names = {name for name in out.split("\0") if name and (week / name).is_file()}
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        names = {str(p.relative_to(week)) for p in week.rglob("*") if p.is_file()}
    return {n for n in names
            if not IGNORED.intersection(Path(n).parts) and not n.endswith(IGNORED_SUFFIXES)}


def compare(old: Path, new: Path) -> Changes:
    before, after = week_files(old), week_files(new)
    modified = [n for n in sorted(before & after)
                if (old / n).read_bytes() != (new / n).read_bytes()]
    return Changes(sorted(after - before), modified, sorted(before - after))


def declared(readme: Path) -> tuple[int, Changes] | None:
    """The change list a week README declares, or None if it has no such section."""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    section = SECTION.search(text)
    if not section:
        return None
    body = text[section.end():].split("\n## ", 1)[0]
    entries = {kind: re.findall(r"`([^`]+)`", rest) for kind, rest in ENTRY.findall(body)}
    return int(section.group(1)), Changes(*(sorted(entries.get(k, []))
                                            for k in ("added", "modified", "removed")))


def check(root: Path = ROOT) -> list[str]:
    """Every week after the first must declare exactly its changes since the previous week."""
    weeks = week_dirs(root)
    problems = []
    for prev, week in zip(list(weeks), list(weeks)[1:], strict=False):
        found = declared(weeks[week] / "README.md")
        if found is None:
            problems.append(f"week {week}: README.md has no '## Changes since week {prev}'")
            continue
        since, claimed = found
        actual = compare(weeks[prev], weeks[week])
        if since != prev:
            problems.append(f"week {week}: README compares with week {since}, not week {prev}")
        for kind in ("added", "modified", "removed"):
            claim, real = set(getattr(claimed, kind)), set(getattr(actual, kind))
            for name in sorted(real - claim):
                problems.append(f"week {week}: {name} is {kind} but not declared as {kind}")
            for name in sorted(claim - real):
                problems.append(f"week {week}: {name} is declared {kind} but is not")
    return problems


def own_tests(number: int, root: Path = ROOT) -> list[str]:
    """The test files a week brings, and those whose code it changes: a test file new or
    changed since the week before, or one that reads something the week changed (see
    `reads`). The first and the last week own all of theirs (the last one runs the latest
    copy of every test)."""
    weeks = week_dirs(root)
    tests = sorted(n for n in week_files(weeks[number])
                   if re.fullmatch(r"tests/test_\w+\.py", n))
    if number in (min(weeks), max(weeks)):
        return tests
    old, new = weeks[number - 1], weeks[number]
    changes = compare(old, new)
    changed = set(changes.added + changes.modified)

    def is_changed(dependency: str) -> bool:
        path, _, name = dependency.partition("::")
        if not name:
            return path in changed
        before = definitions(old / path).get(name) if (old / path).is_file() else None
        return before != definitions(new / path).get(name)

    return [n for n in tests if n in changed or any(map(is_changed, reads(new, n)))]


CLOCK_IN_TEST = re.compile(r"\b(datetime|timedelta|time_machine|make_events)\b")
CLOCK_IN_CODE = re.compile(r"datetime\.now\(|time\.time\(\)|utcnow\(|date\.today\(")


def local_modules(week: Path) -> dict[str, str]:
    """The week's own modules, by the name code imports them with: {"data": "data.py",
    "monitoring.drift": "monitoring/drift.py", "conftest": "tests/conftest.py"}."""
    found = {}
    for name in week_files(week):
        if name.endswith(".py"):
            parts = Path(name).with_suffix("").parts
            parts = parts[1:] if parts[0] == "tests" else parts  # tests import theirs by name
            found[".".join(p for p in parts if p != "__init__")] = name
    return found


def imports(source: str) -> list[tuple[str, list[str]]]:
    """What a module imports: `import a.b` gives (a.b, []), `from a import b, c` (a, [b, c])."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def imported(source: str) -> set[str]:
    """The names a module imports: `from a.b import c` gives a.b and a.b.c (c may be a module)."""
    return {name for module, names in imports(source)
            for name in (module, *(f"{module}.{n}" for n in names))}


def definitions(path: Path) -> dict[str, str]:
    """A module's top-level functions, classes and constants: {name: its source}."""
    source = path.read_text(encoding="utf-8")
    found = {}
    for node in ast.parse(source).body:
        targets = ([node.name] if isinstance(node, ast.FunctionDef | ast.ClassDef)
                   else [t.id for t in node.targets if isinstance(t, ast.Name)]
                   if isinstance(node, ast.Assign)
                   else [node.target.id] if isinstance(node, ast.AnnAssign)
                   and isinstance(node.target, ast.Name) else [])
        for name in targets:
            found[name] = ast.get_source_segment(source, node, padded=True) or ""
    return found


def reads(week: Path, test: str) -> set[str]:
    """What a test file depends on in its week: the local modules it imports, transitively;
    the week's other files their code names ("Dockerfile.lambda", ".dockerignore"); and from
    the tests' own modules (conftest), only the definitions it imports, as "path::name", so
    that a fixture added to conftest.py does not make every test its own."""
    modules, files = local_modules(week), week_files(week)
    # .gitignore says what git keeps; code that names it means the course's or a new repo's
    others = {n for n in files if not n.endswith(".py") and n != ".gitignore"}
    found, todo, seen = set(), [(test, "")], set()
    while todo:
        path, name = todo.pop()
        if (path, name) in seen:
            continue
        seen.add((path, name))
        found.add(f"{path}::{name}" if name else path)
        source = definitions(week / path).get(name, "") if name else (week / path).read_text(
            encoding="utf-8")
        found |= {n for n in others if f'"{n}"' in source or f"'{n}'" in source}
        for module, names in imports(source):
            for candidate in (module, *(f"{module}.{n}" for n in names)):
                target = modules.get(candidate)
                if target is None or target == test:
                    continue
                if target.startswith("tests/") and candidate == module:
                    todo += [(target, n) for n in names]
                elif not target.startswith("tests/"):
                    todo.append((target, ""))
    return found


def clock_tests(week: Path) -> list[str]:
    """The test files of a week that deal with time: those that handle dates themselves, and
    those that import a module of the week that reads the clock."""
    clocked = {name for name, path in local_modules(week).items() if not path.startswith(
        "tests/") and CLOCK_IN_CODE.search((week / path).read_text(encoding="utf-8"))}
    found = []
    for path in sorted((week / "tests").glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if CLOCK_IN_TEST.search(text) or imported(text) & clocked:
            found.append(f"tests/{path.name}")
    return found


def is_code(name: str) -> bool:
    return Path(name).name != "README.md" and Path(name).parts[0] != "tests"


@dataclass
class FileChange:
    """One changed file: its name in the week, how it changed, and its lines before and after
    (empty where the file is absent; both None for a file that is not UTF-8 text)."""
    name: str
    kind: str  # added, modified or removed
    before: list[str] | None
    after: list[str] | None


def file_changes(old: Path, new: Path, code_only: bool = False) -> list[FileChange]:
    """The changed files in diff order (modified, added, removed), each with its lines."""
    changes = compare(old, new)
    found = []
    for kind, names in (("modified", changes.modified), ("added", changes.added),
                        ("removed", changes.removed)):
        for name in names:
            if code_only and not is_code(name):
                continue
            a, b = old / name, new / name
            try:
                before = a.read_text(encoding="utf-8").splitlines(True) if a.exists() else []
                after = b.read_text(encoding="utf-8").splitlines(True) if b.exists() else []
            except UnicodeDecodeError:
                before = after = None
            found.append(FileChange(name, kind, before, after))
    return found


def unified(old: Path, new: Path, code_only: bool = False) -> str:
    chunks = []
    for change in file_changes(old, new, code_only):
        if change.before is None or change.after is None:
            chunks.append(f"Binary files {old / change.name} and {new / change.name} differ\n")
            continue
        chunks.extend(difflib.unified_diff(change.before, change.after, f"{old.name}/{change.name}",
                                           f"{new.name}/{change.name}"))
    return "".join(chunks)


# The diff as HTML (--html, and the course website's "what changed" pages): every changed file
# in a <details>, both layouts rendered, switched by CSS alone (no script, nothing fetched), so
# the page works offline and as one standalone file. Highlighting uses Pygments when it is
# installed (the docs requirements bring it); without it the code is shown plain, and the rest
# of this module keeps to the standard library.
HTML_CSS = """
.weekdiff .wd-toggle { position: absolute; opacity: 0; pointer-events: none; }
.weekdiff .wd-bar { display: flex; flex-wrap: wrap; gap: .4em; margin: .6em 0; }
.weekdiff .wd-bar label { border: 1px solid #bbb; border-radius: 4px; padding: .15em .7em;
  cursor: pointer; font-size: .85em; user-select: none; }
#wd-split:checked ~ .wd-bar label[for=wd-split], #wd-unified:checked ~ .wd-bar
  label[for=wd-unified], #wd-all:checked ~ .wd-bar label[for=wd-all] {
  background: #3f51b5; border-color: #3f51b5; color: #fff; }
#wd-split:checked ~ .wd-files .wd-unified, #wd-unified:checked ~ .wd-files .wd-split,
.weekdiff .wd-extra { display: none; }
#wd-all:checked ~ .wd-files .wd-extra { display: block; }
.weekdiff details { border: 1px solid #ddd; border-radius: 4px; margin: .5em 0; }
.weekdiff summary { padding: .3em .6em; cursor: pointer; background: #f6f8fa;
  font-family: monospace; }
.weekdiff .wd-kind { display: inline-block; min-width: 5.5em; font-size: .8em;
  font-family: sans-serif; }
.weekdiff .wd-count { color: #666; font-size: .85em; margin-left: .6em; }
.weekdiff .wd-scroll { overflow-x: auto; }
.weekdiff table.wd-table { border-collapse: collapse; width: 100%; font-family: monospace;
  font-size: 12px; line-height: 1.4; table-layout: auto; display: table; margin: 0; }
.weekdiff table.wd-table td { padding: 0 .5em; border: 0; vertical-align: top;
  white-space: pre; }
.weekdiff td.wd-ln { color: #999; text-align: right; user-select: none; width: 1%; }
.weekdiff td.wd-sign { user-select: none; width: 1%; padding: 0 .2em; }
.weekdiff .wd-split table.wd-table { table-layout: fixed; }
.weekdiff .wd-split col.wd-lncol { width: 3.5em; }
.weekdiff .wd-split td.wd-code { white-space: pre-wrap; overflow-wrap: anywhere; }
.weekdiff td.wd-del { background: #ffebe9; }
.weekdiff td.wd-add { background: #e6ffec; }
.weekdiff td.wd-empty { background: #f6f8fa; }
.weekdiff tr.wd-hunk td { background: #ddf4ff; color: #57606a; }
.weekdiff .wd-note { padding: .5em 1em; color: #666; }
"""


def _highlighted(name: str, lines: list[str]) -> list[str]:
    """Each line as HTML: highlighted by Pygments when it is installed, else escaped."""
    import html

    plain = [html.escape(line.rstrip("\r\n")) for line in lines]
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_for_filename
        from pygments.util import ClassNotFound
    except ImportError:
        return plain
    try:
        lexer = get_lexer_for_filename(name, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return plain
    out = highlight("".join(lines), lexer, HtmlFormatter(nowrap=True)).splitlines()
    return out if len(out) == len(lines) else plain  # never misalign a diff for colour


def _pygments_css() -> str:
    try:
        from pygments.formatters import HtmlFormatter
    except ImportError:
        return ""
    return HtmlFormatter(style="default").get_style_defs(".weekdiff .wd-code")


def _rows(change: FileChange) -> tuple[list[str], list[str], int, int]:
    """The side-by-side and unified table rows of one file, and its added/removed counts."""
    before, after = change.before or [], change.after or []
    left, right = _highlighted(change.name, before), _highlighted(change.name, after)
    split, unified_rows, added, removed = [], [], 0, 0

    def cell(number: int | None, code: str, css: str) -> str:
        if number is None:
            return '<td class="wd-ln wd-empty"></td><td class="wd-code wd-empty"></td>'
        return f'<td class="wd-ln">{number}</td><td class="wd-code {css}">{code}</td>'

    def line(old: int | None, new: int | None, sign: str, code: str, css: str) -> str:
        return (f'<tr><td class="wd-ln">{"" if old is None else old}</td>'
                f'<td class="wd-ln">{"" if new is None else new}</td>'
                f'<td class="wd-sign {css}">{sign}</td><td class="wd-code {css}">{code}</td></tr>')

    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for group in matcher.get_grouped_opcodes(3):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        header = f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@"
        split.append(f'<tr class="wd-hunk"><td colspan="4">{header}</td></tr>')
        unified_rows.append(f'<tr class="wd-hunk"><td colspan="4">{header}</td></tr>')
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                for i, j in zip(range(a1, a2), range(b1, b2), strict=True):
                    split.append(f"<tr>{cell(i + 1, left[i], '')}{cell(j + 1, right[j], '')}</tr>")
                    unified_rows.append(line(i + 1, j + 1, " ", left[i], ""))
                continue
            removed, added = removed + a2 - a1, added + b2 - b1
            for k in range(max(a2 - a1, b2 - b1)):
                i, j = a1 + k, b1 + k
                was = cell(i + 1, left[i], "wd-del") if i < a2 else cell(None, "", "")
                now = cell(j + 1, right[j], "wd-add") if j < b2 else cell(None, "", "")
                split.append(f"<tr>{was}{now}</tr>")
            unified_rows += [line(i + 1, None, "-", left[i], "wd-del") for i in range(a1, a2)]
            unified_rows += [line(None, j + 1, "+", right[j], "wd-add") for j in range(b1, b2)]
    return split, unified_rows, added, removed


def html_fragment(old: Path, new: Path, code_only: bool = False) -> str:
    """The diff of two weeks as one HTML element (with its own style): a <details> per file,
    side by side or unified; code first, READMEs and tests behind a switch (or left out)."""
    import html

    files, total_add, total_del, extra = [], 0, 0, 0
    for change in file_changes(old, new, code_only):
        name = html.escape(change.name)
        if change.before is None:
            body, added, removed = '<p class="wd-note">binary file, not shown</p>', 0, 0
        else:
            split, unified_rows, added, removed = _rows(change)
            # an added or removed file has one side only: one table serves both layouts
            layouts = ((("wd-split", split), ("wd-unified", unified_rows))
                       if change.kind == "modified" else (("", unified_rows),))
            columns = '<col class="wd-lncol"><col><col class="wd-lncol"><col>'
            body = "".join(f'<div class="wd-scroll {layout}"><table class="wd-table">'
                           f'{f"<colgroup>{columns}</colgroup>" if layout == "wd-split" else ""}'
                           f'{"".join(rows)}</table></div>' for layout, rows in layouts)
            if not split:
                body = '<p class="wd-note">empty file</p>'
        total_add, total_del = total_add + added, total_del + removed
        css = "wd-file" if is_code(change.name) else "wd-file wd-extra"
        extra += not is_code(change.name)
        opened = " open" if added + removed <= 300 else ""
        files.append(f'<details class="{css}" data-file="{name}" data-kind="{change.kind}"{opened}>'
                     f'<summary><span class="wd-kind">{change.kind}</span>{name}'
                     f'<span class="wd-count">+{added} &minus;{removed}</span></summary>'
                     f"{body}</details>")
    shown = len(files) - extra
    switch = ("" if code_only or not extra else
              f'<label for="wd-all">also the READMEs and tests ({extra} files)</label>')
    summary = (f'<p class="wd-summary">{html.escape(old.name)} &rarr; {html.escape(new.name)}: '
               f"{len(files)} files changed, +{total_add} &minus;{total_del}"
               + (f"; {shown} of code shown first" if extra and not code_only else "")
               + "</p>")
    return (f'<div class="weekdiff"><style>{HTML_CSS}{_pygments_css()}</style>'
            '<input type="radio" class="wd-toggle" name="wd-layout" id="wd-split" checked>'
            '<input type="radio" class="wd-toggle" name="wd-layout" id="wd-unified">'
            '<input type="checkbox" class="wd-toggle" id="wd-all">'
            f"{summary}"
            '<div class="wd-bar"><label for="wd-split">side by side</label>'
            f'<label for="wd-unified">unified</label>{switch}</div>'
            f'<div class="wd-files">{"".join(files) or "<p>no changes</p>"}</div></div>')


def html_page(old: Path, new: Path, code_only: bool = False) -> str:
    """A standalone HTML file: the same diff as the website's page for these weeks."""
    title = f"What changed: {old.name} to {new.name}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>body {{ font-family: sans-serif; margin: 1em 2em; }}"
            f"</style></head>\n<body><h1>{title}</h1>\n{html_fragment(old, new, code_only)}\n"
            "</body></html>\n")


def stat(old: Path, new: Path, code_only: bool = False) -> str:
    """`git diff --stat`-like: one line per changed file with its added and removed lines."""
    rows = []
    for line in unified(old, new, code_only).splitlines():
        if line.startswith("+++ "):
            rows.append([line[4:].split("/", 1)[1], 0, 0])
        elif rows and line.startswith("+") and not line.startswith("+++"):
            rows[-1][1] += 1
        elif rows and line.startswith("-") and not line.startswith("---"):
            rows[-1][2] += 1
    width = max((len(r[0]) for r in rows), default=0)
    lines = [f" {name:<{width}} | +{added} -{removed}" for name, added, removed in rows]
    total_add, total_del = sum(r[1] for r in rows), sum(r[2] for r in rows)
    lines.append(f" {len(rows)} files changed, {total_add} insertions(+), {total_del} deletions(-)")
    return "\n".join(lines) + "\n"


def git(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=check)


def changed_files(target: Path, rev: str, root: Path = ROOT) -> list[Path]:
    """The files to carry: `target` itself, or every changed file in a week folder but README."""
    if target.is_file() or not target.exists():
        return [target]
    out = git("diff", "--name-only", "-z", rev, "--", str(target), cwd=root).stdout.decode()
    untracked = git("ls-files", "--others", "--exclude-standard", "-z", "--", str(target),
                    cwd=root).stdout.decode()
    names = {n for n in (out + untracked).split("\0") if n}
    return [root / n for n in sorted(names) if Path(n).name != "README.md"]


def carry(targets: list[str], rev: str = "HEAD", root: Path = ROOT) -> list[str]:
    """Apply each file's change since `rev` to the same file in every later week. Returns the
    conflicts (files left with conflict markers); prints what it did."""
    root = root.resolve()
    weeks = week_dirs(root)
    by_folder = {path.resolve(): number for number, path in weeks.items()}
    conflicts = []
    files = [f for t in targets for f in changed_files(Path(t).resolve(), rev, root)]
    for path in files:
        week = next((by_folder[p] for p in path.parents if p in by_folder), None)
        if week is None:
            raise SystemExit(f"error: {path} is not inside a week folder")
        relative = path.relative_to(weeks[week])
        repo_path = path.relative_to(root).as_posix()
        shown = git("show", f"{rev}:{repo_path}", cwd=root, check=False)
        base = shown.stdout if shown.returncode == 0 else None
        new = path.read_bytes() if path.exists() else None
        if base == new:
            print(f"{repo_path}: unchanged since {rev}, nothing to carry")
            continue
        before, conflicted = base, False  # the previous week's file as it was, its state
        for later in (n for n in weeks if n > week):
            target = weeks[later] / relative
            label = target.relative_to(root).as_posix()
            current = target.read_bytes() if target.exists() else None
            same_as_previous, before = current == before, current
            if current == new:
                continue
            if conflicted and same_as_previous:  # a copy of a week left in conflict: wait
                conflicts.append(f"{label}: waits for week {later - 1} (resolve it there, "
                                 f"then carry that file)")
                continue
            if new is None:  # removed in the earlier week
                if current == base:
                    target.unlink()
                    print(f"removed  {label}")
                else:
                    conflicts.append(f"{label}: removed in week {week} but changed since")
                continue
            if current is None:
                if base is None:  # a new file: it arrives in every later week too
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(new)
                    shutil.copymode(path, target)  # a script stays executable
                    print(f"added    {label}")
                continue  # a later week removed this file: leave it removed
            if current == base:
                target.write_bytes(new)
                print(f"updated  {label}")
                continue
            failed = merge(target, base or b"", new, label, week)
            conflicts += failed
            conflicted = bool(failed)
    return conflicts


def merge(target: Path, base: bytes, new: bytes, label: str, week: int) -> list[str]:
    """Three-way merge of week `week`'s change (base -> new) into `target`, in place."""
    with tempfile.TemporaryDirectory() as tmp:
        base_file, new_file = Path(tmp, "base"), Path(tmp, "new")
        base_file.write_bytes(base)
        new_file.write_bytes(new)
        result = subprocess.run(
            ["git", "merge-file", "-L", label, "-L", "before", "-L", f"week {week}",
             str(target), str(base_file), str(new_file)], capture_output=True, text=True)
    if result.returncode == 0:
        print(f"merged   {label}")
        return []
    if result.returncode < 0 or result.returncode > 127:
        raise SystemExit(f"error: git merge-file failed on {label}: {result.stderr.strip()}")
    print(f"CONFLICT {label} ({result.returncode} conflicting hunks, markers left in the file)")
    return [label]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["carry"]:
        return carry_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", nargs="?", type=int, help="week number, e.g. 0")
    parser.add_argument("new", nargs="?", type=int, help="week number, e.g. 1")
    parser.add_argument("--summary", action="store_true", help="print the change list only")
    parser.add_argument("--check", action="store_true", help="check every README's list")
    parser.add_argument("--stat", action="store_true", help="lines added/removed per file")
    parser.add_argument("--code", action="store_true", help="leave out READMEs and tests")
    parser.add_argument("--html", action="store_true",
                        help="a standalone HTML page: side by side or unified, highlighted")
    parser.add_argument("--own-tests", type=int, metavar="N",
                        help="the test files week N adds or changes (all: first, last week)")
    parser.add_argument("--clock-tests", type=int, metavar="N",
                        help="the test files of week N that deal with time")
    args = parser.parse_args(argv)
    if args.clock_tests is not None:
        print(" ".join(clock_tests(week_dirs()[args.clock_tests])))
        return 0
    if args.own_tests is not None:
        print(" ".join(own_tests(args.own_tests)))
        return 0
    if args.check:
        problems = check()
        print("\n".join(problems) or f"ok: {len(week_dirs())} weeks, every change declared")
        return 1 if problems else 0
    weeks = week_dirs()
    if args.old not in weeks or args.new not in weeks:
        parser.error(f"both weeks must be among {sorted(weeks)}")
    old, new = weeks[args.old], weeks[args.new]
    if args.summary:
        print(compare(old, new).as_markdown(args.old), end="")
    elif args.html:
        print(html_page(old, new, args.code), end="")
    elif args.stat:
        print(stat(old, new, args.code), end="")
    else:
        print(unified(old, new, args.code), end="")
    return 0


def carry_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="weekdiff.py carry",
        description="Apply the uncommitted change of files in one week to every later week.")
    parser.add_argument("paths", nargs="+", help="files in one week folder, or the folder")
    parser.add_argument("--rev", default="HEAD", help="what the change is against (HEAD)")
    args = parser.parse_args(argv)
    conflicts = carry(args.paths, args.rev)
    problems = check()
    if conflicts:
        print("conflicts to resolve by hand:\n  " + "\n  ".join(conflicts))
    print("\n".join(problems) or f"ok: {len(week_dirs())} weeks, every change declared")
    return 1 if conflicts or problems else 0


if __name__ == "__main__":
    sys.exit(main())
