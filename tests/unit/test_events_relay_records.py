"""The local relay's pure parts: test_decoding's output rendered in DSQL's CDC record shape, the
injected disorder, the local bus's EventBridge shape, and `ecommerce dev events`."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from ecommerce_dev.events_relay import Change, Disorder, LocalBus, cdc_records, parse_columns
from ecommerce_ops.cli import main
from handlers.events.publisher import BusEvent, decode, parse

EVENT_ID = "0b7c3c44-4a55-4d0e-9d4c-2f0b1c1f9b11"
ENTITY = "7d3f1e5c-6a0b-4c55-9a51-5d2f9b1e0a11"
ROWS = [
    ("0/1", 755, "BEGIN 755"),
    (
        "0/1",
        755,
        "table public.outbox: INSERT: event_id[uuid]:'" + EVENT_ID + "' event_type[text]:'ProductRetired' "
        "event_version[integer]:1 entity_id[uuid]:'" + ENTITY + "' "
        'payload[text]:\'{"productId": "' + ENTITY + "\", \"note\": \"it''s\"}' region[text]:'us-east-1' "
        "created_at[timestamp with time zone]:'2026-12-07 13:20:53.087495+00'",
    ),
    (
        "0/2",
        755,
        "table public.products: UPDATE: product_id[uuid]:'"
        + ENTITY
        + "' price[numeric]:12.50 active[boolean]:false description[text]:null",
    ),
    ("0/3", 755, "table public.outbox: DELETE: event_id[uuid]:'" + EVENT_ID + "'"),
    ("0/4", 755, "COMMIT 755 (at 2026-12-07 13:20:53.08775+00)"),
]


def test_columns_with_quotes_numbers_booleans_nulls_and_timestamps() -> None:
    assert parse_columns("a[integer]:1 b[text]:'x y ''z''' c[boolean]:true d[text]:null e[numeric]:1.50") == {
        "a": 1,
        "b": "x y 'z'",
        "c": True,
        "d": None,
        "e": "1.50",  # numeric: a string, as DSQL's CDC renders it
    }
    at = parse_columns("t[timestamp with time zone]:'2026-12-07 13:20:53.087495+00'")["t"]
    assert at == int(datetime(2026, 12, 7, 13, 20, 53, 87495, tzinfo=UTC).timestamp() * 1_000_000)


def test_committed_changes_become_dsql_records_sharing_the_commit_timestamp_and_tx_id() -> None:
    changes = cdc_records(ROWS)
    assert [(c.record["source"]["table"], c.record["op"]) for c in changes] == [
        ("outbox", "c"),
        ("products", "u"),
        ("outbox", "d"),
    ]
    insert, update, delete = (c.record for c in changes)
    commit_ns = int(datetime(2026, 12, 7, 13, 20, 53, 87750, tzinfo=UTC).timestamp() * 1_000_000) * 1000
    assert {r["source"]["ts_ns"] for r in (insert, update, delete)} == {commit_ns}
    assert len({r["source"]["txId"] for r in (insert, update, delete)}) == 1
    assert insert["before"] is None and insert["after"]["event_id"] == EVENT_ID
    assert delete == {**delete, "before": {"event_id": EVENT_ID}, "after": None}
    assert set(insert) == {"type", "op", "before", "after", "source", "ts_ms", "ts_ns"}
    # The publisher reads exactly this shape back.
    event = parse(decode(changes[0].kinesis(1)))
    assert event is not None
    assert (event.event_id, event.sequence, event.data["note"]) == (EVENT_ID, commit_ns, "it's")
    assert parse(decode(changes[1].kinesis(2))) is None and parse(decode(changes[2].kinesis(3))) is None


def test_an_uncommitted_tail_is_not_emitted() -> None:
    assert cdc_records(ROWS[:-1]) == []


def test_disorder_duplicates_and_reorders_but_never_drops() -> None:
    changes = [Change({"n": i}) for i in range(50)]
    out = Disorder(duplicate=0.3, shuffle=1.0, rng=random.Random(1)).apply(changes)
    assert {c.record["n"] for c in out} == set(range(50))
    assert len(out) > 50 and [c.record["n"] for c in out] != sorted(c.record["n"] for c in out)
    assert Disorder(duplicate=0, shuffle=0).apply(changes) == changes


def test_ecommerce_dev_events_prints_the_local_bus_in_eventbridge_shape(tmp_path: Path) -> None:
    bus = LocalBus(tmp_path / "events.jsonl", region="us-east-1")
    moment = datetime(2026, 12, 7, 12, 0, 1, tzinfo=UTC)
    bus.put([BusEvent("ecommerce.shop", "OrderPlaced", {"eventId": EVENT_ID}, moment)])
    result = CliRunner().invoke(main, ["dev", "--data-dir", str(tmp_path), "events"])
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    event = json.loads(line)
    assert {k: event[k] for k in ("source", "detail-type", "time", "detail", "region")} == {
        "source": "ecommerce.shop",
        "detail-type": "OrderPlaced",
        "time": "2026-12-07T12:00:01Z",
        "detail": {"eventId": EVENT_ID},
        "region": "us-east-1",
    }
    assert len(event["id"]) == 36
    empty = CliRunner().invoke(main, ["dev", "events", "--data-dir", str(tmp_path / "nothing")])
    assert (empty.exit_code, empty.output) == (0, "")
