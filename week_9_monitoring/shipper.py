"""Prediction events (prediction_log.py) into OpenSearch, one index per day.

    python app.py > service.log                          # the service writes the events...
    python shipper.py service.log                        # ...this indexes them
    python shipper.py - < service.log                    # the same, from stdin
    python shipper.py --cloudwatch /aws/lambda/cola-predict --since 60   # last hour, via boto3
    OPENSEARCH_URL=https://search-...amazonaws.com OPENSEARCH_REGION=eu-west-1 \\
        python shipper.py service.log                    # Amazon OpenSearch Service (SigV4)

Lines that are not prediction events (other log lines) are skipped. Each event's document id
is its event_id and documents are only created, never overwritten, so shipping the same lines
twice adds nothing. What may pass on another try (429, a 5xx, no answer at all) is retried
with exponential backoff; what will not (400, 401, 403, 413: the request itself is refused) is
not. Events that still cannot be indexed go to the dead-letter file, which this command ships
again later; if even that file cannot be written, they are counted as lost and the exit status
is 1.
"""

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from prediction_log import EVENT

TEMPLATE_FILE = Path(__file__).resolve().parent / "monitoring" / "index_template.json"
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


def file_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as f:
        yield from f


def cloudwatch_lines(log_group: str, since_minutes: int) -> Iterator[str]:
    """The messages of a CloudWatch Logs group (a Lambda function's log) since some minutes."""
    import boto3

    start = int((time.time() - since_minutes * 60) * 1000)
    pages = boto3.client("logs").get_paginator("filter_log_events").paginate(
        logGroupName=log_group, startTime=start, filterPattern=FILTER_PATTERN)
    for page in pages:
        for event in page["events"]:
            yield event["message"]


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from config_schema import (
        CONFIG_ERRORS,
        add_override_option,
        check_monitoring,
        load_config,
    )

    parser = argparse.ArgumentParser(description="Index prediction events into OpenSearch.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="a log file with the events; - for stdin")
    source.add_argument("--cloudwatch", metavar="LOG_GROUP", help="read a CloudWatch Logs group")
    parser.add_argument("--since", type=int, default=60, metavar="MINUTES",
                        help="with --cloudwatch: how far back (default 60)")
    add_override_option(parser)
    args = parser.parse_args(argv)
    try:
        full = load_config(*args.set)
        check_monitoring(full)
        cfg = full.monitoring
        dead_letter = Path(cfg.dead_letter)
        if args.file and args.file != "-" and Path(args.file).resolve() == dead_letter.resolve():
            raise ValueError(f"{args.file} is the dead-letter file itself: move it first, then "
                             f"ship the moved file")
        if args.cloudwatch:
            lines = cloudwatch_lines(args.cloudwatch, args.since)
        elif args.file == "-":
            lines = sys.stdin
        else:
            lines = file_lines(Path(args.file))
        shipper = Shipper(make_client(cfg.opensearch, cfg.aws_region), dead_letter_file(
            dead_letter), cfg.ship.chunk_size, cfg.ship.retries, cfg.ship.backoff_s)
        counts = shipper.ship(read_events(lines))
    except (OSError, ValueError, BotoCoreError, ClientError, *CONFIG_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{counts}; {cfg.opensearch}, indices {shipper.prefix}-*")
    if counts.dead_letter:
        print(f"error: {counts.dead_letter} events could not be indexed: they are in "
              f"{dead_letter} (ship it again once OpenSearch is back)", file=sys.stderr)
    if counts.lost:
        print(f"error: {counts.lost} events are lost: {counts.lost_reason}", file=sys.stderr)
    if counts.dead_letter or counts.lost:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
