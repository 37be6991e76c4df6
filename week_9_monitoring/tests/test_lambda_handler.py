"""The Lambda handler in-process, with real API Gateway events (HTTP API payload 2.0, REST API
1.0, base64 bodies) and direct invocations: the same answers as the predictor, the same 4xx
as the FastAPI app for the same body, JSON logs and embedded-format metrics."""

import base64
import copy
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import create_app
from helpers import WEEK_DIR
from inference_onnx import ColaONNXPredictor
from serving import Settings

EVENTS = WEEK_DIR / "tests" / "events"
LIMITS = {"MAX_TEXT_CHARS": "50", "MAX_BATCH": "4", "MAX_BODY_BYTES": "20000"}


@dataclass
class Context:  # what the Lambda runtime passes as `context`, as far as the handler reads it
    function_name: str = "cola-predict"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:cola-predict"
    aws_request_id: str = "6f1d2c3e-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def handler_module(onnx_model: Path):
    """lambda_handler imported as Lambda's init does: settings from the environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_PATH", str(onnx_model))
        for name, value in LIMITS.items():
            patch.setenv(name, value)
        sys.modules.pop("lambda_handler", None)
        yield importlib.import_module("lambda_handler")
    sys.modules.pop("lambda_handler", None)


@pytest.fixture(scope="module")
def fastapi_client(onnx_model: Path) -> TestClient:
    limits = {name.lower(): int(value) for name, value in LIMITS.items()}
    settings = Settings(model_path=str(onnx_model), **limits)
    return TestClient(create_app(settings, ColaONNXPredictor(onnx_model)))


def event(kind: str, body: bytes | str | None, *, content_type: str = "application/json",
          base64_body: bool = False, method: str = "POST", path: str = "/predict") -> dict:
    """An API Gateway event of `kind` (http_api_v2 or rest_api_v1) carrying `body`."""
    result = copy.deepcopy(json.loads((EVENTS / f"{kind}.json").read_text()))
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode() if base64_body else body.decode("utf-8")
    result["body"], result["isBase64Encoded"] = body, base64_body
    if kind == "http_api_v2":
        result["headers"]["content-type"] = content_type
        result["rawPath"] = result["requestContext"]["http"]["path"] = path
        result["requestContext"]["http"]["method"] = method
        result["routeKey"] = result["requestContext"]["routeKey"] = f"{method} {path}"
    else:
        result["headers"]["Content-Type"] = content_type
        result["multiValueHeaders"]["Content-Type"] = [content_type]
        result["path"], result["resource"], result["httpMethod"] = path, path, method
    return result


def call(module, evt: dict) -> tuple[int, object]:
    response = module.handler(evt, Context())
    assert response["headers" if "headers" in response else "multiValueHeaders"]
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("kind", ["http_api_v2", "rest_api_v1"])
def test_api_gateway_events_get_the_predictors_answer(handler_module, onnx_model: Path,
                                                      kind: str) -> None:
    expected = ColaONNXPredictor(onnx_model).predict(["The boy is sleeping."])[0]
    body = json.loads((EVENTS / f"{kind}.json").read_text())["body"]
    assert call(handler_module, event(kind, body)) == (200, expected)
    texts = ["Who left?", "Left who the?"]
    body = json.dumps({"texts": texts}).encode()
    assert call(handler_module, event(kind, body, base64_body=True)) == (
        200, {"predictions": ColaONNXPredictor(onnx_model).predict(texts)})


def test_direct_invocation_gets_the_same_answers(handler_module, onnx_model: Path) -> None:
    predictor = ColaONNXPredictor(onnx_model)
    assert handler_module.handler({"text": "Who left?"}, Context()) == \
        predictor.predict(["Who left?"])[0]
    assert handler_module.handler({"texts": ["A.", "B b."]}, Context()) == \
        {"predictions": predictor.predict(["A.", "B b."])}
    for bad in ({"text": ""}, {"texts": []}, ["a list"], "a string", None, {"text": "a", "x": 1}):
        answer = handler_module.handler(bad, Context())
        assert answer["statusCode"] == 422 and answer["detail"], bad


def test_health_reports_the_model_and_its_hash(handler_module, onnx_model: Path) -> None:
    import hashlib

    for kind in ("http_api_v2", "rest_api_v1"):
        status, body = call(handler_module, event(kind, None, method="GET", path="/health"))
        assert (status, body["status"]) == (200, "ok")
        assert body["model"] == {"file": "model.int8.onnx",
                                 "sha256": hashlib.sha256(onnx_model.read_bytes()).hexdigest()}


BAD_BODIES = [
    (b'{"text": ""}', "application/json"),
    (b'{"text": 42}', "application/json"),
    (b'{"texts": []}', "application/json"),
    (b'{"text": "a", "texts": ["b"]}', "application/json"),
    (b"{}", "application/json"),
    (b'{"text": "a", "extra": 1}', "application/json"),
    (json.dumps({"text": "x" * 51}).encode(), "application/json"),
    (json.dumps({"texts": ["a"] * 5}).encode(), "application/json"),
    (b'{"text": "\\ud800 lone surrogate"}', "application/json"),
    (b'{"\\udfff": 1}', "application/json"),
    (b'{"text": "caf\xe9"}', "application/json"),
    (b'{"text": ' + b"9" * 5000 + b"}", "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (b"[" * 20_000 + b"]" * 20_000, "application/json"),
    (b'{"text": NaN}', "application/json"),
    (b"not json", "application/json"),
    (b'{"text": "fine"}', "text/plain"),
]


@pytest.mark.parametrize("kind", ["http_api_v2", "rest_api_v1"])
@pytest.mark.parametrize("body, content_type", BAD_BODIES)
def test_bad_input_gets_the_same_4xx_as_the_fastapi_app(handler_module, fastapi_client,
                                                         kind: str, body: bytes,
                                                         content_type: str) -> None:
    expected = fastapi_client.post("/predict", content=body,
                                   headers={"Content-Type": content_type})
    assert 400 <= expected.status_code < 500
    got = call(handler_module, event(kind, body, content_type=content_type, base64_body=True))
    assert got == (expected.status_code, expected.json())


def test_a_body_that_is_not_base64_is_400(handler_module) -> None:
    evt = event("http_api_v2", None, base64_body=True)
    evt["body"] = "not base64!"
    assert call(handler_module, evt) == (400, {"detail": "request body is not valid base64"})


def test_unknown_routes_are_a_json_404(handler_module) -> None:
    for kind in ("http_api_v2", "rest_api_v1"):
        assert call(handler_module, event(kind, None, method="GET", path="/nope")) == \
            (404, {"detail": "Not Found"})


def test_logs_are_json_with_the_request_id_and_metrics_are_embedded(onnx_model: Path) -> None:
    # in a process of its own, as in Lambda: stdout holds only what the handler writes
    script = ("import json, sys; from test_lambda_handler import Context, event; "
              "import lambda_handler; "
              "lambda_handler.handler(event('http_api_v2', b'{\"text\": \"The cat sat.\"}'), "
              "Context())")
    env = {**os.environ, "MODEL_PATH": str(onnx_model),
           "PYTHONPATH": os.pathsep.join([str(WEEK_DIR), str(WEEK_DIR / "tests")])}
    result = subprocess.run([sys.executable, "-c", script], cwd=WEEK_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    [log] = [line for line in lines if line.get("message") == "request"]
    assert log["function_request_id"] == Context.aws_request_id
    assert (log["status"], log["route"], log["cold_start"]) == (200, "POST /predict", True)
    assert log["latency_ms"] > 0
    emf = [line for line in lines if "_aws" in line]
    names = {m["Name"] for line in emf for d in line["_aws"]["CloudWatchMetrics"]
             for m in d["Metrics"]}
    assert {"ColdStart", "Requests", "Predictions", "ModelLatency"} <= names
    assert all(d["Namespace"] == "MLOpsBasics" for line in emf
               for d in line["_aws"]["CloudWatchMetrics"])


def test_a_missing_model_fails_the_init_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "MODEL_PATH": str(tmp_path / "missing.onnx")}
    result = subprocess.run([sys.executable, "-c", "import lambda_handler"], cwd=WEEK_DIR,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot start: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
