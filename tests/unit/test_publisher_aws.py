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

from handlers.events.aws import CLAIMABLE, DynamoDedupe, EventBridgeBus, SqsFailures
from handlers.events.publisher import DEDUPE_TTL_SECONDS, LEASE_SECONDS, BusEvent


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
