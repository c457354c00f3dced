"""The Custom::DsqlStream handler (handlers/infra/dsql_stream.py) against the fake DSQL control plane,
which validates every request and answer against botocore's ``dsql`` model: create with a client
token on an ACTIVE cluster, wait for ACTIVE, FAILED with its statusReason, retries, replacement and
delete."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.dsql_control_plane import FakeDsql
from handlers.infra import dsql_stream
from handlers.infra.dsql_stream import StreamError

ACCOUNT = "123456789012"
REGION = "us-east-1"
KINESIS = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/shop-changes"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/shop-dsql-stream"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDsql:
    control_plane = FakeDsql(ACCOUNT, ticks=2)
    monkeypatch.setattr(dsql_stream, "client_factory", control_plane.client)
    monkeypatch.setattr(dsql_stream.time, "sleep", lambda seconds: None)
    return control_plane


def active_cluster(fake: FakeDsql) -> str:
    created = fake.client(REGION).create_cluster(deletionProtectionEnabled=False)
    fake.settle()
    return str(created["identifier"])


def props(cluster: str, **extra: str) -> dict[str, Any]:
    return {
        "Region": REGION,
        "ClusterIdentifier": cluster,
        "KinesisStreamArn": KINESIS,
        "RoleArn": ROLE,
        "Tags": {"Name": "shop"},
        **extra,
    }


def event(kind: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/shop/5f4a",
        "LogicalResourceId": "EventsStream",
        "RequestId": extra.pop("RequestId", f"request-{kind}"),
        "ResourceProperties": properties,
        **extra,
    }


def run(request: dict[str, Any], *, polls: int = 30) -> dict[str, Any]:
    started = dsql_stream.on_event(request)
    merged = {**request, **started}
    for _ in range(polls):
        result = dsql_stream.is_complete(merged)
        if result["IsComplete"]:
            return {**started, **result}
    raise AssertionError(f"not complete after {polls} polls")


def test_create_waits_for_active_and_returns_the_stream(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    done = run(event("Create", props(cluster)))
    [stream] = fake.streams.values()
    assert stream.status == "ACTIVE" and stream.target == {"kinesis": {"streamArn": KINESIS, "roleArn": ROLE}}
    assert done["PhysicalResourceId"] == stream.arn
    assert done["Data"] == {"Arn": stream.arn, "StreamIdentifier": stream.identifier}
    [create] = [c for c in fake.calls if c.operation == "CreateStream"]
    assert create.params["ordering"] == "UNORDERED" and create.params["format"] == "JSON"
    assert len(create.params["clientToken"]) == 64


def test_a_retried_create_gets_the_same_stream_back(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    first = dsql_stream.on_event(event("Create", props(cluster)))
    fake.inject("CreateStream", "ThrottlingException")
    again = dsql_stream.on_event(event("Create", props(cluster)))  # the same RequestId, after a throttle
    assert first["PhysicalResourceId"] == again["PhysicalResourceId"]
    assert len(fake.streams) == 1
    other = dsql_stream.on_event(event("Create", props(cluster), RequestId="another"))
    assert other["PhysicalResourceId"] != first["PhysicalResourceId"]


def test_a_failed_stream_fails_the_deploy_with_its_reason_and_fix(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    fake.failing_targets[KINESIS] = "ROLE_ACCESS_DENIED"
    with pytest.raises(StreamError, match=r"is FAILED: ROLE_ACCESS_DENIED - DSQL could not assume"):
        run(event("Create", props(cluster)))


def test_a_cluster_that_is_not_active_is_refused_with_how_to_proceed(fake: FakeDsql) -> None:
    created = fake.client(REGION).create_cluster(deletionProtectionEnabled=False)  # still CREATING
    with pytest.raises(StreamError, match="needs an ACTIVE cluster"):
        dsql_stream.on_event(event("Create", props(str(created["identifier"]))))
    assert fake.streams == {}


def test_the_stream_quota_is_reported(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    for i in range(5):
        dsql_stream.on_event(event("Create", props(cluster), RequestId=f"r{i}"))
    with pytest.raises(StreamError, match="ServiceQuotaExceededException"):
        dsql_stream.on_event(event("Create", props(cluster), RequestId="r6"))


def test_update_replaces_the_stream_only_when_its_target_changes(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    created = run(event("Create", props(cluster)))
    physical = created["PhysicalResourceId"]
    tags_only = run(
        event(
            "Update",
            {**props(cluster), "Tags": {"Name": "other"}},
            PhysicalResourceId=physical,
            OldResourceProperties=props(cluster),
        )
    )
    assert tags_only["PhysicalResourceId"] == physical and len(fake.streams) == 1
    other_target = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/other"
    replaced = run(
        event(
            "Update",
            props(cluster, KinesisStreamArn=other_target),
            PhysicalResourceId=physical,
            OldResourceProperties=props(cluster),
            RequestId="update-2",
        )
    )
    assert replaced["PhysicalResourceId"] != physical and len(fake.streams) == 2


def test_delete_waits_until_the_stream_is_gone_and_tolerates_nothing_to_delete(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    physical = run(event("Create", props(cluster)))["PhysicalResourceId"]
    run(event("Delete", props(cluster), PhysicalResourceId=physical))
    assert fake.streams == {}
    assert [c.operation for c in fake.calls].count("DeleteStream") == 1
    run(event("Delete", props(cluster), PhysicalResourceId=physical, RequestId="again"))  # already gone
    run(event("Delete", props(cluster), PhysicalResourceId="shop-EventsStream-1XYZ"))  # never created


def test_a_failed_streams_delete_on_rollback(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    fake.failing_targets[KINESIS] = "KINESIS_STREAM_NOT_FOUND"
    physical = dsql_stream.on_event(event("Create", props(cluster)))["PhysicalResourceId"]
    polled = {**event("Create", props(cluster)), "PhysicalResourceId": physical}
    assert dsql_stream.is_complete(polled) == {"IsComplete": False}  # CREATING
    dsql_stream.is_complete(polled)
    with pytest.raises(StreamError, match="KINESIS_STREAM_NOT_FOUND"):
        dsql_stream.is_complete(polled)
    run(event("Delete", props(cluster), PhysicalResourceId=physical))
    assert fake.streams == {}


def test_list_streams_pages(fake: FakeDsql) -> None:
    cluster = active_cluster(fake)
    for i in range(3):
        dsql_stream.on_event(event("Create", props(cluster), RequestId=f"r{i}"))
    client = fake.client(REGION)
    first = client.list_streams(clusterIdentifier=cluster, maxResults=2)
    second = client.list_streams(clusterIdentifier=cluster, maxResults=2, nextToken=first["nextToken"])
    assert len(first["streams"]) == 2 and len(second["streams"]) == 1 and "nextToken" not in second


def test_a_new_generation_replaces_a_failed_stream(fake: FakeDsql) -> None:
    """The documented way to recreate a FAILED stream: an unchanged deploy sends no update at all."""
    cluster = active_cluster(fake)
    physical = run(event("Create", props(cluster)))["PhysicalResourceId"]
    replaced = run(
        event(
            "Update",
            props(cluster, Generation="2"),
            PhysicalResourceId=physical,
            OldResourceProperties=props(cluster),
            RequestId="generation-2",
        )
    )
    assert replaced["PhysicalResourceId"] != physical and len(fake.streams) == 2


def test_a_tags_only_update_of_an_impaired_stream_succeeds(fake: FakeDsql) -> None:
    """IMPAIRED still delivers: a tag change must not fail the stack update over it."""
    cluster = active_cluster(fake)
    physical = run(event("Create", props(cluster)))["PhysicalResourceId"]
    (stream,) = fake.streams.values()
    stream.status = "IMPAIRED"
    updated = run(
        event(
            "Update",
            {**props(cluster), "Tags": {"Name": "other"}},
            PhysicalResourceId=physical,
            OldResourceProperties=props(cluster),
        )
    )
    assert updated["PhysicalResourceId"] == physical and updated["Data"]["Arn"] == physical


@pytest.mark.parametrize(("status", "delivering"), [("ACTIVE", 1), ("IMPAIRED", 1), ("FAILED", 0)])
def test_the_status_check_publishes_whether_the_stream_delivers(
    fake: FakeDsql,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: str,
    delivering: int,
) -> None:
    import json

    from handlers.contract import STREAM_DELIVERING_METRIC

    cluster = active_cluster(fake)
    physical = run(event("Create", props(cluster)))["PhysicalResourceId"]
    (stream,) = fake.streams.values()
    stream.status = status
    monkeypatch.setenv("STREAM_ARN", physical)
    result = dsql_stream.check_status({"source": "aws.events"})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line[STREAM_DELIVERING_METRIC] == delivering and result["delivering"] is bool(delivering)
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["StreamId"]]
