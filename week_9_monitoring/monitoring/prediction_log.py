"""One JSON line on stdout per prediction: what the monitoring reads (shipper.py indexes these
lines into OpenSearch, drift_report.py compares them with the training data). In AWS Lambda,
stdout is the function's CloudWatch log stream.

    {"event": "prediction", "@timestamp": "2026-11-27T10:00:00.123Z", "event_id": "9f1c...-0",
     "request_id": "...", "source": "fastapi", "model_sha256": "1f2e...", "model_version": "3",
     "text_chars": 20, "text_tokens": 6, "unk_share": 0.0, "label": "acceptable",
     "score": 0.93, "latency_ms": 4.1, "batch_size": 1}

event_id is unique per prediction (a new id for each request, then the sentence's position):
the monitoring stores one document per event_id. request_id is the caller's X-Request-ID (or
the server's id for the request), which callers may reuse.
The sentence itself is added as "text" only with the LOG_TEXT setting on (off by default: a
user's sentence may be personal data). Writing an event can never fail a prediction.
"""

import json
import sys
import threading
import uuid
from datetime import UTC, datetime

from tokenizers import Tokenizer

EVENT = "prediction"  # the "event" key that tells these lines from the other log lines


def timestamp(moment: datetime) -> str:
    """An instant as the events write it: UTC, milliseconds, "Z"."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PredictionLog:
    def __init__(self, tokenizer: Tokenizer, model_sha256: str, model_version: str,
                 source: str, log_text: bool = False) -> None:
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: the whole sentence,
        self.tokenizer.no_padding()                              # neither padded
        self.tokenizer.no_truncation()                           # nor cut at max_length
        unk_token = getattr(self.tokenizer.model, "unk_token", None)
        self.unk_id = self.tokenizer.token_to_id(unk_token) if unk_token else None
        self.fields = {"source": source, "model_sha256": model_sha256,
                       "model_version": model_version}
        self.log_text = log_text
        self.lock = threading.Lock()  # lines from concurrent requests never interleave
        self.failures = 0

    def events(self, request_id: str, texts: list[str], predictions: list[dict],
               latency_ms: float) -> list[dict]:
        now, call = timestamp(datetime.now(UTC)), uuid.uuid4().hex
        events = []
        for i, (text, encoding) in enumerate(zip(texts, self.tokenizer.encode_batch(texts),
                                                 strict=True)):
            ids = [t for t, special in zip(encoding.ids, encoding.special_tokens_mask,
                                           strict=True) if not special]
            event = {"event": EVENT, "@timestamp": now, "event_id": f"{call}-{i}",
                     "request_id": request_id, **self.fields, "text_chars": len(text),
                     "text_tokens": len(ids),
                     "unk_share": round(ids.count(self.unk_id) / len(ids), 4) if ids else 0.0,
                     "label": predictions[i]["label"], "score": round(predictions[i]["score"], 6),
                     "latency_ms": round(latency_ms, 3), "batch_size": len(texts)}
            if self.log_text:
                event["text"] = text
            events.append(event)
        return events

    def record(self, request_id: str, texts: list[str], predictions: list[dict],
               latency_ms: float) -> None:
        try:
            lines = [json.dumps(e, ensure_ascii=True) + "\n"
                     for e in self.events(request_id, texts, predictions, latency_ms)]
            with self.lock:
                for line in lines:  # a write each: server processes sharing one pipe (WORKERS)
                    sys.stdout.write(line)  # cannot split a write of up to 4 KiB (PIPE_BUF)
                    sys.stdout.flush()
        except Exception as err:
            self.failures += 1
            if self.failures == 1:  # one line, not one per request
                print(f"warning: prediction events are not being written ({type(err).__name__}:"
                      f" {err})", file=sys.stderr)
