"""The Custom::DsqlCluster handler against a fake DSQL control plane that validates every request
and response against botocore's model and simulates statuses in several regions."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.dsql_control_plane import FakeDsql
from handlers.infra import dsql_cluster
from handlers.infra.dsql_cluster import ClusterError

ACCOUNT = "123456789012"
WITNESS = "us-west-2"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDsql:
    control_plane = FakeDsql(ACCOUNT, ticks=2)
    monkeypatch.setattr(dsql_cluster, "client_factory", control_plane.client)
    monkeypatch.setattr(dsql_cluster.time, "sleep", lambda seconds: None)
    return control_plane


def props(region: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Region": region,
        "DeletionProtection": "true",
        "RemovalPolicy": "retain",
        "AllowUnpeer": "false",
        "Tags": {"Name": "shop", "Project": "ecommerce"},
    }
    base.update({k: v for k, v in extra.items() if v is not None})
    return base


def event(kind: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    region = properties["Region"]
    return {
        "RequestType": kind,
        "StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/shop-{region}/5f4a",
        "LogicalResourceId": "DatabaseResource",
        "RequestId": extra.pop("RequestId", f"request-{kind}"),
        "ResourceProperties": properties,
        **extra,
    }


def run(request: dict[str, Any], *, polls: int = 30) -> dict[str, Any]:
    """What the Provider framework does: onEvent once, then isComplete until done."""
    started = dsql_cluster.on_event(request)
    merged = {**request, **started}
    for _ in range(polls):
        result = dsql_cluster.is_complete(merged)
        if result["IsComplete"]:
            return {**started, **result}
    raise AssertionError(f"not complete after {polls} polls")


def pair(fake: FakeDsql) -> tuple[dict[str, Any], dict[str, Any]]:
    first = run(event("Create", props("us-east-1", WitnessRegion=WITNESS)))
    assert fake.cluster("us-east-1", first["PhysicalResourceId"]).status == "PENDING_SETUP"
    second = run(event("Create", props("us-east-2", WitnessRegion=WITNESS, PeerArn=first["Data"]["Arn"])))
    return first, second


def test_a_single_region_cluster(fake: FakeDsql) -> None:
    done = run(event("Create", props("eu-west-1")))
    identifier = done["PhysicalResourceId"]
    cluster = fake.cluster("eu-west-1", identifier)
    assert cluster.status == "ACTIVE"
    assert cluster.deletion_protection is True
    assert cluster.tags["Name"] == "shop"
    assert done["Data"] == {
        "Arn": f"arn:aws:dsql:eu-west-1:{ACCOUNT}:cluster/{identifier}",
        "Identifier": identifier,
        "Endpoint": f"{identifier}.dsql.eu-west-1.on.aws",
        "Region": "eu-west-1",
    }


def test_the_documented_peering_ends_with_two_active_clusters(fake: FakeDsql) -> None:
    first, second = pair(fake)
    a = fake.cluster("us-east-1", first["PhysicalResourceId"])
    b = fake.cluster("us-east-2", second["PhysicalResourceId"])
    assert (a.status, b.status) == ("ACTIVE", "ACTIVE")
    assert (a.peers, b.peers) == ([b.arn], [a.arn])
    assert a.witness_region == b.witness_region == WITNESS
    # B was created naming A; A was updated naming B, with the complete list.
    create_b = next(c for c in fake.calls if c.operation == "CreateCluster" and c.region == "us-east-2")
    assert create_b.params["multiRegionProperties"] == {"witnessRegion": WITNESS, "clusters": [a.arn]}
    updates = [c for c in fake.calls if c.operation == "UpdateCluster"]
    assert [u.params["multiRegionProperties"] for u in updates] == [
        {"witnessRegion": WITNESS, "clusters": [b.arn]}
    ]


def test_every_step_survives_a_cloudformation_retry(fake: FakeDsql) -> None:
    first_event = event("Create", props("us-east-1", WitnessRegion=WITNESS))
    first = dsql_cluster.on_event(first_event)
    assert dsql_cluster.on_event(first_event)["PhysicalResourceId"] == first["PhysicalResourceId"]  # token
    retried = dsql_cluster.on_event({**first_event, "RequestId": "another"})  # a new request: found by tag
    assert retried["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert len(fake.find("us-east-1")) == 1
    a = run(first_event)
    second_event = event("Create", props("us-east-2", WitnessRegion=WITNESS, PeerArn=a["Data"]["Arn"]))
    started = dsql_cluster.on_event(second_event)
    merged = {**second_event, **started}
    for _ in range(30):  # every poll twice, as if each were retried
        dsql_cluster.is_complete(merged)
        if dsql_cluster.is_complete(merged)["IsComplete"]:
            break
    assert len(fake.find("us-east-2")) == 1
    assert len([c for c in fake.calls if c.operation == "UpdateCluster"]) == 1


def test_an_update_of_the_first_stack_never_touches_the_peers(fake: FakeDsql) -> None:
    first, _ = pair(fake)
    old = props("us-east-1", WitnessRegion=WITNESS)
    new = props("us-east-1", WitnessRegion=WITNESS, DeletionProtection="false", Tags={"Name": "renamed"})
    fake.calls.clear()
    run(event("Update", new, OldResourceProperties=old, PhysicalResourceId=first["PhysicalResourceId"]))
    a = fake.cluster("us-east-1", first["PhysicalResourceId"])
    assert a.deletion_protection is False
    assert a.tags["Name"] == "renamed"
    assert "Project" not in a.tags
    assert len(a.peers) == 1
    updates = [c for c in fake.calls if c.operation == "UpdateCluster"]
    assert all("multiRegionProperties" not in u.params for u in updates)


def test_dropping_the_peer_is_refused_without_the_opt_in(fake: FakeDsql) -> None:
    first, second = pair(fake)
    old = props("us-east-2", WitnessRegion=WITNESS, PeerArn=first["Data"]["Arn"])
    refused = event("Update", props("us-east-2", WitnessRegion=WITNESS), OldResourceProperties=old)
    refused["PhysicalResourceId"] = second["PhysicalResourceId"]
    with pytest.raises(ClusterError, match="allow_unpeer"):
        dsql_cluster.on_event(refused)
    assert fake.cluster("us-east-2", second["PhysicalResourceId"]).peers == [first["Data"]["Arn"]]
    allowed = {**refused, "ResourceProperties": props("us-east-2", WitnessRegion=WITNESS, AllowUnpeer="true")}
    dsql_cluster.on_event(allowed)
    last = [c for c in fake.calls if c.operation == "UpdateCluster"][-1]
    assert last.params["multiRegionProperties"] == {"witnessRegion": WITNESS, "clusters": []}  # complete list


@pytest.mark.parametrize(
    "new",
    [
        props("us-east-2", WitnessRegion="us-east-1"),
        props("us-east-2"),
        props(
            "us-east-2", WitnessRegion=WITNESS, PeerArn=f"arn:aws:dsql:us-east-1:{ACCOUNT}:cluster/{'z' * 26}"
        ),
    ],
    ids=["witness-change", "to-single-region", "another-peer"],
)
def test_topology_changes_are_refused_with_a_reason(fake: FakeDsql, new: dict[str, Any]) -> None:
    first, second = pair(fake)
    old = props("us-east-2", WitnessRegion=WITNESS, PeerArn=first["Data"]["Arn"])
    request = event("Update", new, OldResourceProperties=old, PhysicalResourceId=second["PhysicalResourceId"])
    with pytest.raises(ClusterError, match=r"new clusters|allow_unpeer"):
        dsql_cluster.on_event(request)


def test_delete_honours_retention_and_deletion_protection(fake: FakeDsql) -> None:
    done = run(event("Create", props("eu-west-1")))
    identifier = done["PhysicalResourceId"]
    run(event("Delete", props("eu-west-1"), PhysicalResourceId=identifier))  # retain
    assert fake.cluster("eu-west-1", identifier).status == "ACTIVE"
    protected = event("Delete", props("eu-west-1", RemovalPolicy="destroy"), PhysicalResourceId=identifier)
    with pytest.raises(ClusterError, match="has deletion protection on"):
        dsql_cluster.on_event(protected)
    # The live cluster decides: a template saying "off" does not delete a cluster still protected.
    destroy = props("eu-west-1", RemovalPolicy="destroy", DeletionProtection="false")
    with pytest.raises(ClusterError, match="--no-deletion-protection-enabled"):
        dsql_cluster.on_event(event("Delete", destroy, PhysicalResourceId=identifier))
    # Deployed first (an Update turns it off), the delete goes through.
    run(event("Update", destroy, PhysicalResourceId=identifier, OldResourceProperties=props("eu-west-1")))
    run(event("Delete", destroy, PhysicalResourceId=identifier))
    assert not fake.find("eu-west-1")


def test_a_peered_pair_is_deleted_in_stack_order(fake: FakeDsql) -> None:
    """cdk destroy --all: the second stack first (its cluster waits in PENDING_DELETE), then the first."""
    first, second = pair(fake)
    destroy = {"RemovalPolicy": "destroy", "DeletionProtection": "false"}
    second_props = props("us-east-2", WitnessRegion=WITNESS, PeerArn=first["Data"]["Arn"], **destroy)
    first_props = props("us-east-1", WitnessRegion=WITNESS, **destroy)
    for created, new in ((first, first_props), (second, second_props)):  # deployed before the destroy
        old = {**new, "RemovalPolicy": "retain", "DeletionProtection": "true"}
        run(event("Update", new, PhysicalResourceId=created["PhysicalResourceId"], OldResourceProperties=old))
    fake.settle()
    run(event("Delete", second_props, PhysicalResourceId=second["PhysicalResourceId"]))
    assert fake.cluster("us-east-2", second["PhysicalResourceId"]).status == "PENDING_DELETE"
    run(
        event(
            "Delete",
            props("us-east-1", WitnessRegion=WITNESS, **destroy),
            PhysicalResourceId=first["PhysicalResourceId"],
        )
    )
    fake.settle()
    assert not fake.find("us-east-1")
    assert not fake.find("us-east-2")


def test_a_create_that_never_happened_deletes_nothing(fake: FakeDsql) -> None:
    failed = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"
    run(event("Delete", props("eu-west-1", RemovalPolicy="destroy"), PhysicalResourceId=failed))
    assert not fake.calls


def test_throttling_and_busy_clusters_are_waited_out(fake: FakeDsql) -> None:
    fake.inject("CreateCluster", "ThrottlingException", times=2, retry_after=3)
    fake.inject("GetCluster", "ThrottlingException", times=2)
    done = run(event("Create", props("eu-west-1")))
    assert fake.cluster("eu-west-1", done["PhysicalResourceId"]).status == "ACTIVE"
    fake.inject("UpdateCluster", "ConflictException", times=1)
    old, new = props("eu-west-1"), props("eu-west-1", DeletionProtection="false")
    run(event("Update", new, OldResourceProperties=old, PhysicalResourceId=done["PhysicalResourceId"]))
    assert fake.cluster("eu-west-1", done["PhysicalResourceId"]).deletion_protection is False


def test_failures_reach_cloudformation_as_sentences(fake: FakeDsql) -> None:
    fake.inject("CreateCluster", "ServiceQuotaExceededException")
    with pytest.raises(ClusterError, match="ServiceQuotaExceededException"):
        dsql_cluster.on_event(event("Create", props("eu-west-1")))
    started = dsql_cluster.on_event(event("Create", props("eu-west-1")))
    fake.cluster("eu-west-1", started["PhysicalResourceId"]).status = "FAILED"
    with pytest.raises(ClusterError, match="as FAILED"):
        dsql_cluster.is_complete({**event("Create", props("eu-west-1")), **started})


def test_a_stuck_cluster_times_out_with_a_reason(fake: FakeDsql) -> None:
    request = event("Create", props("eu-west-1"))
    started = dsql_cluster.on_event(request)
    late = {**request, **started, "StartedAt": started["StartedAt"] - dsql_cluster.BUDGET_SECONDS - 60}
    with pytest.raises(ClusterError, match=r"still CREATING after \d+ min"):
        dsql_cluster.is_complete(late)


def test_a_peer_of_another_topology_is_refused(fake: FakeDsql) -> None:
    first, _ = pair(fake)
    third = event("Create", props("us-west-2", WitnessRegion="us-east-1", PeerArn=first["Data"]["Arn"]))
    with pytest.raises(ClusterError, match="witness region"):
        dsql_cluster.on_event(third)


def test_a_missing_peer_is_refused(fake: FakeDsql) -> None:
    ghost = f"arn:aws:dsql:us-east-1:{ACCOUNT}:cluster/{'q' * 26}"
    with pytest.raises(ClusterError, match="does not exist; deploy its stack first"):
        dsql_cluster.on_event(event("Create", props("us-east-2", WitnessRegion=WITNESS, PeerArn=ghost)))


def test_a_missing_service_linked_role_says_how_to_create_it() -> None:
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "Unable to create the service-linked role"}},
        "CreateCluster",
    )
    message = dsql_cluster._explain(error)
    assert message.startswith("DSQL AccessDeniedException: Unable to create the service-linked role")
    assert "aws iam create-service-linked-role --aws-service-name dsql.amazonaws.com" in message
    other = ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "CreateCluster")
    assert "service-linked" not in dsql_cluster._explain(other)


KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_key_change_completes_only_when_dsql_reports_the_key_enabled(fake: FakeDsql) -> None:
    identifier = run(event("Create", props("eu-west-1")))["PhysicalResourceId"]
    update = event(
        "Update",
        props("eu-west-1", KmsKey=KEY),
        PhysicalResourceId=identifier,
        OldResourceProperties=props("eu-west-1"),
    )
    started = dsql_cluster.on_event(update)
    assert fake.cluster("eu-west-1", identifier).encryption_status == "UPDATING"
    polls = [dsql_cluster.is_complete({**update, **started}) for _ in range(5)]
    assert not polls[0]["IsComplete"]  # still UPDATING
    assert polls[-1]["IsComplete"]
    assert fake.cluster("eu-west-1", identifier).encryption_status == "ENABLED"


def test_a_key_dsql_cannot_use_fails_with_what_to_fix(fake: FakeDsql) -> None:
    fake.inaccessible_keys.add(KEY)
    with pytest.raises(ClusterError, match=r"KMS_KEY_INACCESSIBLE.*key policy must let dsql.amazonaws.com"):
        run(event("Create", props("eu-west-1", KmsKey=KEY)))


ADMIN = f"arn:aws:iam::{ACCOUNT}:role/setup-OnEvent"


def test_an_update_adds_changes_and_removes_the_admin_only_policy(fake: FakeDsql) -> None:
    """A cluster made before the policy existed gets it on the next update; a later template without
    admin roles removes only the policy this resource wrote."""
    import json

    plain = props("eu-west-1")
    identifier = run(event("Create", plain))["PhysicalResourceId"]
    cluster = fake.cluster("eu-west-1", identifier)
    assert cluster.policy is None
    restricted = props("eu-west-1", AdminRoleArns=[ADMIN])
    update = event("Update", restricted, PhysicalResourceId=identifier, OldResourceProperties=plain)
    run(update)
    assert cluster.policy == dsql_cluster.admin_policy((ADMIN,))
    statement = json.loads(cluster.policy)["Statement"][0]
    assert statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [ADMIN]
    puts = [c for c in fake.calls if c.operation == "PutClusterPolicy"]
    run(update)  # the same again: nothing to put
    assert [c for c in fake.calls if c.operation == "PutClusterPolicy"] == puts
    two = props("eu-west-1", AdminRoleArns=[ADMIN, ADMIN + "2"])
    run(event("Update", two, PhysicalResourceId=identifier, OldResourceProperties=restricted))
    assert json.loads(cluster.policy)["Statement"][0]["Condition"]["ArnNotEquals"][
        "aws:PrincipalArn"
    ] == sorted([ADMIN, ADMIN + "2"])
    assert puts[-1].params.get("expectedPolicyVersion") is None  # the first put: no policy before
    assert "expectedPolicyVersion" in [c for c in fake.calls if c.operation == "PutClusterPolicy"][-1].params
    run(event("Update", plain, PhysicalResourceId=identifier, OldResourceProperties=two))
    assert cluster.policy is None


def test_a_policy_someone_else_wrote_is_never_removed(fake: FakeDsql) -> None:
    import json

    plain = props("eu-west-1")
    identifier = run(event("Create", plain))["PhysicalResourceId"]
    theirs = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "VpcOnly", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "dsql:DbConnect"}
            ],
        }
    )
    fake.client("eu-west-1").put_cluster_policy(identifier=identifier, policy=theirs)
    was = props("eu-west-1", AdminRoleArns=[ADMIN])
    # A template that named admin roles, then no longer does: only our own policy would go.
    run(event("Update", plain, PhysicalResourceId=identifier, OldResourceProperties=was))
    assert fake.cluster("eu-west-1", identifier).policy == theirs


def test_the_admin_statement_merges_into_a_policy_someone_else_wrote(fake: FakeDsql) -> None:
    """Our statement (by its Sid) is added to or replaced in the cluster's policy; every other
    statement stays, and removing ours leaves theirs."""
    import json

    plain = props("eu-west-1")
    identifier = run(event("Create", plain))["PhysicalResourceId"]
    cluster = fake.cluster("eu-west-1", identifier)
    vpc_only = {
        "Sid": "VpcOnly",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "dsql:DbConnect",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-0123"}},
    }
    fake.client("eu-west-1").put_cluster_policy(
        identifier=identifier, policy=json.dumps({"Version": "2012-10-17", "Statement": [vpc_only]})
    )

    def statements() -> dict[str, dict[str, Any]]:
        assert cluster.policy is not None
        return {s["Sid"]: s for s in json.loads(cluster.policy)["Statement"]}

    restricted = props("eu-west-1", AdminRoleArns=[ADMIN])
    run(event("Update", restricted, PhysicalResourceId=identifier, OldResourceProperties=plain))
    ours = json.loads(dsql_cluster.admin_policy((ADMIN,)))["Statement"][0]
    assert statements() == {"VpcOnly": vpc_only, dsql_cluster.ADMIN_POLICY_SID: ours}
    puts = [c for c in fake.calls if c.operation == "PutClusterPolicy"]
    run(event("Update", restricted, PhysicalResourceId=identifier, OldResourceProperties=plain))
    assert [c for c in fake.calls if c.operation == "PutClusterPolicy"] == puts  # converged: no put

    two = props("eu-west-1", AdminRoleArns=[ADMIN, ADMIN + "2"])
    run(event("Update", two, PhysicalResourceId=identifier, OldResourceProperties=restricted))
    assert statements()["VpcOnly"] == vpc_only
    assert statements()[dsql_cluster.ADMIN_POLICY_SID]["Condition"]["ArnNotEquals"][
        "aws:PrincipalArn"
    ] == sorted([ADMIN, ADMIN + "2"])
    assert len(statements()) == 2

    run(event("Update", plain, PhysicalResourceId=identifier, OldResourceProperties=two))
    assert statements() == {"VpcOnly": vpc_only}
