"""The SAM template and the deployment, run with real tools: cfn-lint and `sam validate`, `sam
build` of the image, `sam local start-api` (HTTP requests through the local API Gateway) and
`sam local start-lambda` (boto3 `invoke`), and deploy.py driving moto's Lambda control plane
with the smoke request sent to SAM's local Lambda."""

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from convert_model_to_onnx import convert
from deploy import DeployError, deploy, tag_deployed
from deploy import main as deploy_main
from helpers import WEEK_DIR, copy_build_context, free_port
from inference_onnx import ColaONNXPredictor
from test_workflows import container_socket

TEMPLATE = WEEK_DIR / "template.yaml"
TOOLS = Path(sys.executable).parent
SAM = (os.environ.get("SAM_CLI") or shutil.which("sam", path=str(WEEK_DIR / ".venv-sam" / "bin"))
       or shutil.which("sam"))


def test_cfn_lint_finds_nothing_in_the_template() -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(TOOLS)) or shutil.which("cfn-lint")
    if cfn_lint is None:
        pytest.fail("cfn-lint is missing: pip install -r requirements.txt")
    result = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# What `sam deploy` sends to CloudFormation: the template through the SAM translator (in the SAM
# CLI's virtualenv), with the image parameter set as CI sets it
# (these packages live in the SAM CLI's virtualenv, not in requirements.txt)
TRANSLATE = "\n".join([
    "import json, sys",
    "from samcli.yamlhelper import yaml_parse",
    "from samtranslator.translator.transform import transform",
    "class NoPolicies:",
    "    def load(self):",
    "        return {}",
    "template = yaml_parse(open(sys.argv[1]).read())",
    "print(json.dumps(transform(template, {'ImageUri': sys.argv[2]}, NoPolicies())))"])


def translated() -> dict:
    need_sam_cli()
    python = Path(SAM).parent / "python"
    result = subprocess.run([str(python), "-c", TRANSLATE, str(TEMPLATE), NEW_IMAGE],
                            env=sam_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)["Resources"]


def test_the_api_reaches_the_function_only_through_the_live_alias() -> None:
    resources = translated()
    [alias] = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Alias"]
    assert resources[alias]["Properties"]["Name"] == "live"
    integrations = [json.dumps(method["x-amazon-apigateway-integration"]["uri"])
                    for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api"
                    for path in r["Properties"]["Body"]["paths"].values()
                    for method in path.values()]
    assert len(integrations) == 2  # POST /predict, GET /health
    for uri in integrations:
        assert f"${{{alias}}}/invocations" in uri, uri
    permissions = [r["Properties"] for r in resources.values()
                   if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert len(permissions) == 2
    for permission in permissions:
        assert permission["FunctionName"] == {"Ref": alias}, permission


def sam_env() -> dict:
    # no AWS keys: with fake ones every local invoke spends seconds retrying STS
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "DOCKER_HOST": container_socket() or "", "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": "us-east-1"}


def need_sam_cli() -> None:
    if not SAM:
        if os.environ.get("REQUIRE_CONTAINERS") or os.environ.get("CI"):
            pytest.fail("missing: the SAM CLI (make sam-setup)")
        pytest.skip("needs the SAM CLI (make sam-setup)")


def need_sam() -> None:
    missing = [what for what, ok in [("the SAM CLI (make sam-setup)", SAM),
                                     ("a container engine socket", container_socket())] if not ok]
    if missing:
        if os.environ.get("REQUIRE_CONTAINERS") or os.environ.get("CI"):
            pytest.fail(f"missing: {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)}")


def sam(*args: str, cwd: Path, timeout: int = 900) -> str:
    result = subprocess.run([SAM, *args], cwd=cwd, env=sam_env(), capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def built(trained_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """This week's template built with `sam build`, the tiny model in the image."""
    need_sam()
    project = tmp_path_factory.mktemp("sam_project")
    copy_build_context(project)
    shutil.copy(WEEK_DIR / "template.yaml", project / "template.yaml")
    onnx = project / "outputs" / "onnx"
    convert(trained_run["checkpoint"], str(onnx / "model.onnx"), str(onnx / "model.int8.onnx"))
    sam("validate", "--lint", "--region", "us-east-1", cwd=project, timeout=120)
    sam("build", cwd=project)
    return {"project": project, "model": onnx / "model.int8.onnx"}


def serve(built: dict, command: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [SAM, "local", command, "--port", str(port), "--skip-pull-image",
         "--warm-containers", "EAGER"], cwd=built["project"], env=sam_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read()
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def local_api(built: dict) -> Iterator[str]:
    yield from serve(built, "start-api")


@pytest.fixture(scope="module")
def local_lambda(built: dict) -> Iterator[str]:
    yield from serve(built, "start-lambda")


@pytest.mark.slow
@pytest.mark.container
def test_the_local_http_api_serves_predictions_and_errors(local_api: str, built: dict) -> None:
    predictor = ColaONNXPredictor(built["model"])
    response = httpx.post(f"{local_api}/predict", json={"text": "The boy is sleeping."},
                          timeout=120)
    assert response.status_code == 200
    assert response.json() == predictor.predict(["The boy is sleeping."])[0]
    health = httpx.get(f"{local_api}/health", timeout=60)
    assert health.status_code == 200 and health.json()["model"]["file"] == "model.int8.onnx"
    bad = httpx.post(f"{local_api}/predict", content=b'{"text": ""}',
                     headers={"Content-Type": "application/json"}, timeout=60)
    assert bad.status_code == 422 and "detail" in bad.json()
    # warm requests through the local API Gateway (the measured numbers are in the README)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        httpx.post(f"{local_api}/predict", json={"text": "Who left?"}, timeout=60)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"sam local start-api warm p50 {times[10]:.1f} ms, slowest of 20 {times[-1]:.1f} ms")


NEW_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cola-service:new-lambda"


@pytest.mark.slow
@pytest.mark.container
def test_deploy_moves_live_only_after_the_new_version_answers(control_plane: dict,
                                                              local_lambda: str,
                                                              capsys) -> None:
    control = control_plane["client"]
    invoker = boto3.client("lambda", endpoint_url=local_lambda, region_name="us-east-1",
                           aws_access_key_id="local", aws_secret_access_key="local")
    # a smoke request the function refuses: the alias must not move
    with pytest.raises(DeployError, match="failed the smoke request, 'live' not moved"):
        deploy(control, invoker, "cola-predict", NEW_IMAGE, smoke={"text": ""}, qualify=False)
    assert control.get_alias(FunctionName="cola-predict", Name="live")["FunctionVersion"] == "1"

    assert deploy_main(["--function", "cola-predict", "--image-uri", NEW_IMAGE,
                        "--invoke-endpoint", local_lambda]) == 0
    pinned = NEW_IMAGE.replace(":new-lambda", f"@{control_plane['digest']}")
    assert capsys.readouterr().out == f"cola-predict:live -> version 3 ({pinned})\n"
    live = control.get_alias(FunctionName="cola-predict", Name="live")["FunctionVersion"]
    assert live == "3"
    code = control.get_function(FunctionName="cola-predict", Qualifier=live)["Code"]
    assert code["ImageUri"] == pinned  # the digest the tag named, not the movable tag
    [image] = boto3.client("ecr").describe_images(repositoryName="cola-service")["imageDetails"]
    assert set(image["imageTags"]) == {"new-lambda", "deploy-cola-predict-3"}  # kept by the
    assert image["imageDigest"] == control_plane["digest"]                   # lifecycle


def stubbed_deploy(answer: dict, moves_live: bool) -> str | Exception:
    """deploy() against Lambda and ECR clients that expect exactly these calls, in this order
    (a call out of order, with other parameters, or one too many fails the test)."""
    client, ecr = (boto3.client(service, region_name="us-east-1", aws_access_key_id="x",
                                aws_secret_access_key="x") for service in ("lambda", "ecr"))
    stub, registry = Stubber(client), Stubber(ecr)
    name, pinned = "cola-predict", NEW_IMAGE.replace(":new-lambda", "@sha256:" + "2" * 64)
    stub.add_response("update_function_code", {}, {"FunctionName": name, "ImageUri": pinned})
    stub.add_response("get_function", {"Configuration": {"LastUpdateStatus": "Successful"}},
                      {"FunctionName": name})
    stub.add_response("publish_version", {"Version": "8"},
                      {"FunctionName": name, "Description": pinned})
    payload = json.dumps(answer).encode()
    stub.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(
        io.BytesIO(payload), len(payload))},
        {"FunctionName": name, "Payload": ANY, "Qualifier": "8"})
    if moves_live:  # the image that passed is tagged as deployed, then live moves to it
        digest, manifest = "sha256:" + "2" * 64, '{"schemaVersion": 2}'
        image = {"repositoryName": "cola-service", "imageIds": [{"imageDigest": digest}]}
        registry.add_response("batch_get_image", {"images": [
            {"imageManifest": manifest, "imageManifestMediaType": "application/json"}]}, image)
        registry.add_response("put_image", {}, {
            "repositoryName": "cola-service", "imageManifest": manifest, "imageDigest": digest,
            "imageManifestMediaType": "application/json", "imageTag": "deploy-cola-predict-8"})
        stub.add_response("update_alias", {}, {"FunctionName": name, "Name": "live",
                                               "FunctionVersion": "8"})
    with stub, registry:
        try:
            outcome = deploy(client, client, name, pinned, registry=ecr)
        except DeployError as error:
            outcome = error
    stub.assert_no_pending_responses()
    registry.assert_no_pending_responses()
    return outcome


def test_deploy_smoke_tests_the_new_version_before_it_moves_live() -> None:
    assert stubbed_deploy({"label": "acceptable", "score": 0.9}, moves_live=True) == "8"


def test_a_version_that_fails_the_smoke_request_never_gets_live() -> None:
    outcome = stubbed_deploy({"errorMessage": "boom"}, moves_live=False)
    assert isinstance(outcome, DeployError) and "version 8 failed the smoke request" in str(
        outcome)


def test_a_redeployed_image_keeps_its_deploy_tag(aws: str) -> None:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="cola-service", imageTagMutability="IMMUTABLE")
    manifest = json.dumps({"schemaVersion": 2, "layers": [],
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "size": 2, "digest": "sha256:" + "3" * 64}})
    digest = ecr.put_image(repositoryName="cola-service", imageManifest=manifest,
                           imageTag="new-lambda")["image"]["imageId"]["imageDigest"]
    pinned = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/cola-service@{digest}"
    for _ in range(2):  # the same version again (a re-run job): the tag is there, no error
        tag_deployed(ecr, pinned, "deploy-cola-predict-4")
    [image] = ecr.describe_images(repositoryName="cola-service")["imageDetails"]
    assert (image["imageDigest"], set(image["imageTags"])) == (
        digest, {"new-lambda", "deploy-cola-predict-4"})


def test_a_deploy_to_a_missing_function_fails_in_one_line(aws: str, capsys) -> None:
    assert deploy_main(["--function", "nope", "--image-uri", NEW_IMAGE]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: deploy failed: ") and len(err.strip().splitlines()) == 1
