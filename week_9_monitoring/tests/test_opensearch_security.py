"""opensearch_security.py against a recording stand-in for the domain's security and ISM APIs
(the in-memory test server has neither): it signs in as the master user from Secrets Manager
(moto's server), gives the forwarder and the drift job only what they write, and puts the
retention policy in the documented format, updating it in place on a second run."""

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from helpers import JSONHandler
from monitoring.opensearch_security import RETENTION_POLICY, main

FORWARDER = "arn:aws:iam::123456789012:role/cola-ForwarderFunctionRole-abc"
DRIFT = "arn:aws:iam::123456789012:role/cola-github-drift"
# action groups and actions that would let a role delete documents or indices
DELETING = {"write", "delete", "crud", "manage", "indices_all", "unlimited", "*",
            "indices:data/write/delete", "indices:data/write/delete/byquery",
            "indices:admin/delete"}


@pytest.fixture
def domain() -> Iterator[dict]:
    """Records every request; GET of the ISM policy is a 404 until one was put."""
    seen: dict = {"requests": [], "policy": None}

    class Handler(JSONHandler):
        def record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            url = urlsplit(self.path)
            seen["requests"].append({
                "method": self.command, "path": url.path, "query": parse_qs(url.query),
                "auth": self.headers.get("Authorization"),
                "body": json.loads(self.rfile.read(length)) if length else None})

        def do_GET(self) -> None:
            self.record()
            if self.path.endswith(RETENTION_POLICY) and seen["policy"]:
                self.answer(200, {"_id": RETENTION_POLICY, "_seq_no": 3, "_primary_term": 1,
                                  "policy": seen["policy"]})
            else:
                self.answer(404, {"error": "not found", "status": 404})

        def do_PUT(self) -> None:
            self.record()
            if RETENTION_POLICY in self.path:
                seen["policy"] = seen["requests"][-1]["body"]["policy"]
            self.answer(200, {"status": "OK"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen["url"] = f"http://127.0.0.1:{server.server_port}"
    yield seen
    server.shutdown()


@pytest.fixture
def secret(aws: str) -> str:
    return boto3.client("secretsmanager").create_secret(  # moto keeps secrets between tests
        Name=f"cola-master-{uuid.uuid4().hex}", SecretString=json.dumps(
            {"username": "cola-admin", "password": "Pa55-word!x"}))["ARN"]


def run(domain: dict, secret: str, *extra: str) -> int:
    return main(["--url", domain["url"], "--secret", secret, "--forwarder-role", FORWARDER,
                 "--drift-role", DRIFT, *extra])


def put(domain: dict, path: str) -> dict:
    (request,) = [r for r in domain["requests"] if r["method"] == "PUT" and r["path"] == path]
    return request["body"]


def allowed(role: dict, pattern: str) -> set[str]:
    return {action for permission in role["index_permissions"]
            if pattern in permission["index_patterns"]
            for action in permission["allowed_actions"]}


def test_the_forwarder_may_only_add_prediction_events(domain: dict, secret: str,
                                                      capsys) -> None:
    assert run(domain, secret) == 0
    login = "Basic " + base64.b64encode(b"cola-admin:Pa55-word!x").decode()
    assert {r["auth"] for r in domain["requests"]} == {login}
    role = put(domain, "/_plugins/_security/api/roles/cola_predictions_writer")
    assert [p["index_patterns"] for p in role["index_permissions"]] == [["cola-predictions-*"]]
    assert allowed(role, "cola-predictions-*") == {"create_index", "index"}
    assert not set(role["cluster_permissions"]) & DELETING
    assert put(domain, "/_plugins/_security/api/rolesmapping/cola_predictions_writer") == {
        "backend_roles": [FORWARDER]}
    assert "role cola_predictions_writer -> " + FORWARDER in capsys.readouterr().out


def test_the_drift_job_reads_events_and_writes_only_drift_results(domain: dict,
                                                                   secret: str) -> None:
    assert run(domain, secret) == 0
    role = put(domain, "/_plugins/_security/api/roles/cola_drift_writer")
    assert allowed(role, "cola-predictions-*") == {"read"}
    assert allowed(role, "cola-drift") == {"create_index", "index", "read"}
    patterns = {p for permission in role["index_permissions"]
                for p in permission["index_patterns"]}
    assert patterns == {"cola-predictions-*", "cola-drift"}
    assert not (allowed(role, "cola-drift") | set(role["cluster_permissions"])) & DELETING
    assert put(domain, "/_plugins/_security/api/rolesmapping/cola_drift_writer") == {
        "backend_roles": [DRIFT]}


def test_daily_indices_are_deleted_after_the_days_given(domain: dict, secret: str) -> None:
    assert run(domain, secret, "--days", "14") == 0
    policy = put(domain, f"/_plugins/_ism/policies/{RETENTION_POLICY}")["policy"]
    states = {state["name"]: state for state in policy["states"]}
    assert states[policy["default_state"]]["transitions"] == [
        {"state_name": "delete", "conditions": {"min_index_age": "14d"}}]
    assert states["delete"]["actions"] == [{"delete": {}}]
    assert policy["ism_template"] == [{"index_patterns": ["cola-predictions-*"],
                                       "priority": 100}]
    first_put = domain["requests"][-1]
    assert first_put["query"] == {}  # a new policy

    assert run(domain, secret, "--days", "30") == 0  # again: an update of that policy
    update = domain["requests"][-1]
    assert update["method"] == "PUT" and update["query"] == {
        "if_seq_no": ["3"], "if_primary_term": ["1"]}
    assert update["body"]["policy"]["states"][0]["transitions"][0]["conditions"] == {
        "min_index_age": "30d"}


def test_a_missing_secret_is_one_line(domain: dict, aws: str, capsys) -> None:
    assert run(domain, "no-such-secret") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "no-such-secret" in err
    assert domain["requests"] == []
