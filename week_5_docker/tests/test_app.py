"""The web service in-process (FastAPI's TestClient): answers, limits, and a clear 4xx for
everything a client can get wrong; a schema-driven fuzz finds no 5xx."""

import json
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app import Settings, create_app, main
from convert_model_to_onnx import convert
from inference_onnx import ColaONNXPredictor

LIMITS = {"max_text_chars": 50, "max_batch": 4, "max_body_bytes": 2000}


@pytest.fixture(scope="module")
def onnx_model(trained_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("onnx")
    convert(trained_run["checkpoint"], str(folder / "model.onnx"),
            str(folder / "model.int8.onnx"))
    return folder / "model.int8.onnx"


@pytest.fixture(scope="module")
def client(onnx_model: Path) -> TestClient:
    service = Settings(model_path=str(onnx_model), **LIMITS)
    return TestClient(create_app(service, ColaONNXPredictor(onnx_model)))


def post(client: TestClient, body: object) -> tuple[int, object]:
    response = client.post("/predict", json=body)
    return response.status_code, response.json()


def test_health_reports_the_model_and_its_hash(client: TestClient, onnx_model: Path) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["model"]["file"] == "model.int8.onnx"
    assert len(response.json()["model"]["sha256"]) == 16


def test_one_sentence_and_a_batch_match_the_predictor(client: TestClient, onnx_model) -> None:
    predictor = ColaONNXPredictor(onnx_model)
    sentences = ["The cat sat on a warm mat.", "Green ideas sleep furiously."]
    assert post(client, {"text": sentences[0]}) == (200, predictor.predict(sentences[0]))
    assert post(client, {"texts": sentences}) == (200, {"predictions":
                                                         predictor.predict(sentences)})
    assert [p["label"] for p in predictor.predict(sentences)] == ["acceptable", "unacceptable"]


@pytest.mark.parametrize("body, message", [
    ({"text": ""}, "expected a non-empty string"),
    ({"text": "   \n"}, "expected a non-empty string"),
    ({"texts": ["fine", " "]}, "text 1: expected a non-empty string"),
    ({"texts": []}, "non-empty list"),
    ({"text": 42}, "valid string"),
    ({"texts": ["fine", None]}, "valid string"),
    ({"texts": "not a list"}, "valid list"),
    ({"text": "x" * 51}, "longer than 50 characters"),
    ({"texts": ["a b"] * 5}, "at most 4 texts"),
    ({"text": "a", "texts": ["b"]}, "exactly one of"),
    ({}, "exactly one of"),
    ({"sentence": "a"}, "Extra inputs are not permitted"),
    (["a list"], "valid dictionary"),
])
def test_invalid_requests_get_422_with_a_reason(client: TestClient, body, message) -> None:
    status, payload = post(client, body)
    assert status == 422 and message in json.dumps(payload)


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post("/predict", content=b'{"text": "unclosed',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": "request body is not valid JSON"}


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post("/predict", content=b"text=hello",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and "application/json" in response.json()["detail"]


def test_oversized_body_is_413_and_not_read(client: TestClient) -> None:
    response = client.post("/predict", json={"text": "word " * 1000})
    assert response.status_code == 413


def test_unknown_routes_and_methods_are_json_4xx(client: TestClient) -> None:
    assert client.get("/nowhere").status_code == 404
    response = client.get("/predict")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}


def test_index_page_and_openapi_docs(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "POST /predict" in page.text and "at most 4" in page.text
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]


def test_each_request_is_logged_as_one_json_line(client: TestClient, caplog) -> None:
    caplog.set_level("INFO", logger="cola.access")
    client.post("/predict", json={"text": "The cat sat."})
    entry = json.loads(caplog.records[-1].getMessage())
    assert entry["path"] == "/predict" and entry["status"] == 200 and entry["latency_ms"] > 0


@pytest.mark.parametrize("env, message", [
    ({"MODEL_PATH": "/nowhere/model.onnx"}, "error: cannot start: /nowhere/model.onnx not found"),
    ({"MAX_BATCH": "lots"}, "error: cannot start: MAX_BATCH='lots' is not a whole number"),
])
def test_bad_settings_stop_the_service_with_one_line(monkeypatch, capsys, env, message) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main() == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_corrupt_model_stops_the_service(monkeypatch, capsys, tmp_path: Path,
                                         onnx_model: Path) -> None:
    (tmp_path / "tokenizer.json").write_bytes((onnx_model.parent / "tokenizer.json").read_bytes())
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07 this is not a model")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model.onnx"))
    assert main() == 1
    assert "not a loadable ONNX model" in capsys.readouterr().err


@pytest.mark.slow
def test_fuzzing_the_openapi_schema_finds_no_server_error(client: TestClient) -> None:
    operation = schemathesis.openapi.from_asgi("/openapi.json", client.app)["/predict"]["POST"]
    statuses = set()

    @given(case=st.one_of(operation.as_strategy(),  # bodies the schema allows, and ones it does not
                          operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)))
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call()
        statuses.add(response.status_code)
        assert response.status_code < 500, (case.body, response.text)

    fuzz()
    assert {200, 422} <= statuses
