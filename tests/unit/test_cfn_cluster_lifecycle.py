"""``Custom::DsqlCluster`` under everything CloudFormation does, replayed by tests/fakes/cloudformation.py.

Two regional stacks as the ready-made app deploys them: the first region's cluster (a witness, no
peer) and the second's (naming the first as its peer), each behind the Provider framework with the
real handlers, against the botocore-model-validating fake DSQL. Each scenario ends with assertions
on the real topology in the fake: no orphan, no unpeered or PENDING_SETUP cluster left, no stuck
stack, no cluster replaced by an update.
"""

from __future__ import annotations

from typing import Any

import pytest

from fakes.cloudformation import FakeCloudFormation, Lookup, Provider, Resource, Trip
from fakes.dsql_control_plane import FakeCluster, FakeDsql
from handlers.infra import dsql_cluster

ACCOUNT = "123456789012"
E1, E2, WITNESS = "us-east-1", "us-east-2", "us-west-2"
FIRST, SECOND = "shop-us-east-1", "shop-us-east-2"
LOGICAL = "DatabaseB269D8BB"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDsql:
    control_plane = FakeDsql(ACCOUNT, ticks=1)
    monkeypatch.setattr(dsql_cluster, "client_factory", control_plane.client)
    monkeypatch.setattr(dsql_cluster.time, "sleep", lambda seconds: None)
    return control_plane


PROVIDER = Provider(dsql_cluster.on_event, dsql_cluster.is_complete, max_polls=60)


def database(
    region: str,
    *,
    stack: str,
    peer_stack: str | None = None,
    witness: str | None = WITNESS,
    removal: str = "retain",
    protection: bool | None = None,
    allow_unpeer: bool = False,
    tags: dict[str, str] | None = None,
    kms_key: str | None = None,
    provider: Provider = PROVIDER,
) -> Resource:
    """The cluster resource as DsqlCluster synthesizes it (deletion protection follows the removal
    policy unless given)."""

    def properties(lookup: Lookup) -> dict[str, Any]:
        props: dict[str, Any] = {
            "Region": region,
            "DeletionProtection": str(removal == "retain" if protection is None else protection).lower(),
            "RemovalPolicy": removal,
            "AllowUnpeer": str(allow_unpeer).lower(),
            "Tags": {"Name": "shop", **(tags or {})},
            "Owner": f"{stack}/{LOGICAL}",
        }
        if witness is not None:
            props["WitnessRegion"] = witness
        if peer_stack is not None:
            props["PeerArn"] = lookup.att(LOGICAL, "Arn", stack=peer_stack)
        if kms_key is not None:
            props["KmsKey"] = kms_key
        return props

    return Resource(LOGICAL, "Custom::DsqlCluster", provider, properties)


def first(**options: Any) -> list[Resource]:
    return [database(E1, stack=FIRST, **options)]


def second(*extra: Resource, **options: Any) -> list[Resource]:
    return [database(E2, stack=SECOND, peer_stack=FIRST, **options), *extra]


def clusters(fake: FakeDsql, region: str) -> list[FakeCluster]:
    return fake.find(region)


def assert_one_peered_pair(fake: FakeDsql) -> tuple[FakeCluster, FakeCluster]:
    fake.settle()
    (a,) = clusters(fake, E1)
    (b,) = clusters(fake, E2)
    assert (a.status, b.status) == ("ACTIVE", "ACTIVE")
    assert a.peers == [b.arn] and b.peers == [a.arn]
    return a, b


@pytest.fixture(params=["once", "twice"])
def cloud(request: pytest.FixtureRequest) -> FakeCloudFormation:
    """Every scenario runs with each request delivered once, and delivered twice."""
    return FakeCloudFormation(deliver_twice=request.param == "twice")


def test_two_regions_deploy_into_one_peered_pair(fake: FakeDsql, cloud: FakeCloudFormation) -> None:
    assert cloud.deploy(FIRST, E1, first()).status == "CREATE_COMPLETE"
    assert cloud.deploy(SECOND, E2, second()).status == "CREATE_COMPLETE"
    _, b = assert_one_peered_pair(fake)
    assert cloud.stacks[SECOND].resources[LOGICAL].data["Arn"] == b.arn


@pytest.mark.parametrize("protection", [None, True])
def test_a_failed_second_stack_is_redeployed_onto_the_cluster_it_left(
    fake: FakeDsql, cloud: FakeCloudFormation, protection: bool | None
) -> None:
    """Anything failing after the second cluster exists rolls the stack back (retain: the cluster
    stays, peered); cdk deploy then recreates the stack with a new StackId, which must adopt it."""
    cloud.deploy(FIRST, E1, first())
    failed = cloud.deploy(SECOND, E2, second(Trip(), protection=protection))
    assert failed.status == "ROLLBACK_COMPLETE"
    left_behind = [c.identifier for c in clusters(fake, E2)]
    assert len(left_behind) == 1
    old_stack_id = failed.stack_id
    again = cloud.deploy(SECOND, E2, second(protection=protection))
    assert again.status == "CREATE_COMPLETE", again.reason
    assert again.stack_id != old_stack_id
    _, b = assert_one_peered_pair(fake)
    assert b.identifier == left_behind[0]
    assert b.tags[dsql_cluster.DSQL_OWNER_TAG] == f"{SECOND}/{LOGICAL}"


def test_a_failed_first_stack_is_redeployed_onto_its_waiting_cluster(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    assert cloud.deploy(FIRST, E1, [*first(), Trip()]).status == "ROLLBACK_COMPLETE"
    (waiting,) = clusters(fake, E1)
    assert waiting.status == "PENDING_SETUP"
    assert cloud.deploy(FIRST, E1, first()).status == "CREATE_COMPLETE"
    assert cloud.deploy(SECOND, E2, second()).status == "CREATE_COMPLETE"
    a, _ = assert_one_peered_pair(fake)
    assert a.identifier == waiting.identifier


def test_a_cluster_pending_delete_is_never_adopted_and_the_failure_says_how_to_proceed(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    """removal_policy destroy: the rollback deletes the second cluster, which then waits in
    PENDING_DELETE for its peer. The redeploy refuses (no new cluster leaks) and says what to do;
    doing it gives a fresh pair."""
    cloud.deploy(FIRST, E1, first(removal="destroy"))
    assert cloud.deploy(SECOND, E2, second(Trip(), removal="destroy")).status == "ROLLBACK_COMPLETE"
    (pending,) = clusters(fake, E2)
    assert pending.status == "PENDING_DELETE"
    refused = cloud.deploy(SECOND, E2, second(removal="destroy"))
    assert refused.status == "ROLLBACK_COMPLETE"
    assert "PENDING_DELETE" in (refused.reason or "") and "delete the peer too" in (refused.reason or "")
    assert [c.identifier for c in clusters(fake, E2)] == [pending.identifier]  # nothing leaked
    # What the message says: delete the peer too (its stack), wait, deploy both again.
    assert cloud.delete(FIRST).status == "DELETE_COMPLETE"
    fake.settle()
    assert clusters(fake, E1) == [] and clusters(fake, E2) == []
    assert cloud.deploy(FIRST, E1, first(removal="destroy")).status == "CREATE_COMPLETE"
    assert cloud.deploy(SECOND, E2, second(removal="destroy")).status == "CREATE_COMPLETE"
    assert_one_peered_pair(fake)


def test_clusters_tagged_the_old_way_are_recognised_and_retagged(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    client = fake.client(E1)
    legacy = client.create_cluster(
        multiRegionProperties={"witnessRegion": WITNESS},
        deletionProtectionEnabled=True,
        tags={
            "Name": "shop",
            "ecommerce:cfn-resource": f"arn:aws:cloudformation:{E1}:{ACCOUNT}:stack/{FIRST}/0ld-1d/{LOGICAL}",
        },
    )
    assert cloud.deploy(FIRST, E1, first()).status == "CREATE_COMPLETE"
    (a,) = clusters(fake, E1)
    assert a.identifier == legacy["identifier"]
    assert a.tags[dsql_cluster.DSQL_OWNER_TAG] == f"{FIRST}/{LOGICAL}"
    assert "ecommerce:cfn-resource" not in a.tags


def test_a_refused_unpeer_rolls_back_cleanly(fake: FakeDsql, cloud: FakeCloudFormation) -> None:
    cloud.deploy(FIRST, E1, first())
    cloud.deploy(SECOND, E2, second())
    unpeered = [database(E2, stack=SECOND)]  # the configuration dropped the first region
    result = cloud.deploy(SECOND, E2, unpeered)
    assert result.status == "UPDATE_ROLLBACK_COMPLETE", result.status
    assert "allow_unpeer" in (result.reason or "")
    assert_one_peered_pair(fake)


def test_a_refused_witness_change_rolls_back_cleanly(fake: FakeDsql, cloud: FakeCloudFormation) -> None:
    cloud.deploy(FIRST, E1, first())
    cloud.deploy(SECOND, E2, second())
    result = cloud.deploy(FIRST, E1, first(witness="us-east-2"))
    assert result.status == "UPDATE_ROLLBACK_COMPLETE"
    assert "needs new clusters" in (result.reason or "")
    assert_one_peered_pair(fake)


def test_an_update_failing_elsewhere_rolls_the_cluster_back(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    cloud.deploy(FIRST, E1, first())
    cloud.deploy(SECOND, E2, second())
    before = {c.identifier for c in clusters(fake, E2)}
    result = cloud.deploy(SECOND, E2, second(Trip(), tags={"CostCenter": "42"}))
    assert result.status == "UPDATE_ROLLBACK_COMPLETE"
    _, b = assert_one_peered_pair(fake)
    assert "CostCenter" not in b.tags and {b.identifier} == before


def test_an_allowed_unpeer_followed_by_a_failure_rolls_back_without_getting_stuck(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    """DSQL cannot restore a removed peer; the rollback asking for it must not fail the stack."""
    cloud.deploy(FIRST, E1, first())
    cloud.deploy(SECOND, E2, second())
    result = cloud.deploy(SECOND, E2, [database(E2, stack=SECOND, allow_unpeer=True), Trip()])
    assert result.status == "UPDATE_ROLLBACK_COMPLETE", result.reason
    assert (
        cloud.deploy(SECOND, E2, [database(E2, stack=SECOND, allow_unpeer=True)]).status == "UPDATE_COMPLETE"
    )


def test_no_update_ever_replaces_a_cluster(fake: FakeDsql, cloud: FakeCloudFormation) -> None:
    cloud.deploy(FIRST, E1, first())
    cloud.deploy(SECOND, E2, second())
    ids = {(e.stack, e.logical_id): e.physical_id for e in cloud.events if e.request == "Create"}
    cloud.deploy(SECOND, E2, second(tags={"a": "1"}, protection=False))
    cloud.deploy(SECOND, E2, second(tags={"a": "2"}))
    updates = [e for e in cloud.events if e.request == "Update"]
    assert updates and all(e.physical_id == ids[(e.stack, e.logical_id)] for e in updates)


def test_deletion_protection_set_by_hand_stops_a_destroy_until_an_operator_lifts_it(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    assert cloud.deploy(
        "single", E1, [database(E1, stack="single", witness=None, removal="destroy")]
    ).status == ("CREATE_COMPLETE")
    (cluster,) = clusters(fake, E1)
    assert cluster.deletion_protection is False  # follows removal_policy destroy
    fake.client(E1).update_cluster(identifier=cluster.identifier, deletionProtectionEnabled=True)  # by hand
    fake.settle()
    refused = cloud.delete("single")
    assert refused.status == "DELETE_FAILED"
    assert f"--identifier {cluster.identifier} --no-deletion-protection-enabled" in (refused.reason or "")
    assert clusters(fake, E1)[0].status == "ACTIVE"
    fake.client(E1).update_cluster(identifier=cluster.identifier, deletionProtectionEnabled=False)
    assert cloud.delete("single").status == "DELETE_COMPLETE"
    fake.settle()
    assert clusters(fake, E1) == []


@pytest.mark.parametrize("order", [(SECOND, FIRST), (FIRST, SECOND)])
def test_destroy_all_in_either_order_removes_both_clusters(
    fake: FakeDsql, cloud: FakeCloudFormation, order: tuple[str, str]
) -> None:
    cloud.deploy(FIRST, E1, first(removal="destroy"))
    cloud.deploy(SECOND, E2, second(removal="destroy"))
    for name in order:
        assert cloud.delete(name).status == "DELETE_COMPLETE"
    fake.settle()
    assert clusters(fake, E1) == [] and clusters(fake, E2) == []


def test_retained_clusters_survive_destroy_all_and_are_adopted_by_the_next_deploy(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    cloud.deploy(FIRST, E1, first())
    cloud.deploy(SECOND, E2, second())
    pair = assert_one_peered_pair(fake)
    cloud.delete(SECOND)
    cloud.delete(FIRST)
    assert cloud.deploy(FIRST, E1, first()).status == "CREATE_COMPLETE"
    assert cloud.deploy(SECOND, E2, second()).status == "CREATE_COMPLETE"
    assert assert_one_peered_pair(fake) == pair


def test_a_create_that_never_answered_is_rolled_back_and_its_cluster_adopted_later(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    """The handler created the cluster, then no response reached CloudFormation: the rollback's
    Delete carries a physical id CloudFormation made up. It names no cluster, so it must succeed
    (DSQL would refuse it as an identifier), and the redeploy adopts the cluster by its owner tag."""
    silent = Provider(
        dsql_cluster.on_event, dsql_cluster.is_complete, max_polls=60, silent_on=frozenset({"Create"})
    )
    cloud.deploy(FIRST, E1, first(removal="destroy"))
    failed = cloud.deploy(SECOND, E2, second(removal="destroy", provider=silent))
    assert failed.status == "ROLLBACK_COMPLETE", (failed.status, failed.reason)
    (orphan,) = clusters(fake, E2)
    again = cloud.deploy(SECOND, E2, second(removal="destroy"))
    assert again.status == "CREATE_COMPLETE", again.reason
    _, b = assert_one_peered_pair(fake)
    assert b.identifier == orphan.identifier


@pytest.mark.parametrize(
    "physical_id", ["s-DatabaseB269D8BB-1ABCDEF", "3f2c0d6e-9d4b-4f7e-a1c2-5b6d7e8f9a0b"]
)
def test_a_delete_of_an_id_that_names_no_cluster_touches_nothing(fake: FakeDsql, physical_id: str) -> None:
    event = {
        "RequestType": "Delete",
        "PhysicalResourceId": physical_id,
        "StackId": f"arn:aws:cloudformation:{E1}:{ACCOUNT}:stack/{FIRST}/x",
        "LogicalResourceId": LOGICAL,
        "ResourceProperties": {"Region": E1, "RemovalPolicy": "destroy", "Owner": f"{FIRST}/{LOGICAL}"},
    }
    assert dsql_cluster.on_event(event)["PhysicalResourceId"] == physical_id
    assert dsql_cluster.is_complete(event) == {"IsComplete": True}
    assert fake.calls == []


def _owned_cluster(fake: FakeDsql, region: str, owner: str, **extra: Any) -> str:
    created = fake.client(region).create_cluster(
        deletionProtectionEnabled=True, tags={dsql_cluster.DSQL_OWNER_TAG: owner}, **extra
    )
    fake.settle()
    return str(created["identifier"])


def test_adoption_takes_the_one_owned_cluster_that_fits_whatever_order_dsql_lists_them(
    fake: FakeDsql,
) -> None:
    owner = f"{FIRST}/{LOGICAL}"
    fits = _owned_cluster(fake, E1, owner, multiRegionProperties={"witnessRegion": WITNESS})
    _owned_cluster(fake, E1, owner)  # single-region: not what the template asks for
    owned = dsql_cluster._owned(fake.client(E1), E1, owner)
    props = dsql_cluster.Props.of({"Region": E1, "WitnessRegion": WITNESS, "Owner": owner})
    assert dsql_cluster._adoptable(owned, props).identifier == fits
    assert dsql_cluster._adoptable(owned[::-1], props).identifier == fits


def test_adoption_refuses_to_choose_between_two_fitting_clusters(fake: FakeDsql) -> None:
    owner = f"{FIRST}/{LOGICAL}"
    both = {
        _owned_cluster(fake, E1, owner, multiRegionProperties={"witnessRegion": WITNESS}) for _ in range(2)
    }
    props = dsql_cluster.Props.of({"Region": E1, "WitnessRegion": WITNESS, "Owner": owner})
    with pytest.raises(dsql_cluster.ClusterError, match="several clusters") as refused:
        dsql_cluster._adoptable(dsql_cluster._owned(fake.client(E1), E1, owner), props)
    assert all(identifier in str(refused.value) for identifier in both)


def test_a_rollback_waits_out_the_inaccessible_key_it_moves_away_from() -> None:
    """A failed switch to key K2 rolls back to K1; DSQL may still report K2 inaccessible on the first
    poll. Failing then would fail the rollback (UPDATE_ROLLBACK_FAILED); only the requested key's
    inaccessibility is a failure."""
    k1, k2 = (f"arn:aws:kms:{E1}:{ACCOUNT}:key/{n}" for n in ("k1", "k2"))
    reply = {
        "identifier": "a" * 26,
        "arn": f"arn:aws:dsql:{E1}:{ACCOUNT}:cluster/{'a' * 26}",
        "status": "ACTIVE",
        "encryptionDetails": {
            "encryptionType": "CUSTOMER_MANAGED_KMS_KEY",
            "kmsKeyArn": k2,
            "encryptionStatus": "KMS_KEY_INACCESSIBLE",
        },
    }
    cluster = dsql_cluster.Cluster.of(E1, reply)
    assert (
        dsql_cluster._encryption_ready(cluster, dsql_cluster.Props.of({"Region": E1, "KmsKey": k1})) is False
    )
    with pytest.raises(dsql_cluster.ClusterError, match="KMS_KEY_INACCESSIBLE"):
        dsql_cluster._encryption_ready(cluster, dsql_cluster.Props.of({"Region": E1, "KmsKey": k2}))


def test_a_destroy_never_deletes_a_cluster_without_this_resources_tag(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    cloud.deploy("single", E1, [database(E1, stack="single", witness=None, removal="destroy")])
    (cluster,) = clusters(fake, E1)
    fake.client(E1).untag_resource(resourceArn=cluster.arn, tagKeys=[dsql_cluster.DSQL_OWNER_TAG])  # by hand
    refused = cloud.delete("single")
    assert refused.status == "DELETE_FAILED"
    assert "does not carry this resource's tag" in (refused.reason or "")
    assert clusters(fake, E1)[0].status == "ACTIVE"


def test_a_rollback_delete_of_a_cluster_still_creating_waits_and_deletes_it(
    monkeypatch: pytest.MonkeyPatch, cloud: FakeCloudFormation
) -> None:
    """The create fails in is_complete (a peer gone, the time budget) while DSQL still creates the
    cluster; the rollback's Delete reaches it CREATING, which DSQL refuses to delete. The handler
    deletes it once it settles, so the rollback completes and nothing is left."""
    slow = FakeDsql(ACCOUNT, ticks=4)
    monkeypatch.setattr(dsql_cluster, "client_factory", slow.client)
    monkeypatch.setattr(dsql_cluster.time, "sleep", lambda seconds: None)

    def impatient(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event["RequestType"] == "Create":
            raise dsql_cluster.ClusterError("still CREATING after the time budget (simulated)")
        return dsql_cluster.is_complete(event, context)

    provider = Provider(dsql_cluster.on_event, impatient, max_polls=60)
    single = [database(E1, stack="single", witness=None, removal="destroy", provider=provider)]
    failed = cloud.deploy("single", E1, single)
    assert failed.status == "ROLLBACK_COMPLETE", (failed.status, failed.reason)
    slow.settle()
    assert slow.find(E1) == []


def test_protection_set_by_hand_survives_an_unrelated_update_and_the_delete_after_it(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    """The template says off (destroy); an operator turned it on. An update that changes only a tag
    must not turn it off again, so the stack delete that follows still refuses."""
    single = {"stack": "single", "witness": None, "removal": "destroy"}
    assert cloud.deploy("single", E1, [database(E1, **single)]).status == "CREATE_COMPLETE"
    (cluster,) = clusters(fake, E1)
    fake.client(E1).update_cluster(identifier=cluster.identifier, deletionProtectionEnabled=True)  # by hand
    fake.settle()
    assert cloud.deploy("single", E1, [database(E1, tags={"team": "a"}, **single)]).status == (
        "UPDATE_COMPLETE"
    )
    fake.settle()
    assert clusters(fake, E1)[0].deletion_protection is True
    assert cloud.delete("single").status == "DELETE_FAILED"
    fake.settle()
    assert [c.status for c in clusters(fake, E1)] == ["ACTIVE"]


def test_the_template_lowering_protection_lowers_it_and_its_rollback_raises_it_again(
    fake: FakeDsql, cloud: FakeCloudFormation
) -> None:
    single = {"stack": "single", "witness": None}
    cloud.deploy("single", E1, [database(E1, **single)])  # retain: protection on
    rolled_back = cloud.deploy("single", E1, [database(E1, removal="destroy", **single), Trip()])
    assert rolled_back.status == "UPDATE_ROLLBACK_COMPLETE", rolled_back.reason
    fake.settle()
    assert clusters(fake, E1)[0].deletion_protection is True
    assert cloud.deploy("single", E1, [database(E1, removal="destroy", **single)]).status == "UPDATE_COMPLETE"
    fake.settle()
    assert clusters(fake, E1)[0].deletion_protection is False


def test_a_failed_cluster_left_behind_is_not_adopted_and_the_message_says_how_to_proceed(
    fake: FakeDsql,
) -> None:
    owner = f"{FIRST}/{LOGICAL}"
    identifier = _owned_cluster(fake, E1, owner, multiRegionProperties={"witnessRegion": WITNESS})
    fake.clusters[(E1, identifier)].status = "FAILED"
    owned = dsql_cluster._owned(fake.client(E1), E1, owner)
    props = dsql_cluster.Props.of({"Region": E1, "WitnessRegion": WITNESS, "Owner": owner})
    with pytest.raises(dsql_cluster.ClusterError) as refused:
        dsql_cluster._adoptable(owned, props)
    message = str(refused.value)
    assert "FAILED" in message
    assert f"aws dsql delete-cluster --identifier {identifier}" in message


def test_is_complete_never_tags_and_says_how_to_tag_a_cluster_tagged_the_old_way(fake: FakeDsql) -> None:
    """is_complete's role has no TagResource: a busy cluster it deletes later must already carry the
    new owner tag, or the delete fails with the command (not with AccessDenied)."""
    owner = f"{FIRST}/{LOGICAL}"
    created = fake.client(E1).create_cluster(
        deletionProtectionEnabled=False,
        tags={dsql_cluster.LEGACY_OWNER_TAG: f"arn:x:stack/{FIRST}/id/{LOGICAL}"},
    )
    fake.settle()
    cluster = dsql_cluster.get_cluster(E1, str(created["identifier"]))
    assert cluster is not None
    fake.calls.clear()
    with pytest.raises(dsql_cluster.ClusterError, match="aws dsql tag-resource"):
        dsql_cluster._delete_now(cluster, owner, claim=False)
    assert not [c for c in fake.calls if c[0] in ("TagResource", "DeleteCluster")]
