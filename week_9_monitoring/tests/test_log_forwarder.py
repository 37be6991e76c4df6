"""The log forwarder (CloudWatch Logs subscription -> OpenSearch) with payloads as CloudWatch
Logs sends them: base64 of gzipped JSON, prediction events among the function's other lines."""

import base64
import gzip
import json

import pytest
from opensearchpy import OpenSearch

import log_forwarder
from conftest import daily_index, free_port, indexed_ids, make_events


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
