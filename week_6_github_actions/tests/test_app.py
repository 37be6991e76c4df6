"""The web service in-process (FastAPI's TestClient) and under uvicorn: answers, limits, and a
clear JSON 4xx for everything a client can get wrong, whatever the bytes or framing."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app import create_app, main
from helpers import WEEK_DIR, free_port
from inference_onnx import ColaONNXPredictor
from load_test import main as load_test_main
from serving import DEFAULT_MODEL, Settings

LIMITS = {"max_text_chars": 50, "max_batch": 4, "max_body_bytes": 2000}


@pytest.fixture(scope="module")
def client(onnx_model: Path) -> TestClient:
    service = Settings(model_path=str(onnx_model), **LIMITS)
    return TestClient(create_app(service, ColaONNXPredictor(onnx_model)))


@pytest.fixture(scope="module")
def roomy_client(onnx_model: Path) -> TestClient:
    """Room for bodies of 20 kB: big enough for a 5000-digit number."""
    service = Settings(model_path=str(onnx_model), **{**LIMITS, "max_body_bytes": 20_000})
    return TestClient(create_app(service, ColaONNXPredictor(onnx_model)))


def post(client: TestClient, body: object) -> tuple[int, object]:
    response = client.post("/predict", json=body)
    return response.status_code, response.json()


def test_health_reports_the_model_and_its_hash(client: TestClient, onnx_model: Path) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["model"] == {
        "file": "model.int8.onnx", "sha256": hashlib.sha256(onnx_model.read_bytes()).hexdigest()}


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


def chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    yield from (body[i:i + size] for i in range(0, len(body), size))


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    """No Content-Length (chunked transfer): the limit holds on the bytes actually read."""
    body = json.dumps({"text": "word " * 1000}).encode()
    response = client.post("/predict", content=chunks(body),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "over 2000 bytes" in response.json()["detail"]
    small = json.dumps({"text": "The cat sat."}).encode()
    response = client.post("/predict", content=chunks(small, 4),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and "label" in response.json()


@pytest.mark.parametrize("body, status", [
    (b'{"text": "\\ud800 lone surrogate"}', 422),       # valid JSON, not encodable text
    (b'{"\\udfff": 1}', 422),                            # the same in a key, echoed in 'loc'
    (b'{"text": "caf\xe9"}', 400),                        # not UTF-8
    (b'{"text": ' + b"9" * 5000 + b"}", 400),            # past Python's int-digit limit
    (b"[" * 100_000 + b"]" * 100_000, 413),
    (b"[" * 5000 + b"]" * 5000, 400),                      # deeper than json can recurse
    (b'{"text": "a", "text": "b"}', 200),                  # duplicate keys: the last wins
    (b'{"text": NaN}', 422),
    (b'\xef\xbb\xbf{"text": "BOM first"}', 200),             # a UTF-8 byte-order mark is fine
])
def test_hostile_bodies_get_a_json_4xx(roomy_client: TestClient, body: bytes,
                                       status: int) -> None:
    response = roomy_client.post("/predict", content=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert "detail" in response.json() if status != 200 else "label" in response.json()


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
    ({"MAX_BATCH": "-5"}, "error: cannot start: MAX_BATCH=-5 is out of range (1 to 10000)"),
    ({"PORT": "70000"}, "error: cannot start: PORT=70000 is out of range (1 to 65535)"),
    ({"ORT_THREADS": "-1"}, "error: cannot start: ORT_THREADS=-1 is out of range (0 to 256)"),
    ({"WORKERS": "0"}, "error: cannot start: WORKERS=0 is out of range (1 to 64)"),
])
def test_bad_settings_stop_the_service_with_one_line(monkeypatch, capsys, env, message) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main() == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_corrupt_model_stops_the_service(monkeypatch, capsys, tmp_path: Path,
                                         onnx_model: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07 this is not a model")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model.onnx"))
    assert main() == 2
    assert "not a loadable ONNX model" in capsys.readouterr().err


def test_a_corrupt_tokenizer_stops_the_service_with_one_line(monkeypatch, capsys, tmp_path: Path,
                                                             onnx_model: Path) -> None:
    import onnx

    model = onnx.load(str(onnx_model))
    for prop in model.metadata_props:
        if prop.key == "tokenizer":
            prop.value = prop.value[: len(prop.value) // 2]  # cut in half: not JSON any more
    onnx.save(model, str(tmp_path / "model.onnx"))
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model.onnx"))
    assert main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot start: ") and "unreadable tokenizer" in err
    assert err.count("\n") == 1


@pytest.mark.slow
def test_fuzzing_the_openapi_schema_finds_no_server_error(client: TestClient) -> None:
    """Derandomized: the same cases on every run. The statuses required at the end come from
    the explicit examples, not from what the generator happens to draw."""
    operation = schemathesis.openapi.from_asgi("/openapi.json", client.app)["/predict"]["POST"]
    statuses = set()

    @given(case=st.one_of(operation.as_strategy(),  # bodies the schema allows, and ones it does not
                          operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)))
    @example(case=operation.Case(body={"text": "The cat sat."}, media_type="application/json"))
    @example(case=operation.Case(body={"texts": ["Who left?", "Left who?"]},
                                 media_type="application/json"))                         # 200
    @example(case=operation.Case(body={"text": ""}, media_type="application/json"))     # 422
    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call()
        statuses.add(response.status_code)
        assert response.status_code < 500, (
            f"{response.status_code} for body={case.body!r} media_type={case.media_type!r} "
            f"headers={case.headers!r}: {response.text!r}")

    fuzz()
    assert {200, 422} <= statuses, f"statuses never seen: {sorted({200, 422} - statuses)} " \
                                   f"(seen: {sorted(statuses)})"


@pytest.fixture(scope="module")
def server(onnx_model: Path) -> Iterator[str]:
    """The app under uvicorn, as `python app.py` runs it, on a free local port."""
    service = Settings(model_path=str(onnx_model), **LIMITS)
    config = uvicorn.Config(create_app(service, ColaONNXPredictor(onnx_model)), host="127.0.0.1",
                            port=free_port(), access_log=False, log_level="warning",
                            timeout_keep_alive=60)  # no idle-close race with a slow client
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a busy machine
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{config.port}"
    running.should_exit = True
    thread.join(10)


def child_commands(pid: int) -> list[str]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            for child in children]


@pytest.mark.slow
def test_workers_answer_from_separate_processes(onnx_model: Path) -> None:
    """WORKERS=2: two server processes share the port; each answers like the predictor and
    logs its requests."""
    port, sentences = free_port(), ["The cat sat.", "Sat cat the.", "Who left?", "Left who?"]
    env = {**os.environ, "MODEL_PATH": str(onnx_model), "PORT": str(port), "WORKERS": "2"}
    service = subprocess.Popen([sys.executable, "app.py"], cwd=WEEK_DIR, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and service.poll() is None, "no answer"
                time.sleep(0.1)
        workers = [c for c in child_commands(service.pid) if "spawn_main" in c]
        assert len(workers) == 2, child_commands(service.pid)
        predictor = ColaONNXPredictor(onnx_model)  # one at a time: int8 scores depend on
        expected = [predictor.predict(sentence) for sentence in sentences]  # batch-mates
        for sentence, want in zip(sentences * 5, expected * 5, strict=True):
            got = httpx.post(f"{url}/predict", json={"text": sentence}, timeout=10).json()
            assert got["label"] == want["label"]
            assert got["score"] == pytest.approx(want["score"], abs=1e-6)
    finally:
        service.terminate()
        out, _ = service.communicate(timeout=30)
    logged = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert sum(entry.get("path") == "/predict" for entry in logged) == 20


def raw_exchange(url: str, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library tidying them up); the status and the body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as conn:  # a busy machine
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_chunked_body_over_the_limit_is_413_under_uvicorn(server: str) -> None:
    body = json.dumps({"text": "word " * 1000}).encode()
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks(body, 500)) + b"0\r\n\r\n"
    status, payload = raw_exchange(server, b"POST /predict HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Type: application/json\r\nConnection: close\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n" + framed)
    assert status == 413 and json.loads(payload)["detail"] == "request body over 2000 bytes"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)  # "\ud800": valid JSON
ANY_TEXT = st.text(st.characters() | SURROGATES)
BODIES = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda t: json.dumps({"text": t}).encode(), ANY_TEXT),  # \\u escapes
    st.builds(lambda a, s, b: json.dumps({"text": a + s + b}).encode(), st.text(max_size=9),
              SURROGATES, st.text(max_size=9)),
    st.builds(lambda ts: json.dumps({"texts": ts}).encode(), st.lists(ANY_TEXT, max_size=6)),
    st.builds(lambda k, v: json.dumps({k: v}).encode(), ANY_TEXT, JSON_VALUES),
    st.builds(lambda a, b: b'{"text": %s, "text": %s}' % (json.dumps(a).encode(),
                                                          json.dumps(b).encode()), ANY_TEXT,
              JSON_VALUES),                                             # duplicate keys
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),            # deep nesting
    st.integers(1, 1990).map(lambda n: b'{"text": ' + b"9" * n + b"}"),  # huge numbers
    st.binary(max_size=300).map(lambda b: b'{"text": "' + b + b'"}'),  # not UTF-8, raw bytes
    st.binary(max_size=300))
CONTENT_TYPES = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "Application/JSON",
    "application/json; charset=latin-1", "text/plain", "", "multipart/form-data; boundary=x",
    "application/json\x00"])


DEEP = b"[" * 1500 + b"]" * 1500  # 3000 bytes: over the 2000-byte limit


@pytest.mark.slow
def test_fuzzing_raw_bodies_finds_no_server_error(server: str) -> None:
    """Derandomized: the same bodies on every run. Each status required at the end comes from
    an explicit example: left to the generator, about one run in 25 drew no 413 (that needs a
    deep-nesting body over 2000 bytes *and* a JSON content type)."""
    required = {200, 400, 413, 415, 422}
    statuses = set()
    # generous: two test processes on two busy cores; a hung request still fails, with its input
    with httpx.Client(base_url=server, timeout=httpx.Timeout(60, connect=30)) as http:
        @given(body=BODIES, content_type=CONTENT_TYPES, chunked=st.booleans())
        @example(body=b'{"text": "The cat sat."}', content_type="application/json",
                 chunked=False)                                                     # 200
        @example(body=b'{"texts": ["Who left?", "Left who?"]}',
                 content_type="Application/JSON", chunked=True)                     # 200
        @example(body=b'{"text": "unclosed', content_type="application/json",
                 chunked=False)                                                     # 400
        @example(body=b'{"text": "caf\xe9"}', content_type="application/json; charset=latin-1",
                 chunked=True)                                                      # 400
        @example(body=DEEP, content_type="application/json", chunked=False)  # 413 Content-Length
        @example(body=DEEP, content_type="application/json", chunked=True)   # 413 bytes counted
        @example(body=b'{"text": "The cat sat."}', content_type="text/plain",
                 chunked=False)                                                     # 415
        @example(body=b'{"text": "\\ud800"}', content_type="application/json; charset=utf-8",
                 chunked=True)                                                      # 422
        @settings(max_examples=400, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def fuzz(body: bytes, content_type: str, chunked: bool) -> None:
            content = chunks(body, 50) if chunked else body
            sent = f"body={body!r} content_type={content_type!r} chunked={chunked}"
            try:
                response = http.post("/predict", content=content,
                                     headers={"Content-Type": content_type})
            except httpx.LocalProtocolError:  # a header value httpx itself will not send
                return
            except httpx.TransportError as err:  # a timeout, a dropped connection
                raise AssertionError(f"no answer ({err!r}) to {sent}") from err
            statuses.add(response.status_code)
            got = (f"{response.status_code} {response.headers.get('content-type')!r} "
                   f"{response.text!r} for {sent}")
            assert response.status_code < 500, got
            try:
                payload = response.json()
            except ValueError:
                raise AssertionError(f"not JSON: {got}") from None
            assert ("label" in payload or "predictions" in payload if response.status_code == 200
                    else isinstance(payload.get("detail"), str | list)), got

        fuzz()
    assert required <= statuses, f"statuses never seen: {sorted(required - statuses)} " \
                                 f"(seen: {sorted(statuses)})"


def test_the_served_model_has_one_default_path() -> None:
    """serving.DEFAULT_MODEL is where the export writes the int8 bundle, where the image puts
    it (relative to WORKDIR) and what .dockerignore lets into the build."""
    from config_schema import load_config

    assert load_config().onnx.quantized == DEFAULT_MODEL
    dockerfile = (WEEK_DIR / "Dockerfile").read_text()
    assert "WORKDIR /app" in dockerfile and "MODEL_PATH=" not in dockerfile
    assert f"COPY {DEFAULT_MODEL} ./{Path(DEFAULT_MODEL).parent}/" in dockerfile
    assert f"!{DEFAULT_MODEL}" in (WEEK_DIR / ".dockerignore").read_text().splitlines()


def test_load_test_measures_a_running_service(server: str, capsys) -> None:
    assert load_test_main(["--url", server, "--seconds", "0.5", "--concurrency", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith(" 0 errors") and " requests/s, p50 " in line


def test_load_test_without_a_service_fails_in_one_line(capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert load_test_main(["--url", url, "--seconds", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {url}: ") and "is the service running?" in err
    assert err.count("\n") == 1
