"""Who may do what inside the OpenSearch domain (its fine-grained access control), and how long
prediction events are kept. Run once after `sam deploy`, and again after changing it:

    python -m monitoring.opensearch_security --url https://<domain endpoint> \
        --secret <MasterUserSecret> --forwarder-role <ForwarderRoleArn> \
        --drift-role <AWS_DRIFT_ROLE_ARN> [--days 30]

It signs in as the domain's master user (the password the stack generated in Secrets Manager:
--secret, read with boto3) and puts, through OpenSearch's security and ISM REST APIs:
- role `cola_predictions_writer` (mapped to the forwarder's IAM role): put the events' index
  template, create the daily `cola-predictions-*` indices and add documents. No reading, no
  deleting, no `_delete_by_query`, nothing in any other index.
- role `cola_drift_writer` (mapped to the drift job's role): read `cola-predictions-*`, write the
  results into `cola-drift`. No deleting.
- ISM policy `cola-predictions-retention`: each daily index is deleted `--days` after it was
  created (events can hold sentences, which may be personal data, with LOG_TEXT on).
"""

import argparse
import json
import sys

from opensearchpy import OpenSearch
from opensearchpy.exceptions import OpenSearchException

from monitoring.shipper import index_prefix, load_template

DRIFT_INDEX = "cola-drift"
RETENTION_POLICY = "cola-predictions-retention"
# OpenSearch's action groups: "index" adds and updates documents (no delete, no delete-by-query),
# "read" searches, "create_index" makes a daily index. At cluster level: _bulk and putting an
# index template, nothing more (the group "cluster_composite_ops" would add reindex and aliases)
CLUSTER = ["indices:data/write/bulk", "indices:admin/index_template/put"]


def roles(predictions: str) -> dict[str, dict]:
    """The two roles, as the security plugin's `PUT _plugins/_security/api/roles/<name>` body."""
    return {
        "cola_predictions_writer": {
            "cluster_permissions": CLUSTER,
            "index_permissions": [{"index_patterns": [predictions],
                                   "allowed_actions": ["create_index", "index"]}]},
        "cola_drift_writer": {
            "cluster_permissions": CLUSTER,
            "index_permissions": [
                {"index_patterns": [predictions], "allowed_actions": ["read"]},
                {"index_patterns": [DRIFT_INDEX],
                 "allowed_actions": ["create_index", "index", "read"]}]},
    }


def retention_policy(predictions: str, days: int) -> dict:
    """An ISM policy (`PUT _plugins/_ism/policies/<id>` body) that deletes each matching index
    `days` after its creation, and applies itself to every new one."""
    return {"policy": {
        "description": f"delete prediction events {days} days after their day's index was made",
        "default_state": "hot",
        "states": [
            {"name": "hot", "actions": [], "transitions": [
                {"state_name": "delete", "conditions": {"min_index_age": f"{days}d"}}]},
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []}],
        "ism_template": [{"index_patterns": [predictions], "priority": 100}]}}


def apply(client: OpenSearch, forwarder_role: str, drift_role: str, days: int) -> list[str]:
    """Put the roles, their mappings to the IAM roles and the retention policy; what was put."""
    predictions = f"{index_prefix(load_template())}-*"
    done = []
    backend = {"cola_predictions_writer": forwarder_role, "cola_drift_writer": drift_role}
    for name, body in roles(predictions).items():
        client.transport.perform_request("PUT", f"/_plugins/_security/api/roles/{name}",
                                         body=body)
        client.transport.perform_request("PUT", f"/_plugins/_security/api/rolesmapping/{name}",
                                         body={"backend_roles": [backend[name]]})
        done.append(f"role {name} -> {backend[name]}")
    path = f"/_plugins/_ism/policies/{RETENTION_POLICY}"
    try:
        current = client.transport.perform_request("GET", path)
        params = {"if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
    except OpenSearchException as err:
        if getattr(err, "status_code", None) != 404:
            raise
        params = {}  # a new policy
    client.transport.perform_request("PUT", path, body=retention_policy(predictions, days),
                                     params=params)
    done.append(f"ISM policy {RETENTION_POLICY}: {predictions} deleted after {days} days")
    return done


def master_credentials(secret: str, region: str | None) -> tuple[str, str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = json.loads(boto3.client("secretsmanager", region_name=region).get_secret_value(
            SecretId=secret)["SecretString"])
        return value["username"], value["password"]
    except (ClientError, BotoCoreError, KeyError, ValueError) as err:
        raise ValueError(f"cannot read the master user from the secret {secret}: {err}") from None


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the domain's endpoint, https://...")
    parser.add_argument("--secret", required=True, help="the master user's secret (ARN or name)")
    parser.add_argument("--forwarder-role", required=True, help="the forwarder's IAM role ARN")
    parser.add_argument("--drift-role", required=True, help="the drift job's role ARN")
    parser.add_argument("--days", type=int, default=30, help="keep events this long (30)")
    parser.add_argument("--region", help="default: the AWS configuration's")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    try:
        user, password = master_credentials(args.secret, args.region)
        client = OpenSearch([args.url], http_auth=(user, password), timeout=30)
        for line in apply(client, args.forwarder_role, args.drift_role, args.days):
            print(line)
    except (ClientError, BotoCoreError, OpenSearchException, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
