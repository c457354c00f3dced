"""The publisher's AWS side: EventBridge as the bus, a DynamoDB table for dedupe, SQS for failures.

Lambda entry point ``handlers.events.aws.handler``; settings from the environment (set by the
OrderEvents construct): ``EVENT_BUS_NAME``, ``DEDUPE_TABLE``, ``FAILURE_QUEUE_URL``."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .publisher import DEDUPE_TTL_SECONDS, LEASE_SECONDS, BusEvent, Publisher

# A new event id, or a claim whose holder's lease ran out (it died between claim and put).
CLAIMABLE = "attribute_not_exists(event_id) OR (#s = :claimed AND lease_until < :now)"
#: botocore models the publisher's asset keeps (bundling.py drops the others).
SERVICES = ("events", "dynamodb", "sqs")


class EventBridgeBus:
    def __init__(self, client: Any, bus_name: str) -> None:
        self.client, self.bus_name = client, bus_name

    def put(self, events: Sequence[BusEvent]) -> list[str | None]:
        reply = self.client.put_events(Entries=[event.entry(self.bus_name) for event in events])
        return [
            None
            if "EventId" in entry and "ErrorCode" not in entry
            else f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage', '')}"
            for entry in reply["Entries"]
        ]


class DynamoDedupe:
    """One item per event id: state claimed (with a lease) or published, expiring by TTL."""

    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def claim(self, event_id: str, now: float) -> str:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "event_id": {"S": event_id},
                    "state": {"S": "claimed"},
                    "lease_until": {"N": str(int(now) + LEASE_SECONDS)},
                    "expires_at": {"N": str(int(now) + DEDUPE_TTL_SECONDS)},
                },
                ConditionExpression=CLAIMABLE,
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":claimed": {"S": "claimed"}, ":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            item = exc.response.get("Item") or {}
            return "published" if item.get("state", {}).get("S") == "published" else "busy"
        return "claimed"

    def published(self, event_id: str, now: float) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"event_id": {"S": event_id}},
            UpdateExpression="SET #s = :published, expires_at = :ttl REMOVE lease_until",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":published": {"S": "published"},
                ":ttl": {"N": str(int(now) + DEDUPE_TTL_SECONDS)},
            },
        )

    def release(self, event_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                ConditionExpression="#s = :claimed",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":claimed": {"S": "claimed"}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


class SqsFailures:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.queue_url = client, queue_url

    def send(self, reason: str, record: dict[str, Any]) -> None:
        kinesis = record.get("kinesis", {})
        body = {
            "reason": reason,
            "eventSourceARN": record.get("eventSourceARN"),
            "sequenceNumber": kinesis.get("sequenceNumber"),
            "partitionKey": kinesis.get("partitionKey"),
            # The record itself when it fits an SQS message (256 KiB), else only where to find it.
            "data": kinesis.get("data") if len(kinesis.get("data", "")) < 200_000 else None,
        }
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))


@functools.cache
def publisher() -> Publisher:
    env = os.environ
    return Publisher(
        EventBridgeBus(boto3.client("events"), env["EVENT_BUS_NAME"]),
        DynamoDedupe(boto3.client("dynamodb"), env["DEDUPE_TABLE"]),
        SqsFailures(boto3.client("sqs"), env["FAILURE_QUEUE_URL"]),
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return publisher().handle(event)
