"""The stream handler under the IAM policies CDK synthesizes for it: every call it makes to create,
wait for and delete a stream is authorized by the fake DSQL against the template's statements
(tests/fakes/iam.py evaluates them), including iam:PassRole with iam:PassedToService; another
cluster's streams and another role stay out of reach."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template

from ecommerce_constructs import DsqlChangeStream, DsqlCluster
from fakes.dsql_control_plane import FakeDsql
from fakes.iam import Policy, resolve, role_policy
from handlers.infra import dsql_stream
from handlers.infra.dsql_stream import StreamError

ACCOUNT, REGION, STACK = "123456789012", "us-east-1", "shop-events"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/shop-events-ChangeStreamRole"


def _substitute(node: Any, values: dict[str, str]) -> Any:
    """The template with ``Fn::GetAtt`` of the resources this test knows replaced by their values."""
    if isinstance(node, list):
        return [_substitute(item, values) for item in node]
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"} and ".".join(node["Fn::GetAtt"]) in values:
            return values[".".join(node["Fn::GetAtt"])]
        return {k: _substitute(v, values) for k, v in node.items()}
    return node


def synthesized(cluster_identifier: str) -> dict[str, Any]:
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, STACK, env=Environment(account=ACCOUNT, region=REGION))
    cluster = DsqlCluster.from_cluster_attributes(stack, "Database", cluster_identifier=cluster_identifier)
    DsqlChangeStream(stack, "ChangeStream", cluster=cluster)
    template = Template.from_stack(stack).to_json()
    [role] = [
        k
        for k in template["Resources"]
        if k.startswith("ChangeStreamRole") and template["Resources"][k]["Type"] == "AWS::IAM::Role"
    ]
    [kinesis] = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Kinesis::Stream"]
    values = {
        f"{role}.Arn": ROLE_ARN,
        f"{kinesis}.Arn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/shop-events",
    }
    return dict(_substitute(template, values))


def policies(template: dict[str, Any]) -> dict[str, Policy]:
    found = {}
    for principal, prefix in (
        ("onEvent", "DsqlStreamProviderOnEventRole"),
        ("isComplete", "DsqlStreamProviderIsCompleteRole"),
    ):
        [logical] = [
            k
            for k, v in template["Resources"].items()
            if v["Type"] == "AWS::IAM::Role" and k.startswith(prefix)
        ]
        found[principal] = role_policy(template, logical, stack_name=STACK, region=REGION, account=ACCOUNT)
    return found


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDsql:
    control_plane = FakeDsql(ACCOUNT, ticks=1)
    monkeypatch.setattr(dsql_stream, "client_factory", control_plane.client)
    monkeypatch.setattr(dsql_stream.time, "sleep", lambda seconds: None)
    return control_plane


def run(fake: FakeDsql, event: dict[str, Any]) -> dict[str, Any]:
    with fake.acting_as("onEvent"):
        started = dsql_stream.on_event(event)
    merged = {**event, **started}
    for _ in range(20):
        with fake.acting_as("isComplete"):
            result = dsql_stream.is_complete(merged)
        if result["IsComplete"]:
            return {**started, **result}
    raise AssertionError("not complete")


def event(kind: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/1",
        "LogicalResourceId": "ChangeStream",
        "RequestId": f"r-{kind}",
        "ResourceProperties": properties,
        **extra,
    }


def test_the_stream_is_created_waited_for_and_deleted_within_its_policies(fake: FakeDsql) -> None:
    cluster = fake.client(REGION).create_cluster(deletionProtectionEnabled=False)["identifier"]
    fake.settle()
    template = synthesized(cluster)
    fake.enforce(policies(template))
    [raw] = [v["Properties"] for v in template["Resources"].values() if v["Type"] == "Custom::DsqlStream"]
    properties = resolve(
        {k: v for k, v in raw.items() if k != "ServiceToken"},
        stack_name=STACK,
        region=REGION,
        account=ACCOUNT,
    )
    assert properties["RoleArn"] == ROLE_ARN and properties["ClusterIdentifier"] == cluster
    created = run(fake, event("Create", properties))
    run(fake, event("Delete", properties, PhysicalResourceId=created["PhysicalResourceId"]))
    assert fake.denials == []
    assert fake.streams == {}


def test_another_clusters_streams_and_another_role_are_out_of_reach(fake: FakeDsql) -> None:
    client = fake.client(REGION)
    ours = client.create_cluster(deletionProtectionEnabled=False)["identifier"]
    theirs = client.create_cluster(deletionProtectionEnabled=False)["identifier"]
    fake.settle()
    template = synthesized(ours)
    fake.enforce(policies(template))
    [raw] = [v["Properties"] for v in template["Resources"].values() if v["Type"] == "Custom::DsqlStream"]
    properties = resolve(
        {k: v for k, v in raw.items() if k != "ServiceToken"},
        stack_name=STACK,
        region=REGION,
        account=ACCOUNT,
    )
    with fake.acting_as("onEvent"), pytest.raises(StreamError, match=r"AccessDenied.*dsql:CreateStream"):
        dsql_stream.on_event(event("Create", {**properties, "ClusterIdentifier": theirs}))
    other_role = f"arn:aws:iam::{ACCOUNT}:role/admin"
    with fake.acting_as("onEvent"), pytest.raises(StreamError, match=r"AccessDenied.*iam:PassRole"):
        dsql_stream.on_event(event("Create", {**properties, "RoleArn": other_role}))
    assert [d.request.action for d in fake.denials] == ["dsql:CreateStream", "iam:PassRole"]
