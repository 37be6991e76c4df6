"""The shipper against an OpenSearch REST API (osmem-server, in memory): daily indices from the
index template, ids from the events (re-shipping adds nothing), requests in the documented
formats, and nothing lost when the target dies mid-run: every event is indexed or in the
dead-letter file, and the dead-letter file ships later."""

import contextlib
import http.server
import json
import socket
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
from opensearchpy import OpenSearch
from opensearchpy.connection import Urllib3HttpConnection

from helpers import indexed_ids, make_events
from monitoring import shipper as shipper_module
from monitoring.ship import main
from monitoring.shipper import (
    Counts,
    Shipper,
    dead_letter_file,
    load_template,
    read_events,
    worst_case_s,
    worth_retrying,
)

PREFIX = "cola-predictions"
# the body of PUT _index_template/<name> and the field types, as OpenSearch documents them
TEMPLATE_KEYS = {"index_patterns", "template", "priority", "version", "composed_of", "_meta",
                 "data_stream"}
FIELD_TYPES = {"keyword", "text", "date", "integer", "long", "float", "double", "boolean"}


def write_log(path: Path, events: list[dict]) -> Path:
    """A service log: events between other lines, as the service writes them."""
    lines = ['INFO:     Started server process [1]', '{"ts": 1, "method": "POST", "status": 200}']
    lines += [json.dumps(e) for e in events] + ["not json {", "{\"event\": \"other\"}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_events_go_to_daily_indices_made_from_the_template(opensearch: str,
                                                           tmp_path: Path) -> None:
    # a fixed date: the indices' names are known (nothing here compares them with the clock)
    events = make_events(1200, start=datetime(2026, 11, 27, 23, 50, tzinfo=UTC))  # two days
    dead = tmp_path / "dead.jsonl"
    counts = Shipper(OpenSearch([opensearch]), dead_letter_file(dead), chunk_size=500).ship(
        events)
    assert counts == Counts(indexed=1200)
    client = OpenSearch([opensearch])
    client.indices.refresh(index=f"{PREFIX}-*")
    assert client.count(index=f"{PREFIX}-2026.11.27")["count"] == 600
    assert client.count(index=f"{PREFIX}-2026.11.28")["count"] == 600
    mapping = client.indices.get_mapping(index=f"{PREFIX}-2026.11.28")
    expected = load_template()["template"]["mappings"]
    assert mapping[f"{PREFIX}-2026.11.28"]["mappings"] == expected
    doc = client.get(index=f"{PREFIX}-2026.11.27", id="req00007-0")["_source"]
    assert doc == events[7]
    assert not dead.exists()


def test_shipping_the_same_events_again_adds_nothing(opensearch: str, tmp_path: Path) -> None:
    events = make_events(300)
    shipper = Shipper(OpenSearch([opensearch]), dead_letter_file(tmp_path / "dead.jsonl"),
                      chunk_size=128)
    assert shipper.ship(events) == Counts(indexed=300)
    assert shipper.ship(events[100:] + make_events(0)) == Counts(existing=200)
    assert sorted(indexed_ids(opensearch)) == sorted(e["event_id"] for e in events)


def test_events_the_mapping_refuses_go_to_the_dead_letter_file(opensearch: str,
                                                               tmp_path: Path) -> None:
    events = make_events(10)
    events[3]["score"] = "high"                # not a float
    events[5]["unexpected"] = 1                # not in the strict mapping
    del events[7]["event_id"]                  # cannot be sent at all
    events[8]["@timestamp"] = "yesterday"
    dead = tmp_path / "dead.jsonl"
    counts = Shipper(OpenSearch([opensearch]), dead_letter_file(dead)).ship(events)
    assert counts == Counts(indexed=6, dead_letter=4)
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [line["failed_event"] for line in lines] == [events[i] for i in (7, 8, 3, 5)]
    assert [line["error"][:12] for line in lines[:2]] == ["no event_id", "@timestamp '"]
    assert "score" in lines[2]["error"] and "strict" in lines[3]["error"]
    assert sorted(indexed_ids(opensearch)) == sorted(
        e["event_id"] for i, e in enumerate(events) if i not in (3, 5, 7, 8))


class Recording(Urllib3HttpConnection):
    """The client's connection, keeping every request it sends."""
    sent: ClassVar[list[tuple[str, str, bytes | None]]] = []

    def perform_request(self, method, url, params=None, body=None, **kwargs):
        Recording.sent.append((method, url, body))
        return super().perform_request(method, url, params, body, **kwargs)


def test_requests_follow_the_documented_formats(opensearch: str, tmp_path: Path) -> None:
    Recording.sent = []
    client = OpenSearch([opensearch], connection_class=Recording)
    Shipper(client, dead_letter_file(tmp_path / "dead.jsonl"), chunk_size=4).ship(
        make_events(6))
    (put, *bulks) = Recording.sent
    assert put[:2] == ("PUT", f"/_index_template/{PREFIX}")
    template = json.loads(put[2])
    assert set(template) <= TEMPLATE_KEYS and set(template["template"]) <= {
        "settings", "mappings", "aliases"}
    assert template["index_patterns"] == [f"{PREFIX}-*"]
    assert {f["type"] for f in template["template"]["mappings"]["properties"].values()} <= \
        FIELD_TYPES
    assert [(m, u) for m, u, _ in bulks] == [("POST", "/_bulk")] * 2
    for (_, _, body), size in zip(bulks, (4, 2), strict=True):
        text = body.decode() if isinstance(body, bytes) else body
        assert text.endswith("\n")  # _bulk: newline-delimited JSON, ending in a newline
        lines = [json.loads(line) for line in text.splitlines()]
        assert len(lines) == 2 * size
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            assert list(action) == ["create"]
            assert set(action["create"]) == {"_index", "_id"}
            assert action["create"]["_id"] == source["event_id"]
            assert action["create"]["_index"] == f"{PREFIX}-" + source["@timestamp"][
                :10].replace("-", ".")


class Proxy:
    """A TCP proxy in front of the server: the shipper's target, which a test can kill."""

    def __init__(self, target_port: int, kill_at_bulk: int) -> None:
        self.target_port, self.kill_at_bulk, self.bulks = target_port, kill_at_bulk, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.dead = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.dead.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.dead.is_set():
                client.close()
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False),
                             daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if upstream and b"POST /_bulk" in data:
                    self.bulks += 1
                    if self.bulks == self.kill_at_bulk:  # sent on, but its answer never comes
                        self.kill()
        except OSError:
            pass

    def kill(self) -> None:
        self.dead.set()
        for s in [self.listener, *self.sockets]:  # shutdown first: close alone leaves a
            # listening socket that another thread waits on in accept() open
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_nothing_is_lost_when_the_target_dies_mid_run(opensearch: str, tmp_path: Path) -> None:
    events = make_events(3000)
    proxy = Proxy(int(opensearch.rsplit(":", 1)[1]), kill_at_bulk=4)
    dead = tmp_path / "dead.jsonl"
    shipper = Shipper(OpenSearch([f"http://127.0.0.1:{proxy.port}"], max_retries=0),
                      dead_letter_file(dead), chunk_size=250, retries=2, backoff_s=0.01)
    counts = shipper.ship(events)
    assert proxy.dead.is_set()
    assert 0 < counts.indexed < 3000 and counts.dead_letter == 3000 - counts.indexed
    dead_ids = [e["event_id"] for e in read_events(dead.read_text().splitlines())]
    indexed = indexed_ids(opensearch)
    assert set(indexed) | set(dead_ids) == {e["event_id"] for e in events}
    # the killed request reached the server: its events may be both indexed and dead-lettered
    assert len(set(indexed) & set(dead_ids)) <= 250
    # once the target is back, the dead-letter file ships: all there, none twice
    again = Shipper(OpenSearch([opensearch]), dead_letter_file(tmp_path / "dead2.jsonl"),
                    chunk_size=250).ship(read_events(dead.read_text().splitlines()))
    assert again.indexed + again.existing == len(dead_ids) and again.dead_letter == 0
    assert sorted(indexed_ids(opensearch)) == sorted(e["event_id"] for e in events)


def settings(opensearch: str, tmp_path: Path) -> list[str]:
    return ["--set", f"monitoring.opensearch={opensearch}",
            "--set", f"monitoring.dead_letter={tmp_path / 'dead.jsonl'}",
            "--set", "monitoring.ship.backoff_s=0.01", "--set", "monitoring.ship.retries=1"]


def test_the_command_ships_a_log_file_and_says_what_it_did(opensearch: str, tmp_path: Path,
                                                           capsys) -> None:
    log = write_log(tmp_path / "service.log", make_events(50))
    assert main([str(log), *settings(opensearch, tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("50 indexed, 0 already there, 0 to the dead-letter")
    assert main([str(log), *settings(opensearch, tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("0 indexed, 50 already there")
    assert len(indexed_ids(opensearch)) == 50


def test_an_unreachable_target_keeps_every_event(tmp_path: Path, capsys) -> None:
    from helpers import free_port

    log = write_log(tmp_path / "service.log", make_events(20))
    assert main([str(log), *settings(f"http://127.0.0.1:{free_port()}", tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: 20 events could not be indexed: they are in {tmp_path / 'dead.jsonl'}"
                   f" (ship it again once OpenSearch is back)"]
    assert len(list(read_events((tmp_path / "dead.jsonl").read_text().splitlines()))) == 20


@pytest.mark.parametrize("problem, message", [
    (["missing.log"], "No such file or directory"),
    (["DEAD"], "is the dead-letter file itself"),
    (["x.log", "--set", "monitoring.ship.chunk_size=0"], "chunk_size must be at least 1"),
])
def test_bad_input_is_one_line(problem: list[str], message: str, tmp_path: Path,
                               capsys) -> None:
    (tmp_path / "x.log").write_text("")
    args = [str(tmp_path / "dead.jsonl") if a == "DEAD" else
            str(tmp_path / a) if a.endswith(".log") else a for a in problem]
    assert main([*args, *settings("http://127.0.0.1:9", tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_events_are_read_from_cloudwatch_logs(aws: str, opensearch: str, tmp_path: Path,
                                              capsys) -> None:
    logs = boto3.client("logs")
    group = "/aws/lambda/cola-predict"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/27/[$LATEST]abc")
    now = int(datetime.now(UTC).timestamp() * 1000)
    events = make_events(30, start=datetime.now(UTC) - timedelta(minutes=5))
    messages = ["START RequestId: 1 Version: $LATEST",
                '{"level":"INFO","message":"request","service":"cola"}',
                *[json.dumps(e) for e in events], "REPORT RequestId: 1 Duration: 3.1 ms"]
    logs.put_log_events(logGroupName=group, logStreamName="2026/11/27/[$LATEST]abc",
                        logEvents=[{"timestamp": now - 1000 + i, "message": m}
                                   for i, m in enumerate(messages)])
    assert main(["--cloudwatch", group, "--since", "10", *settings(opensearch, tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("30 indexed")
    assert sorted(indexed_ids(opensearch)) == sorted(e["event_id"] for e in events)


class Scripted:
    """An HTTP front for the server: each POST /_bulk takes the next answer of `script` (a
    status, sent with an error body, or "drop": the connection is closed unanswered) until the
    script is used up; everything else, and every _bulk after that, goes to the server."""

    def __init__(self, target: str, script: list[int | str]) -> None:
        self.script, self.bulks = list(script), 0
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/_bulk"):
                    front.bulks += 1
                    if front.script:
                        answer = front.script.pop(0)
                        if answer == "drop":
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        error = json.dumps({"error": {"type": "scripted", "reason": "test"},
                                            "status": answer}).encode()
                        self.send_response(answer)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(error)))
                        self.end_headers()
                        self.wfile.write(error)
                        return
                request = urllib.request.Request(target + self.path, data=body or None,
                                                 method=self.command, headers={
                                                     "Content-Type": self.headers.get(
                                                         "Content-Type", "application/json")})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, data = response.status, response.read()
                except urllib.error.HTTPError as err:
                    status, data = err.code, err.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The shipper's waits between tries, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(shipper_module.time, "sleep", waited.append)
    return waited


def ship_through(opensearch: str, script: list[int | str], events: list[dict], tmp_path: Path,
                 retries: int, backoff_s: float) -> tuple[Counts, int]:
    """Ship `events` through a Scripted front: the counts, and how many _bulk requests came."""
    front = Scripted(opensearch, script)
    try:
        counts = Shipper(OpenSearch([front.url], max_retries=0, timeout=5),
                         dead_letter_file(tmp_path / "dead.jsonl"), retries=retries,
                         backoff_s=backoff_s).ship(events)
    finally:
        front.close()
    return counts, front.bulks


def test_what_may_pass_later_is_retried_with_backoff_until_it_does(
        opensearch: str, tmp_path: Path, sleeps: list[float]) -> None:
    events = make_events(30)
    counts, bulks = ship_through(opensearch, [503, 429, "drop", 502], events, tmp_path,
                                 retries=4, backoff_s=0.5)
    assert (counts.indexed, counts.dead_letter, bulks) == (30, 0, 5)
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    assert sorted(indexed_ids(opensearch)) == sorted(e["event_id"] for e in events)
    assert not (tmp_path / "dead.jsonl").exists()


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_a_request_refused_as_a_whole_is_not_retried(opensearch: str, tmp_path: Path,
                                                     sleeps: list[float], status: int) -> None:
    counts, bulks = ship_through(opensearch, [status] * 6, make_events(10), tmp_path,
                                 retries=5, backoff_s=0.5)
    assert (counts.indexed, counts.dead_letter, bulks, sleeps) == (0, 10, 1, [])
    reasons = {json.loads(line)["error"] for line in
               (tmp_path / "dead.jsonl").read_text().splitlines()}
    assert len(reasons) == 1 and str(status) in reasons.pop()


def test_retries_that_never_pass_end_in_the_dead_letter_file(opensearch: str, tmp_path: Path,
                                                             sleeps: list[float]) -> None:
    counts, bulks = ship_through(opensearch, [503] * 3, make_events(10), tmp_path,
                                 retries=2, backoff_s=0.25)
    assert (counts.indexed, counts.dead_letter, bulks, sleeps) == (0, 10, 3, [0.25, 0.5])
    assert indexed_ids(opensearch) == []


def test_a_dead_letter_file_that_cannot_be_written_loses_only_its_own_events(
        opensearch: str, tmp_path: Path, capsys) -> None:
    events = make_events(20)
    events[3]["@timestamp"] = "yesterday"  # cannot be sent: to the dead-letter file
    (tmp_path / "blocked").write_text("a file where the dead-letter folder should be")
    log = write_log(tmp_path / "service.log", events)
    args = [str(log), *settings(opensearch, tmp_path)[:2],
            "--set", f"monitoring.dead_letter={tmp_path / 'blocked' / 'dead.jsonl'}"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out.startswith("19 indexed, 0 already there, 0 to the dead-letter file, 1 lost (")
    assert err.strip().splitlines() == [
        f"error: 1 events are lost: the dead-letter file could not be written: [Errno 17] File "
        f"exists: '{tmp_path / 'blocked'}'"]
    assert len(indexed_ids(opensearch)) == 19


def test_the_retry_rules_and_the_worst_case() -> None:
    assert [worth_retrying(s) for s in (429, 500, 502, 503, 504, 599, "N/A", None)] == [True] * 8
    assert [worth_retrying(s) for s in (400, 401, 403, 404, 409, 413, 428)] == [False] * 7
    # 3 attempts of two 8 s requests, and waits of 0.5 s then 1 s
    assert worst_case_s(retries=2, backoff_s=0.5, timeout_s=8) == 49.5
    assert worst_case_s(retries=0, backoff_s=3, timeout_s=1) == 2
