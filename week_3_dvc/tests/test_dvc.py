"""The DVC pipeline and remotes, run for real in a copy of this week inside a fresh git repo:
the tiny model and the toy data stand in for MiniLM and CoLA."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from helpers import WEEK_DIR, free_port

pytestmark = pytest.mark.slow  # runs the whole pipeline several times
TRACKED = ["data/cola/train.tsv", "data/cola/validation.tsv", "outputs/checkpoints/best.ckpt"]
GENERATED = {".": {"outputs", "data", "metrics.json", "dvc.lock", "dvc-storage", "tests",
                   "multirun"}, ".dvc": {"config.local", "tmp", "cache"}}


def dvc(project: Path, *args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=project,
                            env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def checksums(project: Path) -> dict[str, str]:
    return {name: hashlib.sha256((project / name).read_bytes()).hexdigest() for name in TRACKED}


def wipe_cache_and_outputs(project: Path) -> None:
    shutil.rmtree(project / ".dvc" / "cache")
    shutil.rmtree(project / "data" / "cola")
    (project / "outputs" / "checkpoints" / "best.ckpt").unlink()


@pytest.fixture(scope="module")
def env(toy_data_dir: Path) -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "COLA_DATA_DIR": str(toy_data_dir), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str, env: dict) -> Path:
    """This week in a new git repository, configured for the tiny model, reproduced once."""
    repo = tmp_path_factory.mktemp("repo")
    project = repo / WEEK_DIR.name
    shutil.copytree(WEEK_DIR, project, ignore=lambda folder, names: {"__pycache__"} | GENERATED.get(
        str(Path(folder).relative_to(WEEK_DIR)), set()))
    shutil.copy(WEEK_DIR.parent / ".gitignore", repo / ".gitignore")  # as in the course repo
    minilm = project / "configs" / "model" / "minilm.yaml"  # its other keys stay as they are
    minilm.write_text(re.sub(r"(?m)^name: .*$", f"name: {tiny_model_dir}", minilm.read_text()))
    training = project / "configs" / "training" / "default.yaml"
    training.write_text(training.read_text().replace("max_epochs: 5", "max_epochs: 2"))
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *command], cwd=repo,
                       check=True, capture_output=True)
    first = dvc(project, "repro", env=env)
    for stage in ("prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout
    return project


def test_repro_writes_metrics_and_a_second_repro_does_nothing(project: Path, env: dict) -> None:
    metrics = dvc(project, "metrics", "show", "--json", env=env).stdout
    assert '"mcc"' in metrics and '"accuracy"' in metrics and '"rows": 40' in metrics
    again = dvc(project, "repro", env=env).stdout
    assert "Running stage" not in again and "Data and pipelines are up to date." in again


def test_choosing_another_model_option_makes_training_stale(project: Path, env: dict) -> None:
    config = project / "configs" / "config.yaml"
    original = config.read_text()
    assert "  - model: minilm\n" in original
    config.write_text(original.replace("  - model: minilm\n", "  - model: tiny\n"))
    try:
        stale = json.loads(dvc(project, "status", "--json", env=env).stdout)
    finally:
        config.write_text(original)
    changed = [entry.get("changed deps", {}) for entry in stale["train"]]
    assert any("defaults" in str(deps.get("configs/config.yaml")) for deps in changed), stale
    assert json.loads(dvc(project, "status", "--json", env=env).stdout) == {}


def test_a_parameter_change_reruns_only_what_depends_on_it(project: Path, env: dict) -> None:
    config = project / "configs" / "training" / "default.yaml"
    config.write_text(config.read_text().replace("lr: 3e-5", "lr: 1e-3"))
    assert "lr       3e-05   0.001" in dvc(project, "params", "diff", env=env).stdout
    rerun = dvc(project, "repro", env=env).stdout
    assert "Stage 'prepare' didn't change, skipping" in rerun
    assert "Running stage 'train'" in rerun and "Running stage 'evaluate'" in rerun


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=project, check=True, capture_output=True, text=True).stdout


def test_going_back_to_a_commit_restores_its_model(project: Path, env: dict) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-qm", "model A")
    first = checksums(project)["outputs/checkpoints/best.ckpt"]
    config = project / "configs" / "config.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
    dvc(project, "repro", env=env)
    diff = json.loads(dvc(project, "metrics", "diff", "--all", "--json", env=env).stdout)
    assert {"old", "new"} <= set(diff["metrics.json"]["mcc"])  # this model vs the committed one
    git(project, "add", "-A")
    git(project, "commit", "-qm", "model B")
    second = checksums(project)["outputs/checkpoints/best.ckpt"]
    assert second != first
    git(project, "checkout", "-q", "HEAD~1")  # model A's code, config and dvc.lock ...
    dvc(project, "checkout", env=env)          # ... and its checkpoint, from the cache
    assert checksums(project)["outputs/checkpoints/best.ckpt"] == first
    git(project, "checkout", "-q", "-")
    dvc(project, "checkout", env=env)
    assert checksums(project)["outputs/checkpoints/best.ckpt"] == second


def test_an_experiment_runs_without_a_commit_and_is_listed(project: Path, env: dict) -> None:
    head = git(project, "rev-parse", "HEAD")
    dvc(project, "exp", "run", "-S", "configs/training/default.yaml:lr=0.002", env=env)
    shown = dvc(project, "exp", "show", "--csv", env=env).stdout
    assert "0.002" in shown and "mcc" in shown.splitlines()[0]
    assert git(project, "rev-parse", "HEAD") == head  # no commit was made


def test_dvc_add_tracks_a_file_no_stage_makes(project: Path, env: dict) -> None:
    mine = project / "data" / "my_sentences.tsv"
    mine.write_text("mine\t1\t\tThe cat sat on the mat.\n", encoding="utf-8")
    dvc(project, "add", "data/my_sentences.tsv", env=env)
    record = yaml.safe_load((project / "data" / "my_sentences.tsv.dvc").read_text())
    assert record["outs"][0]["md5"] == hashlib.md5(mine.read_bytes()).hexdigest()
    assert "/my_sentences.tsv" in (project / "data" / ".gitignore").read_text().splitlines()
    mine.unlink()
    dvc(project, "checkout", "data/my_sentences.tsv.dvc", env=env)
    assert mine.read_text(encoding="utf-8").endswith("The cat sat on the mat.\n")


def test_push_and_pull_through_the_local_remote(project: Path, env: dict) -> None:
    before = checksums(project)
    dvc(project, "push", env=env)
    assert any((project / "dvc-storage").rglob("*"))
    wipe_cache_and_outputs(project)
    dvc(project, "pull", env=env)
    assert checksums(project) == before


@pytest.fixture
def s3_endpoint(env: dict):
    """A real S3 API on 127.0.0.1, served by moto, with the remote's bucket created."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="mlops-basics-dvc")
    yield endpoint, s3
    server.stop()


def test_push_and_pull_through_an_s3_remote(project: Path, env: dict, s3_endpoint) -> None:
    endpoint, s3 = s3_endpoint
    s3.create_bucket(Bucket="my-own-bucket")
    dvc(project, "remote", "modify", "s3", "url", "s3://my-own-bucket/cola", env=env)  # README
    dvc(project, "remote", "modify", "--local", "s3", "endpointurl", endpoint, env=env)
    before = checksums(project)
    dvc(project, "push", "-r", "s3", env=env)
    assert s3.list_objects_v2(Bucket="mlops-basics-dvc").get("KeyCount", 0) == 0
    stored = s3.list_objects_v2(Bucket="my-own-bucket", Prefix="cola/")
    assert stored["KeyCount"] >= len(TRACKED)
    wipe_cache_and_outputs(project)
    dvc(project, "pull", "-r", "s3", env=env)
    assert checksums(project) == before


def test_an_unreachable_remote_fails_with_a_clear_error(project: Path, env: dict) -> None:
    dvc(project, "remote", "modify", "--local", "s3", "endpointurl", f"http://127.0.0.1:{free_port()}",
        env=env)
    result = dvc(project, "push", "-r", "s3", env=env, check=False)
    assert result.returncode != 0
    assert "ERROR" in result.stderr and "Could not connect to the endpoint URL" in result.stderr
    assert "Traceback" not in result.stderr
