"""Order events on a laptop: the local relay from the dev database's outbox to a local bus.

DSQL streams committed row changes to Kinesis; locally, the embedded PostgreSQL (started with
``wal_level = logical`` for the dev database's server only) feeds this relay, which polls logical
decoding with the built-in ``test_decoding`` plugin (``pg_logical_slot_get_changes``: psycopg has no
replication protocol), renders every change in DSQL's CDC record shape (user guide, "CDC record
format", cdc-record-format.html, GA 2026-07-01), injects what DSQL allows (duplicates, reordering,
interleaving of transactions: "CDC streams", cdc-streams.html) and hands batches to the *same*
publisher code as the Lambda (handlers/events/publisher.py). Its bus is a JSON-lines file, one event
per line in EventBridge's event shape; ``ecommerce dev events [--follow]`` prints it.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handlers.events.publisher import LEASE_SECONDS, BusEvent, Publisher

SLOT = "ecommerce_events"
EVENTS_FILE = "events.jsonl"
FAILURES_FILE = "events-failures.jsonl"
POLL_SECONDS = 0.2
LOCAL_ACCOUNT = "000000000000"


class MemoryDedupe:
    """The dedupe table's semantics in memory: claims with a lease, published ids remembered."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def claim(self, event_id: str, now: float) -> str:
        with self._lock:
            state, lease_until = self._items.get(event_id, ("", 0.0))
            if state == "published":
                return "published"
            if state == "claimed" and lease_until >= now:
                return "busy"
            self._items[event_id] = ("claimed", now + LEASE_SECONDS)
            return "claimed"

    def published(self, event_id: str, now: float) -> None:
        with self._lock:
            self._items[event_id] = ("published", 0.0)

    def release(self, event_id: str) -> None:
        with self._lock:
            if self._items.get(event_id, ("", 0.0))[0] == "claimed":
                del self._items[event_id]


@dataclass
class MemoryFailures:
    """The failure destination: (reason, record) pairs."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def send(self, reason: str, record: dict[str, Any]) -> None:
        self.sent.append((reason, record))


class FileFailures:
    """The failure destination of ``make dev``: JSON lines of (reason, record)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, reason: str, record: dict[str, Any]) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"reason": reason, "record": record}, separators=(",", ":")) + "\n")


def eventbridge_shape(event: BusEvent, region: str) -> dict[str, Any]:
    """An event as EventBridge delivers it to targets (id assigned by the bus)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": LOCAL_ACCOUNT,
        "time": event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": event.detail,
    }


class LocalBus:
    """A bus that appends each accepted event to a JSON-lines file (and keeps it in ``events``)."""

    def __init__(self, path: Path | None = None, region: str = "local") -> None:
        self.path, self.region = path, region
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put(self, events: Sequence[BusEvent]) -> list[str | None]:
        shaped = [eventbridge_shape(event, self.region) for event in events]
        with self._lock:
            self.events.extend(shaped)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as out:
                    out.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in shaped)
        return [None] * len(events)


def read_events(path: Path, *, follow: bool = False, poll: float = 0.2) -> Iterator[str]:
    """The bus file's lines (JSON), and with ``follow`` the ones appended later, until interrupted."""
    position = 0
    while True:
        if path.exists():
            with path.open(encoding="utf-8") as source:
                source.seek(position)
                while line := source.readline():
                    if not line.endswith("\n"):  # a line still being written
                        break
                    position += len(line.encode())
                    yield line.rstrip("\n")
        if not follow:
            return
        time.sleep(poll)


# ---- test_decoding -> DSQL CDC records ------------------------------------------------------------

_CHANGE = re.compile(
    r"^table (?P<schema>[^.]+)\.(?P<table>\S+): (?P<op>INSERT|UPDATE|DELETE): (?P<rest>.*)$", re.S
)
_COLUMN = re.compile(r"(?P<name>[^\[\s]+)\[(?P<type>[^\]]+)\]:")
_OPS = {"INSERT": "c", "UPDATE": "u", "DELETE": "d"}


def parse_columns(text: str) -> dict[str, Any]:
    """test_decoding's ``name[type]:value ...``: quoted values with '' escapes, or bare words."""
    columns: dict[str, Any] = {}
    position = 0
    while position < len(text):
        while position < len(text) and text[position] == " ":
            position += 1
        if text.startswith("(no-tuple-data)", position):
            break
        match = _COLUMN.match(text, position)
        if match is None:
            raise ValueError(f"cannot parse test_decoding columns at {text[position : position + 40]!r}")
        position = match.end()
        kind = match["type"]
        if text.startswith("'", position):
            end = position + 1
            chunks = []
            while True:
                quote = text.index("'", end)
                chunks.append(text[end:quote])
                if text.startswith("''", quote):
                    chunks.append("'")
                    end = quote + 2
                    continue
                position = quote + 1
                break
            value: Any = "".join(chunks)
        else:
            end = text.find(" ", position)
            end = len(text) if end == -1 else end
            value = text[position:end]
            position = end
            if value == "null":
                value = None
        columns[match["name"]] = _cdc_value(kind, value)
    return columns


def _cdc_value(kind: str, value: Any) -> Any:
    """A PostgreSQL value as DSQL's CDC renders it: numeric as a string, timestamps as µs since epoch."""
    if value is None:
        return None
    if kind in ("integer", "bigint", "smallint"):
        return int(value)
    if kind == "boolean":
        return value == "true"
    if kind.startswith("timestamp"):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1_000_000)
    return value  # text, uuid, numeric (a string in CDC), json (raw JSON text)


def _base32(number: int) -> str:
    return base64.b32encode(number.to_bytes(8, "big")).decode().rstrip("=").lower()


@dataclass(frozen=True)
class Change:
    """One committed row change in DSQL's record shape, before it is put on a (simulated) shard."""

    record: dict[str, Any]

    def kinesis(self, sequence_number: int) -> dict[str, Any]:
        data = base64.b64encode(json.dumps(self.record, separators=(",", ":")).encode()).decode()
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": uuid.uuid4().hex,  # DSQL randomizes partition keys
                "sequenceNumber": str(sequence_number),
                "data": data,
                "approximateArrivalTimestamp": time.time(),
            },
            "eventSource": "aws:kinesis",
            "eventSourceARN": "arn:aws:kinesis:local:000000000000:stream/local-dev",
        }


def cdc_records(rows: Sequence[tuple[str, int, str]], cluster: str = "local") -> list[Change]:
    """test_decoding rows (lsn, xid, data) with ``include-timestamp`` → DSQL records, per transaction.
    Only committed transactions appear in logical decoding, as only commits reach DSQL's stream."""
    changes: list[Change] = []
    current: list[dict[str, Any]] = []
    for _lsn, xid, data in rows:
        if data.startswith("BEGIN"):
            current = []
            continue
        if data.startswith("COMMIT"):
            at = re.search(r"\(at (.+)\)", data)
            committed = datetime.fromisoformat(at[1]) if at else datetime.now(UTC)
            ts_ns = int(committed.timestamp() * 1_000_000) * 1000
            now_ns = time.time_ns()
            for change in current:
                change["source"].update(ts_ns=ts_ns, ts_ms=ts_ns // 1_000_000, txId=_base32(int(xid)))
                change.update(ts_ns=now_ns, ts_ms=now_ns // 1_000_000)
                changes.append(Change(change))
            current = []
            continue
        match = _CHANGE.match(data)
        if match is None:
            continue  # messages, truncates: nothing DSQL would stream
        op = _OPS[match["op"]]
        rest = match["rest"]
        row = parse_columns(rest.removeprefix("old-key: ").split(" new-tuple: ")[-1])
        current.append(
            {
                "type": "full",
                "op": op,
                "before": row if op == "d" else None,
                "after": None if op == "d" else row,
                "source": {
                    "version": "1.0",
                    "schema": match["schema"],
                    "table": match["table"],
                    "db": "postgres",
                    "cluster": cluster,
                },
            }
        )
    return changes


@dataclass
class Disorder:
    """What DSQL allows and the relay injects: each change duplicated with ``duplicate`` probability,
    a batch shuffled (reordered and interleaved across transactions) with ``shuffle`` probability."""

    duplicate: float = 0.2
    shuffle: float = 0.5
    rng: random.Random = field(default_factory=random.Random)

    def apply(self, changes: Sequence[Change]) -> list[Change]:
        out = [
            c
            for change in changes
            for c in ([change, change] if self.rng.random() < self.duplicate else [change])
        ]
        if self.rng.random() < self.shuffle:
            self.rng.shuffle(out)
        return out


class Relay:
    """Polls the dev database's logical slot and publishes through ``publisher``."""

    def __init__(
        self, connect: Any, publisher: Publisher, *, disorder: Disorder | None = None, batch_size: int = 100
    ) -> None:
        self.connect, self.publisher = connect, publisher
        self.disorder = disorder or Disorder(duplicate=0.0, shuffle=0.0)
        self.batch_size = batch_size
        self._sequence = 0
        self._retry: list[dict[str, Any]] = []

    def ensure_slot(self) -> None:
        with self.connect() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)
            ).fetchone()
            if exists is None:
                conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (SLOT,))

    def poll(self) -> int:
        """One round: new changes (disordered) plus earlier failures, in batches; the number published.
        Changes are peeked and the slot advanced only after their batches ran: a relay that dies in
        between sees them again (at least once, like DSQL), and the dedupe keeps the bus clean."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT lsn::text, xid::text::bigint, data FROM pg_logical_slot_peek_changes("
                "%s, NULL, NULL, 'include-timestamp', 'on', 'include-xids', 'on')",
                (SLOT,),
            ).fetchall()
            published = self._publish(rows)
            if rows:
                conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (SLOT, rows[-1][0]))
        return published

    def _publish(self, rows: Sequence[tuple[str, int, str]]) -> int:
        records = [*self._retry]
        for change in self.disorder.apply(cdc_records(rows)):
            self._sequence += 1
            records.append(change.kinesis(self._sequence))
        self._retry = []
        published = 0
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            failed, outcome = self.publisher.process(batch)
            published += outcome.published
            # Lambda retries from the first failed record of a shard; locally: the failed ones again.
            retry = set(failed)
            self._retry += [r for r in batch if r["kinesis"]["sequenceNumber"] in retry]
        return published


class RelayThread:
    """The relay of ``make dev``: polls every ``interval`` seconds on a daemon thread, publishing into
    ``data_dir/events.jsonl`` (failures into ``events-failures.jsonl``), with DSQL's disorder."""

    def __init__(
        self,
        dsn: str,
        data_dir: Path,
        *,
        region: str,
        interval: float = POLL_SECONDS,
        disorder: Disorder | None = None,
        on_error: Any = None,
    ) -> None:
        import psycopg

        self.bus = LocalBus(data_dir / EVENTS_FILE, region)
        self.failures = FileFailures(data_dir / FAILURES_FILE)
        self.relay = Relay(
            lambda: psycopg.connect(dsn, autocommit=True),
            Publisher(self.bus, MemoryDedupe(), self.failures),
            disorder=disorder or Disorder(),
        )
        self.interval = interval
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="events-relay", daemon=True)

    def start(self) -> RelayThread:
        self.relay.ensure_slot()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.relay.poll()
            except Exception as exc:  # the database restarting, say: the next poll retries
                if self.on_error is not None:
                    self.on_error(f"events relay: {type(exc).__name__}: {exc}")
