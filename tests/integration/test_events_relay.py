"""The local events pipeline of ``make dev`` end to end: the embedded PostgreSQL with wal_level=logical,
the relay reading the outbox's inserts by logical decoding (test_decoding), DSQL's record shape with
duplicates and reordering injected, the same publisher code into the local bus."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api_support import Client
from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.events_relay import EVENTS_FILE, FAILURES_FILE, Disorder, RelayThread, read_events
from handlers.db.migrate import apply_migrations


@pytest.fixture(scope="module")
def logical_dsn() -> Iterator[str]:
    """A server of its own, as make dev runs it (logical decoding on; the session's server is not)."""
    data_dir = Path(tempfile.mkdtemp(prefix="dsql-logical-"))
    try:
        engine = LocalEngine.start(data_dir, durable=False, logical=True)
        dsn = engine.create_database("shop_events")
        apply_migrations(
            lambda: engine.connect(dsn=dsn, autocommit=True), include_sample_data=True, poll_interval=0.01
        )
        yield dsn
        engine.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def relay(logical_dsn: str, tmp_path: Path) -> Iterator[RelayThread]:
    # Every change duplicated half the time, every poll's batch shuffled: what DSQL may do.
    thread = RelayThread(
        logical_dsn,
        tmp_path,
        region="us-east-1",
        interval=0.05,
        disorder=Disorder(duplicate=0.5, shuffle=1.0, rng=random.Random(25)),
    ).start()
    yield thread
    thread.stop()


def bus_events(relay: RelayThread) -> list[dict[str, Any]]:
    path = relay.bus.path
    assert path is not None
    return [json.loads(line) for line in read_events(path)]


def wait_for(relay: RelayThread, done: Any, seconds: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        events = bus_events(relay)
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


def test_an_order_placed_in_one_region_and_cancelled_in_the_other_shows_both_events_within_2_s(
    logical_dsn: str, relay: RelayThread
) -> None:
    east1, east2 = Client(logical_dsn, region="us-east-1"), Client(logical_dsn, region="us-east-2")
    product = east1.new_product(5)
    started = time.monotonic()
    order = east1.order([(product, 2)]).body
    assert east2.post(f"/orders/{order['order_id']}/cancel").status == 200

    def both(events: list[dict[str, Any]]) -> bool:
        mine = [e["detail-type"] for e in events if e["detail"]["entityId"] == order["order_id"]]
        return sorted(mine) == ["OrderCancelled", "OrderPlaced"]

    events = wait_for(relay, both, 2.0)
    elapsed = time.monotonic() - started
    mine = [e for e in events if e["detail"]["entityId"] == order["order_id"]]
    assert sorted(e["detail-type"] for e in mine) == ["OrderCancelled", "OrderPlaced"], mine
    assert elapsed <= 2.0
    placed = next(e for e in mine if e["detail-type"] == "OrderPlaced")
    cancelled = next(e for e in mine if e["detail-type"] == "OrderCancelled")
    assert set(placed) == {
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
    assert placed["source"] == "ecommerce.shop"
    assert (placed["detail"]["region"], cancelled["detail"]["region"]) == ("us-east-1", "us-east-2")
    assert placed["detail"]["sequence"] < cancelled["detail"]["sequence"]  # commit order
    assert placed["detail"]["data"]["lines"] == [{"productId": product, "quantity": 2, "unitPrice": "10.00"}]


def test_every_committed_event_once_and_nothing_for_rolled_back_work(
    logical_dsn: str, relay: RelayThread
) -> None:
    client = Client(logical_dsn)
    product = client.new_product(30)
    orders = [client.order([(product, 1)]).body["order_id"] for _ in range(12)]
    for order_id in orders[:5]:
        assert client.post(f"/orders/{order_id}/cancel").status == 200
    assert client.order([(product, 1000)]).status == 409  # rolled back: no event
    with psycopg.connect(logical_dsn, autocommit=True) as admin:
        committed = admin.execute(
            "SELECT count(*) FROM outbox WHERE entity_id = ANY(%s::uuid[])", (orders,)
        ).fetchone()
    assert committed == (17,)
    events = wait_for(relay, lambda es: sum(e["detail"]["entityId"] in orders for e in es) >= 17, 5.0)
    time.sleep(0.3)  # a late duplicate would show up now
    events = bus_events(relay)
    mine = [e for e in events if e["detail"]["entityId"] in orders]
    counts = Counter((e["detail"]["entityId"], e["detail-type"]) for e in mine)
    assert counts == Counter(
        {**{(o, "OrderPlaced"): 1 for o in orders}, **{(o, "OrderCancelled"): 1 for o in orders[:5]}}
    )
    assert len({e["detail"]["eventId"] for e in events}) == len(events)  # the bus saw no duplicate


def test_a_broken_outbox_row_goes_to_the_failures_file_not_the_bus(
    logical_dsn: str, relay: RelayThread
) -> None:
    with psycopg.connect(logical_dsn, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO outbox (event_id, event_type, event_version, entity_id, payload, region) "
            "VALUES (gen_random_uuid(), 'OrderPlaced', 1, gen_random_uuid(), '{\"orderId\": 1}', 'x')"
        )
    failures = Path(relay.failures.path)
    deadline = time.monotonic() + 3
    while not failures.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    [first, *_] = [json.loads(line) for line in failures.read_text().splitlines()]
    assert "not a valid outbox event" in first["reason"]
    assert (relay.bus.path.parent / FAILURES_FILE) == failures and relay.bus.path.name == EVENTS_FILE  # type: ignore[union-attr]
