"""The service's contract, the same for every way of serving the model (the FastAPI app here;
another adapter, a Lambda handler say, calls the same functions): settings and their limits,
what a request may hold, the answer's shape and the error's shape. No web framework and no
model code in here.

    texts, batch = parse_request(body, content_type, settings)   # or RequestError(status, detail)
    predictions, ms = predict_and_record(predictor, texts, request_id, log)  # + one event each
    answer(predictions, batch)                                  # -> the JSON response body
"""

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from monitoring.prediction_log import PredictionLog
from prediction import check_texts

DEFAULT_MODEL = "outputs/onnx/model.int8.onnx"  # where convert_model_to_onnx.py writes it
# the accepted range of each numeric setting, inclusive
LIMITS = {"max_text_chars": (1, 100_000), "max_batch": (1, 10_000),
          "max_body_bytes": (1, 100_000_000), "ort_threads": (0, 256), "workers": (1, 64),
          "port": (1, 65535)}
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # a caller's X-Request-ID, if it is this tame
BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class Settings:
    """Every setting has an environment variable of the same name in capitals."""

    model_path: str = DEFAULT_MODEL  # the ONNX bundle: graph, tokenizer, labels, max_length
    max_text_chars: int = 1000       # longest accepted sentence, in characters
    max_batch: int = 64              # most sentences in one request
    max_body_bytes: int = 256_000
    ort_threads: int = 1             # ONNX Runtime threads per prediction (0: one per core)
    workers: int = 1                 # server processes, each with its own copy of the model
    host: str = "127.0.0.1"
    port: int = 8000
    log_text: bool = False           # put the sentence itself into each prediction event
    model_version: str = ""          # in the events; empty: the Lambda version, else "local"

    def __post_init__(self) -> None:
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name.upper()}={value} is out of range ({low} to {high})")

    @classmethod
    def from_env(cls) -> "Settings":
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f.name.upper())
            if raw is None:
                continue
            if f.type is bool:
                if raw.lower() not in BOOLEANS:
                    raise ValueError(f"{f.name.upper()}={raw!r} is not one of "
                                     f"{', '.join(BOOLEANS)}")
                values[f.name] = BOOLEANS[raw.lower()]
                continue
            try:
                values[f.name] = int(raw) if f.type is int else raw
            except ValueError:
                raise ValueError(f"{f.name.upper()}={raw!r} is not a whole number") from None
        return cls(**values)


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a JSON-ready detail."""

    def __init__(self, status: int, detail: object) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class PredictRequest(BaseModel):
    """Either one sentence (`text`) or several (`texts`)."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"text": "The boy is sleeping."},
                                                              {"texts": ["Who left?",
                                                                         "Left who?"]}]})
    text: StrictStr | None = None
    texts: list[StrictStr] | None = None


def check_content_type(content_type: str | None) -> None:
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "Content-Type must be application/json")


def parse_request(body: bytes, content_type: str | None,
                  settings: Settings) -> tuple[list[str], bool]:
    """The sentences a request body asks about, and whether it was a batch (`texts`)."""
    check_content_type(content_type)
    if len(body) > settings.max_body_bytes:
        raise RequestError(413, f"request body over {settings.max_body_bytes} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, a 5000-digit number, [[[[...
        raise RequestError(400, "request body is not valid JSON") from None
    try:
        request = PredictRequest.model_validate(data)
    except ValidationError as err:
        raise RequestError(422, [{"loc": list(p["loc"]), "msg": p["msg"]}
                                 for p in err.errors()]) from None
    if (request.text is None) == (request.texts is None):
        raise RequestError(422, "send exactly one of 'text' (a sentence) or 'texts' (a list)")
    texts = [request.text] if request.texts is None else request.texts
    if len(texts) > settings.max_batch:
        raise RequestError(422, f"at most {settings.max_batch} texts per request")
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise RequestError(422, f"text {i} is longer than {settings.max_text_chars} "
                                    f"characters")
    try:
        check_texts(texts)
    except ValueError as err:
        raise RequestError(422, str(err)) from None
    return texts, request.texts is not None


def answer(predictions: list[dict], batch: bool) -> dict:
    return {"predictions": predictions} if batch else predictions[0]


def request_id(given: str | None, otherwise: str) -> str:
    """The caller's X-Request-ID (to find its predictions in the monitoring) if it is tame,
    else `otherwise` (the server's own id for the request). Answers return it as X-Request-ID."""
    return given if given and REQUEST_ID.fullmatch(given) else otherwise


def predict_and_record(predictor: object, texts: list[str], request_id: str,
                       log: PredictionLog) -> tuple[list[dict], float]:
    """The predictions for a parsed request and the model's time in ms; each prediction is
    also written as one monitoring event (monitoring/prediction_log.py)."""
    start = time.perf_counter()
    predictions = predictor.predict(texts)
    latency_ms = (time.perf_counter() - start) * 1000
    log.record(request_id, texts, predictions, latency_ms)
    return predictions, latency_ms


def model_summary(model_path: str) -> dict:
    """What /health says about the model: its file name and sha256, to tell models apart."""
    with open(model_path, "rb") as f:
        return {"file": Path(model_path).name,
                "sha256": hashlib.file_digest(f, "sha256").hexdigest()}


def error_body(detail: object) -> dict:
    return {"detail": detail}


def to_json(content: object) -> bytes:
    """ASCII-only JSON: a key or text the client sent may hold a lone surrogate ("\\ud800"),
    which UTF-8 cannot encode but a \\u escape can."""
    return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")
