"""The log forwarder (CloudWatch Logs subscription -> OpenSearch) with payloads as CloudWatch
Logs sends them: base64 of gzipped JSON, prediction events among the function's other lines."""

import base64
import gzip
import json

import boto3
import pytest
from opensearchpy import OpenSearch

from helpers import daily_index, free_port, indexed_ids, make_events
from monitoring import log_forwarder
from monitoring.shipper import worst_case_s


def subscription_event(messages: list[str], kind: str = "DATA_MESSAGE") -> dict:
    payload = {"messageType": kind, "owner": "123456789012",
               "logGroup": "/aws/lambda/cola-predict",
               "logStream": "2026/11/27/[7]0123456789abcdef",
               "subscriptionFilters": ["cola-predictions"],
               "logEvents": [{"id": str(i), "timestamp": 1795773600000 + i, "message": m}
                             for i, m in enumerate(messages)]}
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    return {"awslogs": {"data": data}}


def lambda_lines(events: list[dict]) -> list[str]:
    """What the prediction function's log stream holds: runtime lines, JSON logs, events."""
    return ["START RequestId: 1 Version: 7",
            '{"level":"INFO","message":"request","route":"POST /predict","status":200}',
            *[json.dumps(e) + "\n" for e in events],
            "END RequestId: 1", "REPORT RequestId: 1\tDuration: 4.12 ms"]


@pytest.fixture
def forwarder(opensearch: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENSEARCH_URL", opensearch)
    monkeypatch.setenv("OPENSEARCH_REGION", "")
    monkeypatch.setattr(log_forwarder, "SHIPPER", None)
    return log_forwarder.handler


def test_a_batch_is_indexed_and_a_redelivery_adds_nothing(forwarder, opensearch: str) -> None:
    events = make_events(40)
    event = subscription_event(lambda_lines(events))
    assert forwarder(event, None) == {"indexed": 40, "existing": 0}
    assert forwarder(event, None) == {"indexed": 0, "existing": 40}  # Lambda retried it
    assert sorted(indexed_ids(opensearch)) == sorted(e["event_id"] for e in events)
    doc = OpenSearch([opensearch]).get(index=daily_index(events[3]), id="req00003-0")
    assert doc["_source"] == events[3]


def test_a_control_message_is_ignored(forwarder) -> None:
    message = "CWL CONTROL MESSAGE: Checking health of destination Lambda function."
    assert forwarder(subscription_event([message], "CONTROL_MESSAGE"), None) == {
        "indexed": 0, "existing": 0}


def test_events_it_cannot_index_fail_the_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSEARCH_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    monkeypatch.setenv("OPENSEARCH_REGION", "")
    monkeypatch.setattr(log_forwarder, "SHIPPER", None)
    monkeypatch.setattr("time.sleep", lambda _: None)
    with pytest.raises(log_forwarder.NotIndexed, match=r"^5 of 9 events from "
                       r"/aws/lambda/cola-predict not indexed; first: ConnectionError"):
        log_forwarder.handler(subscription_event(lambda_lines(make_events(5))), None)


def test_dead_letters_go_back_through_the_forwarder_once_opensearch_is_back(
        aws: str, opensearch: str, capsys) -> None:
    """The forwarder's dead-letter queue (moto's SQS) holds what Lambda gave up on: the payloads
    are sent again, deleted once indexed; what fails again stays for the next run."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="forwarder-dead-letters")["QueueUrl"]
    events = make_events(30)
    for part in (events[:20], events[20:]):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
            subscription_event(lambda_lines(part))))
    down = f"http://127.0.0.1:{free_port()}"
    assert log_forwarder.main(["redrive", url, "--opensearch", down]) == 1
    out, err = capsys.readouterr()
    assert out == "0 messages sent back through the forwarder, 2 failed\n"
    assert len(err.splitlines()) == 2 and all(
        "NotIndexed: 20 of" in line or "NotIndexed: 10 of" in line for line in err.splitlines())

    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"awslogs": {"data": "not base64"}}))
    assert log_forwarder.main(["redrive", url, "--opensearch", opensearch]) == 1
    out, err = capsys.readouterr()
    assert out == "2 messages sent back through the forwarder, 1 failed\n"
    assert err.startswith("error: ") and err.rstrip().endswith("(left in the queue)")
    assert sorted(indexed_ids(opensearch)) == sorted(e["event_id"] for e in events)
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert [json.loads(m["Body"]) for m in left["Messages"]] == [
        {"awslogs": {"data": "not base64"}}]


def test_redrive_without_a_queue_is_one_line(aws: str, opensearch: str, capsys) -> None:
    missing = f"{aws}/123456789012/no-such-queue"
    assert log_forwarder.main(["redrive", missing, "--opensearch", opensearch]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "NonExistentQueue" in err[0]


def test_the_worst_case_of_an_invocation_fits_in_the_function_timeout() -> None:
    """Retries x timeouts + backoff must end before Lambda stops the function: else a slow
    OpenSearch makes every batch a timeout, not a retry."""
    from test_monitoring_template import RESOURCES

    timeout = RESOURCES["ForwarderFunction"]["Properties"]["Timeout"]
    worst = log_forwarder.WORST_CASE_S
    assert worst == worst_case_s(log_forwarder.RETRIES, log_forwarder.BACKOFF_S,
                                 log_forwarder.TIMEOUT_S)
    assert worst < timeout
    assert log_forwarder.CHUNK_SIZE >= 10_000  # a whole CloudWatch Logs batch: one chunk


def test_the_handler_uses_the_bounded_settings(forwarder, opensearch: str) -> None:
    forwarder(subscription_event(lambda_lines(make_events(3))), None)
    shipper = log_forwarder.SHIPPER
    assert (shipper.retries, shipper.backoff_s, shipper.chunk_size) == (
        log_forwarder.RETRIES, log_forwarder.BACKOFF_S, log_forwarder.CHUNK_SIZE)
    assert shipper.client.transport.kwargs["timeout"] == log_forwarder.TIMEOUT_S
