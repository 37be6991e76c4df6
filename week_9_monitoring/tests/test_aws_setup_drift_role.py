"""aws_setup.py's drift role in detail: the domain it is made for, and what it says it is for."""

import boto3

from aws_setup import main
from test_aws_setup_logic import REPO, help_text


def test_the_help_says_what_the_domain_option_is_for(capsys, monkeypatch) -> None:
    meaning = "the OpenSearch domain the drift role reads and records in"
    assert f" --domain DOMAIN {meaning} " in help_text(capsys, monkeypatch)


def test_the_drift_role_is_made_for_the_domain_given(aws, capsys) -> None:
    assert main(["create", "--github-repository", REPO, "--region", "eu-west-1",
                 "--domain", "watch-dom"]) == 0
    iam = boto3.client("iam", region_name="eu-west-1")
    inline = iam.get_role_policy(RoleName="cola-github-drift",
                                 PolicyName="read-events-record-drift")["PolicyDocument"]
    domains = {resource.split(":domain/")[1].split("/")[0]
               for statement in inline["Statement"]
               for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str)
                                else statement["Resource"]) if ":domain/" in resource}
    assert domains == {"watch-dom"}
    # what `aws iam list-roles` shows of it
    assert iam.get_role(RoleName="cola-github-drift")["Role"]["Description"] == (
        "GitHub Actions: the drift report on watch-dom (environment monitoring)")
