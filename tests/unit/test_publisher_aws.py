"""The publisher's AWS adapters against real botocore clients with botocore's Stubber: every request is
serialized and validated against the service model (parameter validation is on), every stubbed
answer is validated against the operation's output shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from cdc_records import cdc, kinesis, outbox_row
from fakes.json_services import JsonServices
from handlers.events.aws import CLAIMABLE, DynamoDedupe, EventBridgeBus, SqsFailures
from handlers.events.publisher import DEDUPE_TTL_SECONDS, LEASE_SECONDS, BusEvent, Publisher


def client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )


def test_put_events_entries_and_per_entry_errors() -> None:
    events = client("events")
    bus = EventBridgeBus(events, "shop-bus")
    moment = datetime(2026, 12, 7, 12, tzinfo=UTC)
    sent = [BusEvent("ecommerce.shop", "OrderPlaced", {"eventId": str(i)}, moment) for i in range(2)]
    with Stubber(events) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "e-1"},
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"},
                ],
            },
            {
                "Entries": [
                    {
                        "Source": "ecommerce.shop",
                        "DetailType": "OrderPlaced",
                        "Detail": json.dumps({"eventId": str(i)}, separators=(",", ":")),
                        "Time": moment,
                        "EventBusName": "shop-bus",
                    }
                    for i in range(2)
                ]
            },
        )
        assert bus.put(sent) == [None, "ThrottlingException: slow down"]


def test_dedupe_claim_published_busy_and_release() -> None:
    dynamodb = client("dynamodb")
    dedupe = DynamoDedupe(dynamodb, "dedupe")
    claim = {
        "TableName": "dedupe",
        "Item": {
            "event_id": {"S": "e"},
            "state": {"S": "claimed"},
            "lease_until": {"N": str(1000 + LEASE_SECONDS)},
            "expires_at": {"N": str(1000 + DEDUPE_TTL_SECONDS)},
        },
        "ConditionExpression": CLAIMABLE,
        "ExpressionAttributeNames": {"#s": "state"},
        "ExpressionAttributeValues": {":claimed": {"S": "claimed"}, ":now": {"N": "1000"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    with Stubber(dynamodb) as stub:
        stub.add_response("put_item", {}, claim)
        stub.add_client_error(
            "put_item",
            "ConditionalCheckFailedException",
            http_status_code=400,
            response_meta=None,
            expected_params=claim,
        )
        stub.add_response(
            "update_item",
            {},
            {
                "TableName": "dedupe",
                "Key": {"event_id": {"S": "e"}},
                "UpdateExpression": ANY,
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": ANY,
            },
        )
        stub.add_response(
            "delete_item",
            {},
            {
                "TableName": "dedupe",
                "Key": {"event_id": {"S": "e"}},
                "ConditionExpression": "#s = :claimed",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":claimed": {"S": "claimed"}},
            },
        )
        stub.add_client_error("delete_item", "ConditionalCheckFailedException", http_status_code=400)
        stub.add_client_error("put_item", "ProvisionedThroughputExceededException", http_status_code=400)
        assert dedupe.claim("e", 1000) == "claimed"
        assert dedupe.claim("e", 1000) == "busy"  # no item in the error: another holder's lease
        dedupe.published("e", 1000)
        dedupe.release("e")
        dedupe.release("e")  # already published (or released): nothing to do
        with pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
            dedupe.claim("e", 1000)


def test_a_published_item_in_the_conditional_failure_means_published() -> None:
    dynamodb = client("dynamodb")
    dedupe = DynamoDedupe(dynamodb, "dedupe")
    with Stubber(dynamodb) as stub:
        stub.add_client_error(
            "put_item",
            "ConditionalCheckFailedException",
            http_status_code=400,
            modeled_fields={"Item": {"event_id": {"S": "e"}, "state": {"S": "published"}}},
        )
        assert dedupe.claim("e", 1000) == "published"


def test_failures_carry_the_reason_and_where_the_record_was() -> None:
    sqs = client("sqs")
    failures = SqsFailures(sqs, "https://sqs.us-east-1.amazonaws.com/123456789012/failures")
    record = {
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
        "kinesis": {"sequenceNumber": "1", "partitionKey": "k", "data": "e30="},
    }
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message",
            {"MessageId": "m", "MD5OfMessageBody": "x"},
            {
                "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/failures",
                "MessageBody": json.dumps(
                    {
                        "reason": "a chunked record",
                        "eventSourceARN": record["eventSourceARN"],
                        "sequenceNumber": "1",
                        "partitionKey": "k",
                        "data": "e30=",
                    }
                ),
            },
        )
        failures.send("a chunked record", record)


# ---- the whole publisher on real boto3 clients against model-validating fakes ---------------------


def test_the_publisher_on_aws_clients_publishes_once_and_sends_poison_to_the_queue() -> None:

    aws = JsonServices(buses={"shop-bus"}, tables={"dedupe": {}}, queues={"https://q": []})
    publisher = Publisher(
        EventBridgeBus(aws.client("events"), "shop-bus"),
        DynamoDedupe(aws.client("dynamodb"), "dedupe"),
        SqsFailures(aws.client("sqs"), "https://q"),
    )
    rows = [outbox_row() for _ in range(12)]
    records = [kinesis(cdc(row), i) for i, row in enumerate(rows, 1)]
    poison = kinesis({"type": "fragment", "chunk_id": "c", "index": 0, "data": "x"}, 99)
    assert publisher.handle({"Records": [*records, records[0], poison]}) == {"batchItemFailures": []}
    assert publisher.handle({"Records": records[:3]}) == {"batchItemFailures": []}  # a redelivery
    assert sorted(json.loads(e["Detail"])["eventId"] for e in aws.events) == sorted(
        r["event_id"] for r in rows
    )
    assert {item["state"]["S"] for item in aws.tables["dedupe"].values()} == {"published"}
    [message] = aws.queues["https://q"]
    assert "fragment record" in json.loads(message)["reason"]
    # PutEvents takes at most 10 entries: 12 events were two puts.
    assert [len(p["Entries"]) for s, op, p in aws.calls if op == "PutEvents"] == [10, 2]


def test_a_bus_that_refuses_fails_those_records_and_releases_their_claims() -> None:

    aws = JsonServices(buses=set(), tables={"dedupe": {}}, queues={"https://q": []})
    publisher = Publisher(
        EventBridgeBus(aws.client("events"), "missing-bus"),
        DynamoDedupe(aws.client("dynamodb"), "dedupe"),
        SqsFailures(aws.client("sqs"), "https://q"),
    )
    row = outbox_row()
    reply = publisher.handle({"Records": [kinesis(cdc(row), 1)]})
    assert reply == {"batchItemFailures": [{"itemIdentifier": f"{1:056d}"}]}
    assert aws.tables["dedupe"] == {}  # released: the retry may claim it at once
    aws.buses.add("missing-bus")
    assert publisher.handle({"Records": [kinesis(cdc(row), 1)]}) == {"batchItemFailures": []}
    assert len(aws.events) == 1
