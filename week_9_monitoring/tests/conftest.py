"""Offline fixtures: a tiny BERT built in the session and small TSV files written by the tests
(helpers.py writes them)."""

import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before any Hugging Face import: tests never use the network
os.environ.pop("COLA_DATA_DIR", None)
os.environ["WANDB_MODE"] = "offline"  # W&B runs are written locally, never uploaded

import pytest

from helpers import WEEK_DIR, free_port, toy_rows, write_tsv

sys.path.insert(0, str(WEEK_DIR))


def pytest_configure(config: pytest.Config) -> None:
    # registered here too, so that this week copied out of the course on its own knows them
    config.addinivalue_line("markers", "slow: takes more than a few seconds (left out of the "
                            "smoke run: pytest -m 'not slow')")
    config.addinivalue_line("markers", "container: builds or runs a container image")
    config.addinivalue_line("markers", "real_data: reads the real CoLA files beside the "
                            "course (skips without them)")


@pytest.fixture(scope="session")
def toy_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("toy_cola")
    write_tsv(data_dir / "train.tsv", toy_rows(160, seed=1))
    write_tsv(data_dir / "validation.tsv", toy_rows(40, seed=2))
    return data_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    from offline import build_tiny_model

    sentences = [text for _, text in toy_rows(160, seed=1)]
    return build_tiny_model(tmp_path_factory.mktemp("tiny_bert"), sentences)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, toy_data_dir: Path,
                tiny_model_dir: str) -> dict:
    """One short training run on the toy task, shared by the tests that need a trained model."""
    from config_schema import load_config
    from train import train

    out = tmp_path_factory.mktemp("run")
    return train(load_config(
        f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}", "data.batch_size=16",
        "training.trainer.max_epochs=8", "training.patience=8", "training.lr=3e-3",
        f"output_dir={out}"))


@pytest.fixture(scope="session")
def onnx_model(trained_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained run exported: the int8 ONNX bundle that the service loads."""
    from convert_model_to_onnx import convert

    folder = tmp_path_factory.mktemp("onnx")
    convert(trained_run["checkpoint"], str(folder / "model.onnx"),
            str(folder / "model.int8.onnx"))
    return folder / "model.int8.onnx"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """A real AWS API on 127.0.0.1 (moto's server), empty: boto3 and DVC, in this process and
    in its children, talk to it through AWS_ENDPOINT_URL, with dummy credentials."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._port}"
    # moto keeps what earlier tests made in this process, whichever server made it
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"),
                           timeout=10).close()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    yield endpoint
    server.stop()


@pytest.fixture
def control_plane(aws: str) -> dict:
    """The function as it exists in AWS before the deploy: moto's Lambda API, an image function
    with a `live` alias on version 1, and the new image in ECR under its tag."""
    import json

    import boto3

    iam = boto3.client("iam")
    role = iam.create_role(RoleName="cola-lambda", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]
    }))["Role"]["Arn"]
    control = boto3.client("lambda")
    control.create_function(FunctionName="cola-predict", Role=role, PackageType="Image",
                            Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
                                  "cola-service:old-lambda"}, MemorySize=1024, Timeout=30)
    control.get_waiter("function_active_v2").wait(FunctionName="cola-predict")
    control.publish_version(FunctionName="cola-predict")
    control.create_alias(FunctionName="cola-predict", Name="live", FunctionVersion="1")
    # the new image, pushed to ECR under its tag (the emulator holds manifests, not bytes)
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="cola-service", imageTagMutability="IMMUTABLE")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                           "digest": "sha256:" + "1" * 64}, "layers": []}
    digest = ecr.put_image(repositoryName="cola-service", imageManifest=json.dumps(manifest),
                           imageTag="new-lambda")["image"]["imageId"]["imageDigest"]
    return {"client": control, "digest": digest}


@pytest.fixture
def opensearch() -> str:
    """The OpenSearch REST API on 127.0.0.1, in memory (osmem-server): a test double for the
    real OpenSearch, which docker-compose.monitoring.yml runs. A fresh, empty one per test."""
    import subprocess
    import time
    import urllib.request

    from osmem_server import resolve_binary

    url = f"http://127.0.0.1:{free_port()}"
    server = subprocess.Popen([resolve_binary(), "-addr", url.removeprefix("http://"),
                               "-no-stdin-watch"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"osmem-server did not answer on {url}") from None
            time.sleep(0.05)
    yield url
    server.kill()
    server.wait()


# --- monitoring (week 9) ----------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def clock_ahead() -> Iterator[None]:
    """With TEST_CLOCK_AHEAD_DAYS=N every test runs as if it were N days later (make test runs
    this week's fast tests so, a year ahead): a test whose events carry a fixed date while the
    code under test looks at "the last 24 hours" fails there, not on some later day."""
    days = float(os.environ.get("TEST_CLOCK_AHEAD_DAYS") or 0)
    if not days:
        yield
        return
    import time_machine

    with time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True):
        yield
