"""The publisher (handlers/events/publisher.py) against DSQL CDC records shaped as AWS documents them
(user guide, "CDC record format", cdc-record-format.html, GA text of 2026-07-01): outbox inserts become
bus events once, other tables and outbox deletes are ignored, chunked/fragment and broken records go to
the failure destination without blocking, failed puts are reported as partial batch failures."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdc_records import T0_NS, cdc, kinesis, outbox_row
from ecommerce_dev.events_relay import LocalBus, MemoryDedupe, MemoryFailures
from handlers.events.publisher import LEASE_SECONDS, BusEvent, Publisher


class FlakyBus(LocalBus):
    """A bus that refuses the events whose ids are in ``refuse`` (once each, or always)."""

    def __init__(self, refuse: set[str] | None = None, *, always: bool = False) -> None:
        super().__init__()
        self.refuse, self.always = set(refuse or ()), always

    def put(self, events: Sequence[BusEvent]) -> list[str | None]:
        errors: list[str | None] = []
        for event in events:
            event_id = event.detail["eventId"]
            if event_id in self.refuse:
                if not self.always:
                    self.refuse.discard(event_id)
                errors.append("InternalFailure")
            else:
                super().put([event])
                errors.append(None)
        return errors


def publisher(bus: LocalBus | None = None) -> tuple[Publisher, LocalBus, MemoryFailures, list[float]]:
    bus = bus or LocalBus()
    failures = MemoryFailures()
    now = [1_000.0]
    return Publisher(bus, MemoryDedupe(), failures, clock=lambda: now[0]), bus, failures, now


def test_an_outbox_insert_becomes_one_event_with_id_sequence_and_eventbridge_shape() -> None:
    pub, bus, failures, _ = publisher()
    row = outbox_row()
    reply = pub.handle({"Records": [kinesis(cdc(row, ts_ns=T0_NS + 7), 1)]})
    assert reply == {"batchItemFailures": []}
    [event] = bus.events
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert (event["source"], event["detail-type"]) == ("ecommerce.shop", "ProductRetired")
    assert event["detail"] == {
        "eventId": row["event_id"],
        "eventVersion": 1,
        "entityId": row["entity_id"],
        "sequence": T0_NS + 7,
        "region": "us-east-1",
        "occurredAt": "2026-06-09T10:13:20.123456Z",
        "data": {"productId": row["entity_id"]},
    }
    assert failures.sent == []


def test_other_tables_updates_and_the_pruning_jobs_deletes_are_ignored() -> None:
    pub, bus, failures, _ = publisher()
    order_row = {"order_id": str(uuid.uuid4()), "status": "confirmed", "total_amount": "10.00"}
    records = [
        kinesis(cdc(order_row, table="orders"), 1),
        kinesis(cdc(order_row, table="orders", op="u"), 2),
        # A delete carries the primary key in `before` and no `after`.
        kinesis(cdc(None, op="d", before={"event_id": str(uuid.uuid4())}), 3),
    ]
    failed, outcome = pub.process(records)
    assert (failed, outcome.ignored, bus.events, failures.sent) == ([], 3, [], [])


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            {
                "type": "chunked",
                "op": "c",
                "before": None,
                "after": None,
                "chunked": {"after": {"chunk_id": "c1", "total_fragments": 2, "crc32c": "123"}},
                "source": {"table": "outbox"},
            },
            "chunked record",
        ),
        ({"type": "fragment", "chunk_id": "c1", "index": 0, "data": '{"event'}, "fragment record"),
        (b"\x00not json", "not JSON"),
        (cdc({**outbox_row(), "payload": '{"productId": 5}'}), "not a valid outbox event"),
        (cdc({**outbox_row(), "event_type": "OrderShipped"}), "unknown event OrderShipped"),
        (cdc(None), "without its row"),
    ],
)
def test_poison_records_go_to_the_failure_destination_and_never_block(
    record: dict[str, Any] | bytes, reason: str
) -> None:
    pub, bus, failures, _ = publisher()
    good = outbox_row()
    reply = pub.handle({"Records": [kinesis(record, 1), kinesis(cdc(good), 2)]})
    assert reply == {"batchItemFailures": []}
    [(why, sent)] = failures.sent
    assert reason in why and sent["kinesis"]["sequenceNumber"] == f"{1:056d}"
    assert [e["detail"]["eventId"] for e in bus.events] == [good["event_id"]]


def test_a_refused_put_is_a_partial_batch_failure_and_its_retry_publishes_once() -> None:
    rows = [outbox_row() for _ in range(3)]
    bus = FlakyBus({rows[1]["event_id"]})
    pub, _, _, _ = publisher(bus)
    batch = [kinesis(cdc(row), i) for i, row in enumerate(rows, 1)]
    assert pub.handle({"Records": batch}) == {"batchItemFailures": [{"itemIdentifier": f"{2:056d}"}]}
    # Lambda retries from the failed record: it and the ones after it again.
    assert pub.handle({"Records": batch[1:]}) == {"batchItemFailures": []}
    assert sorted(e["detail"]["eventId"] for e in bus.events) == sorted(r["event_id"] for r in rows)


def test_duplicates_in_a_batch_and_across_batches_reach_the_bus_once() -> None:
    pub, bus, _, _ = publisher()
    row = outbox_row()
    record = cdc(row)
    assert pub.handle({"Records": [kinesis(record, 1), kinesis(record, 2)]}) == {"batchItemFailures": []}
    failed, outcome = pub.process([kinesis(record, 3)])
    assert (failed, outcome.duplicates, len(bus.events)) == ([], 1, 1)


def test_an_event_another_invocation_holds_is_retried_and_a_dead_holders_lease_expires() -> None:
    dedupe = MemoryDedupe()
    bus = LocalBus()
    now = [1_000.0]
    pub = Publisher(bus, dedupe, MemoryFailures(), clock=lambda: now[0])
    row = outbox_row()
    assert dedupe.claim(row["event_id"], now[0]) == "claimed"  # a concurrent invocation, then it died
    assert pub.process([kinesis(cdc(row), 1)])[0] == [f"{1:056d}"]
    now[0] += LEASE_SECONDS + 1
    assert pub.process([kinesis(cdc(row), 1)])[0] == []
    assert len(bus.events) == 1


def test_a_bus_that_raises_fails_the_whole_chunk_without_losing_events() -> None:
    class Down(LocalBus):
        def put(self, events: Sequence[BusEvent]) -> list[str | None]:
            raise ConnectionError("endpoint unreachable")

    pub = Publisher(Down(), MemoryDedupe(), MemoryFailures())
    rows = [outbox_row() for _ in range(12)]
    failed, outcome = pub.process([kinesis(cdc(row), i) for i, row in enumerate(rows, 1)])
    assert failed == [f"{i:056d}" for i in range(1, 13)] and outcome.published == 0
    bus = LocalBus()
    pub.bus = bus  # back up: the released claims let the retry publish everything once
    assert pub.process([kinesis(cdc(row), i) for i, row in enumerate(rows, 1)])[0] == []
    assert len(bus.events) == 12


# ---- property: whatever DSQL's delivery does, the bus sees exactly the committed events, once ------

transactions = st.lists(
    st.lists(st.sampled_from(["a", "b", "c", "other"]), min_size=1, max_size=4), min_size=1, max_size=8
)


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    txs=transactions,
    data=st.data(),
)
def test_any_interleaving_with_duplicates_publishes_each_committed_event_once(
    txs: list[list[str]], data: st.DataObject
) -> None:
    # Committed transactions, in commit order: each writes outbox rows for entities a/b/c (and a row of
    # another table). Commit timestamps increase.
    committed: dict[str, tuple[str, int]] = {}
    records: list[dict[str, Any]] = []
    for index, tx in enumerate(txs):
        ts_ns = T0_NS + index * 1_000
        for entity in tx:
            if entity == "other":
                records.append(
                    cdc({"order_id": str(uuid.uuid4())}, table="orders", ts_ns=ts_ns, tx=f"tx{index}")
                )
                continue
            row = outbox_row(entity=str(uuid.uuid5(uuid.NAMESPACE_DNS, entity)))
            committed[row["event_id"]] = (row["entity_id"], ts_ns)
            records.append(cdc(row, ts_ns=ts_ns, tx=f"tx{index}"))
    # At-least-once and unordered: duplicates, any order (interleaving transactions), any batching;
    # the bus refuses some puts once (retried like Lambda does).
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(records), max_size=len(records)))
    deliveries = [record for record, n in zip(records, copies, strict=True) for _ in range(n)]
    deliveries = data.draw(st.permutations(deliveries))
    ids = sorted(committed)
    refused = set(data.draw(st.lists(st.sampled_from(ids), unique=True))) if ids else set()
    bus = FlakyBus(refused)
    pub = Publisher(bus, MemoryDedupe(), MemoryFailures())
    size = data.draw(st.integers(1, 6))
    queue = [kinesis(r, i) for i, r in enumerate(deliveries, 1)]
    rounds = 0
    while queue:
        rounds += 1
        assert rounds < 100
        batch, queue = queue[:size], queue[size:]
        failed, _ = pub.process(batch)
        queue += [r for r in batch if r["kinesis"]["sequenceNumber"] in set(failed)]
    published = [e["detail"] for e in bus.events]
    assert sorted(d["eventId"] for d in published) == ids  # exactly the committed rows, once each
    for detail in published:
        assert (detail["entityId"], detail["sequence"]) == committed[detail["eventId"]]
    # Consumers order an entity's events by sequence: that is commit order.
    for entity in {entity for entity, _ in committed.values()}:
        by_sequence = sorted((d for d in published if d["entityId"] == entity), key=lambda d: d["sequence"])
        commit_order = sorted(
            (e for e, (ent, _) in committed.items() if ent == entity), key=lambda e: committed[e][1]
        )
        assert [d["sequence"] for d in by_sequence] == sorted(committed[e][1] for e in commit_order)
