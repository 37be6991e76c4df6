"""deploy.py in detail, against moto's Lambda and ECR APIs and a stand-in for `sam local
start-lambda` (a local endpoint that answers every invoke as the test says): which image is
deployed, what the smoke request sends and what counts as an answer, the alias, the command
line."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

import deploy as deploy_module
from deploy import DeployError, deploy, main, pinned_by_digest, tag_deployed

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PREDICTION = {"label": "acceptable", "score": 0.9}


@pytest.fixture
def local_lambda() -> Iterator[dict]:
    """An invoke endpoint on 127.0.0.1 that answers with `reply` (body and headers, which the
    test may change) and keeps each request it got as (path, payload)."""
    got, reply = [], {"body": json.dumps(PREDICTION).encode(), "headers": {}}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, json.loads(payload)))
            self.send_response(200)
            for name, value in {**reply["headers"], "Content-Length": len(reply["body"])}.items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(reply["body"])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "requests": got, "reply": reply}
    server.shutdown()
    server.server_close()


def invoker(local_lambda: dict):
    return boto3.client("lambda", endpoint_url=local_lambda["url"], region_name="us-east-1")


def live(control_plane: dict) -> str:
    return control_plane["client"].get_alias(FunctionName="cola-predict",
                                             Name="live")["FunctionVersion"]


def test_an_image_given_by_its_digest_is_deployed_as_it_is() -> None:
    pinned = f"{REGISTRY}/cola-service@sha256:{'4' * 64}"
    assert pinned_by_digest(None, pinned) == pinned  # no registry needed to look anything up


def test_a_tag_in_a_nested_repository_resolves_to_the_digest_it_names(aws) -> None:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="team/cola-service")
    digests = {}
    for tag, fill in (("old", "5"), ("new", "6")):
        layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 2,
                 "digest": "sha256:" + fill * 64}
        manifest = {"schemaVersion": 2, "layers": [layer],
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "size": 2, "digest": "sha256:" + "0" * 64}}
        digests[tag] = ecr.put_image(repositoryName="team/cola-service", imageTag=tag,
                                     imageManifest=json.dumps(manifest))["image"]["imageId"][
            "imageDigest"]
    pinned = pinned_by_digest(ecr, f"{REGISTRY}/team/cola-service:new")
    assert pinned == f"{REGISTRY}/team/cola-service@{digests['new']}"

    tag_deployed(ecr, pinned, "deploy-cola-predict-2")
    tags = {image["imageDigest"]: set(image["imageTags"]) for image in
            ecr.describe_images(repositoryName="team/cola-service")["imageDetails"]}
    assert tags == {digests["old"]: {"old"}, digests["new"]: {"new", "deploy-cola-predict-2"}}


def test_the_command_deploys_with_only_region_to_go_by_and_smoke_tests_unversioned(
        control_plane, local_lambda, capsys, monkeypatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # --region alone says where everything is
    assert main(["--function", "cola-predict", "--image-uri", f"{REGISTRY}/cola-service:new-lambda",
                 "--region", "us-east-1", "--invoke-endpoint", local_lambda["url"]]) == 0
    pinned = f"{REGISTRY}/cola-service@{control_plane['digest']}"
    assert capsys.readouterr().out == f"cola-predict:live -> version 2 ({pinned})\n"
    # the emulator serves one build and knows no versions: the request names none
    assert local_lambda["requests"] == [("/2015-03-31/functions/cola-predict/invocations",
                                         {"text": "The boy is sleeping."})]
    assert live(control_plane) == "2"
    [image] = boto3.client("ecr", region_name="us-east-1").describe_images(
        repositoryName="cola-service")["imageDetails"]
    assert set(image["imageTags"]) == {"new-lambda", "deploy-cola-predict-2"}


def test_the_command_moves_the_alias_it_is_given(control_plane, local_lambda, capsys) -> None:
    control = control_plane["client"]
    control.create_alias(FunctionName="cola-predict", Name="canary", FunctionVersion="1")
    assert main(["--function", "cola-predict", "--image-uri", f"{REGISTRY}/cola-service:new-lambda",
                 "--alias", "canary", "--invoke-endpoint", local_lambda["url"]]) == 0
    assert capsys.readouterr().out.startswith("cola-predict:canary -> version 2 (")
    assert control.get_alias(FunctionName="cola-predict", Name="canary")["FunctionVersion"] == "2"
    assert live(control_plane) == "1"

def test_the_first_deploy_to_an_alias_creates_it(control_plane, local_lambda) -> None:
    pinned = f"{REGISTRY}/cola-service@{control_plane['digest']}"
    control = control_plane["client"]
    assert deploy(control, invoker(local_lambda), "cola-predict", pinned, alias="canary",
                  qualify=False) == "2"
    assert control.get_alias(FunctionName="cola-predict", Name="canary")["FunctionVersion"] == "2"
    assert live(control_plane) == "1"


def test_no_answer_but_a_prediction_moves_live(control_plane, local_lambda) -> None:
    pinned = f"{REGISTRY}/cola-service@{control_plane['digest']}"
    error = {"X-Amz-Function-Error": "Unhandled"}
    long_error = json.dumps({"errorMessage": "x" * 1000}).encode()
    for body, headers, shown in [
        (json.dumps(PREDICTION).encode(), error, '{"label": "acceptable", "score": 0.9}'),
        (b"", {}, "null"),  # nothing at all
        (b'"could not label the text"', {}, '"could not label the text"'),  # a string
        (long_error, {}, '{"errorMessage": "' + "x" * 282),  # the first 300 characters
    ]:
        local_lambda["reply"].update(body=body, headers=headers)
        with pytest.raises(DeployError) as failed:
            deploy(control_plane["client"], invoker(local_lambda), "cola-predict", pinned,
                   qualify=False)
        assert str(failed.value).endswith(f"the smoke request, 'live' not moved: {shown}")
        assert live(control_plane) == "1"


def test_function_and_image_must_be_given(capsys) -> None:
    for given in (["--function", "cola-predict"], ["--image-uri", f"{REGISTRY}/c:t"]):
        with pytest.raises(SystemExit) as exit_:
            main(given)
        assert exit_.value.code == 2
        assert "the following arguments are required: --" in capsys.readouterr().err


def test_the_help_gives_the_summary_and_what_each_option_is_for(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no line wraps inside a phrase
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split()) + " "
    summary = " ".join(deploy_module.__doc__.split("\n\n")[0].split())
    assert f" {summary} options:" in shown
    for option, meaning in {
        "--function FUNCTION": "the Lambda function's name",
        "--image-uri IMAGE_URI": "the new image, in ECR",
        "--alias ALIAS": "the alias that serves traffic",
        "--region REGION": "default: the AWS configuration's",
        "--invoke-endpoint INVOKE_ENDPOINT": "send the smoke request here instead of the Lambda "
                                             "API: a local emulator (sam local start-lambda), "
                                             "unversioned",
    }.items():
        assert f" {option} {meaning} " in shown, option
