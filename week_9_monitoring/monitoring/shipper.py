"""Prediction events (prediction_log.py) into OpenSearch, one index per day: the library that
the command (ship.py) and the log forwarder (log_forwarder.py) share.

Lines that are not prediction events (other log lines) are skipped. Each event's document id
is its event_id and documents are only created, never overwritten, so shipping the same lines
twice adds nothing. What may pass on another try (429, a 5xx, no answer at all) is retried
with exponential backoff; what will not (400, 401, 403, 413: the request itself is refused) is
not. Events that still cannot be indexed go to the dead letter (a file the command ships
again later, or a queue for the forwarder); if even that fails, they are counted as lost.
"""

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from monitoring.prediction_log import EVENT

TEMPLATE_FILE = Path(__file__).resolve().parent / "index_template.json"
FILTER_PATTERN = f'{{ $.event = "{EVENT}" }}'  # CloudWatch Logs: the prediction events only


def worth_retrying(status: object) -> bool:
    """429 (too many requests), a 5xx, or no status at all (no answer: refused, timed out)."""
    return not isinstance(status, int) or status == 429 or status >= 500


def worst_case_s(retries: int, backoff_s: float, timeout_s: float) -> float:
    """The longest one chunk can take: each attempt may wait for two requests (the index
    template, the first time, and the _bulk) to time out, plus the waits in between."""
    return (retries + 1) * 2 * timeout_s + backoff_s * (2 ** retries - 1)


def load_template(path: Path = TEMPLATE_FILE) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def index_prefix(template: dict) -> str:
    """cola-predictions, from the template's pattern cola-predictions-*."""
    return template["index_patterns"][0].removesuffix("-*")


def index_for(prefix: str, event: dict) -> str:
    """The day's index: cola-predictions-2026.11.27 (the event's UTC date)."""
    return f"{prefix}-{event['@timestamp'][:10].replace('-', '.')}"


def read_events(lines: Iterable[str]) -> Iterator[dict]:
    """The prediction events among log lines (and the events of dead-letter lines)."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("failed_event"), dict):
            record = record["failed_event"]  # a line of a dead-letter file
        if isinstance(record, dict) and record.get("event") == EVENT:
            yield record


def problem(event: dict) -> str | None:
    """Why an event cannot even be sent (no id, no date for its index), or None."""
    if not isinstance(event.get("event_id"), str) or not event["event_id"]:
        return "no event_id"
    stamp = event.get("@timestamp")
    if not isinstance(stamp, str) or not re.match(r"\d{4}-\d{2}-\d{2}T", stamp):
        return f"@timestamp {stamp!r} is not an ISO 8601 time"
    return None


def bulk_body(prefix: str, events: list[dict]) -> list[dict]:
    """The _bulk request: an action line, then the document, per event (create: an event_id
    that is already indexed gets a 409 and is left as it is)."""
    body = []
    for event in events:
        body.append({"create": {"_index": index_for(prefix, event), "_id": event["event_id"]}})
        body.append(event)
    return body


@dataclass
class Counts:
    indexed: int = 0
    existing: int = 0      # already in the index: shipped before
    dead_letter: int = 0
    lost: int = 0          # not indexed, and the dead-letter file could not be written
    lost_reason: str = ""

    def __str__(self) -> str:
        lost = f", {self.lost} lost ({self.lost_reason})" if self.lost else ""
        return (f"{self.indexed} indexed, {self.existing} already there, "
                f"{self.dead_letter} to the dead-letter file{lost}")


DeadLetter = Callable[[list[tuple[dict, str]]], None]  # (event, reason) pairs


def dead_letter_file(path: Path) -> DeadLetter:
    def write(failed: list[tuple[dict, str]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            for event, reason in failed:
                f.write(json.dumps({"error": reason, "failed_event": event}) + "\n")
    return write


class Shipper:
    def __init__(self, client: OpenSearch, dead_letter: DeadLetter, chunk_size: int = 500,
                 retries: int = 5, backoff_s: float = 0.5, template: dict | None = None) -> None:
        self.client, self.dead_letter = client, dead_letter
        self.chunk_size, self.retries, self.backoff_s = chunk_size, retries, backoff_s
        self.template = template or load_template()
        self.prefix = index_prefix(self.template)
        self.template_ready = False

    def ship(self, events: Iterable[dict]) -> Counts:
        counts, events = Counts(), iter(events)
        while chunk := list(islice(events, self.chunk_size)):
            self._ship_chunk(chunk, counts)
        return counts

    def _ensure_template(self) -> None:
        if not self.template_ready:  # before the first index of the day is created
            self.client.indices.put_index_template(name=self.prefix, body=self.template)
            self.template_ready = True

    def _ship_chunk(self, events: list[dict], counts: Counts) -> None:
        problems = [problem(event) for event in events]
        unsendable = [(e, why) for e, why in zip(events, problems, strict=True) if why]
        if unsendable:
            self._give_up(unsendable, counts)
        pending = [e for e, why in zip(events, problems, strict=True) if not why]
        reason = ""
        if not pending:
            return
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                self._ensure_template()
                response = self.client.bulk(body=bulk_body(self.prefix, pending))
            except TransportError as err:  # unreachable, timed out, or an error status
                reason = f"{type(err).__name__}: {str(err)[:200]}"
                if worth_retrying(err.status_code):
                    continue  # the whole chunk again
                break  # refused as a whole: another try would be refused too
            retry, final = [], []
            for event, item in zip(pending, response["items"], strict=True):
                result = item["create"]
                if result["status"] in (200, 201):
                    counts.indexed += 1
                elif result["status"] == 409:
                    counts.existing += 1
                elif worth_retrying(result["status"]):
                    retry.append(event)
                    reason = json.dumps(result.get("error"))[:300]
                else:
                    final.append((event, json.dumps(result.get("error"))[:300]))
            if final:
                self._give_up(final, counts)
            pending = retry
            if not pending:
                return
        self._give_up([(event, reason) for event in pending], counts)

    def _give_up(self, failed: list[tuple[dict, str]], counts: Counts) -> None:
        """To the dead-letter file; if it cannot be written, counted as lost (and the rest of
        the chunk is still shipped)."""
        try:
            self.dead_letter(failed)
            counts.dead_letter += len(failed)
        except OSError as err:
            counts.lost += len(failed)
            counts.lost_reason = f"the dead-letter file could not be written: {err}"


def make_client(url: str, aws_region: str | None = None, timeout_s: float = 30) -> OpenSearch:
    """A client that does not retry on its own (the Shipper does, with backoff); requests to
    Amazon OpenSearch Service are signed with the environment's AWS credentials."""
    options = {"hosts": [url], "timeout": timeout_s, "max_retries": 0}
    if aws_region:
        import boto3
        from opensearchpy import AWSV4SignerAuth, RequestsHttpConnection

        options |= {"http_auth": AWSV4SignerAuth(boto3.Session().get_credentials(), aws_region,
                                                 "es"),
                    "connection_class": RequestsHttpConnection}
    return OpenSearch(**options)
