"""The AWS path of the prediction events: CloudWatch Logs -> this function -> OpenSearch.

A subscription filter on the prediction function's log group ({ $.event = "prediction" })
sends batches of its log lines here; they are indexed exactly as shipper.py indexes a file
(same daily indices, same ids, so a batch delivered twice adds nothing). Requests to the
Amazon OpenSearch Service domain are signed with the function's role.

Settings (environment): OPENSEARCH_URL (the domain's https endpoint), OPENSEARCH_REGION (the
domain's region, for signing; empty: unsigned requests, as to a local OpenSearch). If some
events cannot be indexed the invocation fails: Lambda retries it, then puts it in the
function's dead-letter queue (template.yaml; an alarm says when it holds any), so nothing is
dropped silently. Once OpenSearch is fine again, send the queue's payloads back:

    python -m monitoring.log_forwarder redrive <ForwarderDeadLetterQueue> \\
        --function <ForwarderFunctionName>
    python -m monitoring.log_forwarder redrive <queue url> --opensearch http://127.0.0.1:9200

Each message sent is deleted; one that fails again stays in the queue (exit status 1).
"""

import argparse
import base64
import binascii
import functools
import gzip
import json
import os
import sys
from collections.abc import Callable

from opensearchpy.exceptions import OpenSearchException

from monitoring.shipper import Shipper, make_client, read_events, worst_case_s

# one chunk per invocation (CloudWatch Logs sends at most about 10,000 lines in one), and a
# worst case that ends well inside the function's 60 s timeout (template.yaml)
CHUNK_SIZE, RETRIES, BACKOFF_S, TIMEOUT_S = 10_000, 2, 0.5, 8.0
WORST_CASE_S = worst_case_s(RETRIES, BACKOFF_S, TIMEOUT_S)


class NotIndexed(RuntimeError):
    """Some events of this batch are not in OpenSearch: fail, so that Lambda retries."""


def decode(event: dict) -> dict:
    """CloudWatch Logs' payload: base64 of gzipped JSON (messageType, logGroup, logEvents)."""
    return json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))


def forward(event: dict, shipper: Shipper) -> dict:
    payload = decode(event)
    if payload.get("messageType") != "DATA_MESSAGE":  # CONTROL_MESSAGE: a reachability check
        return {"indexed": 0, "existing": 0}
    failed: list[tuple[dict, str]] = []
    shipper.dead_letter = failed.extend
    counts = shipper.ship(read_events(e["message"] for e in payload["logEvents"]))
    if failed:
        raise NotIndexed(f"{len(failed)} of {len(payload['logEvents'])} events from "
                         f"{payload['logGroup']} not indexed; first: {failed[0][1]}")
    return {"indexed": counts.indexed, "existing": counts.existing}


SHIPPER = None  # made at the first invocation: a missing setting fails that invocation


def handler(event: dict, context: object) -> dict:
    global SHIPPER
    if SHIPPER is None:
        client = make_client(os.environ["OPENSEARCH_URL"],
                             os.environ.get("OPENSEARCH_REGION") or None,  # empty: unsigned
                             timeout_s=TIMEOUT_S)
        SHIPPER = Shipper(client, dead_letter=lambda failed: None, chunk_size=CHUNK_SIZE,
                          retries=RETRIES, backoff_s=BACKOFF_S)
    return forward(event, SHIPPER)


class InvokeFailed(RuntimeError):
    """The forwarder function ran and failed (its error message says why)."""


def through_function(lambda_client: object, name: str) -> Callable[[dict], object]:
    """Send a payload through the deployed forwarder, as CloudWatch Logs would (but waiting)."""
    def send(payload: dict) -> object:
        response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
        result = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise InvokeFailed(result.get("errorMessage") if isinstance(result, dict) else result)
        return result
    return send


def redrive(sqs: object, queue_url: str, send: Callable[[dict], object]
            ) -> tuple[int, list[str]]:
    """Each message of the forwarder's dead-letter queue (a payload that Lambda gave up on)
    through `send` again, and deleted once it went through. How many did, and why the others
    did not: they stay in the queue, visible again for the next run."""
    sent, failures, failed, seen = 0, [], [], set()
    while True:  # a message being handled is hidden for 300 s: no run sees it twice
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=300, WaitTimeSeconds=1)
        fresh = [m for m in messages.get("Messages", []) if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                send(json.loads(message["Body"]))
            except (InvokeFailed, NotIndexed, OpenSearchException, binascii.Error, KeyError,
                    OSError, ValueError) as err:
                failures.append(f"{message['MessageId']}: {type(err).__name__}: {err}")
                failed.append(message["ReceiptHandle"])
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            sent += 1
    for receipt in failed:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt,
                                      VisibilityTimeout=0)
    return sent, failures


def main(argv: list[str] | None = None) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parser = argparse.ArgumentParser(description="Send the forwarder's dead letters back.")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("redrive", help="the dead-letter queue's payloads, again")
    command.add_argument("queue_url", help="the ForwarderDeadLetterQueue output")
    target = command.add_mutually_exclusive_group(required=True)
    target.add_argument("--function", help="the deployed forwarder (ForwarderFunctionName)")
    target.add_argument("--opensearch", metavar="URL", help="index from here instead")
    command.add_argument("--region", help="the domain's region, to sign (with --opensearch)")
    args = parser.parse_args(argv)
    try:
        if args.function:
            send = through_function(boto3.client("lambda"), args.function)
        else:
            shipper = Shipper(make_client(args.opensearch, args.region),
                              dead_letter=lambda failed: None)
            send = functools.partial(forward, shipper=shipper)
        sent, failures = redrive(boto3.client("sqs"), args.queue_url, send)
    except (BotoCoreError, ClientError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{sent} messages sent back through the forwarder, {len(failures)} failed")
    for failure in failures:
        print(f"error: {failure} (left in the queue)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
