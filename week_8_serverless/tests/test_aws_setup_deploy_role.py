"""aws_setup.py's deploy side in detail: the lifecycle rules that keep what was deployed, the
options of the deploy role (function, environment, deploys to keep) and what each role says it
is for."""

import json

import boto3

from aws_setup import lifecycle_policy, main, parse_args
from test_aws_setup_logic import REPO, help_text, refused


def test_the_deployed_images_rule_is_applied_before_the_any_image_rule() -> None:
    rules = json.loads(lifecycle_policy(keep=4, keep_deploys=2))["rules"]
    priority = {rule["selection"]["tagStatus"]: rule["rulePriority"] for rule in rules}
    # ECR applies rules from the lowest priority number; no two rules may share one
    assert priority["tagged"] < priority["any"]
    assert [rule["description"] for rule in sorted(rules, key=lambda r: r["rulePriority"])] == [
        "keep the last 2 deployed images", "keep the last 4 images"]


def test_keep_deploys_may_be_one_but_not_zero(capsys) -> None:
    args = parse_args(["create", "--github-repository", REPO, "--keep-deploys", "1"])
    assert (args.keep, args.keep_deploys) == (10, 1)
    err = refused(capsys, "create", "--github-repository", REPO, "--keep-deploys", "0")
    assert err.endswith(": error: --keep and --keep-deploys must be at least 1\n")


def test_the_help_says_what_the_deploy_options_are_for(capsys, monkeypatch) -> None:
    shown = help_text(capsys, monkeypatch)
    for option, meaning in {
        "--function FUNCTION": "the Lambda function the deploy role may deploy",
        "--environment ENVIRONMENT": "the GitHub environment whose jobs may deploy",
        "--keep-deploys KEEP_DEPLOYS": "deployed images to keep",
    }.items():
        assert f" {option} {meaning} " in shown, option


def test_the_deploy_role_is_made_for_the_function_and_environment_given(aws, capsys) -> None:
    assert main(["create", "--github-repository", REPO, "--region", "eu-west-1",
                 "--function", "fn", "--environment", "prod-eu"]) == 0
    iam = boto3.client("iam", region_name="eu-west-1")
    deployer = iam.get_role(RoleName="cola-github-deploy")["Role"]
    [trust] = deployer["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:learner/cola:environment:prod-eu")
    # what `aws iam list-roles` shows of each role
    assert deployer["Description"] == "GitHub Actions: deploy fn (environment prod-eu)"
    assert iam.get_role(RoleName="cola-github-actions")["Role"]["Description"] == (
        "GitHub Actions: CoLA images and the DVC remote")

