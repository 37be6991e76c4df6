"""Mutation testing of a week's logic modules with mutmut: do its tests fail when the code is
made slightly wrong (a `<` turned into `<=`, a constant changed, a call dropped)?

    python scripts/mutants.py week_9_monitoring monitoring/drift.py \\
        --tests tests/test_drift_statistics.py

The week is copied to a scratch folder (mutmut rewrites files), mutmut runs there with the given
tests (a -k expression keeps the run to tests that need no trained model: each mutant runs its
tests in a fresh process), and the result per file is printed: killed / total, and the
surviving mutants' names (`mutmut show <name>` in the scratch folder shows each diff).
Needs mutmut (make mutants installs it in .venv-mutmut beside the course's .venv).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns("outputs", "mutants", "__pycache__", ".pytest_cache", "*.onnx",
                              "*.ckpt", "lightning_logs", "wandb", "multirun")


def others(folder: Path, files: list[str], prefix: str = "") -> list[str]:
    """What mutmut must copy beside the mutated files: every other entry of the folder, and
    inside a sub-folder holding one of them (monitoring/drift.py), that folder's other entries."""
    kept = []
    for path in sorted(folder.iterdir()):
        name = f"{prefix}{path.name}"
        if name in files or path.name.startswith(".") or name == "tests":
            continue
        if path.is_dir() and any(f.startswith(f"{name}/") for f in files):
            kept += others(path, files, f"{name}/")
        else:
            kept.append(name)
    return kept


def config(week: Path, files: list[str], tests: list[str], select: str | None) -> str:
    # mutmut reads a list from setup.cfg one item a line: each pytest argument on its own
    args = ["-p", "no:cacheprovider", *(["-k", select] if select else [])]
    lines = ["[mutmut]", "paths_to_mutate =", *[f"    {name}" for name in files],
             "tests_dir =", *[f"    {path}" for path in tests],
             "also_copy =", *[f"    {name}" for name in [*others(week, files), "tests"]],
             "pytest_add_cli_args =", *[f"    {arg}" for arg in args]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mutation scores of a week's modules.")
    parser.add_argument("week", help="a week folder, e.g. week_9_monitoring")
    parser.add_argument("files", nargs="+", help="the modules to mutate, e.g. monitoring/drift.py")
    parser.add_argument("--tests", nargs="+", default=["tests"],
                        help="the test files or folder to run")
    parser.add_argument("-k", dest="select", help="a pytest -k expression for those tests")
    parser.add_argument("--mutmut", default=str(ROOT / ".venv-mutmut" / "bin" / "mutmut"))
    args = parser.parse_args(argv)
    week = (ROOT / args.week).resolve()
    if not (week / "tests").is_dir() or not all((week / f).is_file() for f in args.files):
        print(f"error: {args.week} has no tests/ or not all of {args.files}", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="mutants-")) / week.name
    shutil.copytree(week, scratch, ignore=SKIP)
    (scratch / "setup.cfg").write_text(config(week, args.files, args.tests, args.select))
    run = subprocess.run([args.mutmut, "run", "--max-children", "2"], cwd=scratch,
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"error: mutmut run failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}",
              file=sys.stderr)
        return 2
    subprocess.run([args.mutmut, "export-cicd-stats"], cwd=scratch, capture_output=True)
    listed = subprocess.run([args.mutmut, "results", "--all", "true"], cwd=scratch,
                            capture_output=True, text=True).stdout
    status = dict(line.strip().rsplit(": ", 1) for line in listed.splitlines() if ": " in line)
    totals, killed, survivors = Counter(), Counter(), []
    for name, outcome in status.items():
        module = name.split(".x_")[0].split(".x\u01c1")[0]
        totals[module] += 1
        killed[module] += outcome == "killed"
        if outcome in ("survived", "no tests"):
            survivors.append(f"{name} ({outcome})")
    for module in sorted(totals):
        share = killed[module] / totals[module]
        print(f"{module.replace('.', '/')}.py: {killed[module]} / {totals[module]} killed "
              f"({share:.0%})")
    print("\n".join(f"  survived: {s}" for s in survivors))
    print(f"scratch folder: {scratch}")
    stats = scratch / "mutants" / "mutmut-cicd-stats.json"
    if stats.exists():
        print(json.dumps(json.loads(stats.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
