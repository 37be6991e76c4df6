"""The CI/CD workflow: hardened as the README says (checked on the YAML), actionlint-clean, and
run for real with act: the role assumed, the model pulled with DVC from S3, lint, tests, the
image built and smoke-tested, then pushed; the pushed image pulled back, run and inspected."""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from aws_setup import main as aws_setup
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
        expected = {"publish": {"id-token"}, "image": {"id-token"},
                    "deploy": {"id-token"}}.get(name, set())
        assert granted == expected, f"{name} may write {granted}, should only {expected}"


def test_only_pushes_to_main_publish_and_deploy_and_only_after_every_check() -> None:
    workflow = load(WORKFLOW)
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    assert on["push"] == {"branches": ["main"]} and "pull_request" in on
    publish = jobs()["publish"]
    assert publish["if"] == ("github.event_name == 'push' && github.ref == 'refs/heads/main' "
                             "&& vars.AWS_ROLE_ARN != ''")
    assert set(publish["needs"]) == set(jobs()) - {"publish", "deploy"}
    deploy = jobs()["deploy"]
    assert deploy["needs"] == ["publish"] and deploy["if"].startswith(
        "github.event_name == 'push' && github.ref == 'refs/heads/main' ")
    assert "vars.LAMBDA_FUNCTION != ''" in deploy["if"]
    assert deploy["concurrency"]["cancel-in-progress"] is False, "deploys run in order, all"


def test_only_the_deploy_job_gets_the_deploy_role_and_only_in_production() -> None:
    """The deploy role trusts jobs of the `production` environment alone (aws_setup.py), so
    the job must run there; no other job asks for that role."""
    for name, job in jobs().items():
        roles = [step["with"]["aws-role-arn"] for step in job["steps"]
                 if "aws-role-arn" in step.get("with", {})]
        if name == "deploy":
            assert job["environment"] == "production"
            assert roles == ["${{ vars.AWS_DEPLOY_ROLE_ARN }}"]
        else:
            assert "environment" not in job and "AWS_DEPLOY_ROLE_ARN" not in str(roles), name


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


def run_tool(*args: str, cwd: Path, **extra_env: str) -> str:
    # the pipeline's stages run `python`: this interpreter's
    env = {**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}", **extra_env}
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json")


def registry_manifest(repository: str, tag: str) -> tuple[bytes, str, str]:
    """The manifest's bytes, media type and digest (as the registry reports it) of a tag."""
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{repository}/manifests/{tag}",
                                     headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(request, timeout=10) as response:
        return (response.read(), response.headers["Content-Type"],
                response.headers["Docker-Content-Digest"])


@pytest.mark.slow
@pytest.mark.container
def test_the_push_workflow_pulls_the_model_and_pushes_an_image_that_runs(tmp_path: Path,
                                                                          aws: str) -> None:
    act = shutil.which("act", path=str(TOOLS)) or shutil.which("act")
    docker = shutil.which("docker")
    socket = container_socket()
    missing = [what for what, ok in [("act", act), ("docker CLI", docker), ("container engine "
               "socket", socket), (f"registry on {REGISTRY}", registry_is_up())] if not ok]
    if missing:
        if os.environ.get("REQUIRE_CONTAINERS") or os.environ.get("CI"):
            pytest.fail(f"missing: {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)}")
    # the learner's set-up: the AWS resources, then an exported model and its drift reference
    # recorded as the export and reference stages' outputs and pushed to the DVC remote on S3
    # (the bucket .dvc/config names)
    role = "arn:aws:iam::123456789012:role/cola-github-actions"
    assert aws_setup(["create", "--github-repository", "learner/cola-course", "--region",
                      "us-east-1", "--bucket", "mlops-basics-dvc"]) == 0
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_as_repository(repo)
    dvc = str(TOOLS / "dvc")
    run_tool("make", "model", f"PYTHON={sys.executable}", cwd=repo)  # the small offline model
    run_tool(dvc, "commit", "--force", "export", "reference", cwd=repo)
    run_tool(dvc, "push", "--remote", "s3", "export", "reference", cwd=repo)
    model = sha256(repo / "outputs" / "onnx" / "model.int8.onnx")
    run_tool("git", "add", "-A", cwd=repo)
    run_tool("git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q",
             "-m", "quick pipeline, model on the DVC remote", cwd=repo)
    run_tool("git", "clean", "-fdxq", cwd=repo)  # as a fresh clone: no model, no DVC cache
    sha = run_tool("git", "rev-parse", "HEAD", cwd=repo).strip()

    no_keys = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # the README's make ci-local (its flags in the Makefile and .actrc), for a push
    result = subprocess.run(
        ["make", "ci-local", "EVENT=push", f"PYTHON={sys.executable}", f"DOCKER_HOST={socket}",
         f"ACT_FLAGS=--var AWS_ROLE_ARN={role} --var AWS_REGION=us-east-1 "
         f"--env AWS_ENDPOINT_URL={aws} --env ECR_STAND_IN_REGISTRY={REGISTRY} "
         f"--env PORT={free_port()} "
         # the test job's tests run in this course's own test run: here it only collects them,
         # which proves its set-up (interpreter, requirements, conftest) in a fraction of the time
         "--env PIP_RETRIES=0 --env 'PYTEST_ADDOPTS=--collect-only -q'"],
        cwd=repo, capture_output=True, text=True, timeout=900,
        env={**no_keys, "DOCKER_HOST": socket,
             "PATH": f"{Path(act).parent}{os.pathsep}{os.environ['PATH']}"})
    log = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout + result.stderr)  # no colours
    assert result.returncode == 0, log[-5000:]
    for job in ("lint", "test", "image", "publish"):
        assert re.search(rf"\[ci/{job}\s*\] 🏁  Job succeeded", log), job
    assert re.search(r"\[ci/test \].* \d+/\d+ tests collected", log), "the test job found its tests"
    assert log.count(f"assumed {role}") == 2, "image and publish assume the role"
    assert "No DVC remote credentials" not in log
    # both jobs' images serve the model that the pipeline pushed to S3
    assert log.count(f'"sha256":"{model}"') == 2

    manifest, media_type, digest = registry_manifest("cola-service", sha)
    assert digest == f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    assert registry_manifest("cola-service", f"{sha}-model-{model[:12]}")[2] == digest
    # the Lambda image, smoke-tested through its emulator before the push
    assert re.search(r'invoke: \{"label": ?"(un)?acceptable", ?"score":', log)
    assert registry_manifest("cola-service", f"{sha}-lambda")[2] != digest
    # the push as ECR records it; the repository's tags are immutable
    ecr = boto3.client("ecr", region_name="us-east-1")
    ecr.put_image(repositoryName="cola-service", imageManifest=manifest.decode(),
                  imageManifestMediaType=media_type, imageTag=sha)
    [image] = ecr.describe_images(repositoryName="cola-service",
                                  imageIds=[{"imageTag": sha}])["imageDetails"]
    assert sha in image["imageTags"]
    other = json.loads(manifest)
    other["config"]["digest"] = "sha256:" + "1" * 64  # another image
    # ECR says ImageTagAlreadyExistsException, moto ImageAlreadyExistsException: refused both
    with pytest.raises((ecr.exceptions.ImageTagAlreadyExistsException,
                        ecr.exceptions.ImageAlreadyExistsException)):
        ecr.put_image(repositoryName="cola-service", imageManifest=json.dumps(other),
                      imageManifestMediaType=media_type, imageTag=sha)
    [still] = ecr.describe_images(repositoryName="cola-service",
                                  imageIds=[{"imageTag": sha}])["imageDetails"]
    assert still["imageDigest"] == image["imageDigest"]

    pushed = f"{REGISTRY}/cola-service:{sha}"
    engine = [docker, "--host", socket]
    try:
        run_tool(*engine, "pull", pushed, cwd=tmp_path)
        digests = run_tool(*engine, "inspect", "--format", "{{json .RepoDigests}}", pushed,
                           cwd=tmp_path)
        assert f"{REGISTRY}/cola-service@{digest}" in digests
        smoke = run_tool(str(WEEK_DIR / "scripts" / "smoke_image.sh"), pushed, cwd=tmp_path,
                         DOCKER_HOST=socket, PORT=str(free_port()))
        assert f'"sha256":"{model}"' in smoke
        archive = tmp_path / "pushed.tar"
        run_tool(*engine, "save", "-o", str(archive), pushed, cwd=tmp_path)
        assert_no_credentials(archive)
    finally:
        for tag in (pushed, f"{pushed}-model-{model[:12]}", f"{pushed}-lambda",
                    f"cola-service:{sha}"):
            subprocess.run([*engine, "rmi", "--force", tag], capture_output=True)


CREDENTIAL = re.compile(rb"\b(AKIA|ASIA)[0-9A-Z]{16}\b|(?i:aws_secret_access_key|aws_session_token)"
                        rb"|AWS_(SECRET_ACCESS_KEY|SESSION_TOKEN|ACCESS_KEY_ID)=")


def assert_no_credentials(archive: Path) -> None:
    """No layer file, and nothing in the config (env, labels, history), holds a credential."""
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()
            if tarfile.is_tarfile(io.BytesIO(data)):
                with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                    for item in layer.getmembers():
                        assert not re.search(r"(^|/)(\.aws/|\.netrc$|\.docker/config)", item.name)
                        if item.isfile() and item.size < 50_000_000:
                            content = layer.extractfile(item).read()
                            if b"\0" in content:  # a binary: libraries, the model
                                continue
                            assert not CREDENTIAL.search(content), f"{member.name}:{item.name}"
            else:  # the image config (env, labels, history) and the manifests
                assert not CREDENTIAL.search(data), member.name


def build_labelled_image(engine: list[str], tag: str, content: str, tmp_path: Path,
                         model: str | None) -> None:
    """A small image (the base image plus one file); with `model`, the label make image sets."""
    context = tmp_path / f"context-{content}"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY content /content\n")
    (context / "content").write_text(content)
    label = ["--label", f"org.mlops-basics.model.sha256={model}"] if model else []
    run_tool(*engine, "build", *label, "-t", tag, str(context), cwd=tmp_path)


@pytest.mark.slow
@pytest.mark.container
def test_a_publish_can_be_re_run_and_never_moves_a_tag(tmp_path: Path) -> None:
    """The publish job re-run after its second push failed: a fresh runner rebuilds the image
    (another digest). make push keeps the image the registry has, adds the missing model tag to
    it, and never retags anything; a model tag naming another image stops it."""
    docker = shutil.which("docker")
    socket = container_socket()
    if not (docker and socket and registry_is_up()):
        if os.environ.get("REQUIRE_CONTAINERS") or os.environ.get("CI"):
            pytest.fail(f"needs the docker CLI, a container engine socket and {REGISTRY}")
        pytest.skip(f"needs the docker CLI, a container engine socket and {REGISTRY}")
    engine = [docker, "--host", socket]
    repository = f"push-{os.getpid()}-{free_port()}"
    image = f"{REGISTRY}/{repository}:c0ffee"
    model = hashlib.sha256(b"the model").hexdigest()
    model_tag = f"c0ffee-model-{model[:12]}"

    def push(tag: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(WEEK_DIR / "scripts" / "push_image.sh"), tag, "--model-tag"],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "DOCKER_HOST": socket, "DOCKER": docker})

    created = [image, f"{image}-model-{model[:12]}"]
    try:
        build_labelled_image(engine, image, "first run", tmp_path, model)
        run_tool(*engine, "push", image, cwd=tmp_path)  # ... and then the job failed
        first = registry_manifest(repository, "c0ffee")[2]
        build_labelled_image(engine, image, "re-run", tmp_path, model)  # a fresh runner

        rerun = push(image)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert f"{image}: already in the registry" in rerun.stdout
        assert registry_manifest(repository, "c0ffee")[2] == first, "the commit tag moved"
        assert registry_manifest(repository, model_tag)[2] == first

        again = push(image)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "names the same image" in again.stdout

        # another commit whose model tag some earlier push gave to a different image
        other = f"{REGISTRY}/{repository}:d00d"
        taken = f"{other}-model-{model[:12]}"
        created += [other, taken]
        build_labelled_image(engine, taken, "someone else", tmp_path, model)
        run_tool(*engine, "push", taken, cwd=tmp_path)
        taken_digest = registry_manifest(repository, f"d00d-model-{model[:12]}")[2]
        build_labelled_image(engine, other, "this commit", tmp_path, model)
        refused = push(other)
        assert refused.returncode == 1
        assert f"error: {taken} already names another image" in refused.stderr
        assert registry_manifest(repository, f"d00d-model-{model[:12]}")[2] == taken_digest

        unlabelled = f"{REGISTRY}/{repository}:e1"
        created.append(unlabelled)
        build_labelled_image(engine, unlabelled, "no label", tmp_path, None)
        missing = push(unlabelled)
        assert missing.returncode == 2
        assert "has no label org.mlops-basics.model.sha256" in missing.stderr
        with pytest.raises(urllib.error.HTTPError):  # checked before anything was pushed
            registry_manifest(repository, "e1")
    finally:
        for tag in created:
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
