"""DSQL CDC records shaped as the user guide documents them ("CDC record format",
cdc-record-format.html, GA text of 2026-07-01), wrapped as Lambda's Kinesis event source hands them
over: for the publisher's tests."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

CLUSTER = "abcdefghijklmnopqrstuvwxyz"
T0_NS = 1_781_000_000_000_000_000


def outbox_row(event_type: str = "ProductRetired", entity: str | None = None, **data: Any) -> dict[str, Any]:
    entity = entity or str(uuid.uuid4())
    payload = data or {"productId": entity}
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "event_version": 1,
        "entity_id": entity,
        "payload": json.dumps(payload),  # a text column: a JSON string in the record
        "region": "us-east-1",
        "created_at": 1_781_000_000_123_456,  # timestamps: microseconds since the epoch
    }


def cdc(
    after: dict[str, Any] | None,
    *,
    table: str = "outbox",
    op: str = "c",
    ts_ns: int = T0_NS,
    tx: str = "abcdefgh",
    before: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The documented envelope: type, op, before, after, source{...}, top-level ts_ms/ts_ns."""
    return {
        "type": "full",
        "op": op,
        "before": before,
        "after": after,
        "source": {
            "version": "1.0",
            "ts_ms": ts_ns // 1_000_000,
            "ts_ns": ts_ns,
            "txId": tx,
            "schema": "public",
            "table": table,
            "db": "postgres",
            "cluster": CLUSTER,
        },
        "ts_ms": ts_ns // 1_000_000 + 40,
        "ts_ns": ts_ns + 40_000_000,
    }


def kinesis(record: dict[str, Any] | bytes, sequence: int) -> dict[str, Any]:
    data = record if isinstance(record, bytes) else json.dumps(record).encode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": uuid.uuid4().hex,
            "sequenceNumber": f"{sequence:056d}",
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1781000000.5,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000000:{sequence:056d}",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/events",
        "awsRegion": "us-east-1",
    }
