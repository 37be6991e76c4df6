"""The AWS path of the prediction events: CloudWatch Logs -> this function -> OpenSearch.

A subscription filter on the prediction function's log group ({ $.event = "prediction" })
sends batches of its log lines here; they are indexed exactly as shipper.py indexes a file
(same daily indices, same ids, so a batch delivered twice adds nothing). Requests to the
Amazon OpenSearch Service domain are signed with the function's role.

Settings (environment): OPENSEARCH_URL (the domain's https endpoint), OPENSEARCH_REGION (the
domain's region, for signing; empty: unsigned requests, as to a local OpenSearch). If some
events cannot be indexed the invocation fails: Lambda retries it, then puts it in the
function's dead-letter queue (template.yaml), so nothing is dropped silently.
"""

import base64
import gzip
import json
import os

from shipper import Shipper, make_client, read_events


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
                             os.environ.get("OPENSEARCH_REGION") or None)  # empty: unsigned
        SHIPPER = Shipper(client, dead_letter=lambda failed: None, retries=2, backoff_s=0.5)
    return forward(event, SHIPPER)
