"""The CoLA model as an AWS Lambda function, with the FastAPI app's contract (serving.py): the
same requests, answers and errors, behind API Gateway or invoked directly.

    API Gateway HTTP API (payload 2.0) or REST API (1.0):  POST /predict, GET /health
    direct:  aws lambda invoke --function-name cola-predict \\
                 --cli-binary-format raw-in-base64-out --payload '{"text": "Who left?"}' out.json

The model loads once per execution environment, at init (outside the handler), so only a
cold start pays for it. Logs are JSON lines (Powertools Logger: request id, cold start);
metrics use CloudWatch's embedded metric format (Powertools Metrics). Each prediction is also
one event line (monitoring/prediction_log.py), which a log subscription sends on to OpenSearch.
"""

import base64
import binascii
import json
import os
import sys
import time

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    Response,
)
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_onnx import ColaONNXPredictor
from monitoring.prediction_log import PredictionLog
from serving import (
    RequestError,
    Settings,
    answer,
    error_body,
    model_summary,
    parse_request,
    predict_and_record,
    request_id,
    to_json,
)

logger = Logger(service="cola")
metrics = Metrics(namespace="MLOpsBasics", service="cola")


def load() -> tuple[Settings, ColaONNXPredictor, dict, PredictionLog]:
    try:
        settings = Settings.from_env()
        predictor = ColaONNXPredictor(settings.model_path, settings.ort_threads)
        model = model_summary(settings.model_path)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: cannot start: {err}", file=sys.stderr)  # one line in the init log
        raise SystemExit(2) from None
    version = settings.model_version or os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "local")
    log = PredictionLog(predictor.tokenizer, model["sha256"], version, "lambda",
                        settings.log_text)
    return settings, predictor, model, log


SETTINGS, PREDICTOR, MODEL, PREDICTION_LOG = load()


def respond(body: bytes, content_type: str | None, request_id: str) -> tuple[int, dict]:
    """The status and JSON body for a prediction request, exactly as the FastAPI app's."""
    try:
        texts, batch = parse_request(body, content_type, SETTINGS)
    except RequestError as err:
        metrics.add_metric(name="RejectedRequests", unit=MetricUnit.Count, value=1)
        return err.status, error_body(err.detail)
    predictions, latency_ms = predict_and_record(PREDICTOR, texts, request_id,
                                                 PREDICTION_LOG)
    metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds,
                       value=round(latency_ms, 3))
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=len(texts))
    unacceptable = sum(p["label"] == "unacceptable" for p in predictions)
    metrics.add_metric(name="UnacceptablePredictions", unit=MetricUnit.Count, value=unacceptable)
    return 200, answer(predictions, batch)


def json_response(status: int, content: object, headers: dict | None = None) -> Response:
    return Response(status_code=status, content_type="application/json",
                    body=to_json(content).decode("ascii"), headers=headers)


def with_routes(app: ApiGatewayResolver) -> ApiGatewayResolver:
    @app.post("/predict")
    def predict() -> Response:
        event = app.current_event
        try:
            body = (base64.b64decode(event.body or "", validate=True) if event.is_base64_encoded
                    else (event.body or "").encode("utf-8", "surrogatepass"))
        except binascii.Error:
            return json_response(400, error_body("request body is not valid base64"))
        rid = request_id(event.headers.get("x-request-id"), app.lambda_context.aws_request_id)
        return json_response(*respond(body, event.headers.get("content-type"), rid),
                             headers={"X-Request-ID": rid})

    @app.get("/health")
    def health() -> Response:
        return json_response(200, {"status": "ok", "model": MODEL})

    @app.not_found
    def not_found(_: Exception) -> Response:
        return json_response(404, error_body("Not Found"))

    return app


http_api = with_routes(APIGatewayHttpResolver())  # HTTP API, payload format 2.0
rest_api = with_routes(APIGatewayRestResolver())  # REST API (and HTTP API with payload 1.0)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: object, context: LambdaContext) -> dict:
    start = time.perf_counter()
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if isinstance(event, dict) and event.get("version") == "2.0":
        result = http_api.resolve(event, context)
        route = f"{event['requestContext']['http']['method']} {event.get('rawPath')}"
    elif isinstance(event, dict) and "httpMethod" in event:
        result = rest_api.resolve(event, context)
        route = f"{event['httpMethod']} {event.get('path')}"
    else:  # invoked directly: the event is the request body
        status, content = respond(json.dumps(event).encode(), "application/json",
                                  context.aws_request_id)
        result = content if status == 200 else {"statusCode": status, **content}
        route = "invoke"
    status = result.get("statusCode", 200)
    logger.info("request", extra={"route": route, "status": status,
                                  "latency_ms": round((time.perf_counter() - start) * 1000, 2)})
    return result
