"""Dockerfile.lambda, built and run for real: the Lambda base image's Runtime Interface Emulator
answers `POST /2015-03-31/functions/function/invocations` as Lambda would, so direct and API
Gateway invocations reach the handler in the image exactly as in AWS."""

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app import create_app
from convert_model_to_onnx import convert
from helpers import copy_build_context, free_port
from inference_onnx import ColaONNXPredictor
from serving import Settings
from test_container import engine
from test_lambda_handler import BAD_BODIES, event

pytestmark = [pytest.mark.container, pytest.mark.slow]
INVOCATIONS = "/2015-03-31/functions/function/invocations"


@pytest.fixture(scope="module")
def lambda_image(trained_run: dict, tmp_path_factory: pytest.TempPathFactory):
    """The image from Dockerfile.lambda, with the tiny model exported into it."""
    context = tmp_path_factory.mktemp("lambda_context")
    copy_build_context(context)
    onnx = context / "outputs" / "onnx"
    convert(trained_run["checkpoint"], str(onnx / "model.onnx"), str(onnx / "model.int8.onnx"))
    tag = f"cola-lambda:test-{uuid.uuid4().hex[:8]}"
    engine("build", "-f", str(context / "Dockerfile.lambda"), "-t", tag, str(context),
           env={"BUILDAH_FORMAT": "docker"}, timeout=900)
    yield {"tag": tag, "model": onnx / "model.int8.onnx"}
    engine("rmi", "--force", tag, check=False)


def start(image: str, *run_args: str) -> tuple[str, str]:
    name, port = f"cola-lambda-{uuid.uuid4().hex[:8]}", free_port()
    engine("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", *run_args, image)
    return name, f"http://127.0.0.1:{port}{INVOCATIONS}"


def invoke(url: str, payload: object) -> httpx.Response:
    for _ in range(100):  # the emulator takes a moment to listen
        try:
            return httpx.post(url, json=payload, timeout=60)
        except httpx.TransportError:
            pass
    raise AssertionError(f"nothing answers at {url}")


@pytest.fixture(scope="module")
def emulator(lambda_image: dict):
    name, url = start(lambda_image["tag"])
    yield {"name": name, "url": url}
    engine("rm", "--force", name, check=False)


def test_the_image_answers_direct_and_api_gateway_invocations(emulator: dict,
                                                              lambda_image: dict) -> None:
    predictor = ColaONNXPredictor(lambda_image["model"])
    direct = invoke(emulator["url"], {"text": "Who left?"})
    assert direct.json() == predictor.predict(["Who left?"])[0]
    for kind in ("http_api_v2", "rest_api_v1"):
        answer = invoke(emulator["url"], event(kind, b'{"texts": ["A cat.", "Cat a the."]}')).json()
        assert answer["statusCode"] == 200
        assert json.loads(answer["body"]) == {
            "predictions": predictor.predict(["A cat.", "Cat a the."])}


def test_bad_input_gets_the_same_4xx_as_the_fastapi_app(emulator: dict,
                                                        lambda_image: dict) -> None:
    client = TestClient(create_app(Settings(model_path=str(lambda_image["model"])),
                                   ColaONNXPredictor(lambda_image["model"])))
    for body, content_type in BAD_BODIES:
        expected = client.post("/predict", content=body, headers={"Content-Type": content_type})
        answer = invoke(emulator["url"], event("http_api_v2", body, content_type=content_type,
                                               base64_body=True)).json()
        assert (answer["statusCode"], json.loads(answer["body"])) == \
            (expected.status_code, expected.json()), body[:60]
    assert invoke(emulator["url"], {"text": ""}).json()["statusCode"] == 422


def test_the_cold_start_is_reported_with_its_init_duration(emulator: dict) -> None:
    invoke(emulator["url"], {"text": "Warm up."})
    logs = engine("logs", emulator["name"])
    logs = logs.stdout + "\n" + logs.stderr
    # the emulator's own REPORT line says "Init Duration: 0.1 ms" (it initialises inside the
    # first invoke); its INIT REPORT line has the real time from start to handler ready
    init = re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", logs)
    assert init and float(init.group(1)) > 1, logs[-2000:]
    print(f"init duration {float(init.group(1)):.0f} ms")
    requests = [json.loads(line) for line in logs.splitlines()
                if line.startswith('{"level"') and '"message":"request"' in line]
    assert [r["cold_start"] for r in requests[:2]] == [True, False], requests


def test_a_missing_model_fails_the_init_with_one_line(lambda_image: dict) -> None:
    name, url = start(lambda_image["tag"], "-e", "MODEL_PATH=/var/task/missing.onnx")
    try:
        response = invoke(url, {"text": "Anyone there?"})
        assert response.status_code == 502 and b"label" not in response.content
        logs = engine("logs", name)
        logs = logs.stdout + "\n" + logs.stderr
        errors = [line for line in logs.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith("error: cannot start: ")
        assert "Runtime.ExitError" in logs and "exit status 2" in logs
        assert "Traceback" not in logs
    finally:
        engine("rm", "--force", name, check=False)


def test_the_image_holds_no_torch_and_stays_small(lambda_image: dict) -> None:
    size = int(engine("image", "inspect", "--format", "{{.Size}}", lambda_image["tag"]).stdout)
    print(f"lambda image {size / 1e6:.0f} MB")
    listing = engine("run", "--rm", "--entrypoint", "ls", lambda_image["tag"],
                     "/var/task").stdout.split()
    assert "torch" not in listing and "lambda_handler.py" in listing
    assert Path("outputs").name in listing
