"""Compare two week folders: the files added, modified and removed, or their unified diff.

    python scripts/weekdiff.py 0 1              # unified diff of week 0 -> week 1
    python scripts/weekdiff.py 0 1 --stat       # lines added/removed per file
    python scripts/weekdiff.py 0 1 --code       # code only: READMEs and tests left out
    python scripts/weekdiff.py 0 1 --summary    # the change list, as the week README gives it
    python scripts/weekdiff.py --check          # every README's change list against the truth
    python scripts/weekdiff.py carry week_0_project_setup/data.py   # carry a fix forward

`carry` takes the uncommitted change of files in one week (against git's HEAD) and applies it
to the same files in every later week with a three-way merge (`git merge-file`), then runs
--check. Conflicts are left in the files with the usual markers and listed; the exit status
is then 1. Naming a whole week folder carries every changed file in it except its README.
Only the standard library is used, so no virtualenv is needed.

Generated files (checkpoints, logs, caches) are left out: inside a git checkout the folder's
files are those git tracks or would track (.gitignore applies); elsewhere IGNORED applies.
"""

import argparse
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
    """The test files a week brings: new or changed since the week before. The first and the
    last week own all of theirs (the last one runs the latest copy of every test)."""
    weeks = week_dirs(root)
    tests = sorted(n for n in week_files(weeks[number])
                   if re.fullmatch(r"tests/test_\w+\.py", n))
    if number in (min(weeks), max(weeks)):
        return tests
    changes = compare(weeks[number - 1], weeks[number])
    return [n for n in tests if n in changes.added or n in changes.modified]


CLOCK_IN_TEST = re.compile(r"\b(datetime|timedelta|time_machine|make_events)\b")
CLOCK_IN_CODE = re.compile(r"datetime\.now\(|time\.time\(\)|utcnow\(|date\.today\(")


def clock_tests(week: Path) -> list[str]:
    """The test files of a week that deal with time: those that handle dates themselves, and
    those that import a module of the week that reads the clock."""
    clocked = {path.stem for path in week.glob("*.py")
               if CLOCK_IN_CODE.search(path.read_text(encoding="utf-8"))}
    found = []
    for path in sorted((week / "tests").glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        imported = set(re.findall(r"^\s*(?:from|import) (\w+)", text, re.MULTILINE))
        if CLOCK_IN_TEST.search(text) or imported & clocked:
            found.append(f"tests/{path.name}")
    return found


def is_code(name: str) -> bool:
    return Path(name).name != "README.md" and Path(name).parts[0] != "tests"


def unified(old: Path, new: Path, code_only: bool = False) -> str:
    changes = compare(old, new)
    chunks = []
    for name in changes.modified + changes.added + changes.removed:
        if code_only and not is_code(name):
            continue
        a, b = old / name, new / name
        try:
            before = a.read_text(encoding="utf-8").splitlines(True) if a.exists() else []
            after = b.read_text(encoding="utf-8").splitlines(True) if b.exists() else []
        except UnicodeDecodeError:
            chunks.append(f"Binary files {a} and {b} differ\n")
            continue
        chunks.extend(difflib.unified_diff(before, after, f"{old.name}/{name}",
                                           f"{new.name}/{name}"))
    return "".join(chunks)


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
