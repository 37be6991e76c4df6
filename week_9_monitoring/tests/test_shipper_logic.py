"""The shipper's rules, against a small stand-in for OpenSearch in this process: which lines are
events, which events can be sent, where each goes, what is retried and how long it waits, what
ends in the dead-letter file or is lost, and what the command prints and returns."""

import http.server
import io
import json
import re
import socket
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import time_machine

from helpers import JSONHandler, make_events
from monitoring import shipper
from monitoring.ship import cloudwatch_lines, file_lines, main
from monitoring.shipper import (
    Counts,
    Shipper,
    bulk_body,
    dead_letter_file,
    index_for,
    index_prefix,
    load_template,
    make_client,
    problem,
    read_events,
    worst_case_s,
    worth_retrying,
)

TEMPLATE = {"index_patterns": ["test-events-*"], "template": {"mappings": {"dynamic": "strict"}}}
MIDNIGHT = datetime(2026, 11, 27, 23, 59, 58, tzinfo=UTC)


class FakeOpenSearch(http.server.ThreadingHTTPServer):
    """Just enough of OpenSearch on 127.0.0.1: PUT _index_template/<name> keeps the template;
    POST _bulk creates each document (201), or answers 409 for an id already indexed. The
    next _bulk requests take their answers from `script` first: a status for the whole
    request, "drop" (the connection is closed unanswered), or a list of per-document statuses
    (a shorter list: an answer that leaves the last documents out)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.script: list = []
        self.reason = "scripted"  # the error reason in refusals
        self.docs: dict[tuple[str, str], dict] = {}
        self.templates: list[tuple[str, dict]] = []
        self.bulks: list[list[dict]] = []  # the documents of each _bulk request
        self.headers: list[dict] = []  # of every request


class Handler(JSONHandler):
    server: FakeOpenSearch

    def error(self, status: int) -> dict:
        return {"type": f"status_{status}", "reason": self.server.reason}

    def body(self) -> bytes:
        self.server.headers.append(dict(self.headers))
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self.body()
        self.answer(200, {"version": {"number": "2.19.0"}})

    def do_PUT(self) -> None:
        template = json.loads(self.body())
        self.server.templates.append((self.path.removeprefix("/_index_template/"), template))
        self.answer(200, {"acknowledged": True})

    def do_POST(self) -> None:
        fake = self.server
        lines = [json.loads(line) for line in self.body().decode().splitlines()]
        pairs = list(zip(lines[::2], lines[1::2], strict=True))
        fake.bulks.append([doc for _, doc in pairs])
        answer = fake.script.pop(0) if fake.script else None
        if answer == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(answer, int):
            error = self.error(answer) | {"root_cause": [self.error(answer)]}
            self.answer(answer, {"error": error, "status": answer})
            return
        items = []
        for i, (action, doc) in enumerate(pairs[:len(answer)] if answer else pairs):
            key = (action["create"]["_index"], action["create"]["_id"])
            status = answer[i] if answer else 409 if key in fake.docs else 201
            item = {"_index": key[0], "_id": key[1], "status": status}
            if status in (200, 201):
                fake.docs[key] = doc
            else:
                item["error"] = self.error(status)
            items.append({"create": item})
        self.answer(200, {"took": 1, "errors": any("error" in i["create"] for i in items),
                          "items": items})


@pytest.fixture
def search():
    server = FakeOpenSearch()
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The shipper's waits between tries, kept instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(shipper.time, "sleep", waited.append)
    return waited


def dead_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- the rules ------------------------------------------------------------------------------

def test_only_busy_or_failing_servers_and_no_answer_are_worth_retrying() -> None:
    assert [worth_retrying(s) for s in (429, 500, 503, 599, "N/A", None)] == [True] * 6
    assert [worth_retrying(s) for s in (400, 404, 409, 413, 428, 430, 499)] == [False] * 7


def test_the_worst_case_of_a_chunk_adds_every_timeout_and_wait() -> None:
    # 4 attempts of two 10 s requests, and waits of 1, 2 and 4 s
    assert worst_case_s(retries=3, backoff_s=1, timeout_s=10) == 87
    assert worst_case_s(retries=0, backoff_s=1, timeout_s=10) == 20


def test_indices_are_named_from_the_template_and_the_events_utc_day() -> None:
    assert index_prefix(load_template()) == "cola-predictions"
    assert index_prefix({"index_patterns": ["test-events-*", "other-*"]}) == "test-events"
    assert index_for("test-events", {"@timestamp": "2026-11-27T23:59:59.999Z"}) == \
        "test-events-2026.11.27"


def test_only_prediction_events_are_read_among_other_lines() -> None:
    first, second, third = make_events(3)
    lines = ["INFO:     Started server process [1]\n",
             "  " + json.dumps(first) + "  \n",                       # spaces around it
             "{not json\n",
             json.dumps({"event": "request", "status": 200}) + "\n",  # another kind of event
             json.dumps({"error": "x", "failed_event": second}) + "\n",  # a dead-letter line
             json.dumps({"error": "x", "failed_event": {"event": "other"}}) + "\n",
             json.dumps(third | {"failed_event": "not an event"}) + "\n"]
    assert list(read_events(lines)) == [first, second, third | {"failed_event": "not an event"}]


@pytest.mark.parametrize("change, why", [
    ({"event_id": None}, "no event_id"),
    ({"event_id": ""}, "no event_id"),
    ({"event_id": 7}, "no event_id"),
    ({"@timestamp": "yesterday"}, "@timestamp 'yesterday' is not an ISO 8601 time"),
    ({"@timestamp": "2026-11-27"}, "@timestamp '2026-11-27' is not an ISO 8601 time"),
    ({"@timestamp": 1795780800}, "@timestamp 1795780800 is not an ISO 8601 time"),
    ({"@timestamp": None}, "@timestamp None is not an ISO 8601 time"),
])
def test_an_event_without_an_id_or_a_time_cannot_be_sent(change: dict, why: str) -> None:
    (event,) = make_events(1)
    assert problem(event) is None
    event = {k: v for k, v in (event | change).items() if v is not None}
    assert problem(event) == why


def test_the_bulk_request_creates_each_event_under_its_id_in_its_days_index() -> None:
    events = make_events(2, start=MIDNIGHT, step_s=3)
    assert bulk_body("test-events", events) == [
        {"create": {"_index": "test-events-2026.11.27", "_id": "req00000-0"}}, events[0],
        {"create": {"_index": "test-events-2026.11.28", "_id": "req00001-0"}}, events[1]]


def test_the_summary_names_lost_events_only_when_there_are_some() -> None:
    assert str(Counts(indexed=3, existing=2, dead_letter=1)) == \
        "3 indexed, 2 already there, 1 to the dead-letter file"
    assert str(Counts(indexed=1, lost=2, lost_reason="disk full")) == \
        "1 indexed, 0 already there, 0 to the dead-letter file, 2 lost (disk full)"


def test_the_dead_letter_file_is_appended_to_and_its_folder_made(tmp_path: Path) -> None:
    events = make_events(3)
    write = dead_letter_file(tmp_path / "a" / "b" / "dead.jsonl")
    write([(events[0], "first")])
    write([(events[1], "second"), (events[2], "third")])
    assert dead_lines(tmp_path / "a" / "b" / "dead.jsonl") == [
        {"error": "first", "failed_event": events[0]},
        {"error": "second", "failed_event": events[1]},
        {"error": "third", "failed_event": events[2]}]


def test_a_log_file_is_read_whatever_bytes_it_holds(tmp_path: Path) -> None:
    (event,) = make_events(1)
    event["text"] = "Déjà vu."
    path = tmp_path / "service.log"
    path.write_bytes(b"\xff\xfe broken line\n" + json.dumps(event, ensure_ascii=False).encode()
                     + b"\n")
    lines = list(file_lines(path))
    assert lines[0] == "\ufffd\ufffd broken line\n"
    assert list(read_events(lines)) == [event]


# --- shipping ---------------------------------------------------------------------------------

def test_events_go_to_their_days_index_after_the_template_is_put_once(search, tmp_path) -> None:
    events = make_events(5, start=MIDNIGHT)
    shipping = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl"),
                       chunk_size=2, template=TEMPLATE)
    assert shipping.ship(iter(events)) == Counts(indexed=5)
    assert shipping.ship(events[3:]) == Counts(existing=2)
    assert search.templates == [("test-events", TEMPLATE)]
    assert [len(b) for b in search.bulks] == [2, 2, 1, 2]
    assert search.docs == {
        (f"test-events-{e['@timestamp'][:10].replace('-', '.')}", e["event_id"]): e
        for e in events}
    assert {index for index, _ in search.docs} == {"test-events-2026.11.27",
                                                    "test-events-2026.11.28"}
    assert not (tmp_path / "dead.jsonl").exists()


def test_by_default_a_chunk_is_500_events_tried_six_times(search, tmp_path, waits) -> None:
    search.script = [503] * 6
    events = make_events(501)
    counts = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl")).ship(
        events)
    assert counts == Counts(indexed=1, dead_letter=500)
    assert [len(b) for b in search.bulks] == [500] * 6 + [1]
    assert waits == [0.5, 1, 2, 4, 8]
    assert search.templates == [("cola-predictions", load_template())]


def test_busy_or_unanswered_requests_are_retried_with_doubling_waits(search, tmp_path,
                                                                       waits) -> None:
    search.script = [503, "drop", 429]
    events = make_events(4)
    counts = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl"),
                     retries=3, backoff_s=0.25).ship(events)
    assert counts == Counts(indexed=4)
    assert search.bulks == [events] * 4
    assert waits == [0.25, 0.5, 1]


def test_a_request_refused_as_a_whole_is_not_retried(search, tmp_path, waits) -> None:
    search.script = [400]
    events = make_events(3)
    counts = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl"),
                     retries=3).ship(events)
    assert counts == Counts(dead_letter=3)
    assert len(search.bulks) == 1 and waits == []
    lines = dead_lines(tmp_path / "dead.jsonl")
    assert [line["failed_event"] for line in lines] == events
    assert {line["error"] for line in lines} == {
        "RequestError: RequestError(400, 'status_400', 'scripted')"}


def test_a_chunk_that_never_passes_keeps_the_last_error_cut_short(search, tmp_path,
                                                                   waits) -> None:
    search.script = [503, 502]
    search.reason = "overloaded " * 40
    events = make_events(2)
    counts = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl"),
                     retries=1, backoff_s=2).ship(events)
    assert counts == Counts(dead_letter=2)
    assert waits == [2]
    lines = dead_lines(tmp_path / "dead.jsonl")
    assert [line["failed_event"] for line in lines] == events
    (reason,) = {line["error"] for line in lines}
    assert reason.startswith("TransportError: TransportError(502, 'status_502', 'overloaded ")
    assert len(reason) == len("TransportError: ") + 200


def test_each_event_of_a_chunk_gets_its_own_outcome(search, tmp_path, waits) -> None:
    events = make_events(5)
    search.script = [[201, 409, 429, 400, 200]]  # then the retried event is created
    counts = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl"),
                     backoff_s=1).ship(events)
    assert counts == Counts(indexed=3, existing=1, dead_letter=1)
    assert search.bulks == [events, [events[2]]] and waits == [1]
    assert dead_lines(tmp_path / "dead.jsonl") == [
        {"error": json.dumps({"type": "status_400", "reason": "scripted"}),
         "failed_event": events[3]}]


def test_an_event_refused_on_every_try_keeps_its_error_cut_short(search, tmp_path,
                                                                 waits) -> None:
    events = make_events(2)
    search.script = [[429], [429], [400]]  # chunks of one event: the first is tried twice
    search.reason = "x" * 400
    counts = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl"),
                     chunk_size=1, retries=1).ship(events)
    assert counts == Counts(dead_letter=2) and waits == [0.5]
    errors = [line["error"] for line in dead_lines(tmp_path / "dead.jsonl")]
    assert errors == [json.dumps({"type": "status_429", "reason": "x" * 400})[:300],
                      json.dumps({"type": "status_400", "reason": "x" * 400})[:300]]
    assert [len(e) for e in errors] == [300, 300]


def test_an_answer_that_leaves_events_out_is_an_error(search, tmp_path) -> None:
    search.script = [[201]]
    shipping = Shipper(make_client(search.url), dead_letter_file(tmp_path / "dead.jsonl"))
    with pytest.raises(ValueError):
        shipping.ship(make_events(2))


def test_nothing_is_handed_to_the_dead_letter_file_when_all_is_indexed(search) -> None:
    handed = []
    counts = Shipper(make_client(search.url), handed.append).ship(make_events(3))
    assert counts == Counts(indexed=3) and handed == []


def test_what_cannot_be_sent_or_is_refused_goes_to_the_dead_letter_file(search) -> None:
    events = make_events(4)
    del events[0]["event_id"]
    search.script = [[201, 400, 201]]
    handed = []
    counts = Shipper(make_client(search.url), handed.append).ship(events)
    assert counts == Counts(indexed=2, dead_letter=2)
    assert handed == [[(events[0], "no event_id")],
                      [(events[2], json.dumps({"type": "status_400", "reason": "scripted"}))]]


def test_events_are_lost_when_the_dead_letter_file_cannot_be_written(search) -> None:
    def full(_: list) -> None:
        raise OSError(28, "No space left on device")

    events = make_events(5)
    events[0]["@timestamp"] = events[3]["@timestamp"] = "yesterday"
    counts = Shipper(make_client(search.url), full, chunk_size=2).ship(events)
    assert counts == Counts(indexed=3, lost=2, lost_reason="the dead-letter file could not be "
                            "written: [Errno 28] No space left on device")


# --- the client -------------------------------------------------------------------------------

def test_the_client_leaves_retrying_to_the_shipper(search) -> None:
    from opensearchpy.exceptions import TransportError

    search.script = [503]
    with pytest.raises(TransportError) as refused:
        make_client(search.url).bulk(body=bulk_body("test-events", make_events(1)))
    assert refused.value.status_code == 503 and len(search.bulks) == 1


def test_the_client_gives_up_after_its_timeout() -> None:
    from opensearchpy.exceptions import ConnectionTimeout

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        client = make_client(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(ConnectionTimeout):
            client.info()
    assert time.monotonic() - started < 5  # its own timeout, not the library's 10 s


# --- the command ------------------------------------------------------------------------------

def write_log(path: Path, events: list[dict]) -> Path:
    lines = ["INFO:     Started server process [1]", *map(json.dumps, events), "not json {"]
    path.write_text("\n".join(lines) + "\n")
    return path


def settings(url: str, dead: Path, *more: str) -> list[str]:
    return ["--set", f"monitoring.opensearch={url}", "--set", f"monitoring.dead_letter={dead}",
            *[arg for setting in more for arg in ("--set", setting)]]


def test_the_command_ships_a_log_file_and_says_what_it_did(search, tmp_path, capsys) -> None:
    events = make_events(5)
    log = write_log(tmp_path / "service.log", events)
    dead = tmp_path / "dead.jsonl"
    assert main([str(log), *settings(search.url, dead, "monitoring.ship.chunk_size=2")]) == 0
    assert capsys.readouterr() == (
        f"5 indexed, 0 already there, 0 to the dead-letter file; {search.url}, indices "
        f"cola-predictions-*\n", "")
    assert [len(b) for b in search.bulks] == [2, 2, 1]
    assert sorted(i for _, i in search.docs) == [e["event_id"] for e in events]
    assert "Authorization" not in search.headers[0]


def test_the_command_reads_stdin_and_signs_requests_for_an_aws_region(search, tmp_path, capsys,
                                                                      monkeypatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(
        json.dumps(e) + "\n" for e in make_events(3))))
    args = ["-", *settings(search.url, tmp_path / "dead.jsonl", "monitoring.aws_region=eu-west-1")]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("3 indexed, 0 already there")
    signed = [re.match(r"AWS4-HMAC-SHA256 Credential=AKIDTESTING/\d{8}/eu-west-1/es/aws4_request,",
                       h.get("Authorization", "")) for h in search.headers]
    assert len(signed) == 2 and all(signed)  # the template, then the events


class FakeLogs:
    """boto3's CloudWatch Logs client as the shipper uses it: pages of log events."""

    def __init__(self, pages: list[list[str]]) -> None:
        self.pages, self.asked = pages, []

    def get_paginator(self, operation: str) -> "FakeLogs":
        assert operation == "filter_log_events"
        return self

    def paginate(self, **query) -> list[dict]:
        self.asked.append(query)
        return [{"events": [{"message": m} for m in page]} for page in self.pages]


@pytest.fixture
def cloudwatch(monkeypatch) -> FakeLogs:
    events = make_events(3)
    logs = FakeLogs([["START RequestId: 1", json.dumps(events[0])],
                     [json.dumps(e) for e in events[1:]]])
    monkeypatch.setattr(boto3, "client", lambda service: {"logs": logs}[service])
    return logs


NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def millis(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


def test_cloudwatch_is_asked_for_prediction_events_since_some_minutes(cloudwatch) -> None:
    with time_machine.travel(NOW, tick=False):
        lines = list(cloudwatch_lines("/aws/lambda/cola-predict", 10))
    assert lines == [m for page in cloudwatch.pages for m in page]
    assert cloudwatch.asked == [{"logGroupName": "/aws/lambda/cola-predict",
                                 "startTime": millis(NOW - timedelta(minutes=10)),
                                 "filterPattern": '{ $.event = "prediction" }'}]


def test_the_command_reads_the_last_hour_of_cloudwatch_by_default(search, cloudwatch, tmp_path,
                                                                  capsys) -> None:
    with time_machine.travel(NOW, tick=False):
        assert main(["--cloudwatch", "/aws/lambda/cola-predict", "--since", "15",
                     *settings(search.url, tmp_path / "dead.jsonl")]) == 0
        assert main(["--cloudwatch", "/aws/lambda/cola-predict",
                     *settings(search.url, tmp_path / "dead.jsonl")]) == 0
    assert {q["logGroupName"] for q in cloudwatch.asked} == {"/aws/lambda/cola-predict"}
    assert [q["startTime"] for q in cloudwatch.asked] == [
        millis(NOW - timedelta(minutes=15)), millis(NOW - timedelta(hours=1))]
    out = capsys.readouterr().out.splitlines()
    assert [line.split(";")[0] for line in out] == [
        "3 indexed, 0 already there, 0 to the dead-letter file",
        "0 indexed, 3 already there, 0 to the dead-letter file"]


def test_events_that_could_not_be_indexed_fail_the_command_and_ship_later(search, tmp_path,
                                                                          capsys,
                                                                          waits) -> None:
    events = make_events(3)
    dead = tmp_path / "dead.jsonl"
    log = write_log(tmp_path / "service.log", events)
    search.script = [503, 503]
    args = settings(search.url, dead, "monitoring.ship.retries=1", "monitoring.ship.backoff_s=3")
    assert main([str(log), *args]) == 1
    assert capsys.readouterr() == (
        f"0 indexed, 0 already there, 3 to the dead-letter file; {search.url}, indices "
        f"cola-predictions-*\n",
        f"error: 3 events could not be indexed: they are in {dead} (ship it again once "
        f"OpenSearch is back)\n")
    assert waits == [3]
    assert main([str(dead), *args]) == 2  # not the dead-letter file itself...
    assert capsys.readouterr() == (
        "", f"error: {dead} is the dead-letter file itself: move it first, then ship the moved "
        f"file\n")
    moved = dead.rename(tmp_path / "retry.jsonl")
    assert main([str(moved), *args]) == 0  # ...but once moved
    assert sorted(i for _, i in search.docs) == [e["event_id"] for e in events]


def test_lost_events_fail_the_command(search, tmp_path, capsys) -> None:
    events = make_events(3)
    events[1]["@timestamp"] = "yesterday"
    (tmp_path / "blocked").write_text("a file where the dead-letter folder should be")
    log = write_log(tmp_path / "service.log", events)
    assert main([str(log), *settings(search.url, tmp_path / "blocked" / "dead.jsonl")]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("2 indexed, 0 already there, 0 to the dead-letter file, 1 lost (the "
                          "dead-letter file could not be written: ")
    assert err.startswith("error: 1 events are lost: the dead-letter file could not be written: ")
    assert len(err.splitlines()) == 1


def test_a_bad_setting_is_one_error_line(search, tmp_path, capsys) -> None:
    log = write_log(tmp_path / "service.log", make_events(1))
    args = settings(search.url, tmp_path / "dead.jsonl", "monitoring.ship.chunk_size=0")
    assert main([str(log), *args]) == 2
    assert capsys.readouterr() == (
        "", "error: monitoring.ship.chunk_size must be at least 1\n")
    assert search.bulks == []


@pytest.mark.parametrize("args, says", [
    ([], "one of the arguments file --cloudwatch is required"),
    (["x.log", "--cloudwatch", "g"], "argument --cloudwatch: not allowed with argument file"),
])
def test_the_command_takes_exactly_one_source(args: list[str], says: str, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2 and says in capsys.readouterr().err


def test_the_help_names_both_sources_and_the_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # as one line, however it wraps
    assert "[--cloudwatch LOG_GROUP] [--since MINUTES]" in help_text
    for says in ("[file] Index prediction events into OpenSearch. positional arguments:",
                 "file a log file with the events; - for stdin",
                 "--cloudwatch LOG_GROUP read a CloudWatch Logs group",
                 "--since MINUTES with --cloudwatch: how far back (default 60)"):
        assert says in help_text
