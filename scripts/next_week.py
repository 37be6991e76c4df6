"""Bring what you trained in one week into the next, so that no week trains twice.

    python scripts/next_week.py 4        # week 3's model (and data, DVC lock) -> week 4
    make next-week TO=4                  # the same

Copies the previous week's trained checkpoint and, where both weeks have them, the exported
ONNX bundle, the prepared data, metrics.json and dvc.lock. In a week with DVC it then records
the copies with `dvc commit`, so `dvc repro` runs only the stages the new week adds (week 4:
export) or changes (week 9's export also writes the drift reference), and `dvc push` stores
them. The model is the same file either way: every week loads the same checkpoint format.
Standard library only (DVC is called as a command).
"""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from weekdiff import ROOT, week_dirs

CHECKPOINT = "outputs/checkpoints/best.ckpt"
# what each DVC stage writes, when this script has copied it
STAGE_OUTS = {"prepare": "data/cola", "train": CHECKPOINT, "export": "outputs/onnx"}


def copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)


def bring(number: int, root: Path = ROOT, dvc: str | None = None) -> list[str]:
    """Copy week number-1's results into week `number`; returns what was copied."""
    weeks = week_dirs(root)
    if number not in weeks or number - 1 not in weeks:
        raise ValueError(f"week {number} and the week before it must exist: {sorted(weeks)}")
    old, new = weeks[number - 1], weeks[number]
    if not (old / CHECKPOINT).is_file():
        raise ValueError(f"{old.name} has no trained model ({CHECKPOINT}): train there first "
                         f"(cd {old.name} && python train.py)")
    wanted = [CHECKPOINT]
    if (new / "convert_model_to_onnx.py").is_file():
        wanted.append("outputs/onnx")
    if (new / "dvc.yaml").is_file():
        wanted += ["data/cola", "metrics.json", "dvc.lock"]
    copied = [name for name in wanted if (old / name).exists()]
    for name in copied:
        copy(old / name, new / name)
    if (new / "dvc.yaml").is_file() and (left := commit(old, new, copied, dvc)):
        print(f"{new.name} changes the stage{'s' * (len(left) > 1)} {', '.join(left)}: "
              "left for `dvc repro` to run")
    return copied


def commit(old: Path, week: Path, copied: list[str], dvc: str | None) -> list[str]:
    """Record the copied outputs as the stages' results in this week's dvc.lock and cache;
    returns the stages left to run: those this week defines differently (week 9's export also
    writes the drift reference). Recorded, the old outputs would count as up to date."""
    dvc = dvc or shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
    stages = [stage for stage, out in STAGE_OUTS.items()
              if out in copied and stage_text(week, stage)]
    if "data/cola" not in copied:  # the week before had no DVC: prepare is quick, run it
        run([dvc, "repro", "--single-item", "prepare"], week)
        stages = [s for s in stages if s != "prepare"]
    left = [s for s in stages if stage_text(old, s) not in ("", stage_text(week, s))]
    if recorded := [s for s in stages if s not in left]:
        run([dvc, "commit", "--force", "--quiet", *recorded], week)
    return left


def stage_text(week: Path, stage: str) -> str:
    """A stage's definition in the week's dvc.yaml, as written ("" if it has none)."""
    path = week / "dvc.yaml"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    found = re.search(rf"^  {stage}:\n(.*?)(?=^  \S|\Z)", text, re.M | re.S)
    return found.group(0).strip() if found else ""


def run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ValueError(f"`{' '.join(command[1:])}` failed in {cwd.name}: "
                         f"{(result.stderr or result.stdout).strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("to", type=int, help="the week to bring the results into, e.g. 4")
    args = parser.parse_args(argv)
    try:
        copied = bring(args.to)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    new = week_dirs()[args.to].name
    print(f"copied into {new}: {', '.join(copied)}")
    print(f"next: cd {new}" + (" && dvc status" if (ROOT / new / "dvc.yaml").is_file() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
