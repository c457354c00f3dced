"""The cluster lifecycle under the IAM policies CDK synthesizes for it, not just the request shapes.

``DsqlCluster`` pairs are synthesized (no bundling), each lifecycle role's statements read from the
template (tests/fakes/iam.py resolves them and evaluates IAM's logic), and the fake DSQL authorizes
every call the real handlers make under CloudFormation's protocol (tests/fakes/cloudformation.py)
as the API reference says DSQL does. A condition that would deny a real deploy fails here: an
imported peer, a cluster tagged the old way, a rollback's delete. The negative cases show the
policies hold another resource's clusters out of reach.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk.assertions import Template

from ecommerce_constructs import DsqlCluster
from fakes.cloudformation import FakeCloudFormation, Lookup, Provider, Resource, Trip
from fakes.dsql_control_plane import FakeDsql
from fakes.iam import Policy, resolve, role_policy
from handlers.infra import dsql_cluster

ACCOUNT = "123456789012"
E1, E2, WITNESS = "us-east-1", "us-east-2", "us-west-2"
FIRST, SECOND = "shop-us-east-1", "shop-us-east-2"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:role/shop-setup-OnEvent"


@functools.cache
def synthesized(
    removal: str = "retain", peer: str = "construct", allow_unpeer: bool = False, admin: bool = False
) -> dict[str, Any]:
    """Templates of the two stacks. ``peer``: ``construct`` (a DsqlCluster of the first stack),
    ``none`` (the second alone) or a cluster identifier (``from_cluster_attributes``: made elsewhere)."""
    app = App(context={"aws:cdk:bundling-stacks": []})  # no strength: the constructs set it
    policy = RemovalPolicy.DESTROY if removal == "destroy" else RemovalPolicy.RETAIN
    first = Stack(app, FIRST, env=Environment(account=ACCOUNT, region=E1))
    second = Stack(app, SECOND, env=Environment(account=ACCOUNT, region=E2))
    a = DsqlCluster(first, "Database", witness_region=WITNESS, removal_policy=policy)
    other: Any = None
    if peer == "construct":
        other = a
    elif peer != "none":
        other = DsqlCluster.from_cluster_attributes(
            second, "Peer", cluster_identifier=peer, cluster_region=E1
        )
    b = DsqlCluster(
        second,
        "Database",
        witness_region=WITNESS,
        removal_policy=policy,
        peer=other,
        allow_unpeer=allow_unpeer,
    )
    if admin:
        for cluster in (a, b):
            cluster.restrict_admin_to(ADMIN_ARN)
    return {name: Template.from_stack(stack).to_json() for name, stack in ((FIRST, first), (SECOND, second))}


def _logical_id(template: dict[str, Any], kind: str, prefix: str = "") -> str:
    (found,) = [k for k, v in template["Resources"].items() if v["Type"] == kind and k.startswith(prefix)]
    return found


def policies(templates: dict[str, Any]) -> dict[str, Policy]:
    found = {}
    for stack, template in templates.items():
        region = E1 if stack == FIRST else E2
        for principal, role in (
            ("onEvent", "DsqlClusterProviderOnEventRole"),
            ("isComplete", "DsqlClusterProviderIsCompleteRole"),
        ):
            logical = _logical_id(template, "AWS::IAM::Role", role)
            found[f"{stack}/{principal}"] = role_policy(
                template, logical, stack_name=stack, region=region, account=ACCOUNT
            )
    return found


def cluster_resource(
    fake: FakeDsql, templates: dict[str, Any], stack: str, *, imported_arn: str | None = None
) -> Resource:
    """The stack's Custom::DsqlCluster with the properties of its template, each handler call made
    as the role that runs it."""
    template = templates[stack]
    region = E1 if stack == FIRST else E2
    logical = _logical_id(template, "Custom::DsqlCluster")
    raw = template["Resources"][logical]["Properties"]

    def as_role(principal: str, handler: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def call(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with fake.acting_as(f"{stack}/{principal}"):
                return handler(event, context)

        return call

    def properties(lookup: Lookup) -> dict[str, Any]:
        props = {k: v for k, v in raw.items() if k not in ("ServiceToken", "PeerArn")}
        props = resolve(props, stack_name=stack, region=region, account=ACCOUNT)
        if "PeerArn" in raw:
            props["PeerArn"] = imported_arn or lookup.att(
                _logical_id(templates[FIRST], "Custom::DsqlCluster"), "Arn", stack=FIRST
            )
        return dict(props)

    provider = Provider(
        as_role("onEvent", dsql_cluster.on_event),
        as_role("isComplete", dsql_cluster.is_complete),
        max_polls=60,
    )
    return Resource(logical, "Custom::DsqlCluster", provider, properties)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDsql]:
    control_plane = FakeDsql(ACCOUNT, ticks=1)
    monkeypatch.setattr(dsql_cluster, "client_factory", control_plane.client)
    monkeypatch.setattr(dsql_cluster.time, "sleep", lambda seconds: None)
    yield control_plane
    assert control_plane.denials == [], control_plane.denials  # no call the policies would deny


def pair(fake: FakeDsql) -> tuple[Any, Any]:
    fake.settle()
    (a,) = fake.find(E1)
    (b,) = fake.find(E2)
    assert (a.status, b.status) == ("ACTIVE", "ACTIVE") and a.peers == [b.arn]
    return a, b


@pytest.mark.parametrize("order", [(SECOND, FIRST), (FIRST, SECOND)])
def test_a_pair_deploys_and_destroys_under_its_own_policies(fake: FakeDsql, order: tuple[str, str]) -> None:
    templates = synthesized("destroy")
    fake.enforce(policies(templates))
    cloud = FakeCloudFormation()
    assert cloud.deploy(FIRST, E1, [cluster_resource(fake, templates, FIRST)]).status == "CREATE_COMPLETE"
    assert cloud.deploy(SECOND, E2, [cluster_resource(fake, templates, SECOND)]).status == "CREATE_COMPLETE"
    pair(fake)
    for name in order:
        assert cloud.delete(name).status == "DELETE_COMPLETE", cloud.stacks[name].reason
    fake.settle()
    assert fake.find(E1) == [] and fake.find(E2) == []


def test_a_failed_second_stack_and_its_redeploy_stay_within_the_policies(fake: FakeDsql) -> None:
    templates = synthesized()
    fake.enforce(policies(templates))
    cloud = FakeCloudFormation(deliver_twice=True)
    cloud.deploy(FIRST, E1, [cluster_resource(fake, templates, FIRST)])
    failed = cloud.deploy(SECOND, E2, [cluster_resource(fake, templates, SECOND), Trip()])
    assert failed.status == "ROLLBACK_COMPLETE"
    again = cloud.deploy(SECOND, E2, [cluster_resource(fake, templates, SECOND)])
    assert again.status == "CREATE_COMPLETE", again.reason
    pair(fake)


def test_an_allowed_unpeer_is_permitted(fake: FakeDsql) -> None:
    templates = synthesized()
    fake.enforce(policies(templates))
    cloud = FakeCloudFormation()
    cloud.deploy(FIRST, E1, [cluster_resource(fake, templates, FIRST)])
    cloud.deploy(SECOND, E2, [cluster_resource(fake, templates, SECOND)])
    pair(fake)
    alone = synthesized(peer="none", allow_unpeer=True)
    fake.enforce(policies(alone))  # the update runs with the new template's policies
    result = cloud.deploy(SECOND, E2, [cluster_resource(fake, alone, SECOND)])
    assert result.status == "UPDATE_COMPLETE", result.reason
    fake.settle()
    (b,) = fake.find(E2)
    assert b.peers == []


def test_a_cluster_tagged_the_old_way_is_claimed_then_destroyed(fake: FakeDsql) -> None:
    templates = synthesized("destroy")
    owner = resolve(
        templates[FIRST]["Resources"][_logical_id(templates[FIRST], "Custom::DsqlCluster")]["Properties"][
            "Owner"
        ],
        stack_name=FIRST,
        region=E1,
        account=ACCOUNT,
    )
    logical = owner.rsplit("/", 1)[1]
    legacy = fake.client(E1).create_cluster(  # by an earlier version, before any policy is enforced
        multiRegionProperties={"witnessRegion": WITNESS},
        deletionProtectionEnabled=False,
        tags={"ecommerce:cfn-resource": f"arn:aws:cloudformation:{E1}:{ACCOUNT}:stack/{FIRST}/0ld/{logical}"},
    )
    fake.settle()
    fake.enforce(policies(templates))
    cloud = FakeCloudFormation()
    assert cloud.deploy(FIRST, E1, [cluster_resource(fake, templates, FIRST)]).status == "CREATE_COMPLETE"
    (claimed,) = fake.find(E1)
    assert claimed.identifier == legacy["identifier"] and claimed.tags["ecommerce:owner"] == owner
    assert cloud.delete(FIRST).status == "DELETE_COMPLETE", cloud.stacks[FIRST].reason
    fake.settle()
    assert fake.find(E1) == []


def test_a_peer_made_elsewhere_is_named_through_its_exact_arn(
    fake: FakeDsql, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = fake.client(E1).create_cluster(
        multiRegionProperties={"witnessRegion": WITNESS}, deletionProtectionEnabled=False
    )  # no tag of ours
    fake.settle()
    templates = synthesized(peer=str(made["identifier"]))
    fake.enforce(policies(templates))
    cloud = FakeCloudFormation()
    result = cloud.deploy(
        SECOND, E2, [cluster_resource(fake, templates, SECOND, imported_arn=str(made["arn"]))]
    )
    assert result.status == "CREATE_COMPLETE", result.reason
    pair(fake)


def test_another_resources_cluster_is_out_of_reach(fake: FakeDsql) -> None:
    """Another app's (or stack's, or resource's) cluster in the same account and region: the first
    stack's lifecycle can neither change, delete nor claim it."""
    templates = synthesized("destroy")
    other = fake.client(E1).create_cluster(
        deletionProtectionEnabled=False,
        tags={
            "ecommerce:owner": "another-app-us-east-1/DatabaseB269D8BB",
            "ecommerce:managed-by": "ecommerce-constructs",
        },
    )
    fake.settle()
    fake.enforce(policies(templates))
    client = fake.client(E1)
    attempts = {
        "UpdateCluster": lambda: client.update_cluster(
            identifier=other["identifier"], deletionProtectionEnabled=True
        ),
        "DeleteCluster": lambda: client.delete_cluster(identifier=other["identifier"]),
        "TagResource": lambda: client.tag_resource(
            resourceArn=other["arn"], tags={"ecommerce:owner": f"{FIRST}/x"}
        ),
    }
    for principal in (f"{FIRST}/onEvent", f"{FIRST}/isComplete"):
        for attempt in attempts.values():
            with fake.acting_as(principal), pytest.raises(client.exceptions.AccessDeniedException):
                attempt()
    assert len(fake.denials) == 6
    fake.denials.clear()  # expected ones


@pytest.mark.parametrize("request_tags", [True, False], ids=["policy-check-with-tags", "without"])
@pytest.mark.parametrize("removal", ["retain", "destroy"])
def test_the_admin_only_policy_is_set_at_creation_and_removed_with_a_retained_cluster(
    fake: FakeDsql, removal: str, request_tags: bool
) -> None:
    """restrict_admin_to: CreateCluster carries the policy (no window without it), under the
    synthesized role; a retained cluster loses it with the stack (its setup roles go too). Whether
    CreateCluster's PutClusterPolicy check sees aws:RequestTag is not documented (the Service
    Authorization Reference lists no condition key for PutClusterPolicy): both answers must pass."""
    import json

    templates = synthesized(removal, admin=True)
    fake.create_policy_request_tags = request_tags
    fake.enforce(policies(templates))
    cloud = FakeCloudFormation()
    assert cloud.deploy(FIRST, E1, [cluster_resource(fake, templates, FIRST)]).status == "CREATE_COMPLETE"
    assert cloud.deploy(SECOND, E2, [cluster_resource(fake, templates, SECOND)]).status == "CREATE_COMPLETE"
    for cluster in pair(fake):
        document = json.loads(cluster.policy)
        (statement,) = document["Statement"]
        assert statement["Effect"] == "Deny" and statement["Action"] == "dsql:DbConnectAdmin"
        assert statement["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [ADMIN_ARN]}}
    creates = [c for c in fake.calls if c.operation == "CreateCluster"]
    assert creates and all("policy" in c.params for c in creates)
    for name in (SECOND, FIRST):
        assert cloud.delete(name).status == "DELETE_COMPLETE", cloud.stacks[name].reason
    fake.settle()
    if removal == "retain":
        assert [c.policy for c in (*fake.find(E1), *fake.find(E2))] == [None, None]


def test_another_resources_cluster_policy_is_out_of_reach(fake: FakeDsql) -> None:
    """The create-time PutClusterPolicy statement is StringEqualsIfExists on aws:RequestTag (the key
    may be absent): it must still not reach an existing cluster another resource owns."""
    templates = synthesized("destroy", admin=True)
    other = fake.client(E1).create_cluster(
        deletionProtectionEnabled=False,
        tags={
            "ecommerce:owner": "another-app-us-east-1/DatabaseB269D8BB",
            "ecommerce:managed-by": "ecommerce-constructs",
        },
    )
    fake.settle()
    fake.enforce(policies(templates))
    client = fake.client(E1)
    for principal in (f"{FIRST}/onEvent", f"{FIRST}/isComplete"):
        with fake.acting_as(principal), pytest.raises(client.exceptions.AccessDeniedException):
            client.put_cluster_policy(identifier=other["identifier"], policy='{"Statement": []}')
        with fake.acting_as(principal), pytest.raises(client.exceptions.AccessDeniedException):
            client.delete_cluster_policy(identifier=other["identifier"])
    assert len(fake.denials) == 4
    fake.denials.clear()  # expected ones


def test_without_restrict_admin_no_policy_rights() -> None:
    """The policy rights come with restrict_admin_to only."""
    plain = json_text(synthesized())
    assert "ClusterPolicy" not in plain
    assert "dsql:PutClusterPolicy" in json_text(synthesized(admin=True))


def json_text(templates: dict[str, Any]) -> str:
    import json

    return json.dumps(templates)
