"""The Dockerfile, built and run for real with the machine's container engine (docker or
podman): health, predictions through the mapped port, a non-root user, no credentials."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from convert_model_to_onnx import convert
from helpers import WEEK_DIR, copy_build_context, free_port
from image_stats import main as image_stats_main
from inference_onnx import ColaONNXPredictor

ENGINE = os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker")
if ENGINE is None and not (os.environ.get("REQUIRE_CONTAINERS") or os.environ.get("CI")):
    pytest.skip("no container engine (docker or podman) on this machine",
                allow_module_level=True)
pytestmark = [pytest.mark.container, pytest.mark.slow]
SECRET = re.compile(r"AKIA[0-9A-Z]{16}|aws_secret_access_key|(SECRET|TOKEN|PASSWORD)[A-Z_]*=",
                    re.IGNORECASE)
SECRET_FILES = re.compile(r"(^|/)(\.aws/credentials|\.netrc|\.env|id_rsa|\.git-credentials)$")


def engine(*args: str, check: bool = True, timeout: int = 600,
           env: dict | None = None) -> subprocess.CompletedProcess:
    assert ENGINE, "REQUIRE_CONTAINERS is set but there is no docker or podman"
    result = subprocess.run([ENGINE, *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    if check:  # the end of the output (a build log, say) is the useful part
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def is_podman() -> bool:
    return Path(ENGINE or "").name == "podman"


@pytest.fixture(scope="module")
def image(trained_run: dict, tmp_path_factory: pytest.TempPathFactory):
    """The image built from this week's Dockerfile, with the tiny model exported into it."""
    context = tmp_path_factory.mktemp("context")
    copy_build_context(context)
    onnx_dir = context / "outputs" / "onnx"
    convert(trained_run["checkpoint"], str(onnx_dir / "model.onnx"),
            str(onnx_dir / "model.int8.onnx"))
    tag = f"cola-service:test-{uuid.uuid4().hex[:8]}"
    # podman: the docker format keeps HEALTHCHECK in the image; a failed build shows its log
    engine("build", "-t", tag, str(context), env={"BUILDAH_FORMAT": "docker"}, timeout=900)
    yield {"tag": tag, "model": onnx_dir / "model.int8.onnx", "context": context}
    engine("rmi", "-f", tag, check=False)


def wait_until_healthy(url: str, name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, engine("logs", name, check=False).stdout
        time.sleep(0.1)


@pytest.fixture(scope="module")
def container(image: dict):
    name, port = f"cola-test-{uuid.uuid4().hex[:8]}", free_port()
    engine("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", image["tag"])
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, name)
    yield {"name": name, "url": url}
    engine("rm", "-f", name, check=False)


def test_container_predicts_like_the_in_process_predictor(container: dict, image: dict) -> None:
    sentences = ["The cat sat on a warm mat.", "Green ideas sleep furiously.", "The mat."]
    expected = ColaONNXPredictor(image["model"]).predict(sentences)
    for sentence, want in zip(sentences, expected, strict=True):
        response = httpx.post(f"{container['url']}/predict", json={"text": sentence})
        assert response.status_code == 200 and response.json()["label"] == want["label"]
        assert abs(response.json()["score"] - want["score"]) < 1e-3  # int8 kernels vary a little
    bad = httpx.post(f"{container['url']}/predict", json={"text": "  "})
    assert bad.status_code == 422 and "detail" in bad.json()


def health_status(name: str) -> str:
    if is_podman():  # podman runs a healthcheck only when asked to
        engine("healthcheck", "run", name, check=False)
    return engine("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()


def test_the_image_healthcheck_reports_healthy(container: dict) -> None:
    deadline = time.monotonic() + 60
    while (status := health_status(container["name"])) != "healthy":
        assert status in ("starting", ""), f"health status {status!r}"
        assert time.monotonic() < deadline, f"not healthy after 60 s: {status!r}"
        time.sleep(1)
    health = json.loads(engine("inspect", container["name"]).stdout)[0]["Config"]["Healthcheck"]
    assert "/health" in " ".join(health["Test"])


def test_runs_as_a_non_root_user(container: dict, image: dict) -> None:
    config = json.loads(engine("image", "inspect", image["tag"]).stdout)[0]["Config"]
    assert config["User"] not in ("", "0", "root")
    assert engine("exec", container["name"], "id", "-u").stdout.strip() != "0"


def image_layers(archive: Path) -> Iterator[tarfile.TarFile]:
    """The layers of a saved image (docker-archive or OCI layout: each layer is a tar member)."""
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            data = outer.extractfile(member) if member.isfile() else None
            if data is None:
                continue
            try:
                layer = tarfile.open(fileobj=data)  # noqa: SIM115  (closed below)
            except tarfile.ReadError:  # a JSON manifest or config, not a layer
                continue
            with layer:
                yield layer


def test_no_credentials_in_the_image_config_or_layers(image: dict, tmp_path: Path) -> None:
    inspect = engine("image", "inspect", image["tag"]).stdout
    history = engine("history", "--no-trunc", image["tag"]).stdout
    assert not SECRET.search(inspect) and not SECRET.search(history)
    archive = tmp_path / "image.tar"
    engine("save", "-o", str(archive), image["tag"])
    layers = 0
    for layer in image_layers(archive):
        layers += 1
        for entry in layer.getmembers():
            assert not SECRET_FILES.search(entry.name), entry.name
            if entry.isfile() and entry.name.startswith("app/") and entry.size < 10**6:
                text = layer.extractfile(entry).read().decode("utf-8", "replace")
                assert not SECRET.search(text), entry.name
    assert layers >= 3, "no image layers found in the saved archive"


def test_a_missing_model_stops_the_container_with_one_line(image: dict) -> None:
    result = engine("run", "--rm", "-e", "MODEL_PATH=/app/model/missing.onnx", image["tag"],
                    check=False, timeout=120)
    assert result.returncode == 2
    service_lines = [line for line in result.stderr.splitlines()
                     if line and not line.startswith("time=")]  # podman's own notices
    assert service_lines == [
        "error: cannot start: /app/model/missing.onnx not found (export a model first: "
        "python convert_model_to_onnx.py)"]


def test_compose_runs_the_service(image: dict) -> None:
    shutil.copy(WEEK_DIR / "docker-compose.yml", image["context"])
    compose = ([str(Path(sys.executable).parent / "podman-compose")] if is_podman()
               else [ENGINE, "compose"])
    port, project = free_port(), f"colatest{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "IMAGE": image["tag"], "PORT": str(port),
           "COMPOSE_PROJECT_NAME": project}
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*compose, *args], cwd=image["context"], env=env,
                              capture_output=True, text=True, timeout=300)
    try:
        up = run("up", "-d")
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        # compose v2 names containers project-service-1, podman-compose project_service_1
        name = f"{project}_cola_1" if is_podman() else f"{project}-cola-1"
        wait_until_healthy(f"http://127.0.0.1:{port}", name)
        assert engine("inspect", name).returncode == 0
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": "The cat sat."})
        assert answer.status_code == 200 and answer.json()["label"] in ("acceptable",
                                                                        "unacceptable")
    finally:
        down = run("down")
    assert down.returncode == 0, down.stderr[-2000:]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)


def test_image_stats_prints_size_and_start_time(image: dict, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CONTAINER_ENGINE", ENGINE)
    assert image_stats_main([image["tag"], "--runs", "2"]) == 0
    out = capsys.readouterr().out
    found = re.fullmatch(r"\S+: (\d+) MB; start to healthy ([\d.]+)-([\d.]+) s over 2 runs "
                         r"\(\w+\)\n", out)
    assert found, out
    assert 50 < int(found[1]) < 2000 and 0 < float(found[2]) <= float(found[3]) < 60
    assert image_stats_main(["cola-service:no-such-tag"]) == 2
    assert capsys.readouterr().err.startswith("error: no image 'cola-service:no-such-tag'")
