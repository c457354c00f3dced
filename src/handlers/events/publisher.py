"""The publisher: Aurora DSQL change records (from Kinesis) of outbox inserts become EventBridge events.

One Lambda, triggered by the stream's event source mapping with partial batch responses. For every
Kinesis record of a batch, in order:

* decode the DSQL CDC record (user guide, "CDC record format", cdc-record-format.html, GA 2026-07-01);
  a record of any other table, or an outbox delete (the pruning job) or update, is ignored;
* ``chunked``/``fragment`` records (rows over 9 MiB: impossible for the outbox's rows) and records that
  are not a valid event go to the failure destination with the reason and count as handled: a poison
  record never blocks its shard;
* claim the event id in the dedupe table (a conditional write with a TTL; a claim is a lease, so a
  publisher that died mid-way never blocks the event for longer than LEASE_SECONDS), put the event on
  the bus, and mark the claim published. An event already published is skipped: redeliveries (DSQL
  delivers at least once, and Lambda retries batches) reach the bus once in normal operation.
* A record whose put failed, or whose event another invocation holds, is reported as a batch item
  failure: Lambda retries from it (docs: "Configuring partial batch response with Kinesis Data Streams
  and Lambda", services-kinesis-batchfailurereporting.html), and after its retries the event source
  mapping sends the batch's metadata to the on-failure destination.

The bus, the dedupe table and the failure destination are interfaces: AWS's (boto3, below) in Lambda,
local ones in ``make dev`` (ecommerce_dev/events_relay.py) — the same code decides what is published.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from .models import SOURCE, Detail, validate

logger = logging.getLogger(__name__)

OUTBOX_TABLE = "outbox"
LEASE_SECONDS = 60
"""How long a claim keeps other invocations off an event that is being put."""
DEDUPE_TTL_SECONDS = 8 * 24 * 3600
"""How long a published event id is remembered: longer than DSQL keeps undelivered changes (one week,
cdc-monitoring.html) plus Kinesis' default retention (24 h), so no redelivery outlives its record."""
MAX_ENTRIES_PER_PUT = 10  # PutEvents takes at most 10 entries (EventBridge API reference, PutEvents)


@dataclass(frozen=True)
class BusEvent:
    """One entry of PutEvents: EventBridge's event shape without the id the bus assigns."""

    source: str
    detail_type: str
    detail: dict[str, Any]
    time: datetime

    def entry(self, bus_name: str) -> dict[str, Any]:
        return {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, separators=(",", ":")),
            "Time": self.time,
            "EventBusName": bus_name,
        }


class Bus(Protocol):
    def put(self, events: Sequence[BusEvent]) -> list[str | None]:
        """Puts the events; per event None when it was accepted, else the error."""


class Dedupe(Protocol):
    def claim(self, event_id: str, now: float) -> str:
        """ "claimed" (this caller may put it), "published" (already on the bus) or "busy" (another
        caller holds an unexpired claim)."""

    def published(self, event_id: str, now: float) -> None: ...

    def release(self, event_id: str) -> None: ...


class Failures(Protocol):
    def send(self, reason: str, record: dict[str, Any]) -> None:
        """Keeps a record that can never be published, with why."""


class Poison(ValueError):
    """A record that no retry can publish (its reason goes to the failure destination)."""


@dataclass(frozen=True)
class OutboxEvent:
    event_id: str
    event_type: str
    version: int
    entity_id: str
    data: dict[str, Any]
    region: str
    created_at: datetime
    sequence: int  # the commit's source.ts_ns

    def bus_event(self) -> BusEvent:
        detail = Detail(
            eventId=self.event_id,
            eventVersion=self.version,
            entityId=self.entity_id,
            sequence=self.sequence,
            region=self.region,
            occurredAt=self.created_at.isoformat().replace("+00:00", "Z"),
            data=self.data,
        )
        return BusEvent(SOURCE, self.event_type, detail.model_dump(), self.created_at)


def _timestamp(value: Any) -> datetime:
    """CDC renders timestamps as microseconds since the epoch (cdc-record-format.html, "Data types")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Poison(f"created_at {value!r} is not a CDC timestamp")
    return datetime.fromtimestamp(int(value) / 1_000_000, tz=UTC)


def parse(record: dict[str, Any]) -> OutboxEvent | None:
    """The outbox event a decoded CDC record carries, None for a record to ignore; Poison otherwise."""
    kind = record.get("type", "full")
    if kind in ("chunked", "fragment"):
        raise Poison(f"a {kind} record (a row over 9 MiB): the outbox never writes one; see docs/events.md")
    if kind != "full":
        raise Poison(f"unknown record type {kind!r}")
    source = record.get("source") or {}
    if source.get("table") != OUTBOX_TABLE or source.get("schema", "public") != "public":
        return None  # another table (a table named outbox in another schema is not ours)
    op = record.get("op")
    if op in ("d", "u"):  # the pruning job's deletes; the outbox's rows are never updated
        return None
    # "c", or an op this code does not know: an upsert of `after` (the preview's advice,
    # cdc-record-format.html); event ids make a repeat harmless.
    after = record.get("after")
    if not isinstance(after, dict):
        raise Poison("an outbox insert without its row (after)")
    try:
        sequence = int(source["ts_ns"])
        event = OutboxEvent(
            event_id=str(after["event_id"]),
            event_type=str(after["event_type"]),
            version=int(after["event_version"]),
            entity_id=str(after["entity_id"]),
            data=json.loads(after["payload"]),
            region=str(after["region"]),
            created_at=_timestamp(after["created_at"]),
            sequence=sequence,
        )
        validate(event.event_type, event.version, event.data)
    except Poison:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise Poison(f"not a valid outbox event: {exc}") from exc
    return event


def decode(kinesis_record: dict[str, Any]) -> dict[str, Any]:
    data = base64.b64decode(kinesis_record["kinesis"]["data"])
    try:
        decoded = json.loads(data)
    except ValueError as exc:
        raise Poison(f"not JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise Poison("not a JSON object")
    return decoded


@dataclass
class Outcome:
    published: int = 0
    duplicates: int = 0
    ignored: int = 0
    poisoned: int = 0
    failed: int = 0


class Publisher:
    def __init__(
        self, bus: Bus, dedupe: Dedupe, failures: Failures, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.bus, self.dedupe, self.failures, self.clock = bus, dedupe, failures, clock

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """The Kinesis event source's batch in, the partial batch response out."""
        failed, _ = self.process(event.get("Records", []))
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}

    def process(self, records: Iterable[dict[str, Any]]) -> tuple[list[str], Outcome]:
        """The sequence numbers of the records to retry, and what happened."""
        records = list(records)
        outcome = Outcome()
        failed: list[str] = []
        pending: list[tuple[str, OutboxEvent]] = []
        in_batch: set[str] = set()
        for record in records:
            sequence_number = str(record["kinesis"]["sequenceNumber"])
            try:
                event = parse(decode(record))
            except Poison as exc:
                outcome.poisoned += 1
                logger.warning("poison record %s: %s", sequence_number, exc)
                self.failures.send(str(exc), record)
                continue
            if event is None:
                outcome.ignored += 1
                continue
            if event.event_id in in_batch:  # the same event twice in one batch: one put covers both
                outcome.duplicates += 1
                continue
            in_batch.add(event.event_id)
            pending.append((sequence_number, event))
        claimed: list[tuple[str, OutboxEvent]] = []
        now = self.clock()
        for sequence_number, event in pending:
            state = self.dedupe.claim(event.event_id, now)
            if state == "published":
                outcome.duplicates += 1
            elif state == "busy":
                failed.append(sequence_number)
            else:
                claimed.append((sequence_number, event))
        for start in range(0, len(claimed), MAX_ENTRIES_PER_PUT):
            chunk = claimed[start : start + MAX_ENTRIES_PER_PUT]
            try:
                errors = self.bus.put([event.bus_event() for _, event in chunk])
            except Exception:  # any failure of the put: retry these records
                logger.exception("PutEvents failed")
                errors = ["put failed"] * len(chunk)
            for (sequence_number, event), error in zip(chunk, errors, strict=True):
                if error is None:
                    self.dedupe.published(event.event_id, self.clock())
                    outcome.published += 1
                else:
                    logger.warning("event %s not accepted: %s", event.event_id, error)
                    self.dedupe.release(event.event_id)
                    failed.append(sequence_number)
        outcome.failed = len(failed)
        order = {str(r["kinesis"]["sequenceNumber"]): i for i, r in enumerate(records)}
        return sorted(set(failed), key=lambda s: order.get(s, 0)), outcome
