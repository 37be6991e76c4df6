"""aws_setup.py against a real AWS API (moto's server): what `create` makes and how it is locked
down, that it is idempotent and repairs drift, that `delete` leaves nothing, and the policies."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from aws_setup import Names, main
from deploy import DEPLOY_TAG_PREFIX
from helpers import WEEK_DIR

REPO = "learner/cola"
REGION = "eu-west-1"
ARGS = ["--github-repository", REPO, "--region", REGION]


def clients() -> tuple:
    return tuple(boto3.client(s, region_name=REGION) for s in ("ecr", "s3", "iam"))


def names() -> Names:
    return Names("123456789012", REGION, REPO, bucket=f"cola-dvc-123456789012-{REGION}")


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_create_makes_a_locked_down_repository_bucket_and_role(aws, capsys) -> None:
    status, out, _ = run(capsys, "create", *ARGS, "--keep", "5", "--keep-deploys", "7")
    assert status == 0
    values = dict(line.split(": ", 1) for line in out.splitlines())
    assert values["AWS_ROLE_ARN"] == "arn:aws:iam::123456789012:role/cola-github-actions"
    assert values["AWS_DEPLOY_ROLE_ARN"] == "arn:aws:iam::123456789012:role/cola-github-deploy"
    assert values["image"] == f"123456789012.dkr.ecr.{REGION}.amazonaws.com/cola-service"
    assert values["dvc remote"] == f"s3://{names().bucket}/cola"

    ecr, s3, iam = clients()
    repo = ecr.describe_repositories(repositoryNames=["cola-service"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    rules = sorted(json.loads(ecr.get_lifecycle_policy(repositoryName="cola-service")[
        "lifecyclePolicyText"])["rules"], key=lambda rule: rule["rulePriority"])
    # ECR: an image that a rule selects by its tags is never expired by a lower-priority rule,
    # so the images deploy.py tags (what `live` and its rollback targets run) outlive any
    # number of later pushes; only an 8th deploy expires the oldest of them
    deployed, any_image = rules
    assert deployed["selection"] == {"tagStatus": "tagged", "tagPrefixList": [DEPLOY_TAG_PREFIX],
                                     "countType": "imageCountMoreThan", "countNumber": 7}
    assert any_image["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan",
                                      "countNumber": 5}
    assert deployed["action"] == any_image["action"] == {"type": "expire"}

    bucket = names().bucket
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert sse["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                   "RestrictPublicBuckets"), True)

    role = iam.get_role(RoleName="cola-github-actions")["Role"]
    assert role["AssumeRolePolicyDocument"] == names().policy("trust-policy")
    inline = iam.get_role_policy(RoleName="cola-github-actions", PolicyName="ecr-and-dvc-remote")
    assert inline["PolicyDocument"] == names().policy("permissions-policy")
    deployer = iam.get_role(RoleName="cola-github-deploy")["Role"]
    assert deployer["AssumeRolePolicyDocument"] == names().policy("deploy-trust-policy")
    inline = iam.get_role_policy(RoleName="cola-github-deploy", PolicyName="deploy-the-function")
    assert inline["PolicyDocument"] == names().policy("deploy-policy")
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=providers[0]["Arn"])
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]


def test_create_again_changes_nothing_and_repairs_drift(aws, capsys) -> None:
    first = run(capsys, "create", *ARGS)
    ecr, s3, iam = clients()
    ecr.put_image_tag_mutability(repositoryName="cola-service", imageTagMutability="MUTABLE")
    s3.put_bucket_versioning(Bucket=names().bucket, VersioningConfiguration={"Status": "Suspended"})
    iam.update_assume_role_policy(RoleName="cola-github-actions", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": "*"}}]}))
    assert run(capsys, "create", *ARGS) == first
    repo = ecr.describe_repositories(repositoryNames=["cola-service"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert s3.get_bucket_versioning(Bucket=names().bucket)["Status"] == "Enabled"
    role = iam.get_role(RoleName="cola-github-actions")["Role"]
    assert role["AssumeRolePolicyDocument"] == names().policy("trust-policy")
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1


def test_delete_leaves_nothing_even_a_bucket_with_old_versions(aws, capsys) -> None:
    run(capsys, "create", *ARGS)
    ecr, s3, iam = clients()
    bucket = names().bucket
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key="cola/files/md5/ab/cdef", Body=body)
    s3.delete_object(Bucket=bucket, Key="cola/files/md5/ab/cdef")  # a delete marker
    manifest = {"schemaVersion": 2, "mediaType":
                "application/vnd.docker.distribution.manifest.v2+json", "layers": [],
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": 2, "digest": "sha256:" + "0" * 64}}
    ecr.put_image(repositoryName="cola-service", imageManifest=json.dumps(manifest),
                  imageTag="abc123")

    status, out, _ = run(capsys, "delete", *ARGS)
    assert status == 0 and out.count("deleted:") == 4
    assert ecr.describe_repositories()["repositories"] == []
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not {r["RoleName"] for r in iam.list_roles()["Roles"]} & {
        "cola-github-actions", "cola-github-deploy"}
    assert run(capsys, "delete", *ARGS) == (0, "nothing to delete\n", "")


def test_the_role_trusts_one_branch_of_one_repository_only() -> None:
    [statement] = Names("111122223333", "ap-south-1", "someone/fork", "release").policy(
        "trust-policy")["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": "arn:aws:iam::111122223333:oidc-provider/"
                                      "token.actions.githubusercontent.com"}
    # StringEquals, not StringLike: no wildcard can widen it to other repositories or branches
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:someone/fork:ref:refs/heads/release"}}


def test_only_jobs_of_the_production_environment_may_deploy() -> None:
    named = Names("111122223333", "ap-south-1", "someone/fork", repository="svc", function="fn",
                  environment="prod-eu")
    [statement] = named.policy("deploy-trust-policy")["Statement"]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::111122223333:oidc-provider/"
                                      "token.actions.githubusercontent.com"}
    # a job's token names its environment instead of its branch: no other job matches
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:someone/fork:environment:prod-eu"}}
    allowed = {}
    for statement in named.policy("deploy-policy")["Statement"]:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, str) else resources:
                allowed.setdefault(resource, set()).add(action)
    function = "arn:aws:lambda:ap-south-1:111122223333:function:fn"
    repository = "arn:aws:ecr:ap-south-1:111122223333:repository/svc"
    assert set(allowed) == {"*", repository, function, f"{function}:*"}  # no bucket
    assert allowed["*"] == {"ecr:GetAuthorizationToken"}
    # it finds the image's digest and tags it as deployed; it cannot push layers
    assert allowed[repository] == {"ecr:BatchGetImage", "ecr:DescribeImages", "ecr:PutImage"}
    assert allowed[function] == allowed[f"{function}:*"] and "lambda:DeleteFunction" not in \
        allowed[function] and "lambda:UpdateFunctionCode" in allowed[function]


def test_the_ci_role_may_touch_only_its_repository_and_bucket_never_the_function() -> None:
    statements = Names("111122223333", "ap-south-1", REPO, repository="svc", bucket="b",
                       function="fn").policy("permissions-policy")["Statement"]
    allowed = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action and action.split(":")[0] in {"ecr", "s3"}
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, str) else resources:
                allowed.setdefault(resource, set()).add(action)
    # ECR's login call has no resource-level permissions: "*" is the only choice, for it alone
    assert allowed.pop("*") == {"ecr:GetAuthorizationToken"}
    # every job on main may assume it: it may not deploy (that is the deploy role's alone)
    assert set(allowed) == {"arn:aws:ecr:ap-south-1:111122223333:repository/svc",
                            "arn:aws:s3:::b", "arn:aws:s3:::b/*"}
    # CI only pulls the model: it reads the bucket, never writes or deletes
    assert allowed["arn:aws:s3:::b/*"] == {"s3:GetObject"}


def test_without_credentials_it_fails_in_one_line(aws, capsys, monkeypatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    status, out, err = run(capsys, "create", *ARGS)
    assert (status, out) == (2, "")
    assert err == "error: create failed: Unable to locate credentials\n"


def test_a_repository_name_without_its_owner_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["create", "--github-repository", "cola"])
    assert exit_.value.code == 2
    assert "--github-repository must be OWNER/NAME, not 'cola'" in capsys.readouterr().err


def test_the_readme_emulator_commands_work_as_written(tmp_path) -> None:
    """The README's block for trying aws-setup without an account, run as written with bash
    in this week's folder: moto's server started by make aws-local, then aws-setup and teardown
    against it."""
    readme = (WEEK_DIR / "README.md").read_text()
    block = re.search(r"Without an AWS account.*?```bash\n(.*?)```", readme, re.S).group(1)
    assert "make aws-local &" in block
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # the block as written; whatever happens, then the server it started (its process group)
    script = "trap 'kill -- -$$' EXIT\nset -e\n" + block
    result = subprocess.run(["setsid", "bash", "-c", script], cwd=WEEK_DIR, env=env,
                            capture_output=True, text=True, timeout=180)
    out = result.stdout + result.stderr
    assert "cola-service" in out and "cola-github-actions" in out, out[-3000:]
    assert "deleted" in out.split("aws_setup.py delete")[-1], out[-3000:]
    assert "Traceback" not in out and "error:" not in out, out[-3000:]
