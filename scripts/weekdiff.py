"""Compare two week folders: the files added, modified and removed, or their unified diff.

    python scripts/weekdiff.py 0 1              # unified diff of week 0 -> week 1
    python scripts/weekdiff.py 0 1 --summary    # the change list, as the week README gives it
    python scripts/weekdiff.py --check          # every README's change list against the truth

Generated files (checkpoints, logs, caches) are left out: inside a git checkout the folder's
files are those git tracks or would track (.gitignore applies); elsewhere IGNORED applies.
"""

import argparse
import difflib
import re
import subprocess
import sys
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


def unified(old: Path, new: Path) -> str:
    changes = compare(old, new)
    chunks = []
    for name in changes.modified + changes.added + changes.removed:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", nargs="?", type=int, help="week number, e.g. 0")
    parser.add_argument("new", nargs="?", type=int, help="week number, e.g. 1")
    parser.add_argument("--summary", action="store_true", help="print the change list only")
    parser.add_argument("--check", action="store_true", help="check every README's list")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) or f"ok: {len(week_dirs())} weeks, every change declared")
        return 1 if problems else 0
    weeks = week_dirs()
    if args.old not in weeks or args.new not in weeks:
        parser.error(f"both weeks must be among {sorted(weeks)}")
    if args.summary:
        print(compare(weeks[args.old], weeks[args.new]).as_markdown(args.old), end="")
    else:
        print(unified(weeks[args.old], weeks[args.new]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
