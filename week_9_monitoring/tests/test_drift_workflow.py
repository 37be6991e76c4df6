"""The scheduled drift workflow: daily and on demand, least privilege, pinned actions, only
make targets that exist, and the report kept whether or not the run fails."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import WEEK_DIR

WORKFLOW = WEEK_DIR / ".github" / "workflows" / "drift.yml"
PINNED = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*$", re.MULTILINE)
TOOLS = Path(sys.executable).parent


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_it_runs_daily_and_on_demand_and_only_when_configured() -> None:
    on = workflow().get("on", workflow().get(True))  # PyYAML reads the key `on` as True
    (schedule,) = on["schedule"]
    minute, hour, *every = schedule["cron"].split()
    assert every == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()
    assert "workflow_dispatch" in on
    (job,) = workflow()["jobs"].values()
    assert "vars.OPENSEARCH_URL != ''" in job["if"] and "vars.AWS_DRIFT_ROLE_ARN != ''" in job[
        "if"]


def test_it_runs_with_the_drift_role_in_its_environment() -> None:
    """The drift role trusts jobs of the `monitoring` environment only (aws_setup.py): the job
    runs there, with that role, and no job of the CI workflow asks for it."""
    (job,) = workflow()["jobs"].values()
    assert job["environment"] == "monitoring"
    roles = [step["with"]["aws-role-arn"] for step in job["steps"]
             if "aws-role-arn" in step.get("with", {})]
    assert roles == ["${{ vars.AWS_DRIFT_ROLE_ARN }}"]
    assert "AWS_DRIFT_ROLE_ARN" not in (WEEK_DIR / ".github" / "workflows" / "ci.yml").read_text()


def test_least_privilege_and_pinned_actions() -> None:
    assert workflow()["permissions"] == {}
    (job,) = workflow()["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert isinstance(job["timeout-minutes"], int)
    text = WORKFLOW.read_text().replace("- uses:", "uses:")
    remote = [s["uses"] for s in job["steps"] if not s.get("uses", "./").startswith("./")]
    pinned = {f"{m.group(1)}@{m.group(2)}" for m in PINNED.finditer(text)}
    assert remote and set(remote) <= pinned
    for step in job["steps"]:
        assert "${{" not in step.get("run", "")


def test_it_runs_the_drift_report_and_keeps_it() -> None:
    (job,) = workflow()["jobs"].values()
    makefile = (WEEK_DIR / "Makefile").read_text()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ["make drift-report"]
    assert re.search(r"^drift-report:.*\n\t\$\(PYTHON\) -m monitoring.drift_report ", makefile,
                     re.M)
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith(
        "actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"].startswith(
        "outputs/monitoring/drift_report")
    config = yaml.safe_load((WEEK_DIR / "configs" / "config.yaml").read_text())
    assert config["monitoring"]["report_dir"] == "${output_dir}/monitoring"
    assert config["output_dir"] == "outputs"


def test_actionlint_finds_nothing() -> None:
    actionlint = shutil.which("actionlint", path=str(TOOLS)) or shutil.which("actionlint")
    shellcheck = shutil.which("shellcheck", path=str(TOOLS)) or shutil.which("shellcheck")
    env = {**os.environ, "PATH": f"{Path(shellcheck).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True,
                            cwd=WEEK_DIR, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_day_without_traffic_fails_the_run(opensearch: str, tmp_path: Path) -> None:
    """The workflow's one command, on an empty window: exit status 3 from the report, so make
    and the job fail, and GitHub tells you (a pipeline that stopped must not look healthy)."""
    (job,) = workflow()["jobs"].values()
    step = next(s for s in job["steps"] if s.get("run") == "make drift-report")
    assert "continue-on-error" not in step and "continue-on-error" not in job
    reference = tmp_path / "reference_stats.json"
    reference.write_text(json.dumps({"events": 0, "numeric": {}, "label": {}}))
    settings = (f"--set monitoring.opensearch={opensearch} --set monitoring.reference={reference} "
                f"--set monitoring.report_dir={tmp_path}")
    result = subprocess.run(["make", "drift-report", f"PYTHON={sys.executable}",
                             f"MONITORING_SET={settings}"], cwd=WEEK_DIR, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "no verdict (exit status 3)" in result.stderr
    assert re.search(r"drift-report\] Error 3", result.stderr)
