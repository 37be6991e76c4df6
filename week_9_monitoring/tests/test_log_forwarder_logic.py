"""log_forwarder.py without a server: CloudWatch Logs payloads forwarded to an in-memory
stand-in for OpenSearch, the function's settings, payloads sent through a stand-in Lambda,
and the dead-letter queue (an in-memory stand-in for SQS) sent back by the command."""

import binascii
import io
import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

from helpers import make_events
from monitoring import log_forwarder
from monitoring.log_forwarder import (
    InvokeFailed,
    NotIndexed,
    decode,
    forward,
    redrive,
    through_function,
)
from monitoring.shipper import Shipper
from test_log_forwarder import lambda_lines, subscription_event

START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/forwarder-dead-letters"


class Index:
    """What a Shipper asks of an OpenSearch client: a document is created once (201), an id
    indexed before answers 409, and ids in `refuse` are refused (400)."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:
        self.docs: dict[str, dict] = {}
        self.refuse = refuse
        self.bulks = 0
        self.indices = self

    def put_index_template(self, name: str, body: dict) -> None:
        pass

    def bulk(self, body: list[dict]) -> dict:
        self.bulks += 1
        items = []
        for action, doc in zip(body[::2], body[1::2], strict=True):
            doc_id = action["create"]["_id"]
            if doc_id in self.refuse:
                items.append({"create": {"status": 400, "error": {
                    "type": "mapper_parsing_exception", "reason": f"failed to parse {doc_id}"}}})
            elif doc_id in self.docs:
                items.append({"create": {"status": 409}})
            else:
                self.docs[doc_id] = doc
                items.append({"create": {"status": 201}})
        return {"errors": any(i["create"]["status"] >= 400 for i in items), "items": items}


def test_a_payload_is_base64_of_gzipped_json() -> None:
    event = subscription_event(["one line", "another"])
    payload = decode(event)
    assert payload["logGroup"] == "/aws/lambda/cola-predict"
    assert [e["message"] for e in payload["logEvents"]] == ["one line", "another"]


def test_the_prediction_events_of_a_batch_are_indexed_once() -> None:
    events = make_events(6, start=START)
    index = Index()
    shipper = Shipper(index, dead_letter=lambda failed: None)
    batch = subscription_event(lambda_lines(events))
    assert forward(batch, shipper) == {"indexed": 6, "existing": 0}
    assert forward(batch, shipper) == {"indexed": 0, "existing": 6}  # delivered twice
    assert index.docs == {e["event_id"]: e for e in events}  # the other log lines are not events


def test_a_message_that_is_not_data_indexes_nothing() -> None:
    index = Index()
    shipper = Shipper(index, dead_letter=lambda failed: None)
    lines = lambda_lines(make_events(3, start=START))
    for kind in ("CONTROL_MESSAGE", None):
        event = subscription_event(lines, kind)
        assert forward(event, shipper) == {"indexed": 0, "existing": 0}
    assert index.bulks == 0


def test_events_that_are_refused_fail_the_batch_after_the_others_are_indexed() -> None:
    events = make_events(5, start=START)
    index = Index(refuse={events[1]["event_id"], events[3]["event_id"]})
    shipper = Shipper(index, dead_letter=lambda failed: None)
    with pytest.raises(NotIndexed) as caught:
        forward(subscription_event(lambda_lines(events)), shipper)
    # 5 events among 9 log lines; the first refusal's reason, as OpenSearch gave it
    assert str(caught.value) == (
        '2 of 9 events from /aws/lambda/cola-predict not indexed; first: {"type": '
        '"mapper_parsing_exception", "reason": "failed to parse req00001-0"}')
    assert sorted(index.docs) == ["req00000-0", "req00002-0", "req00004-0"]
    # the next batch starts with no failures of its own
    index.refuse = set()
    assert forward(subscription_event(lambda_lines(events)), shipper) == {
        "indexed": 2, "existing": 3}


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The clients the function makes: (url, region, timeout) of each; each is an Index."""
    calls = []

    def make_client(url: str, aws_region: str | None = None, timeout_s: float = 30) -> Index:
        calls.append((url, aws_region, timeout_s))
        return Index()

    monkeypatch.setattr(log_forwarder, "make_client", make_client)
    monkeypatch.setattr(log_forwarder, "SHIPPER", None)
    return calls


def test_the_function_makes_its_client_once_with_its_settings(
        made: list[tuple], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSEARCH_URL", "https://search-cola.eu-west-1.es.amazonaws.com")
    monkeypatch.setenv("OPENSEARCH_REGION", "eu-west-1")
    events = make_events(4, start=START)
    assert log_forwarder.handler(subscription_event(lambda_lines(events[:2])), None) == {
        "indexed": 2, "existing": 0}
    assert log_forwarder.handler(subscription_event(lambda_lines(events)), None) == {
        "indexed": 2, "existing": 2}
    assert made == [("https://search-cola.eu-west-1.es.amazonaws.com", "eu-west-1", 8.0)]
    shipper = log_forwarder.SHIPPER
    assert (shipper.chunk_size, shipper.retries, shipper.backoff_s) == (10_000, 2, 0.5)


def test_an_empty_region_means_unsigned_requests(made: list[tuple],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSEARCH_URL", "http://opensearch:9200")
    monkeypatch.setenv("OPENSEARCH_REGION", "")
    log_forwarder.handler(subscription_event([]), None)
    monkeypatch.setattr(log_forwarder, "SHIPPER", None)
    monkeypatch.delenv("OPENSEARCH_REGION")
    log_forwarder.handler(subscription_event([]), None)
    assert made == [("http://opensearch:9200", None, 8.0)] * 2


def test_without_an_opensearch_url_every_invocation_fails(made: list[tuple],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    for _ in range(2):
        with pytest.raises(KeyError, match="OPENSEARCH_URL"):
            log_forwarder.handler(subscription_event([]), None)
    assert made == [] and log_forwarder.SHIPPER is None


# --- through the deployed function ------------------------------------------------------------

class Lambda:
    """A Lambda client's invoke(): answers with `answer` (bytes), as a function that failed
    when `error` is set (Lambda then says FunctionError: Unhandled)."""

    def __init__(self, answer: bytes, error: bool = False) -> None:
        self.answer, self.error, self.invocations = answer, error, []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict:
        self.invocations.append((FunctionName, json.loads(Payload)))
        response = {"StatusCode": 200, "Payload": io.BytesIO(self.answer)}
        if self.error:
            response["FunctionError"] = "Unhandled"
        return response


def test_a_payload_sent_through_the_function_returns_its_answer() -> None:
    client = Lambda(b'{"indexed": 3, "existing": 1}')
    send = through_function(client, "cola-forwarder")
    payload = subscription_event(["x"])
    assert send(payload) == {"indexed": 3, "existing": 1}
    assert client.invocations == [("cola-forwarder", payload)]
    assert through_function(Lambda(b""), "f")(payload) is None  # a function that returns None


def test_a_function_that_fails_raises_its_error_message() -> None:
    failed = Lambda(json.dumps({"errorMessage": "2 of 9 events from g not indexed",
                                "errorType": "NotIndexed"}).encode(), error=True)
    with pytest.raises(InvokeFailed, match=r"^2 of 9 events from g not indexed$"):
        through_function(failed, "f")({})
    with pytest.raises(InvokeFailed, match=r"^Task timed out$"):
        through_function(Lambda(b'"Task timed out"', error=True), "f")({})


# --- the dead-letter queue --------------------------------------------------------------------

class Queue:
    """An SQS queue in memory, with SQS's rules that matter here: a receive hands out at most
    10 visible messages (asking for more is an error) and hides them for the visibility
    timeout asked for; a message is gone once deleted; a visibility of 0 shows it again.
    With `hides` False, hidden messages show again at once (their timeout ran out)."""

    def __init__(self, bodies: list[str], hides: bool = True) -> None:
        self.bodies = {f"m{i:02d}": body for i, body in enumerate(bodies)}
        self.hidden: set[str] = set()
        self.hides = hides
        self.receives: list[dict] = []

    def receive_message(self, QueueUrl: str, **options: int) -> dict:
        assert QueueUrl == QUEUE
        self.receives.append(options)
        if not 1 <= options.get("MaxNumberOfMessages", 1) <= 10:
            raise ClientError({"Error": {"Code": "InvalidParameterValue"}}, "ReceiveMessage")
        visible = [m for m in self.bodies if m not in self.hidden]
        handed = visible[:options.get("MaxNumberOfMessages", 1)]
        if self.hides and options.get("VisibilityTimeout", 30) > 0:
            self.hidden |= set(handed)
        if not handed:
            return {}  # SQS leaves the key out
        return {"Messages": [{"MessageId": m, "ReceiptHandle": f"receipt-{m}",
                              "Body": self.bodies[m]} for m in handed]}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        assert QueueUrl == QUEUE
        message = ReceiptHandle.removeprefix("receipt-")
        del self.bodies[message]
        self.hidden.discard(message)

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str,
                                  VisibilityTimeout: int) -> None:
        assert QueueUrl == QUEUE
        if VisibilityTimeout == 0:
            self.hidden.discard(ReceiptHandle.removeprefix("receipt-"))


def test_each_dead_letter_is_sent_again_and_deleted_once_it_went_through() -> None:
    payloads = [{"n": i} for i in range(25)]  # more than one receive holds
    queue = Queue([json.dumps(p) for p in payloads])
    sent = []
    assert redrive(queue, QUEUE, sent.append) == (25, [])
    assert sent == payloads and queue.bodies == {}


def test_a_message_that_fails_again_stays_in_the_queue_visible_for_the_next_run() -> None:
    errors = [NotIndexed("2 of 9 events"), InvokeFailed("timed out"),
              OpenSearchConnectionError("N/A", "refused", None), binascii.Error("bad padding"),
              KeyError("awslogs"), OSError("disk"), ValueError("bad gzip")]
    queue = Queue([json.dumps({"fail": i}) for i in range(len(errors))]
                  + ['{"fine": 1}', "not json"])

    def send(payload: dict) -> None:
        if "fail" in payload:
            raise errors[payload["fail"]]

    sent, failures = redrive(queue, QUEUE, send)
    assert sent == 1
    assert failures[:2] == ["m00: NotIndexed: 2 of 9 events", "m01: InvokeFailed: timed out"]
    assert [f.split(": ")[1] for f in failures] == [
        "NotIndexed", "InvokeFailed", "ConnectionError", "Error", "KeyError", "OSError",
        "ValueError", "JSONDecodeError"]
    assert failures[6] == "m06: ValueError: bad gzip"
    assert sorted(queue.bodies) == [f"m{i:02d}" for i in (0, 1, 2, 3, 4, 5, 6, 8)]
    assert queue.hidden == set()  # the next run sees them at once, not in five minutes
    assert redrive(queue, QUEUE, send)[0] == 0  # and they fail again


def test_an_unexpected_error_is_not_taken_for_a_failed_message() -> None:
    def send(payload: dict) -> None:
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        redrive(Queue(['{"n": 1}']), QUEUE, send)


def test_a_message_seen_again_in_one_run_is_sent_once() -> None:
    queue = Queue([json.dumps({"n": i}) for i in range(4)], hides=False)
    sent = []

    def send(payload: dict) -> None:
        assert payload not in sent, f"{payload} sent twice"
        sent.append(payload)
        if payload["n"] == 2:
            raise ValueError("still refused")

    assert redrive(queue, QUEUE, send) == (3, ["m02: ValueError: still refused"])
    assert sent == [{"n": i} for i in range(4)]


def test_each_receive_hides_what_it_hands_out_while_the_run_handles_it() -> None:
    queue = Queue([json.dumps({"n": i}) for i in range(12)])
    redrive(queue, QUEUE, lambda payload: None)
    assert queue.receives == [{"MaxNumberOfMessages": 10, "VisibilityTimeout": 300,
                               "WaitTimeSeconds": 1}] * 3


# --- the command ------------------------------------------------------------------------------

@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> dict:
    """boto3.client() hands out the stand-ins put in this dict, by service name."""
    import boto3

    clients: dict = {}
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: clients[service])
    return clients


def test_redrive_through_the_function(aws: dict, capsys) -> None:
    batch = subscription_event(lambda_lines(make_events(2, start=START)))
    aws["sqs"] = Queue([json.dumps(batch)])
    aws["lambda"] = Lambda(b'{"indexed": 2, "existing": 0}')
    assert log_forwarder.main(["redrive", QUEUE, "--function", "cola-forwarder"]) == 0
    assert aws["lambda"].invocations == [("cola-forwarder", batch)]
    assert capsys.readouterr().out == "1 messages sent back through the forwarder, 0 failed\n"
    assert aws["sqs"].bodies == {}


def test_redrive_into_opensearch_names_what_failed_again(
        aws: dict, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    events = make_events(3, start=START)
    index = Index(refuse={events[2]["event_id"]})
    made = []
    monkeypatch.setattr(log_forwarder, "make_client",
                        lambda *args: made.append(args) or index)
    aws["sqs"] = Queue([json.dumps(subscription_event(lambda_lines(events[:2]))),
                        json.dumps(subscription_event(lambda_lines(events[2:])))])
    status = log_forwarder.main(["redrive", QUEUE, "--opensearch", "https://search.example.com",
                                 "--region", "eu-west-1"])
    assert status == 1
    assert made == [("https://search.example.com", "eu-west-1")]
    assert sorted(index.docs) == ["req00000-0", "req00001-0"]
    out, err = capsys.readouterr()
    assert out == "1 messages sent back through the forwarder, 1 failed\n"
    assert err.startswith("error: m01: NotIndexed: 1 of 5 events from /aws/lambda/cola-predict "
                          "not indexed; first: ")
    assert err.endswith(" (left in the queue)\n") and len(err.splitlines()) == 1
    assert list(aws["sqs"].bodies) == ["m01"]


def test_a_queue_that_cannot_be_read_is_one_error_line(aws: dict, capsys) -> None:
    class Missing(Queue):
        def receive_message(self, QueueUrl: str, **options: int) -> dict:
            raise ClientError({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue",
                                         "Message": "The specified queue does not exist."}},
                              "ReceiveMessage")

    aws["sqs"], aws["lambda"] = Missing([]), Lambda(b"null")
    assert log_forwarder.main(["redrive", QUEUE, "--function", "f"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "NonExistentQueue" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("args, missing", [
    (["redrive", QUEUE], "one of the arguments --function --opensearch is required"),
    (["redrive", QUEUE, "--function", "f", "--opensearch", "http://x"],
     "argument --opensearch: not allowed with argument --function"),
    ([], "the following arguments are required: command"),
])
def test_redrive_needs_one_target(args: list[str], missing: str, aws: dict, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        log_forwarder.main(args)
    assert exit_.value.code == 2
    assert missing in capsys.readouterr().err


def test_the_help_says_where_each_argument_comes_from(capsys) -> None:
    """The queue and the function are outputs of the stack (template.yaml): the help names
    them as the stack does."""
    from test_monitoring_template import TEMPLATE

    helps = []
    for args in ([], ["redrive"]):
        with pytest.raises(SystemExit):
            log_forwarder.main([*args, "--help"])
        helps.append(" ".join(capsys.readouterr().out.split()))  # unwrapped
    assert " Send the forwarder's dead letters back. positional arguments:" in helps[0]
    assert "redrive the dead-letter queue's payloads, again" in helps[0]
    for line in ["queue_url the ForwarderDeadLetterQueue output",
                 "--function FUNCTION the deployed forwarder (ForwarderFunctionName)",
                 "--opensearch URL index from here instead",
                 "--region REGION the domain's region, to sign (with --opensearch)"]:
        assert line in helps[1]
    assert {"ForwarderDeadLetterQueue", "ForwarderFunctionName"} <= set(TEMPLATE["Outputs"])
