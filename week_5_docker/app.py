"""The CoLA model as a web service: FastAPI in front of the ONNX predictor (no torch).

    python app.py                        # settings from the environment: serving.Settings
    curl -s localhost:8000/predict -H 'Content-Type: application/json' \\
         -d '{"text": "The boy is sleeping."}'
"""

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from inference_onnx import ColaONNXPredictor
from serving import (
    PredictRequest,
    RequestError,
    Settings,
    answer,
    check_content_type,
    error_body,
    model_summary,
    parse_request,
    to_json,
)

access_log = logging.getLogger("cola.access")


class Prediction(BaseModel):
    label: str
    score: float


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


class JSON(JSONResponse):
    def render(self, content: object) -> bytes:
        return to_json(content)


def error(status: int, detail: object) -> JSON:
    return JSON(status_code=status, content=error_body(detail))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, counted as it arrives: a client may send no Content-Length (chunked) or a
    false one, so the limit holds on the bytes actually read."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise RequestError(413, f"request body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"request body over {limit} bytes")
    return bytes(body)


class AccessLog:
    """One JSON line per request, as plain ASGI middleware (`@app.middleware("http")` would
    wrap every request and response in an extra task and stream)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def note_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, note_status)
        finally:
            access_log.info(json.dumps({
                "ts": time.time(), "method": scope["method"], "path": scope["path"],
                "status": status, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}))


def create_app(settings: Settings, predictor: ColaONNXPredictor) -> FastAPI:
    app = FastAPI(title="CoLA acceptability", version="1.0.0",
                  description="Is an English sentence grammatically acceptable?")
    health_body = {"status": "ok", "model": model_summary(settings.model_path)}

    app.add_middleware(AccessLog)

    @app.get("/health")
    def health() -> dict:
        return health_body

    @app.post("/predict", response_model=Prediction | BatchPrediction,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}},
              responses={400: {"description": "not JSON"}, 413: {"description": "too large"},
                         415: {"description": "not application/json"},
                         422: {"description": "invalid or too long text, too many texts"}})
    async def predict(request: Request) -> Response:
        try:
            content_type = request.headers.get("content-type")
            check_content_type(content_type)  # before a byte of the body is read
            body = await read_body(request, settings.max_body_bytes)
            texts, batch = parse_request(body, content_type, settings)
        except RequestError as err:
            return error(err.status, err.detail)
        results = await asyncio.to_thread(predictor.predict, texts)  # keeps the loop free
        return JSON(answer(results, batch))

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


def app_from_env() -> FastAPI:
    """The app, its settings from the environment: what each server process builds."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    settings = Settings.from_env()
    return create_app(settings, ColaONNXPredictor(settings.model_path, settings.ort_threads))


def main() -> int:
    try:  # built here even with several workers: a bad setting or model stops it in one line
        settings = Settings.from_env()
        app = app_from_env()
    except (FileNotFoundError, ValueError) as err:
        print(f"error: cannot start: {err}", file=sys.stderr)
        return 2
    # Several workers are separate processes: uvicorn starts each from the import string and
    # shares the port between them, so they serve requests in parallel on several cores.
    target = app if settings.workers == 1 else "app:app_from_env"
    uvicorn.run(target, factory=settings.workers > 1, workers=settings.workers,
                host=settings.host, port=settings.port, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
