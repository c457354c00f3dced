"""Tests of the fake DSQL control plane itself, driven only through the boto3 clients it hands out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fakes.dsql_control_plane import Call, FakeDsql

EAST1, EAST2, WITNESS = "us-east-1", "us-east-2", "us-west-2"


@pytest.fixture
def fake() -> FakeDsql:
    return FakeDsql()


def poll(client: Any, identifier: str) -> str:
    return str(client.get_cluster(identifier=identifier)["status"])


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return dict(info.value.response)


def code(response: dict[str, Any]) -> str:
    return str(response["Error"]["Code"])


def mr(*peers: str, witness: str = WITNESS) -> dict[str, Any]:
    return {"witnessRegion": witness, "clusters": list(peers)}


def witness_only(fake: FakeDsql, region: str = EAST1, **kwargs: Any) -> dict[str, Any]:
    return dict(
        fake.client(region).create_cluster(multiRegionProperties={"witnessRegion": WITNESS}, **kwargs)
    )


def peered_pair(fake: FakeDsql) -> tuple[dict[str, Any], dict[str, Any]]:
    a = witness_only(fake, deletionProtectionEnabled=False)
    b = fake.client(EAST2).create_cluster(deletionProtectionEnabled=False, multiRegionProperties=mr(a["arn"]))
    fake.client(EAST1).update_cluster(identifier=a["identifier"], multiRegionProperties=mr(b["arn"]))
    fake.settle()
    return a, dict(b)


def test_documented_peering_flow_reaches_active_after_polling(fake: FakeDsql) -> None:
    east1, east2 = fake.client(EAST1), fake.client(EAST2)
    a = east1.create_cluster(multiRegionProperties={"witnessRegion": WITNESS})
    assert a["status"] == "PENDING_SETUP"
    assert a["deletionProtectionEnabled"] is True
    assert a["multiRegionProperties"] == {"witnessRegion": WITNESS, "clusters": [a["arn"]]}  # own ARN

    b = east2.create_cluster(multiRegionProperties=mr(a["arn"]))
    assert b["status"] == "PENDING_SETUP"
    assert sorted(b["multiRegionProperties"]["clusters"]) == sorted([a["arn"], b["arn"]])
    assert [poll(east1, a["identifier"]) for _ in range(3)] == ["PENDING_SETUP"] * 3  # stable until peered

    updated = east1.update_cluster(identifier=a["identifier"], multiRegionProperties=mr(b["arn"]))
    assert updated["status"] == "UPDATING"
    assert set(updated) == {"identifier", "arn", "status", "creationTime", "ResponseMetadata"}
    assert [poll(east1, a["identifier"]), poll(east1, a["identifier"])] == ["UPDATING", "ACTIVE"]
    assert [poll(east2, b["identifier"]), poll(east2, b["identifier"])] == ["UPDATING", "ACTIVE"]
    got = east2.get_cluster(identifier=b["identifier"])
    assert sorted(got["multiRegionProperties"]["clusters"]) == sorted([a["arn"], b["arn"]])
    assert fake.cluster(EAST1, a["identifier"]).peers == [b["arn"]]
    assert fake.cluster(EAST2, b["identifier"]).peers == [a["arn"]]


def test_both_witness_only_then_each_updated_with_own_arn_listed(fake: FakeDsql) -> None:
    """The Terraform/CloudFormation variant; CloudFormation's flow lists both ARNs including the own one."""
    a, b = witness_only(fake, EAST1), witness_only(fake, EAST2)
    fake.client(EAST1).update_cluster(
        identifier=a["identifier"], multiRegionProperties=mr(b["arn"], a["arn"])
    )
    fake.settle()
    assert fake.cluster(EAST1, a["identifier"]).status == "PENDING_SETUP"  # B does not list A yet
    fake.client(EAST2).update_cluster(
        identifier=b["identifier"], multiRegionProperties=mr(a["arn"], b["arn"])
    )
    assert fake.cluster(EAST1, a["identifier"]).status == "UPDATING"
    fake.settle()
    assert {c.status for c in fake.clusters.values()} == {"ACTIVE"}
    assert fake.cluster(EAST1, a["identifier"]).peers == [b["arn"]]


def test_single_region_create(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    created = east1.create_cluster(deletionProtectionEnabled=False, tags={"Name": "one"})
    identifier = created["identifier"]
    assert created["status"] == "CREATING"
    assert len(identifier) == 26
    assert created["arn"] == f"arn:aws:dsql:{EAST1}:123456789012:cluster/{identifier}"
    assert created["endpoint"] == f"{identifier}.dsql.{EAST1}.on.aws"
    assert created["encryptionDetails"] == {
        "encryptionType": "AWS_OWNED_KMS_KEY",
        "encryptionStatus": "ENABLED",
    }
    assert "multiRegionProperties" not in created
    assert created["creationTime"].tzinfo is not None
    assert [poll(east1, identifier), poll(east1, identifier)] == ["CREATING", "ACTIVE"]
    got = east1.get_cluster(identifier=identifier)
    assert got["tags"] == {"Name": "one"}
    assert got["deletionProtectionEnabled"] is False

    kms = east1.create_cluster(kmsEncryptionKey="arn:aws:kms:us-east-1:123456789012:key/abc-123")
    assert kms["encryptionDetails"]["encryptionType"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert kms["encryptionDetails"]["kmsKeyArn"] == "arn:aws:kms:us-east-1:123456789012:key/abc-123"
    name = east1.get_vpc_endpoint_service_name(identifier=identifier)["serviceName"]
    assert name.startswith(f"com.amazonaws.{EAST1}.dsql")


def test_ticks_zero_settles_immediately() -> None:
    fake = FakeDsql(ticks=0)
    created = fake.client(EAST1).create_cluster()
    assert created["status"] == "CREATING"
    assert fake.cluster(EAST1, created["identifier"]).status == "ACTIVE"


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("witness_same_region", "multiRegionProperties.witnessRegion"),
        ("witness_other_set", "multiRegionProperties.witnessRegion"),
        ("witness_not_a_region", "multiRegionProperties.witnessRegion"),
        ("peer_same_region", "multiRegionProperties.clusters[0]"),
        ("peer_other_set", "multiRegionProperties.clusters[0]"),
        ("peer_unknown", "multiRegionProperties.clusters[0]"),
        ("peer_other_account", "multiRegionProperties.clusters[0]"),
        ("peer_other_witness", "multiRegionProperties.clusters[0]"),
        ("peer_malformed_arn", "multiRegionProperties.clusters[0]"),
        ("peers_without_witness", "multiRegionProperties.witnessRegion"),
        ("bad_tag_key", "tags key 'bad!key'"),
        ("bad_kms_key", "kmsEncryptionKey"),
    ],
)
def test_invalid_create_requests_are_rejected(fake: FakeDsql, case: str, field: str) -> None:
    a = witness_only(fake, EAST1)
    euro = fake.client("eu-west-1").create_cluster(multiRegionProperties={"witnessRegion": "eu-west-2"})
    odd = fake.client(EAST1).create_cluster(multiRegionProperties={"witnessRegion": EAST2})
    unknown = f"arn:aws:dsql:{EAST2}:123456789012:cluster/{'a' * 26}"
    cases: dict[str, dict[str, Any]] = {
        "witness_same_region": {"multiRegionProperties": {"witnessRegion": EAST2}},
        "witness_other_set": {"multiRegionProperties": {"witnessRegion": "eu-west-1"}},
        "witness_not_a_region": {"multiRegionProperties": {"witnessRegion": "mars-1"}},
        "peer_same_region": {"multiRegionProperties": mr(witness_only(fake, EAST2)["arn"])},
        "peer_other_set": {"multiRegionProperties": mr(euro["arn"])},
        "peer_unknown": {"multiRegionProperties": mr(unknown)},
        "peer_other_account": {"multiRegionProperties": mr(a["arn"].replace("123456789012", "210987654321"))},
        "peer_other_witness": {"multiRegionProperties": {"witnessRegion": WITNESS, "clusters": [odd["arn"]]}},
        "peer_malformed_arn": {"multiRegionProperties": mr("arn:aws:dsql:us-east-1:123:cluster/X")},
        "peers_without_witness": {"multiRegionProperties": {"clusters": [a["arn"]]}},
        "bad_tag_key": {"tags": {"bad!key": "v"}},
        "bad_kms_key": {"kmsEncryptionKey": "not a key!"},
    }
    client = fake.client(EAST2)
    before = len(fake.clusters)
    response = error_of(client.create_cluster, **cases[case])
    assert code(response) == "ValidationException"
    assert response["reason"] == "fieldValidationFailed"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [f["name"] for f in response["fieldList"]] == [field]
    assert len(fake.clusters) == before


def test_peer_same_region_as_caller_is_rejected(fake: FakeDsql) -> None:
    a = witness_only(fake, EAST1)
    response = error_of(fake.client(EAST1).create_cluster, multiRegionProperties=mr(a["arn"]))
    assert code(response) == "ValidationException"
    assert "another Region" in response["fieldList"][0]["message"]


def test_identifier_pattern_is_enforced(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    for call in (east1.get_cluster, east1.delete_cluster, east1.update_cluster):
        response = error_of(call, identifier="X")
        assert code(response) == "ValidationException"
        assert response["fieldList"][0]["name"] == "identifier"
    assert code(error_of(east1.get_cluster, identifier="a" * 26)) == "ResourceNotFoundException"


def test_update_validation(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    single = east1.create_cluster()
    fake.settle()
    a = witness_only(fake, EAST1)
    b = witness_only(fake, EAST2)
    for identifier, props in [
        (single["identifier"], mr(b["arn"])),  # a witness can't be added to a single-Region cluster
        (a["identifier"], mr(b["arn"], witness="us-east-2")),  # the witness can't change
        (a["identifier"], {"clusters": [b["arn"]]}),  # full replacement needs the witness
    ]:
        response = error_of(east1.update_cluster, identifier=identifier, multiRegionProperties=props)
        assert code(response) == "ValidationException"
    protect = east1.update_cluster(identifier=a["identifier"], deletionProtectionEnabled=False)
    assert protect["status"] == "PENDING_SETUP"  # deletion protection alone is immediate
    assert fake.cluster(EAST1, a["identifier"]).deletion_protection is False


def test_conflict_on_update_while_updating(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    created = east1.create_cluster()
    response = error_of(
        east1.update_cluster, identifier=created["identifier"], deletionProtectionEnabled=False
    )
    assert code(response) == "ConflictException"  # CREATING
    fake.settle()
    new_key = "arn:aws:kms:us-east-1:123456789012:key/k1"
    assert (
        east1.update_cluster(identifier=created["identifier"], kmsEncryptionKey=new_key)["status"]
        == "UPDATING"
    )
    got = east1.get_cluster(identifier=created["identifier"])
    assert got["encryptionDetails"]["encryptionStatus"] == "UPDATING"
    response = error_of(
        east1.update_cluster, identifier=created["identifier"], deletionProtectionEnabled=False
    )
    assert code(response) == "ConflictException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["resourceId"] == created["identifier"]
    assert poll(east1, created["identifier"]) == "ACTIVE"


def test_removing_the_peer_updates_both_sides(fake: FakeDsql) -> None:
    a, b = peered_pair(fake)
    east1 = fake.client(EAST1)
    assert (
        east1.update_cluster(identifier=a["identifier"], multiRegionProperties=mr())["status"] == "UPDATING"
    )
    assert fake.cluster(EAST2, b["identifier"]).peers == []
    assert fake.cluster(EAST2, b["identifier"]).status == "UPDATING"
    fake.settle()
    got = east1.get_cluster(identifier=a["identifier"])
    assert got["multiRegionProperties"]["clusters"] == [a["arn"]]
    assert got["status"] == "ACTIVE"


@pytest.mark.parametrize("mode", ["ValidationException", "ConflictException"])
def test_protected_delete_error(mode: str) -> None:
    fake = FakeDsql(protected_delete_error=mode)
    east1 = fake.client(EAST1)
    created = east1.create_cluster()
    fake.settle()
    response = error_of(east1.delete_cluster, identifier=created["identifier"])
    assert code(response) == mode
    if mode == "ValidationException":
        assert response["reason"] == "deletionProtectionEnabled"
    assert fake.cluster(EAST1, created["identifier"]).status == "ACTIVE"
    east1.update_cluster(identifier=created["identifier"], deletionProtectionEnabled=False)
    assert east1.delete_cluster(identifier=created["identifier"])["status"] == "DELETING"
    assert poll(east1, created["identifier"]) == "DELETING"
    missing = error_of(east1.get_cluster, identifier=created["identifier"])
    assert code(missing) == "ResourceNotFoundException"
    assert missing["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (missing["resourceId"], missing["resourceType"]) == (created["identifier"], "cluster")


def test_peered_delete_waits_for_the_peer(fake: FakeDsql) -> None:
    a, b = peered_pair(fake)
    east1, east2 = fake.client(EAST1), fake.client(EAST2)
    assert east1.delete_cluster(identifier=a["identifier"])["status"] == "PENDING_DELETE"
    fake.settle()
    assert [poll(east1, a["identifier"]) for _ in range(3)] == ["PENDING_DELETE"] * 3
    assert east1.delete_cluster(identifier=a["identifier"])["status"] == "PENDING_DELETE"  # idempotent
    assert code(
        error_of(east1.update_cluster, identifier=a["identifier"], deletionProtectionEnabled=True)
    ) == ("ConflictException")
    assert east2.delete_cluster(identifier=b["identifier"])["status"] == "DELETING"
    assert fake.cluster(EAST1, a["identifier"]).status == "DELETING"
    assert east2.delete_cluster(identifier=b["identifier"])["status"] == "DELETING"  # idempotent
    fake.settle()
    assert fake.clusters == {}
    assert code(error_of(east2.delete_cluster, identifier=b["identifier"])) == "ResourceNotFoundException"


def test_unpeered_multi_region_cluster_deletes_directly(fake: FakeDsql) -> None:
    a = witness_only(fake, deletionProtectionEnabled=False)
    b = fake.client(EAST2).create_cluster(multiRegionProperties=mr(a["arn"]))  # B lists A, A not B
    assert fake.client(EAST1).delete_cluster(identifier=a["identifier"])["status"] == "DELETING"
    fake.settle()
    assert fake.cluster(EAST2, b["identifier"]).peers == []  # the vanished ARN is dropped


def test_client_token_idempotency(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    first = east1.create_cluster(clientToken="token-1", tags={"k": "v"})
    again = east1.create_cluster(clientToken="token-1", tags={"k": "v"})
    assert again["identifier"] == first["identifier"]
    assert len(fake.clusters) == 1
    assert fake.cluster(EAST1, first["identifier"]).client_token == "token-1"
    response = error_of(east1.create_cluster, clientToken="token-1", tags={"k": "other"})
    assert code(response) == "ConflictException"
    assert len(fake.clusters) == 1
    fake.client(EAST2).create_cluster(clientToken="token-1", tags={"k": "other"})  # tokens are per Region
    assert len(fake.clusters) == 2
    generated = [c.params["clientToken"] for c in fake.calls if c.operation == "CreateCluster"]
    assert generated[:2] == ["token-1", "token-1"]


def test_injected_throttling_and_other_errors(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    fake.inject("CreateCluster", "ThrottlingException", retry_after=7)
    response = error_of(east1.create_cluster)
    assert code(response) == "ThrottlingException"
    assert response["retryAfterSeconds"] == 7
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["ResponseMetadata"]["RetryAttempts"] == 0  # retries are disabled
    assert fake.clusters == {}
    created = east1.create_cluster()

    fake.inject("GetCluster", "InternalServerException", times=2, region=EAST1)
    fake.inject("CreateCluster", "ServiceQuotaExceededException", region=EAST2)
    fake.inject("ListClusters", "AccessDeniedException")
    fake.inject("UpdateCluster", "ValidationException")
    fake.inject("DeleteCluster", "ConflictException")
    for _ in range(2):
        assert (
            code(error_of(east1.get_cluster, identifier=created["identifier"])) == "InternalServerException"
        )
    assert poll(east1, created["identifier"]) == "CREATING"
    east1.create_cluster()  # the quota injection only applies to us-east-2
    quota = error_of(fake.client(EAST2).create_cluster)
    assert quota["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert {"resourceId", "resourceType", "serviceCode", "quotaCode"} <= set(quota)
    assert code(error_of(east1.list_clusters)) == "AccessDeniedException"
    invalid = error_of(east1.update_cluster, identifier=created["identifier"])
    assert invalid["reason"] == "other"
    assert code(error_of(east1.delete_cluster, identifier=created["identifier"])) == "ConflictException"

    with pytest.raises(ValueError, match="not a modeled error"):
        fake.inject("GetCluster", "ConflictException")
    with pytest.raises(ValueError, match="unknown or unimplemented"):
        fake.inject("StartBackupJob", "ThrottlingException")


def test_list_clusters_pagination(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    created = [east1.create_cluster()["identifier"] for _ in range(5)]
    fake.client(EAST2).create_cluster()
    page = east1.list_clusters(maxResults=2)
    assert [c["identifier"] for c in page["clusters"]] == created[:2]
    page2 = east1.list_clusters(maxResults=2, nextToken=page["nextToken"])
    assert [c["identifier"] for c in page2["clusters"]] == created[2:4]
    pages = list(east1.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["clusters"]) for p in pages] == [2, 2, 1]
    assert [c["identifier"] for p in pages for c in p["clusters"]] == created
    assert "nextToken" not in pages[-1]
    assert code(error_of(east1.list_clusters, maxResults=101)) == "ValidationException"
    assert code(error_of(east1.list_clusters, nextToken="garbage")) == "ValidationException"


def test_tags(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    arn = east1.create_cluster(tags={"stack": "s1", "side": "A"})["arn"]
    east1.create_cluster(tags={"stack": "s2"})
    assert east1.list_tags_for_resource(resourceArn=arn)["tags"] == {"stack": "s1", "side": "A"}
    tagged = east1.tag_resource(resourceArn=arn, tags={"extra": "1"})
    assert set(tagged) == {"ResponseMetadata"}  # empty body
    assert set(east1.untag_resource(resourceArn=arn, tagKeys=["side", "absent"])) == {"ResponseMetadata"}
    assert east1.list_tags_for_resource(resourceArn=arn)["tags"] == {"stack": "s1", "extra": "1"}
    assert [c.arn for c in fake.find(EAST1, tag=("stack", "s1"))] == [arn]
    assert len(fake.find(EAST1)) == 2
    assert fake.find(EAST2) == []
    missing = arn[:-26] + "b" * 26
    assert code(error_of(east1.list_tags_for_resource, resourceArn=missing)) == "ResourceNotFoundException"
    assert code(error_of(east1.tag_resource, resourceArn=arn, tags={"k": "bad!"})) == "ValidationException"


def test_unknown_operation(fake: FakeDsql) -> None:
    """A request for a path the fake does not route (every dsql operation of botocore's model is
    implemented, so the request is redirected to an unknown path before it is signed)."""
    east1 = fake.client(EAST1)

    def elsewhere(request: Any, **_: Any) -> None:
        request.url = request.url.replace("/stream/", "/no-such-api/")

    east1.meta.events.register_first("before-sign.dsql.ListStreams", elsewhere)
    response = error_of(east1.list_streams, clusterIdentifier="a" * 26)
    assert code(response) == "ValidationException"
    assert response["reason"] == "unknownOperation"


def test_cluster_policies(fake: FakeDsql) -> None:
    """Put/Get/DeleteClusterPolicy and CreateCluster's policy, with expectedPolicyVersion."""
    east1 = fake.client(EAST1)
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "dsql:DbConnectAdmin"}],
        }
    )
    created = east1.create_cluster(policy=document)["identifier"]
    got = east1.get_cluster_policy(identifier=created)
    assert (got["policy"], got["policyVersion"]) == (document, "1")
    stale = error_of(east1.put_cluster_policy, identifier=created, policy=document, expectedPolicyVersion="7")
    assert code(stale) == "ConflictException"
    put = east1.put_cluster_policy(identifier=created, policy=document, expectedPolicyVersion="1")
    assert put["policyVersion"] == "2"
    assert (
        code(error_of(east1.put_cluster_policy, identifier=created, policy="not json"))
        == "ValidationException"
    )
    east1.delete_cluster_policy(identifier=created, expectedPolicyVersion="2")
    assert code(error_of(east1.get_cluster_policy, identifier=created)) == "ResourceNotFoundException"
    assert code(error_of(east1.delete_cluster_policy, identifier=created)) == "ResourceNotFoundException"


def test_calls_are_recorded(fake: FakeDsql) -> None:
    east1 = fake.client(EAST1)
    created = east1.create_cluster(deletionProtectionEnabled=False)
    east1.get_cluster(identifier=created["identifier"])
    east1.untag_resource(resourceArn=created["arn"], tagKeys=["a", "b c"])
    assert [(c.region, c.operation) for c in fake.calls] == [
        (EAST1, "CreateCluster"),
        (EAST1, "GetCluster"),
        (EAST1, "UntagResource"),
    ]
    assert fake.calls[1] == Call(EAST1, "GetCluster", {"identifier": created["identifier"]})
    assert fake.calls[2].params["tagKeys"] == ["a", "b c"]
    assert fake.calls[0].params["deletionProtectionEnabled"] is False


def test_invalid_responses_fail_loudly(fake: FakeDsql, monkeypatch: pytest.MonkeyPatch) -> None:
    east1 = fake.client(EAST1)
    created = east1.create_cluster(deletionProtectionEnabled=False)
    monkeypatch.setattr(fake.cluster(EAST1, created["identifier"]), "status", "NOPE")
    with pytest.raises(AssertionError, match=r"invalid GetCluster response.*NOPE"):
        east1.get_cluster(identifier=created["identifier"])
    monkeypatch.setattr(fake.cluster(EAST1, created["identifier"]), "status", "ACTIVE")
    monkeypatch.setattr(fake.cluster(EAST1, created["identifier"]), "tags", {"k": "bad!"})
    with pytest.raises(AssertionError, match="invalid GetCluster response"):
        east1.get_cluster(identifier=created["identifier"])
    monkeypatch.setattr(fake, "_summary", lambda cluster: {"identifier": cluster.identifier})
    with pytest.raises(
        AssertionError, match=r"invalid DeleteCluster response(?s:.*)Missing required parameter"
    ):
        east1.delete_cluster(identifier=created["identifier"])
