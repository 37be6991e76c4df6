"""aws_setup.py in detail: the command line (what it accepts, what it refuses, its help), the
region everything lands in, what a new repository and the OIDC provider get, and what `delete`
reports."""

import boto3
import pytest

import aws_setup
from aws_setup import Names, create, delete, main, parse_args

REPO = "learner/cola"
ACCOUNT = "123456789012"  # the emulator's account


def refused(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """The error message the command line is refused with (exit status 2)."""
    with pytest.raises(SystemExit) as exit_:
        parse_args(list(argv))
    assert exit_.value.code == 2
    return capsys.readouterr().err


def help_text(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> str:
    """`--help`, its whitespace made single spaces (lines wrap with the terminal's width)."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split()) + " "


def test_the_action_is_create_or_delete(capsys) -> None:
    assert parse_args(["delete", "--github-repository", REPO]).action == "delete"
    assert "invalid choice: 'deploy'" in refused(capsys, "deploy", "--github-repository", REPO)


def test_the_github_repository_must_be_given(capsys) -> None:
    err = refused(capsys, "create", "--region", "eu-west-1")
    assert err.endswith("the following arguments are required: --github-repository\n")


@pytest.mark.parametrize("value", ["learner/", "/cola", "learner/cola/extra"])
def test_a_repository_without_both_owner_and_name_is_refused(capsys, value: str) -> None:
    err = refused(capsys, "create", "--github-repository", value)
    assert err.endswith(f"--github-repository must be OWNER/NAME, not {value!r}\n")


def test_keep_may_be_one_but_not_zero(capsys) -> None:
    assert parse_args(["create", "--github-repository", REPO, "--keep", "1"]).keep == 1
    err = refused(capsys, "create", "--github-repository", REPO, "--keep", "0")
    assert "error: --keep" in err and err.endswith(" must be at least 1\n")


def test_the_help_opens_with_the_summary_of_the_script(capsys, monkeypatch) -> None:
    summary = " ".join(aws_setup.__doc__.split("\n\n")[0].split())
    assert f" {summary} positional arguments:" in help_text(capsys, monkeypatch)


def test_the_help_says_what_each_option_is_for(capsys, monkeypatch) -> None:
    shown = help_text(capsys, monkeypatch)
    for option, meaning in {
        "--github-repository OWNER/NAME": "the only repository whose workflows may assume the role",
        "--branch BRANCH": "...and only on this branch",
        "--region REGION": "default: the AWS configuration's region",
        "--repository REPOSITORY": "ECR repository name",
        "--bucket BUCKET": "S3 bucket (default: cola-dvc-<account>-<region>)",
        "--role ROLE": "IAM role name",
        "--keep KEEP": "images to keep",
    }.items():
        assert f" {option} {meaning} " in shown, option


def test_without_a_region_it_says_how_to_give_one(capsys, monkeypatch, tmp_path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert main(["create", "--github-repository", REPO]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "error: no AWS region: pass --region or set AWS_REGION\n")


def test_everything_lands_in_the_region_of_the_names_not_the_sessions(aws) -> None:
    session = boto3.Session(region_name="us-east-1")
    names = Names(ACCOUNT, "eu-west-1", REPO, bucket="cola-dvc-elsewhere")
    values = create(names, session)
    assert values["AWS_REGION"] == "eu-west-1"
    assert values["image"] == f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/cola-service"
    ecr = boto3.client("ecr", region_name="eu-west-1")
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == [
        "cola-service"]
    s3 = boto3.client("s3", region_name="eu-west-1")
    assert s3.get_bucket_location(Bucket="cola-dvc-elsewhere")["LocationConstraint"] == "eu-west-1"

    gone = delete(names, session)  # the bucket is empty: no object versions to remove first
    assert gone[:2] == ["ECR repository cola-service and its images",
                        "S3 bucket cola-dvc-elsewhere with every object version"]
    assert "IAM role cola-github-actions" in gone
    assert ecr.describe_repositories()["repositories"] == []


def test_in_us_east_1_a_new_account_gets_an_encrypted_repository_and_githubs_provider(
        aws, capsys) -> None:
    # us-east-1 is the one region whose buckets are made without a location constraint
    assert main(["create", "--github-repository", REPO, "--region", "us-east-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {"AWS_REGION: us-east-1", "ECR_REPOSITORY: cola-service"} <= set(lines)
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.get_bucket_location(Bucket=f"cola-dvc-{ACCOUNT}-us-east-1")[
        "LocationConstraint"] is None
    [repository] = boto3.client("ecr", region_name="us-east-1").describe_repositories()[
        "repositories"]
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}

    iam = boto3.client("iam", region_name="us-east-1")
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=f"arn:aws:iam::{ACCOUNT}"
                                                ":oidc-provider/token.actions.githubusercontent.com")
    assert provider["Url"] == "token.actions.githubusercontent.com"
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]  # GitHub's tokens, meant for STS
    assert provider["ThumbprintList"] == ["6938fd4d98bab03faadb97b34396831e3780aea1",
                                          "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
    role = iam.get_role(RoleName="cola-github-actions")["Role"]
    assert role["MaxSessionDuration"] == 3600  # a job's credentials last an hour at most

    assert main(["delete", "--github-repository", REPO, "--region", "us-east-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["deleted: ECR repository cola-service and its images",
                         f"deleted: S3 bucket cola-dvc-{ACCOUNT}-us-east-1 with every object "
                         "version"]
    assert "deleted: IAM role cola-github-actions" in lines


def test_create_again_turns_scan_on_push_back_on(aws) -> None:
    names, session = Names(ACCOUNT, "eu-west-1", REPO, bucket="b-scan"), boto3.Session()
    create(names, session)
    ecr = boto3.client("ecr", region_name="eu-west-1")
    ecr.put_image_scanning_configuration(repositoryName="cola-service",
                                         imageScanningConfiguration={"scanOnPush": False})
    create(names, session)
    [repository] = ecr.describe_repositories()["repositories"]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
