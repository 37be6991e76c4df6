"""Create, or delete, what the workflow needs in an AWS account: the ECR repository for the
images, the S3 bucket for the DVC remote, and three IAM roles that GitHub Actions assumes with
its OIDC token (no stored keys): one to pull the model and push images (jobs on the main
branch), one to deploy the Lambda function (only jobs in the GitHub environment `production`),
one for the drift report (only jobs in the environment `monitoring`).

    python aws_setup.py create --github-repository you/cola [--region eu-west-1]
    python aws_setup.py delete --github-repository you/cola [--region eu-west-1]

Both are idempotent: running `create` again changes nothing that is already right, `delete`
skips what is gone. Credentials come from the environment (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...);
AWS_ENDPOINT_URL points every call at another endpoint (an emulator, in the tests).
"""

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deploy import DEPLOY_TAG_PREFIX

POLICIES = Path(__file__).resolve().parent / "iam"
GITHUB_OIDC = "token.actions.githubusercontent.com"
# GitHub's OIDC certificate thumbprints (AWS no longer checks them for GitHub, the API wants one)
THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1",
               "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]


@dataclass(frozen=True)
class Names:
    account: str
    region: str
    github_repository: str  # owner/name
    branch: str = "main"
    repository: str = "cola-service"
    bucket: str = ""  # default: cola-dvc-<account>-<region>, globally unique
    role: str = "cola-github-actions"
    keep: int = 10  # images the lifecycle policy keeps
    partition: str = "aws"
    function: str = "cola-predict"  # the Lambda function the deploy role may deploy
    keep_deploys: int = 10  # deployed images the lifecycle policy keeps, whatever comes after
    deploy_role: str = "cola-github-deploy"
    environment: str = "production"  # the GitHub environment whose jobs may assume it
    domain: str = "cola-monitoring"  # the OpenSearch domain the drift report reads
    drift_role: str = "cola-github-drift"
    monitoring_environment: str = "monitoring"  # the GitHub environment of the drift job

    def policy(self, name: str) -> dict:
        """iam/<name>.json with these names filled in."""
        text = (POLICIES / f"{name}.json").read_text(encoding="utf-8")
        return json.loads(Template(text).substitute(vars(self)))


def lifecycle_policy(keep: int, keep_deploys: int) -> str:
    """Rule 1 keeps the images of the last `keep_deploys` deploys (deploy.py tags them). ECR
    never lets a rule of lower priority expire an image that a rule selected by its tags, so
    rule 2, which keeps the last `keep` images of any kind, cannot expire what `live` or a
    recent rollback target runs, however many commits come after it."""
    return json.dumps({"rules": [
        {"rulePriority": 1, "description": f"keep the last {keep_deploys} deployed images",
         "selection": {"tagStatus": "tagged", "tagPrefixList": [DEPLOY_TAG_PREFIX],
                       "countType": "imageCountMoreThan", "countNumber": keep_deploys},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": f"keep the last {keep} images",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                       "countNumber": keep},
         "action": {"type": "expire"}}]})


def create(names: Names, session: boto3.Session) -> dict[str, str]:
    """Everything, made or brought in line with `names`; the values the workflow needs."""
    ecr, s3, iam = (session.client(s, region_name=names.region) for s in ("ecr", "s3", "iam"))
    try:
        uri = ecr.create_repository(
            repositoryName=names.repository, imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"})["repository"]["repositoryUri"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        ecr.put_image_tag_mutability(repositoryName=names.repository,
                                     imageTagMutability="IMMUTABLE")
        ecr.put_image_scanning_configuration(repositoryName=names.repository,
                                             imageScanningConfiguration={"scanOnPush": True})
        uri = ecr.describe_repositories(
            repositoryNames=[names.repository])["repositories"][0]["repositoryUri"]
    ecr.put_lifecycle_policy(repositoryName=names.repository,
                             lifecyclePolicyText=lifecycle_policy(names.keep, names.keep_deploys))

    location = {} if names.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": names.region}}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=names.bucket, **location)
    s3.put_public_access_block(Bucket=names.bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=names.bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})

    provider = f"arn:{names.partition}:iam::{names.account}:oidc-provider/{GITHUB_OIDC}"
    if provider not in {p["Arn"] for p in iam.list_open_id_connect_providers()
                        ["OpenIDConnectProviderList"]}:
        iam.create_open_id_connect_provider(Url=f"https://{GITHUB_OIDC}",
                                            ClientIDList=["sts.amazonaws.com"],
                                            ThumbprintList=THUMBPRINTS)
    arns = [put_role(iam, role, inline, names.policy(trust), names.policy(permissions),
                     purpose) for role, inline, trust, permissions, purpose in roles(names)]
    return {"AWS_ROLE_ARN": arns[0], "AWS_DEPLOY_ROLE_ARN": arns[1], "AWS_DRIFT_ROLE_ARN": arns[2],
            "AWS_REGION": names.region, "ECR_REPOSITORY": names.repository, "image": uri,
            "dvc remote": f"s3://{names.bucket}/cola"}


def roles(names: Names) -> list[tuple[str, str, str, str, str]]:
    """(role, its inline policy's name, trust file, permissions file, purpose) for each role."""
    return [(names.role, "ecr-and-dvc-remote", "trust-policy", "permissions-policy",
             "CoLA images and the DVC remote"),
            (names.deploy_role, "deploy-the-function", "deploy-trust-policy", "deploy-policy",
             f"deploy {names.function} (environment {names.environment})"),
            (names.drift_role, "read-events-record-drift", "drift-trust-policy", "drift-policy",
             f"the drift report on {names.domain} (environment {names.monitoring_environment})")]


def put_role(iam: object, name: str, inline: str, trust: dict, permissions: dict,
             purpose: str) -> str:
    """The role `name` with exactly this trust and inline policy (made, or brought back in line);
    its ARN."""
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                              Description=f"GitHub Actions: {purpose}",
                              MaxSessionDuration=3600)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName=inline, PolicyDocument=json.dumps(permissions))
    return arn


def delete(names: Names, session: boto3.Session) -> list[str]:
    """Remove what `create` made (the account's OIDC provider stays: others may use it)."""
    ecr, s3, iam = (session.client(s, region_name=names.region) for s in ("ecr", "s3", "iam"))
    gone = []
    try:
        ecr.delete_repository(repositoryName=names.repository, force=True)
        gone.append(f"ECR repository {names.repository} and its images")
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=names.bucket):
            versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
            if versions:
                s3.delete_objects(Bucket=names.bucket, Delete={"Objects": [
                    {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})
        s3.delete_bucket(Bucket=names.bucket)
        gone.append(f"S3 bucket {names.bucket} with every object version")
    except s3.exceptions.NoSuchBucket:
        pass
    for role, inline, *_ in roles(names):
        try:
            iam.delete_role_policy(RoleName=role, PolicyName=inline)
            iam.delete_role(RoleName=role)
            gone.append(f"IAM role {role}")
        except iam.exceptions.NoSuchEntityException:
            pass
    return gone


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["create", "delete"])
    parser.add_argument("--github-repository", required=True, metavar="OWNER/NAME",
                        help="the only repository whose workflows may assume the role")
    parser.add_argument("--branch", default="main", help="...and only on this branch")
    parser.add_argument("--region", help="default: the AWS configuration's region")
    parser.add_argument("--repository", default=Names.repository, help="ECR repository name")
    parser.add_argument("--bucket", help="S3 bucket (default: cola-dvc-<account>-<region>)")
    parser.add_argument("--role", default=Names.role, help="IAM role name")
    parser.add_argument("--keep", type=int, default=Names.keep, help="images to keep")
    parser.add_argument("--function", default=Names.function,
                        help="the Lambda function the deploy role may deploy")
    parser.add_argument("--environment", default=Names.environment,
                        help="the GitHub environment whose jobs may deploy")
    parser.add_argument("--keep-deploys", type=int, default=Names.keep_deploys,
                        help="deployed images to keep")
    parser.add_argument("--domain", default=Names.domain,
                        help="the OpenSearch domain the drift role reads and records in")
    args = parser.parse_args(argv)
    if args.github_repository.count("/") != 1 or not all(args.github_repository.split("/")):
        parser.error(f"--github-repository must be OWNER/NAME, not {args.github_repository!r}")
    if args.keep < 1 or args.keep_deploys < 1:
        parser.error("--keep and --keep-deploys must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        session = boto3.Session(region_name=args.region)
        region = session.region_name
        if not region:
            print("error: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
            return 2
        identity = session.client("sts", region_name=region).get_caller_identity()
        account, partition = identity["Account"], identity["Arn"].split(":")[1]
        names = Names(account, region, args.github_repository, args.branch, args.repository,
                      args.bucket or f"cola-dvc-{account}-{region}", args.role, args.keep,
                      partition, args.function, args.keep_deploys,
                      environment=args.environment, domain=args.domain)
        if args.action == "create":
            for key, value in create(names, session).items():
                print(f"{key}: {value}")
        else:
            print("\n".join(f"deleted: {what}" for what in delete(names, session))
                  or "nothing to delete")
    except (ClientError, BotoCoreError) as error:
        print(f"error: {args.action} failed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
