"""The template's monitoring part against the code it wires together: the subscription selects
the lines prediction_log.py writes, the forwarder's image holds its handler and every module it
imports, the alarms read metrics the handler emits, and the billed domain is opt-in and goes
away with the stack."""

import ast
import re

import pytest
import yaml

from helpers import WEEK_DIR
from monitoring.shipper import FILTER_PATTERN, index_prefix, load_template


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms: !Ref x -> {"Ref": x}, !Sub s -> {"Fn::Sub": s}."""


def short_form(loader: yaml.SafeLoader, tag: str, node: yaml.Node) -> dict:
    value = (loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
             else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
             else loader.construct_mapping(node))
    return {tag if tag == "Ref" else f"Fn::{tag}": value}


CloudFormationLoader.add_multi_constructor("!", short_form)
TEMPLATE = yaml.load((WEEK_DIR / "template.yaml").read_text(), CloudFormationLoader)
RESOURCES = TEMPLATE["Resources"]


def local_imports(module: str, seen: set[str] | None = None) -> set[str]:
    """The files of this folder (without .py) that importing `module` loads: monitoring.shipper
    -> monitoring/shipper, and the package's __init__. Imports inside functions, such as the
    command lines' config, are not run by a Lambda handler."""
    path = module.replace(".", "/")
    seen = set() if seen is None else seen
    seen.add(path)
    if "/" in path:
        seen.add(f"{path.rsplit('/', 1)[0]}/__init__")
    for node in ast.parse((WEEK_DIR / f"{path}.py").read_text()).body:
        name = node.module.replace(".", "/") if isinstance(node, ast.ImportFrom) and \
            node.module else None
        if name and (WEEK_DIR / f"{name}.py").is_file() and name not in seen:
            local_imports(node.module, seen)
    return seen


def test_the_subscription_selects_the_prediction_events() -> None:
    events = RESOURCES["ForwarderFunction"]["Properties"]["Events"]
    (subscription,) = events.values()
    assert subscription["Type"] == "CloudWatchLogs"
    assert subscription["Properties"]["LogGroupName"] == {"Ref": "PredictFunctionLogs"}
    # the same filter as the shipper's CloudWatch source: { $.event = "prediction" }
    assert subscription["Properties"]["FilterPattern"] == FILTER_PATTERN


def test_the_forwarder_image_holds_its_handler_and_what_it_imports() -> None:
    command = RESOURCES["ForwarderFunction"]["Properties"]["ImageConfig"]["Command"]
    module, function = command[0].rsplit(".", 1)
    assert f"def {function}(" in (WEEK_DIR / f"{module.replace('.', '/')}.py").read_text()
    dockerfile = (WEEK_DIR / "Dockerfile.lambda").read_text().replace("\\\n", " ")
    copied = {word.removesuffix(".py") for line in dockerfile.splitlines()
              if line.startswith("COPY ") for word in line.split()}
    assert {"monitoring/__init__", "monitoring/log_forwarder", "monitoring/shipper",
            "monitoring/prediction_log"} <= local_imports(module) <= copied
    assert "monitoring/index_template.json" in copied  # the shipper's template, read at run time
    dockerignore = (WEEK_DIR / ".dockerignore").read_text().splitlines()
    assert all(f"!{name}.py" in dockerignore for name in local_imports(module))


def test_the_alarms_read_metrics_the_handler_emits() -> None:
    source = (WEEK_DIR / "lambda_handler.py").read_text()
    emitted = set(re.findall(r'add_metric\(name="(\w+)"', source))
    namespace = re.search(r'Metrics\(namespace="(\w+)", service="(\w+)"\)', source).groups()
    read = []
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for query in resource["Properties"].get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                if metric["Namespace"] != "AWS/Lambda":
                    read.append(metric["MetricName"])
                    assert (metric["Namespace"], metric["Dimensions"]) == (
                        namespace[0], [{"Name": "service", "Value": namespace[1]}])
    assert sorted(read) == ["Predictions", "UnacceptablePredictions"]
    assert set(read) <= emitted


def test_the_billed_domain_is_opt_in_and_deleted_with_the_stack() -> None:
    assert TEMPLATE["Parameters"]["Monitoring"]["Default"] == "disabled"
    for name in ("MonitoringDomain", "ForwarderFunction", "ForwarderDeadLetters",
                 "MasterUserSecret"):
        assert RESOURCES[name]["Condition"] == "MonitoringEnabled", name
    domain = RESOURCES["MonitoringDomain"]
    assert domain["DeletionPolicy"] == domain["UpdateReplacePolicy"] == "Delete"
    properties = domain["Properties"]
    assert properties["EncryptionAtRestOptions"]["Enabled"] is True
    assert properties["NodeToNodeEncryptionOptions"]["Enabled"] is True
    assert properties["DomainEndpointOptions"]["EnforceHTTPS"] is True


def test_the_forwarder_may_only_send_its_two_requests_and_keeps_what_fails() -> None:
    properties = RESOURCES["ForwarderFunction"]["Properties"]
    (policy,) = properties["Policies"]
    (statement,) = policy["Statement"]
    assert statement["Action"] == ["es:ESHttpPost", "es:ESHttpPut"]
    # POST _bulk and PUT _index_template/<the shipper's template>: no other path of the domain
    assert statement["Resource"] == [
        {"Fn::Sub": "${MonitoringDomain.Arn}/_bulk"},
        {"Fn::Sub": f"${{MonitoringDomain.Arn}}/_index_template/{index_prefix(load_template())}"}]
    assert properties["DeadLetterQueue"] == {
        "Type": "SQS", "TargetArn": {"Fn::GetAtt": "ForwarderDeadLetters.Arn"}}


def test_nobody_reaches_the_domain_without_signing_or_the_master_password() -> None:
    properties = RESOURCES["MonitoringDomain"]["Properties"]
    security = properties["AdvancedSecurityOptions"]
    assert security["Enabled"] is True and security["InternalUserDatabaseEnabled"] is True
    secret = RESOURCES["MasterUserSecret"]
    assert secret["Condition"] == "MonitoringEnabled"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password" and generated["PasswordLength"] >= 16
    assert generated["RequireEachIncludedType"] is True  # what fine-grained access requires
    for key, field in (("MasterUserName", "username"), ("MasterUserPassword", "password")):
        assert security["MasterUserOptions"][key] == {"Fn::Sub": "{{resolve:secretsmanager:"
                                                      f"${{MasterUserSecret}}:SecretString:{field}}}}}"}
    for statement in properties["AccessPolicies"]["Statement"]:
        if statement["Principal"] == {"AWS": "*"}:  # Dashboards' login page: one range only
            assert statement["Condition"] == {"IpAddress": {"aws:SourceIp": {"Ref":
                                                                             "DashboardsCidr"}}}


@pytest.mark.parametrize("cidr, accepted", [
    ("203.0.113.7/32", True), ("198.51.100.0/24", True), ("10.1.0.0/16", True),
    ("0.0.0.0/0", False), ("10.0.0.0/8", False), ("203.0.113.7", False),
    ("256.1.1.1/32", False), ("203.0.113.7/33", False), ("::/0", False)])
def test_dashboards_cidr_refuses_the_whole_internet(cidr: str, accepted: bool) -> None:
    pattern = TEMPLATE["Parameters"]["DashboardsCidr"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, cidr)) is accepted


def test_the_compose_file_runs_the_domain_s_opensearch_locally() -> None:
    compose = yaml.safe_load((WEEK_DIR / "docker-compose.monitoring.yml").read_text())
    services = compose["services"]
    engine = RESOURCES["MonitoringDomain"]["Properties"]["EngineVersion"]  # OpenSearch_2.19
    for name, repository in (("opensearch", "opensearchproject/opensearch"),
                             ("dashboards", "opensearchproject/opensearch-dashboards")):
        image, tag = services[name]["image"].split(":")
        assert image == repository and re.fullmatch(r"\d+\.\d+\.\d+", tag), "pin a release"
        assert tag.startswith(engine.removeprefix("OpenSearch_") + "."), (tag, engine)
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), "the security plugin is off: local only"
    assert services["opensearch"]["ports"] == ["127.0.0.1:9200:9200"]
    config = yaml.safe_load((WEEK_DIR / "configs" / "config.yaml").read_text())
    # the default when the environment has no OPENSEARCH_URL
    assert config["monitoring"]["opensearch"] == "${oc.env:OPENSEARCH_URL,http://localhost:9200}"


def test_a_failing_forwarder_and_waiting_dead_letters_each_raise_an_alarm() -> None:
    alarms = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    errors, waiting = alarms["ForwarderErrorsAlarm"], alarms["ForwarderDeadLettersAlarm"]
    for alarm in (errors, waiting):
        assert alarm["Condition"] == "MonitoringEnabled"
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        # one failed batch, one waiting message, in any five minutes: an alarm
        assert (properties["Threshold"], properties["ComparisonOperator"],
                properties["EvaluationPeriods"], properties["Period"]) == (
            1, "GreaterThanOrEqualToThreshold", 1, 300)
    assert (errors["Properties"]["Namespace"], errors["Properties"]["MetricName"],
            errors["Properties"]["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["Properties"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "ForwarderFunction"}}]
    assert (waiting["Properties"]["Namespace"], waiting["Properties"]["MetricName"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert waiting["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": "ForwarderDeadLetters.QueueName"}}]
    outputs = TEMPLATE["Outputs"]
    assert outputs["ForwarderDeadLetterQueue"]["Value"] == {"Ref": "ForwarderDeadLetters"}
    assert outputs["ForwarderFunctionName"]["Value"] == {"Ref": "ForwarderFunction"}
