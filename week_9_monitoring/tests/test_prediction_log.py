"""Prediction events: one JSON line per prediction from both the FastAPI app and the Lambda
handler (the shared serving code writes them), shaped as the index mapping expects, the
sentence only when allowed, and a failure to write one never fails a prediction."""

import importlib
import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opensearchpy import OpenSearch

from app import create_app
from helpers import indexed_ids
from inference_onnx import ColaONNXPredictor
from monitoring.prediction_log import EVENT, PredictionLog
from monitoring.shipper import Shipper, dead_letter_file, load_template, read_events
from serving import Settings

MAPPING = load_template()["template"]["mappings"]["properties"]
PYTHON_TYPES = {"keyword": str, "text": str, "date": str, "integer": int, "float": float}


def events_in(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()
            if line.startswith("{") and json.loads(line).get("event") == EVENT]


def client_for(onnx_model: Path, **settings: object) -> TestClient:
    service = Settings(model_path=str(onnx_model), **settings)
    return TestClient(create_app(service, ColaONNXPredictor(onnx_model)))


def test_the_service_writes_one_event_per_prediction(onnx_model: Path, capsys) -> None:
    client = client_for(onnx_model)
    capsys.readouterr()
    texts = ["The cat sat on a warm mat.", "Green ideas sleep furiously zzqx."]
    response = client.post("/predict", json={"texts": texts}, headers={"X-Request-ID": "req-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-1"
    events = events_in(capsys.readouterr().out)
    predictions = response.json()["predictions"]
    call = events[0]["event_id"].rpartition("-")[0]
    assert [e["event_id"] for e in events] == [f"{call}-0", f"{call}-1"]
    assert {e["request_id"] for e in events} == {"req-1"}
    for event, text, prediction in zip(events, texts, predictions, strict=True):
        assert event["label"] == prediction["label"]
        assert event["score"] == pytest.approx(prediction["score"], abs=1e-6)
        assert event["text_chars"] == len(text)
        assert event["source"] == "fastapi" and event["batch_size"] == 2
        assert event["model_sha256"] == client.get("/health").json()["model"]["sha256"]
        assert "text" not in event  # off by default
    # the toy tokenizer knows "the cat sat on a warm mat": no unknown tokens; "zzqx" is unknown
    assert events[0]["text_tokens"] == 8 and events[0]["unk_share"] == 0  # 7 words and "."
    assert events[1]["unk_share"] == pytest.approx(1 / events[1]["text_tokens"], abs=1e-4)


def test_events_match_the_index_mapping(onnx_model: Path, capsys) -> None:
    client = client_for(onnx_model, log_text=True)
    capsys.readouterr()
    client.post("/predict", json={"text": "Who left?"})
    (event,) = events_in(capsys.readouterr().out)
    assert set(event) == set(MAPPING)  # strict mapping: no field more, none less (with text)
    for name, value in event.items():
        assert isinstance(value, PYTHON_TYPES[MAPPING[name]["type"]]), name
    assert event["text"] == "Who left?"
    assert len(event["request_id"]) == 32  # a new id when the caller sends none


def test_a_request_id_that_is_not_tame_is_replaced(onnx_model: Path, capsys) -> None:
    client = client_for(onnx_model)
    capsys.readouterr()
    response = client.post("/predict", json={"text": "Who left?"},
                           headers={"X-Request-ID": "a b\"}{"})
    (event,) = events_in(capsys.readouterr().out)
    assert event["request_id"] == response.headers["X-Request-ID"] != "a b\"}{"


def test_rejected_requests_write_no_event(onnx_model: Path, capsys) -> None:
    client = client_for(onnx_model)
    capsys.readouterr()
    assert client.post("/predict", json={"text": ""}).status_code == 422
    assert events_in(capsys.readouterr().out) == []


def test_a_broken_stdout_never_breaks_a_prediction(onnx_model: Path, capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def write(self, _: str) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            pass

    client = client_for(onnx_model)
    monkeypatch.setattr(sys, "stdout", Broken())
    for _ in range(3):
        response = client.post("/predict", json={"text": "Who left?"})
        assert response.status_code == 200 and response.json()["label"] in (
            "acceptable", "unacceptable")
    monkeypatch.undo()
    warnings = capsys.readouterr().err.strip().splitlines()
    assert warnings == ["warning: prediction events are not being written (OSError: [Errno 28]"
                        " No space left on device)"]


def test_an_event_that_cannot_be_built_is_skipped(onnx_model: Path, capsys) -> None:
    log = PredictionLog(ColaONNXPredictor(onnx_model).tokenizer, "abc", "1", "test")
    log.record("r", ["one", "two"], [{"label": "acceptable", "score": 0.9}], 1.0)  # one short
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("warning: prediction events are not being written")


def test_the_lambda_handler_writes_the_same_events(onnx_model: Path, capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from test_lambda_handler import Context

    monkeypatch.setenv("MODEL_PATH", str(onnx_model))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")
    monkeypatch.setenv("LOG_TEXT", "yes")
    monkeypatch.delitem(sys.modules, "lambda_handler", raising=False)
    handler = importlib.import_module("lambda_handler")
    try:
        capsys.readouterr()
        result = handler.handler({"texts": ["Who left?", "Left who?"]}, Context())
        events = list(read_events(capsys.readouterr().out.splitlines()))
    finally:
        sys.modules.pop("lambda_handler", None)
    assert [e["label"] for e in events] == [p["label"] for p in result["predictions"]]
    call = events[0]["event_id"].rpartition("-")[0]
    assert [e["event_id"] for e in events] == [f"{call}-{i}" for i in (0, 1)]
    assert {e["request_id"] for e in events} == {Context.aws_request_id}
    assert {e["source"] for e in events} == {"lambda"}
    assert {e["model_version"] for e in events} == {"7"}
    assert [e["text"] for e in events] == ["Who left?", "Left who?"]


def test_a_bad_log_text_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_TEXT", "maybe")
    with pytest.raises(ValueError, match=r"^LOG_TEXT='maybe' is not one of 1, true, yes, 0"):
        Settings.from_env()


def test_a_caller_that_reuses_its_request_id_gets_every_prediction_indexed(
        onnx_model: Path, opensearch: str, tmp_path: Path, capsys) -> None:
    """Documents are create-only by event_id: ids made from the caller's X-Request-ID kept only
    the first request of a reused header (the rest counted as 'already there')."""
    client = client_for(onnx_model)
    capsys.readouterr()
    for _ in range(3):
        response = client.post("/predict", json={"texts": ["One.", "Two."]},
                               headers={"X-Request-ID": "same-id"})
        assert response.headers["X-Request-ID"] == "same-id"
    events = events_in(capsys.readouterr().out)
    assert len(events) == 6 and {e["request_id"] for e in events} == {"same-id"}
    counts = Shipper(OpenSearch([opensearch]), dead_letter_file(tmp_path / "dead.jsonl")).ship(
        events)
    assert (counts.indexed, counts.existing) == (6, 0)
    assert sorted(indexed_ids(opensearch)) == sorted(e["event_id"] for e in events)


@pytest.mark.parametrize("kind", ["http_api_v2", "rest_api_v1"])
def test_the_lambda_adapter_returns_the_callers_request_id_as_the_app_does(
        onnx_model: Path, capsys, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    from test_lambda_handler import Context, event

    monkeypatch.setenv("MODEL_PATH", str(onnx_model))
    monkeypatch.delitem(sys.modules, "lambda_handler", raising=False)
    handler = importlib.import_module("lambda_handler")
    app = client_for(onnx_model)
    try:
        for given, expected in (("demo-1", "demo-1"), ("bad id!", None), (None, None)):
            evt = event(kind, b'{"text": "Who left?"}')
            headers = {} if given is None else {"X-Request-ID": given}
            evt["headers"] |= {k.lower() if kind == "http_api_v2" else k: v
                               for k, v in headers.items()}
            if kind == "rest_api_v1":
                evt["multiValueHeaders"] |= {k: [v] for k, v in headers.items()}
            capsys.readouterr()
            response = handler.handler(evt, Context())
            events = list(read_events(capsys.readouterr().out.splitlines()))
            echoed = response["headers"]["X-Request-ID"] if "headers" in response else \
                response["multiValueHeaders"]["X-Request-ID"][0]
            assert echoed == (expected or Context.aws_request_id)
            assert [e["request_id"] for e in events] == [echoed]
            from_app = app.post("/predict", json={"text": "Who left?"}, headers=headers)
            assert (from_app.headers["X-Request-ID"] == given) == (expected is not None)
            bad = handler.handler(event(kind, b"{", content_type="application/json"), Context())
            assert bad["statusCode"] == 400
    finally:
        sys.modules.pop("lambda_handler", None)
