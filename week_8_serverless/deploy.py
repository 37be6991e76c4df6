"""Deploy a new image to the Lambda function, safely: resolve the image's tag to its digest in
ECR, update the function's code to that digest, wait until the update is done, publish it as
a new version, send that version one smoke request, and only if the answer is a prediction
tag the image `deploy-<function>-<version>` in ECR (the lifecycle policy never expires the last
deploys' images: `live` and its rollback targets stay pullable) and move the `live` alias to
it. If anything fails, `live` stays where it was (and keeps serving) and the exit status is 1.

    python deploy.py --function cola-predict \\
        --image-uri <account>.dkr.ecr.<region>.amazonaws.com/cola-service:<commit>-lambda

Credentials and region come from the environment (in CI: the OIDC role of week 7).
"""

import argparse
import contextlib
import json
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

SMOKE_REQUEST = {"text": "The boy is sleeping."}
DEPLOY_TAG_PREFIX = "deploy-"  # aws_setup.py's lifecycle policy keeps what carries it


class DeployError(Exception):
    pass


def pinned_by_digest(ecr: object, image_uri: str) -> str:
    """<registry>/<repository>@sha256:...: exactly the image the tag names now (a tag could be
    pushed again in a mutable repository; a digest cannot change)."""
    if "@" in image_uri:
        return image_uri
    name, _, tag = image_uri.rpartition(":")
    repository = name.partition("/")[2]
    [image] = ecr.describe_images(repositoryName=repository,
                                  imageIds=[{"imageTag": tag}])["imageDetails"]
    return f"{name}@{image['imageDigest']}"


def tag_deployed(ecr: object, image_uri: str, tag: str) -> None:
    """Add `tag` to the image `<registry>/<repository>@<digest>` (already there: done)."""
    name, _, digest = image_uri.partition("@")
    repository = name.partition("/")[2]
    [image] = ecr.batch_get_image(repositoryName=repository,
                                  imageIds=[{"imageDigest": digest}])["images"]
    # ImageAlreadyExists: this version was deployed before, under this tag
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
        ecr.put_image(repositoryName=repository, imageManifest=image["imageManifest"],
                      imageManifestMediaType=image["imageManifestMediaType"], imageTag=tag,
                      imageDigest=digest)


def deploy(control: object, invoker: object, function: str, image_uri: str,
           alias: str = "live", smoke: dict = SMOKE_REQUEST, qualify: bool = True,
           registry: object | None = None) -> str:
    """The version now behind `alias`. `control` manages the function, `invoker` calls it
    (two boto3 Lambda clients; the same one in AWS). `qualify=False` sends the smoke request
    without the version (a local emulator serves one build and knows no versions). With
    `registry` (an ECR client), the image that passed is tagged as deployed before `alias`
    moves to it."""
    control.update_function_code(FunctionName=function, ImageUri=image_uri)
    control.get_waiter("function_updated_v2").wait(FunctionName=function)
    version = control.publish_version(FunctionName=function, Description=image_uri)["Version"]
    target = {"Qualifier": version} if qualify else {}
    response = invoker.invoke(FunctionName=function, Payload=json.dumps(smoke).encode(),
                              **target)
    answer = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or not isinstance(answer, dict) or "label" not in answer:
        raise DeployError(f"version {version} failed the smoke request, '{alias}' not moved: "
                          f"{json.dumps(answer)[:300]}")
    if registry is not None:
        tag_deployed(registry, image_uri, f"{DEPLOY_TAG_PREFIX}{function}-{version}")
    try:
        control.update_alias(FunctionName=function, Name=alias, FunctionVersion=version)
    except control.exceptions.ResourceNotFoundException:
        control.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", required=True, help="the Lambda function's name")
    parser.add_argument("--image-uri", required=True, help="the new image, in ECR")
    parser.add_argument("--alias", default="live", help="the alias that serves traffic")
    parser.add_argument("--region", help="default: the AWS configuration's")
    parser.add_argument("--invoke-endpoint", help="send the smoke request here instead of the "
                        "Lambda API: a local emulator (sam local start-lambda), unversioned")
    args = parser.parse_args(argv)
    try:
        control = boto3.client("lambda", region_name=args.region)
        invoker = (boto3.client("lambda", region_name=control.meta.region_name,
                                endpoint_url=args.invoke_endpoint)
                   if args.invoke_endpoint else control)
        ecr = boto3.client("ecr", region_name=control.meta.region_name)
        image = pinned_by_digest(ecr, args.image_uri)
        version = deploy(control, invoker, args.function, image, args.alias,
                         qualify=not args.invoke_endpoint, registry=ecr)
    except (DeployError, ClientError, BotoCoreError, WaiterError) as error:
        print(f"error: deploy failed: {error}", file=sys.stderr)
        return 1
    print(f"{args.function}:{args.alias} -> version {version} ({image})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
