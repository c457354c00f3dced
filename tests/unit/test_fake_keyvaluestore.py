"""Tests of the fake CloudFront KeyValueStore itself, driven only through the boto3 clients it hands out."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.compat import HAS_CRT
from botocore.exceptions import ClientError, EndpointResolutionError, ParamValidationError

from fakes.keyvaluestore import MAX_STORE_BYTES, FakeKeyValueStore, check_emitted


@pytest.fixture
def fake() -> FakeKeyValueStore:
    return FakeKeyValueStore()


@pytest.fixture
def arn(fake: FakeKeyValueStore) -> str:
    return fake.create_store()


def error_of(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return (
        str(response["Error"]["Code"]),
        int(response["ResponseMetadata"]["HTTPStatusCode"]),
        str(response["Error"]["Message"]),
    )


def sent_requests(client: Any) -> list[Any]:
    """Every request as it leaves botocore (signed), recorded ahead of the fake's answer."""
    seen: list[Any] = []
    client.meta.events.register_first("before-send", lambda request, **_: seen.append(request))
    return seen


def test_describe_reports_an_empty_ready_store_with_an_etag(fake: FakeKeyValueStore, arn: str) -> None:
    described = fake.client().describe_key_value_store(KvsARN=arn)
    assert described["KvsARN"] == arn
    assert (described["ItemCount"], described["TotalSizeInBytes"], described["Status"]) == (0, 0, "READY")
    assert described["ETag"] == fake.etag(arn)
    assert described["Created"] <= described["LastModified"]


def test_every_write_replaces_the_store_wide_etag(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    etags = [client.describe_key_value_store(KvsARN=arn)["ETag"]]
    put = client.put_key(KvsARN=arn, Key="drained:us-east-1", Value="true", IfMatch=etags[-1])
    etags.append(put["ETag"])
    assert (put["ItemCount"], put["TotalSizeInBytes"]) == (1, len("drained:us-east-1") + len("true"))
    etags.append(client.put_key(KvsARN=arn, Key="other", Value="x", IfMatch=etags[-1])["ETag"])
    etags.append(client.delete_key(KvsARN=arn, Key="other", IfMatch=etags[-1])["ETag"])
    assert len(set(etags)) == 4
    assert client.describe_key_value_store(KvsARN=arn)["ETag"] == etags[-1]
    assert client.get_key(KvsARN=arn, Key="drained:us-east-1")["Value"] == "true"


def test_a_stale_if_match_is_a_409_conflict_and_changes_nothing(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    stale = client.describe_key_value_store(KvsARN=arn)["ETag"]
    client.put_key(KvsARN=arn, Key="a", Value="1", IfMatch=stale)  # another key, still a conflict later
    assert error_of(client.put_key, KvsARN=arn, Key="b", Value="2", IfMatch=stale)[:2] == (
        "ConflictException",
        409,
    )
    assert error_of(client.delete_key, KvsARN=arn, Key="a", IfMatch=stale)[0] == "ConflictException"
    assert error_of(client.update_keys, KvsARN=arn, IfMatch=stale, Deletes=[{"Key": "a"}])[0] == (
        "ConflictException"
    )
    assert fake.items(arn) == {"a": "1"}


def test_missing_keys_and_stores_are_404(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    etag = fake.etag(arn)
    assert error_of(client.get_key, KvsARN=arn, Key="nope")[:2] == ("ResourceNotFoundException", 404)
    assert error_of(client.delete_key, KvsARN=arn, Key="nope", IfMatch=etag)[0] == "ResourceNotFoundException"
    assert fake.etag(arn) == etag  # a failed write does not change the ETag
    unknown = arn[:-4] + "0000"
    assert error_of(client.describe_key_value_store, KvsARN=unknown)[:2] == ("ResourceNotFoundException", 404)


def test_list_keys_paginates_in_key_order(fake: FakeKeyValueStore) -> None:
    items = {f"k{i:02d}": str(i) for i in range(23)}
    arn = fake.create_store(items)
    client = fake.client()
    first = client.list_keys(KvsARN=arn, MaxResults=5)
    assert [i["Key"] for i in first["Items"]] == ["k00", "k01", "k02", "k03", "k04"]
    pages = list(client.get_paginator("list_keys").paginate(KvsARN=arn, PaginationConfig={"PageSize": 7}))
    assert [len(p["Items"]) for p in pages] == [7, 7, 7, 2]
    assert {i["Key"]: i["Value"] for p in pages for i in p["Items"]} == items
    assert "NextToken" not in pages[-1]
    assert client.list_keys(KvsARN=fake.create_store())["Items"] == []


def test_list_keys_rejects_foreign_tokens_and_out_of_range_page_sizes(fake: FakeKeyValueStore) -> None:
    a = fake.create_store({f"k{i}": "v" for i in range(3)})
    b = fake.create_store({f"k{i}": "v" for i in range(3)})
    client = fake.client()
    token = client.list_keys(KvsARN=a, MaxResults=1)["NextToken"]
    assert error_of(client.list_keys, KvsARN=b, NextToken=token)[0] == "ValidationException"
    assert error_of(client.list_keys, KvsARN=a, NextToken="garbage")[0] == "ValidationException"
    code, status, message = error_of(client.list_keys, KvsARN=a, MaxResults=51)  # botocore skips max
    assert (code, status) == ("ValidationException", 400)
    assert "maximum 50" in message
    with pytest.raises(ParamValidationError):  # botocore itself checks the minimum
        client.list_keys(KvsARN=a, MaxResults=0)


def test_documented_size_limits(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    etag = fake.etag(arn)
    assert "512 bytes" in error_of(client.put_key, KvsARN=arn, Key="k" * 513, Value="v", IfMatch=etag)[2]
    assert "1024 bytes" in error_of(client.put_key, KvsARN=arn, Key="k", Value="é" * 513, IfMatch=etag)[2]
    assert "maximum 1024" in error_of(client.get_key, KvsARN=arn, Key="k" * 1025)[2]  # the model's own max
    with pytest.raises(ParamValidationError):  # required IfMatch: botocore refuses before sending
        client.put_key(KvsARN=arn, Key="k", Value="v")
    # 5196 entries of 1009 bytes: 116 bytes short of the 5 MB quota
    big = fake.create_store({f"key-{i:05d}": "v" * 1000 for i in range(MAX_STORE_BYTES // 1009)})
    code, status, _ = error_of(
        client.put_key, KvsARN=big, Key="one-more", Value="v" * 1000, IfMatch=fake.etag(big)
    )
    assert (code, status) == ("ServiceQuotaExceededException", 402)


def test_update_keys_is_all_or_nothing(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({"a": "1", "b": "2"})
    client = fake.client()
    missing = error_of(
        client.update_keys, KvsARN=arn, IfMatch=fake.etag(arn), Puts=[{"Key": "c", "Value": "3"}],
        Deletes=[{"Key": "a"}, {"Key": "zzz"}],
    )  # fmt: skip
    assert missing[0] == "ResourceNotFoundException"
    assert fake.items(arn) == {"a": "1", "b": "2"}
    both = error_of(
        client.update_keys,
        KvsARN=arn,
        IfMatch=fake.etag(arn),
        Puts=[{"Key": "a", "Value": "x"}],
        Deletes=[{"Key": "a"}],
    )
    assert both[0] == "ValidationException"
    assert error_of(client.update_keys, KvsARN=arn, IfMatch=fake.etag(arn))[0] == "ValidationException"
    done = client.update_keys(
        KvsARN=arn, IfMatch=fake.etag(arn), Puts=[{"Key": "c", "Value": "3"}], Deletes=[{"Key": "a"}]
    )
    assert fake.items(arn) == {"b": "2", "c": "3"}
    assert done["ETag"] == fake.etag(arn)
    assert done["ItemCount"] == 2


def test_requests_go_to_the_account_endpoint_from_the_arn(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    seen = sent_requests(client)
    client.list_keys(KvsARN=arn)
    assert seen[0].url.startswith(
        "https://123456789012.cloudfront-kvs.global.api.aws/key-value-stores/arn%3Aaws"
    )


def test_keys_with_reserved_characters_round_trip(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    client.put_key(KvsARN=arn, Key="a/b c?d#é", Value="v", IfMatch=fake.etag(arn))
    assert fake.items(arn) == {"a/b c?d#é": "v"}
    assert client.get_key(KvsARN=arn, Key="a/b c?d#é")["Value"] == "v"


def test_botocore_refuses_arns_that_are_not_key_value_stores(fake: FakeKeyValueStore) -> None:
    client = fake.client()
    with pytest.raises(EndpointResolutionError):
        client.describe_key_value_store(KvsARN="arn:aws:cloudfront::123456789012:distribution/E1")
    assert fake.calls == []  # refused before anything was sent


@pytest.mark.skipif(not HAS_CRT, reason="SigV4A signing needs awscrt (botocore[crt])")
def test_signed_clients_sign_with_sigv4a_for_every_region(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    seen = sent_requests(client)
    client.describe_key_value_store(KvsARN=arn)
    headers = seen[0].headers
    assert (
        headers["Authorization"]
        .decode()
        .startswith("AWS4-ECDSA-P256-SHA256 Credential=AKIAFAKEKVSTESTING00/")
    )
    assert "/cloudfront-keyvaluestore/aws4_request" in headers["Authorization"].decode()
    assert headers["X-Amz-Region-Set"] == b"*"


def test_unsigned_mode_sends_no_signature() -> None:
    fake = FakeKeyValueStore(signed=False)
    arn = fake.create_store({"k": "v"})
    client = fake.client()
    seen = sent_requests(client)
    assert client.get_key(KvsARN=arn, Key="k")["Value"] == "v"
    assert "Authorization" not in seen[0].headers


def test_injected_errors_fire_the_given_number_of_times(fake: FakeKeyValueStore, arn: str) -> None:
    client = fake.client()
    fake.inject("PutKey", "AccessDeniedException", message="User is not authorized")
    assert error_of(client.put_key, KvsARN=arn, Key="k", Value="v", IfMatch=fake.etag(arn)) == (
        "AccessDeniedException",
        403,
        "User is not authorized",
    )
    client.put_key(KvsARN=arn, Key="k", Value="v", IfMatch=fake.etag(arn))
    fake.conflict_next_writes(2)
    assert error_of(client.delete_key, KvsARN=arn, Key="k", IfMatch=fake.etag(arn))[0] == "ConflictException"
    assert error_of(client.put_key, KvsARN=arn, Key="k", Value="w", IfMatch=fake.etag(arn))[0] == (
        "ConflictException"
    )
    client.delete_key(KvsARN=arn, Key="k", IfMatch=fake.etag(arn))
    assert fake.items(arn) == {}


def test_injection_refuses_unmodeled_errors_and_unknown_operations(fake: FakeKeyValueStore) -> None:
    with pytest.raises(ValueError, match="not a modeled error"):
        fake.inject("GetKey", "ServiceQuotaExceededException")
    with pytest.raises(ValueError, match="unknown"):
        fake.inject("CreateKeyValueStore", "ConflictException")
    with pytest.raises(ValueError, match="times"):
        fake.inject("GetKey", "ConflictException", times=0)
    with pytest.raises(ValueError, match="unknown"):
        fake.before("Nope", lambda: None)


def test_before_hooks_interleave_another_writer_once(fake: FakeKeyValueStore, arn: str) -> None:
    client, other = fake.client(), fake.client()

    def other_writer() -> None:
        other.put_key(KvsARN=arn, Key="theirs", Value="1", IfMatch=fake.etag(arn))

    fake.before("PutKey", other_writer)
    etag = client.describe_key_value_store(KvsARN=arn)["ETag"]
    assert error_of(client.put_key, KvsARN=arn, Key="mine", Value="1", IfMatch=etag)[0] == "ConflictException"
    client.put_key(KvsARN=arn, Key="mine", Value="1", IfMatch=fake.etag(arn))  # the hook ran only once
    assert fake.items(arn) == {"theirs": "1", "mine": "1"}
    assert fake.operations() == ["DescribeKeyValueStore", "PutKey", "PutKey", "PutKey"]


def test_the_fake_refuses_to_emit_what_the_model_forbids(fake: FakeKeyValueStore) -> None:
    shape = fake._model.operation_model("GetKey").output_shape
    with pytest.raises(AssertionError, match="invalid"):
        check_emitted({"Key": "k", "Value": "v", "ItemCount": 1}, shape, "GetKey response")  # no size
    with pytest.raises(AssertionError, match="invalid"):
        check_emitted({"Key": "", "Value": "v", "ItemCount": 1, "TotalSizeInBytes": 1}, shape, "GetKey")


def test_signed_mode_needs_the_crt(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakes.keyvaluestore as module

    monkeypatch.setattr(module, "HAS_CRT", False)
    with pytest.raises(RuntimeError, match=r"botocore\[crt\]"):
        FakeKeyValueStore(signed=True)
    assert FakeKeyValueStore().signed is False
