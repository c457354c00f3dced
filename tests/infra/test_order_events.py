"""The order events templates (DsqlChangeStream, OrderEvents): exact IAM, the trust conditions DSQL's
CDC IAM page prescribes, the event source mapping's settings, the Kinesis stream DSQL's setup page
recommends, alarms; cfn-lint clean; on in the ready-made app, off by default for library users."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template
from cfnlint.api import lint

from cdk_support import CONFIG, build_app, default_template
from ecommerce_constructs.config import EcommerceConfig, load_config, validate_config

STACK = "ecommerce-us-east-2"  # the stack that completes the pair holds the stream


def _one(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = template.find_resources(kind).items()
    return logical_id, resource["Properties"]


def _statements(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy")
    return [
        statement
        for policy in policies.values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] != ["logs:CreateLogStream", "logs:PutLogEvents"]
    ]


def _role(template: Template, description_start: str) -> str:
    roles = template.find_resources("AWS::IAM::Role")
    [logical_id] = [
        k for k, r in roles.items() if r["Properties"].get("Description", "").startswith(description_start)
    ]
    return logical_id


def test_only_the_stack_that_completes_the_pair_streams_and_the_library_default_is_off() -> None:
    assert EcommerceConfig().events.enabled is False
    assert load_config(CONFIG).events.enabled is True
    default_template(STACK).resource_count_is("Custom::DsqlStream", 1)
    default_template("ecommerce-us-east-1").resource_count_is("Custom::DsqlStream", 0)
    off = build_app(load_config(CONFIG).model_copy(update={"events": EcommerceConfig().events}))
    for stack in off.regional.values():
        template = Template.from_stack(stack)
        for kind in (
            "Custom::DsqlStream",
            "AWS::Kinesis::Stream",
            "AWS::Events::EventBus",
            "AWS::Lambda::EventSourceMapping",
        ):
            template.resource_count_is(kind, 0)


def test_the_kinesis_stream_is_on_demand_encrypted_and_takes_10_mib_records() -> None:
    _, kinesis = _one(default_template(STACK), "AWS::Kinesis::Stream")
    assert kinesis["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert kinesis["MaxRecordSizeInKiB"] == 10240
    assert kinesis["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}


def test_dsql_assumes_the_stream_role_only_for_this_accounts_and_clusters_streams() -> None:
    template = default_template(STACK)
    role = _role(template, "Aurora DSQL writes the change stream")
    trust = template.to_json()["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "dsql.amazonaws.com"},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": "123456789012"},
                "ArnLike": {"aws:SourceArn": {"Fn::Join": ["", [CLUSTER_ARN_OF(template), "/stream/*"]]}},
            },
        }
    ]
    [statement] = _statements(template, role)
    assert sorted(statement["Action"]) == [
        "kinesis:DescribeStreamSummary",
        "kinesis:ListShards",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
    ]
    kinesis_id, _ = _one(template, "AWS::Kinesis::Stream")
    assert statement["Resource"] == {"Fn::GetAtt": [kinesis_id, "Arn"]}


def CLUSTER_ARN_OF(template: Template) -> dict[str, Any]:
    [cluster] = template.find_resources("Custom::DsqlCluster")
    return {"Fn::GetAtt": [cluster, "Arn"]}


def test_the_stream_handler_has_exactly_the_stream_actions_and_passes_only_its_role_to_dsql() -> None:
    template = default_template(STACK)
    cluster = CLUSTER_ARN_OF(template)
    streams = [cluster, {"Fn::Join": ["", [cluster, "/stream/*"]]}]
    stream_role = _role(template, "Aurora DSQL writes the change stream")
    on_event = _statements(template, _role(template, "Aurora DSQL change stream lifecycle: OnEvent"))
    assert on_event == [
        # The app tags its stream: CreateStream then also checks dsql:TagResource.
        {
            "Action": ["dsql:CreateStream", "dsql:DeleteStream", "dsql:TagResource"],
            "Effect": "Allow",
            "Resource": streams,
        },
        {
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "dsql.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [stream_role, "Arn"]},
        },
    ]
    complete = _statements(template, _role(template, "Aurora DSQL change stream lifecycle: IsComplete"))
    assert complete == [
        {"Action": ["dsql:DeleteStream", "dsql:GetStream"], "Effect": "Allow", "Resource": streams}
    ]


def test_the_stream_waits_for_the_database_setup_and_its_roles_policies() -> None:
    template = default_template(STACK).to_json()["Resources"]
    depends = template["ChangeStreamFBB59D54"]["DependsOn"]
    assert any(d.startswith("DatabaseSetup") for d in depends)
    assert any(d.startswith("ChangeStreamRoleDefaultPolicy") for d in depends)
    assert template["ChangeStreamFBB59D54"]["Properties"]["Region"] == "us-east-2"


def test_the_publisher_may_put_events_on_its_bus_dedupe_and_send_failures_only() -> None:
    template = default_template(STACK)
    publisher = _role(template, "Order events publisher")
    by_action = {
        tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],): s
        for s in _statements(template, publisher)
    }
    bus, _ = _one(template, "AWS::Events::EventBus")
    table, _ = _one(template, "AWS::DynamoDB::Table")
    queue, _ = _one(template, "AWS::SQS::Queue")
    kinesis, _ = _one(template, "AWS::Kinesis::Stream")
    assert by_action[("events:PutEvents",)]["Resource"] == {"Fn::GetAtt": [bus, "Arn"]}
    assert by_action[("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem")]["Resource"] == {
        "Fn::GetAtt": [table, "Arn"]
    }
    assert by_action[("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")]["Resource"] == {
        "Fn::GetAtt": [queue, "Arn"]
    }
    reads = [s for a, s in by_action.items() if "kinesis:GetRecords" in a]
    assert [s["Resource"] for s in reads] == [{"Fn::GetAtt": [kinesis, "Arn"]}]
    assert len(by_action) == 4


def test_the_event_source_mapping_retries_bisects_reports_partial_failures_and_has_a_destination() -> None:
    template = default_template(STACK)
    _, mapping = _one(template, "AWS::Lambda::EventSourceMapping")
    queue, _ = _one(template, "AWS::SQS::Queue")
    assert {k: v for k, v in mapping.items() if k not in ("EventSourceArn", "FunctionName", "Tags")} == {
        "BatchSize": 100,
        "BisectBatchOnFunctionError": True,
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumBatchingWindowInSeconds": 1,
        "MaximumRecordAgeInSeconds": 604800,
        "MaximumRetryAttempts": -1,
        "ParallelizationFactor": 1,
        "StartingPosition": "TRIM_HORIZON",
    }
    _, function = next(
        (k, r["Properties"])
        for k, r in template.find_resources("AWS::Lambda::Function").items()
        if r["Properties"].get("Handler") == "handlers.events.aws.handler"
    )
    assert set(function["Environment"]["Variables"]) >= {
        "EVENT_BUS_NAME",
        "DEDUPE_TABLE",
        "FAILURE_QUEUE_URL",
    }


def test_bus_archive_dedupe_table_and_alarms() -> None:
    template = default_template(STACK)
    bus, properties = _one(template, "AWS::Events::EventBus")
    assert properties["Name"] == "ecommerce-us-east-2-shop-events"
    _, archive = _one(template, "AWS::Events::Archive")
    assert archive["SourceArn"] == {"Fn::GetAtt": [bus, "Arn"]}
    assert (archive["EventPattern"], archive["RetentionDays"]) == ({"source": ["ecommerce.shop"]}, 30)
    _, table = _one(template, "AWS::DynamoDB::Table")
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "event_id", "KeyType": "HASH"}]
    metrics = {
        (a["Properties"].get("Namespace"), a["Properties"].get("MetricName"))
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert {
        ("AWS/AuroraDSQL", "IsImpaired"),
        ("AWS/AuroraDSQL", "BehindSourceLag"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/Lambda", "Errors"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= metrics


def test_a_failed_stream_is_noticed_by_a_status_check_whose_silence_also_alarms() -> None:
    """A FAILED stream "can't recover" and stops publishing its own metrics: a scheduled function
    reads its status (GetStream on this stream only) and the alarm treats no value as failing."""
    template = default_template(STACK)
    role = _role(template, "Reads the DSQL change stream's status")
    stream = _one(template, "Custom::DsqlStream")[0]
    assert _statements(template, role) == [
        {"Action": "dsql:GetStream", "Effect": "Allow", "Resource": {"Fn::GetAtt": [stream, "Arn"]}}
    ]
    [alarm] = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ChangeStreamDelivering"
    ]
    assert (alarm["TreatMissingData"], alarm["Threshold"], alarm["Statistic"]) == ("breaching", 1, "Minimum")
    rules = template.find_resources("AWS::Events::Rule")
    assert any(r["Properties"].get("ScheduleExpression") == "rate(5 minutes)" for r in rules.values())


def test_a_cluster_with_a_customer_managed_key_lets_the_handler_decrypt_and_a_generation_replaces() -> None:
    key = "arn:aws:kms:us-east-2:123456789012:key/11111111-2222-3333-4444-555555555555"
    config = validate_config(
        {
            "database": {"kms_key_arns": {"us-east-2": key}},
            "events": {"enabled": True, "stream_generation": 2},
        }
    )
    template = Template.from_stack(build_app(config).regional["us-east-2"])
    on_event = _statements(template, _role(template, "Aurora DSQL change stream lifecycle: OnEvent"))
    assert {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": key} in on_event
    assert _one(template, "Custom::DsqlStream")[1]["Generation"] == "2"
    assert _one(template, "AWS::Kinesis::Stream")[1]["RetentionPeriodHours"] == 168


def test_cfn_lint_accepts_the_template() -> None:
    import json

    findings = [
        m
        for m in lint(json.dumps(default_template(STACK).to_json()), regions=["us-east-2"])
        if m.rule.id != "W3005"
    ]
    assert findings == []


def test_the_docs_example_rule_synthesizes_as_printed() -> None:
    """docs/events.md's rule to an SQS queue, run as printed against an OrderEvents of a test stack."""
    import re
    from pathlib import Path

    from aws_cdk import App, Environment, Stack

    from ecommerce_constructs import DsqlChangeStream, DsqlCluster, OrderEvents

    text = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
    [code] = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "consumer", env=Environment(account="123456789012", region="us-east-1"))
    cluster = DsqlCluster.from_cluster_identifier(stack, "Db", "abcdefghijklmnopqrstuvwxyz")
    order_events = OrderEvents(
        stack, "Events", change_stream=DsqlChangeStream(stack, "Stream", cluster=cluster)
    )
    exec(compile(code, "docs/events.md", "exec"), {"stack": stack, "order_events": order_events})
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": {"source": ["ecommerce.shop"], "detail-type": ["OrderCancelled"]}},
    )
