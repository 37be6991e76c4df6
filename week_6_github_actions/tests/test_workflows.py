"""The CI/CD workflow: hardened as the README says (checked on the YAML), actionlint-clean, and
run for real with act: lint, tests, image build and smoke test, then the push to a registry."""

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from helpers import WEEK_DIR, free_port

WORKFLOW = WEEK_DIR / ".github" / "workflows" / "ci.yml"
SETUP_ACTION = WEEK_DIR / ".github" / "actions" / "setup" / "action.yml"
STAND_INS = WEEK_DIR / "tests" / "act"
PINNED = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*$", re.MULTILINE)
TOOLS = Path(sys.executable).parent
REGISTRY = "127.0.0.1:5000"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def jobs() -> dict[str, dict]:
    return load(WORKFLOW)["jobs"]


def steps() -> list[dict]:
    """Every step of every job, and of the local setup action they use."""
    found = [step for job in jobs().values() for step in job["steps"]]
    return found + load(SETUP_ACTION)["runs"]["steps"]


def remote_actions() -> dict[str, str]:
    """owner/name -> the commit each remote action is pinned to."""
    text = WORKFLOW.read_text() + SETUP_ACTION.read_text()
    return {m.group(1): m.group(2) for m in PINNED.finditer(text.replace("- uses:", "uses:"))
            if not m.group(1).startswith(".")}


def test_remote_actions_are_pinned_to_a_full_commit_with_its_version() -> None:
    remote = [step["uses"] for step in steps()
              if "uses" in step and not step["uses"].startswith("./")]
    assert remote, "the workflow uses no remote action?"
    pinned = remote_actions()
    for uses in remote:
        name, ref = uses.split("@")
        assert pinned.get(name) == ref, f"{uses}: pin a full commit SHA, with '# vX.Y.Z' after it"


def test_every_job_has_its_own_permissions_and_a_timeout() -> None:
    assert load(WORKFLOW)["permissions"] == {}, "the workflow's default must grant nothing"
    for name, job in jobs().items():
        assert isinstance(job.get("timeout-minutes"), int), f"{name} has no timeout-minutes"
        assert job.get("permissions", {}).get("contents") == "read", f"{name}: contents: read"
        granted = {scope for scope, level in job["permissions"].items() if level == "write"}
        expected = {"publish": {"packages", "id-token"}, "image": {"id-token"}}.get(name, set())
        assert granted == expected, f"{name} may write {granted}, should only {expected}"


def test_only_pushes_to_main_publish_and_only_after_every_check() -> None:
    workflow = load(WORKFLOW)
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    assert on["push"] == {"branches": ["main"]} and "pull_request" in on
    publish = jobs()["publish"]
    assert publish["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert set(publish["needs"]) == set(jobs()) - {"publish"}


def test_pull_request_jobs_are_not_given_the_aws_role() -> None:
    """A pull request's code (a fork's too) never gets a token for the AWS role: a job that
    runs on pull requests passes the role only when the event is a push."""
    guarded = "${{ github.event_name == 'push' && vars.AWS_ROLE_ARN || '' }}"
    checked = 0
    for name, job in jobs().items():
        push_only = job.get("if", "").startswith("github.event_name == 'push'")
        for step in job["steps"]:
            role = step.get("with", {}).get("aws-role-arn")
            if role and not push_only:
                assert role == guarded, f"{name}: a pull request would get the role"
                checked += 1
    assert checked, "no job that runs on pull requests uses the role: update this test"


def test_a_new_push_cancels_the_pull_requests_running_checks() -> None:
    concurrency = load(WORKFLOW)["concurrency"]
    assert "github.ref" in concurrency["group"]
    assert "pull_request" in concurrency["cancel-in-progress"]


def test_no_expression_is_interpolated_into_a_shell_script() -> None:
    # ${{ github.event.pull_request.title }} in run: is a script injection; env: is safe
    for step in steps():
        assert "${{" not in step.get("run", ""), f"pass it through env: instead: {step['run']}"


def test_pip_cache_is_keyed_on_the_installed_requirements_and_torch_is_cpu_only() -> None:
    setup_python = next(s for s in steps() if s.get("uses", "").startswith("actions/setup-python"))
    assert setup_python["with"]["cache"] == "pip"
    assert setup_python["with"]["cache-dependency-path"] == "${{ inputs.requirements }}"
    install = next(s for s in steps() if s.get("name", "").startswith("Install"))
    assert "--index-url https://download.pytorch.org/whl/cpu" in install["run"]
    for job in jobs().values():
        for step in job["steps"]:
            if step.get("uses") == "./.github/actions/setup":
                wanted = step.get("with", {}).get("requirements", "requirements.txt")
                assert (WEEK_DIR / wanted).is_file(), wanted


def test_the_workflow_runs_only_make_targets_that_exist() -> None:
    makefile = (WEEK_DIR / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.MULTILINE))
    used = set()
    for step in steps():
        for words in re.findall(r"\bmake((?: [a-z-]+)+)", step.get("run", "")):
            used |= set(words.split())
    assert used and used <= targets, used - targets


def test_actionlint_with_shellcheck_finds_nothing() -> None:
    actionlint = shutil.which("actionlint", path=str(TOOLS)) or shutil.which("actionlint")
    shellcheck = shutil.which("shellcheck", path=str(TOOLS)) or shutil.which("shellcheck")
    if not (actionlint and shellcheck):
        pytest.fail("actionlint or shellcheck missing: pip install -r requirements.txt")
    env = {**os.environ, "PATH": f"{Path(shellcheck).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True,
                            cwd=WEEK_DIR, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def copy_as_repository(dest: Path) -> str:
    """This week's files (as git would commit them) in a fresh git repository; its commit."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=WEEK_DIR,
                            capture_output=True, text=True)
    names = listed.stdout.split() if listed.returncode == 0 else None
    if names is None:  # not a git checkout: everything but what runs generate
        ignore = shutil.ignore_patterns("outputs", "__pycache__", ".pytest_cache", "wandb",
                                        ".hypothesis", "lightning_logs", "*.onnx", "*.ckpt")
        shutil.copytree(WEEK_DIR, dest, ignore=ignore, dirs_exist_ok=True)
    else:
        for name in names:
            if (WEEK_DIR / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(WEEK_DIR / name, dest / name)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com",
                               *args], cwd=dest, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    git("remote", "add", "origin", "https://github.com/learner/cola-course.git")
    git("add", "-A")
    git("commit", "-q", "-m", "the week as its own repository")
    return git("rev-parse", "HEAD")


def container_socket() -> str | None:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for path in ("/run/podman/podman.sock", "/var/run/docker.sock"):
        if Path(path).exists():
            return f"unix://{path}"
    return None


def registry_is_up() -> bool:
    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=2)
        return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.container
def test_the_push_workflow_runs_with_act_and_publishes_the_tested_image(tmp_path: Path) -> None:
    act = shutil.which("act", path=str(TOOLS)) or shutil.which("act")
    docker = shutil.which("docker")
    socket = container_socket()
    missing = [what for what, ok in [("act", act), ("docker CLI", docker), ("container engine "
               "socket", socket), (f"registry on {REGISTRY}", registry_is_up())] if not ok]
    if missing:
        if os.environ.get("REQUIRE_CONTAINERS") or os.environ.get("CI"):
            pytest.fail(f"missing: {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)}")
    repo = tmp_path / "repo"
    repo.mkdir()
    sha = copy_as_repository(repo)
    # the README's make ci-local (its flags in the Makefile and .actrc), for a push
    result = subprocess.run(
        ["make", "ci-local", "EVENT=push", f"PYTHON={sys.executable}", f"DOCKER_HOST={socket}",
         f"ACT_FLAGS=--var IMAGE_REGISTRY={REGISTRY} --env PORT={free_port()} "
         # the test job's tests run in this course's own test run: here it only collects them,
         # which proves its set-up (interpreter, requirements, conftest) in a fraction of the time
         "--env PIP_RETRIES=0 --env 'PYTEST_ADDOPTS=--collect-only -q'"],
        cwd=repo, capture_output=True, text=True, timeout=900,
        env={**os.environ, "DOCKER_HOST": socket,
             "PATH": f"{Path(act).parent}{os.pathsep}{os.environ['PATH']}"})
    log = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout + result.stderr)  # no colours
    assert result.returncode == 0, log[-5000:]
    for job in ("lint", "test", "image", "publish"):
        assert f"[ci/{job}" in log and re.search(rf"\[ci/{job}\s*\] 🏁  Job succeeded", log), job
    assert re.search(r"\[ci/test \].* \d+/\d+ tests collected", log), "the test job found its tests"
    assert "No DVC remote credentials" in log, "the offline-model fallback says so in one line"
    assert re.search(r'predict: \{"label":"(un)?acceptable","score":', log)

    pushed = f"{REGISTRY}/learner/cola-course/cola-service:{sha}"
    engine = [docker, "--host", socket]
    try:
        subprocess.run([*engine, "pull", pushed], check=True, capture_output=True)
        labels = subprocess.run([*engine, "inspect", "--format", "{{json .Config.Labels}}",
                                 pushed], check=True, capture_output=True, text=True).stdout
        assert f'"org.opencontainers.image.revision":"{sha}"' in labels
        assert '"org.opencontainers.image.source":"https://github.com/learner/cola-course"' \
            in labels
    finally:
        for tag in (pushed, f"cola-service:{sha}"):
            subprocess.run([*engine, "rmi", "--force", tag], capture_output=True)


def test_make_ci_local_runs_the_jobs_here_with_a_stand_in_for_each_remote_action() -> None:
    """No question from act, nothing to download: .actrc runs ubuntu-24.04 jobs on this machine
    and the Makefile points every remote action but checkout at its offline stand-in."""
    assert "-P ubuntu-24.04=-self-hosted" in (WEEK_DIR / ".actrc").read_text().splitlines()
    outer_make = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    dry = subprocess.run(["make", "-n", "ci-local", f"PYTHON={sys.executable}"], cwd=WEEK_DIR,
                         env=outer_make, capture_output=True, text=True, check=True).stdout
    assert dry.startswith("act pull_request ") and f"OUTER_PYTHON={sys.executable}" in dry
    for name, ref in remote_actions().items():
        if name != "actions/checkout":
            stand_in = STAND_INS / name.split("/")[1]
            assert (stand_in / "action.yml").is_file(), stand_in
            assert f"--local-repository={name}@{ref}={stand_in}" in dry, name
