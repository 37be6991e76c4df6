"""Every trial of a sweep as a Markdown table: what it tried, its score and its minutes.

    python sweep_report.py multirun/2026-12-01_13-27-40

Each job folder of a multirun holds .hydra/overrides.yaml (the trial's command line) and, if
it finished, run.json (train.py's summary). The overrides every trial shares are printed once,
above the table; each row shows the ones that vary.
"""

import argparse
import json
import sys
from pathlib import Path

import yaml


def job_number(folder: Path) -> int:
    return int(folder.name.removeprefix("job"))


def read_trials(sweep_dir: Path) -> list[dict]:
    trials = []
    for job in sorted(sweep_dir.glob("job[0-9]*"), key=job_number):
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
        summary = job / "run.json"
        trials.append({"trial": job_number(job), "overrides": overrides,
                       "run": json.loads(summary.read_text()) if summary.is_file() else None})
    return trials


def shown(override: str) -> str:
    key, _, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        return override
    return f"{key}={number:.3g}" if not value.isdigit() else override


def report(sweep_dir: Path) -> str:
    trials = read_trials(sweep_dir)
    if not trials:
        raise ValueError(f"{sweep_dir}: no job folders (job0, job1, ...): not a multirun folder")
    shared = [o for o in trials[0]["overrides"] if all(o in t["overrides"] for t in trials)]
    scores = {t["trial"]: t["run"]["val_metrics"][t["run"]["config"]["training"]["monitor"]]
              for t in trials if t["run"]}
    best = max(scores, key=scores.get) if scores else None
    monitor = next((t["run"]["config"]["training"]["monitor"] for t in trials if t["run"]),
                   "score")
    lines = [f"every trial: python train.py {' '.join(shared)}", "",
             f"| trial | {monitor} | accuracy | epochs | minutes | overrides |",
             "|---|---|---|---|---|---|"]
    for t in trials:
        varying = " ".join(shown(o) for o in t["overrides"] if o not in shared)
        if t["run"] is None:
            lines.append(f"| {t['trial']} | did not finish | | | | `{varying}` |")
            continue
        run, mark = t["run"], "**" if t["trial"] == best else ""
        lines.append(f"| {t['trial']} | {mark}{scores[t['trial']]:.3f}{mark} | "
                     f"{run['val_metrics']['val/acc']:.3f} | {run['epochs_run']} | "
                     f"{run.get('minutes', float('nan')):.1f} | `{varying}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder (hydra.sweep.dir)")
    args = parser.parse_args(argv)
    try:
        print(report(args.sweep_dir))
    except (OSError, ValueError, yaml.YAMLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
