"""The CoLA model as a web service: FastAPI in front of the ONNX predictor (no torch).

    python app.py                        # settings from the environment, see Settings
    curl -s localhost:8000/predict -H 'Content-Type: application/json' \\
         -d '{"text": "The boy is sleeping."}'
"""

import asyncio
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StrictStr

from inference_onnx import ColaONNXPredictor
from prediction import check_texts

access_log = logging.getLogger("cola.access")


@dataclass(frozen=True)
class Settings:
    """Every setting has an environment variable of the same name in capitals."""

    model_path: str = "outputs/onnx/model.int8.onnx"  # tokenizer.json must sit beside it
    max_text_chars: int = 1000    # longest accepted sentence, in characters
    max_batch: int = 64           # most sentences in one request
    max_body_bytes: int = 256_000
    ort_threads: int = 1          # ONNX Runtime threads per prediction
    host: str = "127.0.0.1"
    port: int = 8000

    @classmethod
    def from_env(cls) -> "Settings":
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f.name.upper())
            if raw is None:
                continue
            try:
                values[f.name] = f.type(raw) if f.type is int else raw
            except ValueError:
                raise ValueError(f"{f.name.upper()}={raw!r} is not a whole number") from None
        return cls(**values)


class PredictRequest(BaseModel):
    """Either one sentence (`text`) or several (`texts`)."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"text": "The boy is sleeping."},
                                                              {"texts": ["Who left?",
                                                                         "Left who?"]}]})
    text: StrictStr | None = None
    texts: list[StrictStr] | None = None


class Prediction(BaseModel):
    label: str
    score: float


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


def error(status: int, detail: object) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def create_app(settings: Settings, predictor: ColaONNXPredictor) -> FastAPI:
    app = FastAPI(title="CoLA acceptability", version="1.0.0",
                  description="Is an English sentence grammatically acceptable?")
    model = {"file": Path(settings.model_path).name, "sha256": file_digest(settings.model_path)}

    @app.middleware("http")
    async def guard_and_log(request: Request, call_next: Callable) -> Response:
        start = time.perf_counter()
        response = None
        if request.method == "POST":
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            length = request.headers.get("content-length", "0")
            if media_type != "application/json":
                response = error(415, "Content-Type must be application/json")
            elif not length.isdigit() or int(length) > settings.max_body_bytes:
                response = error(413, f"request body over {settings.max_body_bytes} bytes")
        if response is None:
            response = await call_next(request)
        access_log.info(json.dumps({
            "ts": time.time(), "method": request.method, "path": request.url.path,
            "status": response.status_code,
            "latency_ms": round((time.perf_counter() - start) * 1000, 2)}))
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p["type"] == "json_invalid" for p in problems):
            return error(400, "request body is not valid JSON")
        return error(422, [{"loc": list(p["loc"]), "msg": p["msg"]} for p in problems])

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": model}

    @app.post("/predict", response_model=Prediction | BatchPrediction,
              responses={400: {"description": "not JSON"}, 413: {"description": "too large"},
                         415: {"description": "not application/json"},
                         422: {"description": "invalid or too long text, too many texts"}})
    async def predict(body: PredictRequest) -> dict | JSONResponse:
        if (body.text is None) == (body.texts is None):
            return error(422, "send exactly one of 'text' (a sentence) or 'texts' (a list)")
        texts = [body.text] if body.texts is None else body.texts
        if len(texts) > settings.max_batch:
            return error(422, f"at most {settings.max_batch} texts per request")
        for i, text in enumerate(texts):
            if len(text) > settings.max_text_chars:
                return error(422, f"text {i} is longer than {settings.max_text_chars} characters")
        try:
            check_texts(texts)
        except ValueError as err:
            return error(422, str(err))
        results = await asyncio.to_thread(predictor.predict, texts)  # keeps the loop free
        return results[0] if body.texts is None else {"predictions": results}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return INDEX_HTML.replace("{max_batch}", str(settings.max_batch)).replace(
            "{max_chars}", str(settings.max_text_chars))

    return app


INDEX_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>CoLA acceptability</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}input{width:30em}</style>
</head><body><h1>Is this sentence acceptable?</h1>
<form onsubmit="ask(event)"><input id="t" value="The boy is sleeping."> <button>Check</button>
</form><pre id="out"></pre>
<h2>API</h2><ul>
<li><code>POST /predict</code> with <code>{"text": "..."}</code> returns
<code>{"label": "acceptable" | "unacceptable", "score": 0.93}</code></li>
<li><code>POST /predict</code> with <code>{"texts": ["...", "..."]}</code> (at most {max_batch})
returns <code>{"predictions": [...]}</code></li>
<li>Sentences: non-empty, at most {max_chars} characters. Errors are 4xx with a JSON
<code>detail</code>.</li>
<li><code>GET /health</code>: the model file and its hash. <a href="/docs">/docs</a>: OpenAPI.</li>
</ul><script>
async function ask(e){e.preventDefault();const r=await fetch('/predict',{method:'POST',
headers:{'Content-Type':'application/json'},body:JSON.stringify({text:t.value})});
out.textContent=JSON.stringify(await r.json(),null,2)}
</script></body></html>"""


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        settings = Settings.from_env()
        predictor = ColaONNXPredictor(settings.model_path, settings.ort_threads)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: cannot start: {err}", file=sys.stderr)
        return 1
    app = create_app(settings, predictor)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
