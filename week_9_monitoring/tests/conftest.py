"""Offline fixtures: a tiny BERT built in the session and small TSV files written by the tests."""

import json
import os
import random
import shutil
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before any Hugging Face import: tests never use the network
os.environ.pop("COLA_DATA_DIR", None)
os.environ["WANDB_MODE"] = "offline"  # W&B runs are written locally, never uploaded

import pytest

WEEK_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WEEK_DIR))
SHARED_COLA = WEEK_DIR.parent.parent / "shared" / "data" / "cola"


def pytest_configure(config: pytest.Config) -> None:
    # registered here too, so that this week copied out of the course on its own knows them
    config.addinivalue_line("markers", "slow: takes more than a few seconds (left out of the "
                            "smoke run: pytest -m 'not slow')")
    config.addinivalue_line("markers", "container: builds or runs a container image")
    config.addinivalue_line("markers", "real_data: reads the real CoLA files beside the "
                            "course (skips without them)")


# A learnable toy task: the two classes use different words, so a tiny model separates them fast.
GOOD_WORDS = ["the", "cat", "sat", "on", "a", "warm", "mat", "and", "slept", "well", "today"]
BAD_WORDS = ["green", "ideas", "sleep", "furiously", "colour", "below", "over", "quickly", "yes",
             "seven"]


def toy_rows(n: int, seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.choices(GOOD_WORDS if label else BAD_WORDS, k=rng.randint(3, 9))
        rows.append((label, " ".join(words).capitalize() + "."))
    return rows


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tsv(path: Path, rows: list[tuple[int, str]]) -> Path:
    path.write_text("".join(f"toy\t{label}\t\t{text}\n" for label, text in rows), encoding="utf-8")
    return path


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


def copy_build_context(dest: Path) -> Path:
    """This week's image build context, as .dockerignore lets it through (its "!" lines): the
    Dockerfiles and the code, without the model (the tests export their own into it)."""
    keep = [line[1:] for line in (WEEK_DIR / ".dockerignore").read_text().splitlines()
            if line.startswith("!") and not line.startswith("!outputs/")]
    for name in (*(p.name for p in WEEK_DIR.glob("Dockerfile*")), ".dockerignore", *keep):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(WEEK_DIR / name, dest / name)
    return dest


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


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet request handler for stand-in servers that answer in JSON."""

    def log_message(self, *args) -> None:
        pass

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def make_events(n: int, start: datetime | None = None, step_s: float = 1.0) -> list[dict]:
    """n prediction events, one request each, as prediction_log.py writes them: from `start`,
    or by default ending a minute before now (the clock the test runs on)."""
    if start is None:
        start = datetime.now(UTC) - timedelta(seconds=n * step_s + 60)
    events = []
    for i in range(n):
        stamp = (start + timedelta(seconds=i * step_s)).isoformat(timespec="milliseconds")
        events.append({
            "event": "prediction", "@timestamp": stamp.replace("+00:00", "Z"),
            "event_id": f"req{i:05d}-0", "request_id": f"req{i:05d}", "source": "fastapi",
            "model_sha256": "ab" * 32, "model_version": "local", "text_chars": 10 + i % 50,
            "text_tokens": 3 + i % 12, "unk_share": 0.0, "label": ("acceptable", "unacceptable")[
                i % 3 == 0], "score": 0.503 + (i % 49) / 100,
            "latency_ms": round(2.0 + i * 7919 % 1000 / 100, 2),  # 2-12 ms, spread: p95 < max
            "batch_size": 1})
    return events


def daily_index(event: dict) -> str:
    """The index an event belongs in: its day's, as the template names them."""
    return "cola-predictions-" + event["@timestamp"][:10].replace("-", ".")


def indexed_ids(url: str) -> list[str]:
    from opensearchpy import OpenSearch

    client = OpenSearch([url])
    client.indices.refresh(index="cola-predictions-*")
    hits = client.search(index="cola-predictions-*", body={"size": 10_000, "_source": False})
    return [hit["_id"] for hit in hits["hits"]["hits"]]
