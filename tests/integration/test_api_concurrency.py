"""Invariants under real concurrency, broken connections, and the one-round-trip claim.

Every buyer is its own execution environment (own resolver, own connection), as on Lambda.
PostgreSQL at REPEATABLE READ blocks where DSQL aborts at commit, but both end in SQLSTATE 40001
for the loser, so the retry path runs for real.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import uuid4

import psycopg
import pytest
from bench.roundtrips import RoundTripCounter

from api_support import JOHN, OPERATOR, Client, Reply, stock
from ecommerce_dev.guarded import guarded_database
from handlers.db import Backoff, Database

# Every order, cancel, idempotency and concurrency test runs with both order strategies.
# Only what places or cancels orders runs once per order strategy (the strategies differ in
# nothing else); each such test is marked @orders.
orders = pytest.mark.usefixtures("order_strategy")

T = TypeVar("T")


def patient_client(dsn: str, region: str = "us-east-1") -> Client:
    # 64 buyers on one row conflict in rounds: give them the attempts a Lambda deadline would.
    def database() -> Database:
        return guarded_database(dsn, max_attempts=200, backoff=Backoff(base=0.005, cap=0.2))

    client = Client(dsn, region=region)
    client.handlers["orders"]._database = database()
    client.handlers["catalog"]._database = database()
    return client


def concurrently(count: int, make: Callable[[int], Client], act: Callable[[Client], T]) -> list[T]:
    clients = [make(i) for i in range(count)]
    start = threading.Barrier(count)

    def run(client: Client) -> T:
        start.wait()
        return act(client)

    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(run, clients))
    finally:
        for client in clients:
            client.close()


def sold(admin: psycopg.Connection, product_id: str) -> int:
    row = admin.execute(
        "SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o USING (order_id) "
        "WHERE i.product_id = %s AND o.status = 'confirmed'",
        (product_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


@orders
@pytest.mark.parametrize(
    "regions", [("us-east-1",), ("us-east-1", "us-east-2")], ids=["one-region", "two-regions"]
)
def test_64_buyers_stock_10(
    client: Client, shop_dsn: str, admin: psycopg.Connection, regions: tuple[str, ...]
) -> None:
    product = client.new_product(10)
    replies = concurrently(
        64,
        lambda i: patient_client(shop_dsn, regions[i % len(regions)]),
        lambda c: c.order([(product, 1)]),
    )
    statuses = Counter(reply.status for reply in replies)
    assert statuses == {201: 10, 409: 54}, statuses
    assert all(r.problem_type == "insufficient-stock" for r in replies if r.status == 409)
    assert stock(admin, product) == 0
    assert sold(admin, product) + stock(admin, product) == 10
    served_by = {r.headers["X-Serving-Region"] for r in replies}
    assert served_by == set(regions)


@orders
@pytest.mark.parametrize("buckets", [1, 16])
def test_20_requests_one_idempotency_key(
    client: Client, shop_dsn: str, admin: psycopg.Connection, buckets: int
) -> None:
    product = client.new_product(100, buckets=buckets)
    key = str(uuid4())
    replies = concurrently(20, lambda i: patient_client(shop_dsn), lambda c: c.order([(product, 2)], key=key))
    assert {r.status for r in replies} == {201}
    bodies = {r.body["order_id"] for r in replies}
    assert len(bodies) == 1
    assert all(r.body == replies[0].body for r in replies)
    assert stock(admin, product) == 98
    (count,) = admin.execute(
        "SELECT count(*) FROM orders o JOIN order_items i USING (order_id) WHERE i.product_id = %s",
        (product,),
    ).fetchone()  # type: ignore[misc]
    assert count == 1


@orders
def test_concurrent_cancels_restock_once(client: Client, shop_dsn: str, admin: psycopg.Connection) -> None:
    product = client.new_product(10)
    order_id = client.order([(product, 7)]).body["order_id"]
    replies = concurrently(
        10, lambda i: patient_client(shop_dsn), lambda c: c.post(f"/orders/{order_id}/cancel")
    )
    assert Counter(r.status for r in replies) == {200: 1, 409: 9}
    assert stock(admin, product) == 10


# ---- faults ---------------------------------------------------------------------------------------


def order_count(admin: psycopg.Connection, product_id: str) -> int:
    row = admin.execute("SELECT count(*) FROM order_items WHERE product_id = %s", (product_id,)).fetchone()
    assert row is not None
    return int(row[0])


@orders
def test_connection_terminated_between_requests_is_replaced(
    client: Client, admin: psycopg.Connection
) -> None:
    product = client.new_product(5)
    assert client.order([(product, 1)]).status == 201
    pid = client.handlers["orders"].database.connection.info.backend_pid  # type: ignore[union-attr]
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    reply = client.order([(product, 1)])
    assert reply.status == 201, reply.body
    assert stock(admin, product) == 3
    assert order_count(admin, product) == 2


@orders
@pytest.mark.parametrize("cut_at", [b"INSERT INTO orders", b"COMMIT"])
def test_connection_cut_mid_order_leaves_no_partial_order(
    client: Client, shop_dsn: str, admin: psycopg.Connection, cut_at: bytes
) -> None:
    product = client.new_product(5)
    with RoundTripCounter(shop_dsn) as proxy:
        cut = Client(proxy.dsn)
        key = str(uuid4())
        proxy.drop_on(cut_at)
        first = cut.order([(product, 2)], key=key)
        # Either it completed (retried on a new connection: safe thanks to the key) or it failed
        # cleanly with a problem the client can act on; never a half order.
        assert first.status in (201, 503), first.body
        items = admin.execute("SELECT count(*) FROM order_items WHERE product_id = %s", (product,)).fetchone()
        assert items is not None
        assert (stock(admin, product), items[0]) in {(5, 0), (3, 1)}
        retry = cut.order([(product, 2)], key=key)
        assert retry.status == 201
        assert stock(admin, product) == 3 and order_count(admin, product) == 1
        cut.close()


# ---- round trips ----------------------------------------------------------------------------------


def wire_client(proxy: RoundTripCounter) -> Client:
    """Plain psycopg through the counting proxy: what DSQL would see. The local guard's own
    bookkeeping queries are an emulation cost that real DSQL does not have, so it is left out."""

    def connect() -> Any:
        return psycopg.Connection.connect(proxy.dsn, autocommit=True)

    return Client(proxy.dsn, database=Database(connector=connect))


@orders
@pytest.mark.parametrize("lines", [1, 10, 50])
def test_order_happy_path_is_one_round_trip(client: Client, shop_dsn: str, lines: int) -> None:
    products = [client.new_product(100) for _ in range(lines)]
    with RoundTripCounter(shop_dsn) as proxy:
        wire = wire_client(proxy)
        assert wire.get("/health").status == 200  # connection opened and warm
        proxy.reset()
        reply = wire.order([(p, 1) for p in products])
        assert reply.status == 201, reply.body
        assert len(reply.body["items"]) == lines
        assert proxy.round_trips == 1
        wire.close()


def test_catalog_page_is_one_round_trip(shop_dsn: str) -> None:
    with RoundTripCounter(shop_dsn) as proxy:
        wire = wire_client(proxy)
        wire.get("/health")
        proxy.reset()
        page = wire.get("/products", query={"limit": "5"})
        assert page.status == 200 and proxy.round_trips == 1
        proxy.reset()
        second = wire.get("/products", query={"limit": "5", "cursor": page.body["next_cursor"]})
        assert second.status == 200 and proxy.round_trips == 1
        wire.close()


@orders
@pytest.mark.parametrize("buckets", [1, 4])
def test_replay_is_one_round_trip_like_the_original(client: Client, shop_dsn: str, buckets: int) -> None:
    """The record and its order are read in the order's own pipeline (issue 24; before: 4-5)."""
    product = client.new_product(10, buckets=buckets)
    with RoundTripCounter(shop_dsn) as proxy:
        wire = wire_client(proxy)
        wire.get("/health")
        key = str(uuid4())
        first = wire.order([(product, 1)], key=key, customer=JOHN)
        assert first.status == 201
        proxy.reset()
        replay: Reply = wire.order([(product, 1)], key=key, customer=JOHN)
        assert (replay.status, replay.body) == (201, first.body)
        assert proxy.round_trips == 1
        proxy.reset()
        reused = wire.order([(product, 2)], key=key, customer=JOHN)
        assert (reused.status, reused.problem_type, proxy.round_trips) == (422, "idempotency-key-reused", 1)
        wire.close()
    assert stock_total(shop_dsn, product) == 9  # the replay took nothing


@orders
def test_sharded_order_and_cancel_are_one_round_trip(client: Client, shop_dsn: str) -> None:
    products = [client.new_product(100, buckets=16) for _ in range(10)]
    with RoundTripCounter(shop_dsn) as proxy:
        wire = wire_client(proxy)
        wire.get("/health")
        proxy.reset()
        reply = wire.order([(p, 3) for p in products])
        assert (reply.status, proxy.round_trips) == (201, 1)
        proxy.reset()
        cancelled = wire.post(f"/orders/{reply.body['order_id']}/cancel")
        assert (cancelled.status, proxy.round_trips) == (200, 1)
        wire.close()


def stock_total(dsn: str, product_id: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return stock(conn, product_id)


@orders
def test_concurrent_requests_never_see_each_others_events(shop_dsn: str) -> None:
    """Powertools keeps the current event on a class; ApiHandler must keep requests apart."""
    names = [f"item-{i}-{uuid4().hex[:6]}" for i in range(32)]
    pending = iter(names)
    lock = threading.Lock()

    def create(client: Client) -> tuple[str, Reply]:
        with lock:
            name = next(pending)
        return name, client.post("/products", {"name": name, "price": "1.00", "category": "race"})

    results = concurrently(32, lambda i: Client(shop_dsn, who=OPERATOR), create)
    assert all(reply.status == 201 for _, reply in results)
    assert all(reply.body["name"] == name for name, reply in results)


@orders
def test_conflicts_outlasting_the_retry_budget_answer_503_with_retry_after(
    client: Client, shop_dsn: str, admin: psycopg.Connection
) -> None:
    product = client.new_product(5)
    impatient = Client(shop_dsn)
    impatient.handlers["orders"]._database = guarded_database(shop_dsn, max_attempts=1)
    blocker = psycopg.connect(shop_dsn)
    blocker.execute("UPDATE products SET stock_quantity = stock_quantity WHERE product_id = %s", (product,))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(impatient.order, [(product, 1)])
        time.sleep(0.3)  # the order's UPDATE now waits for the blocker's row
        blocker.commit()  # ... and fails with 40001: a conflict, with no attempts left
        reply = pending.result(timeout=30)
    blocker.close()
    impatient.close()
    assert (reply.status, reply.problem_type) == (503, "busy")
    assert reply.headers["Retry-After"] == "1"
    assert stock(admin, product) == 5


@orders
@pytest.mark.parametrize("buckets", [1, 16])
def test_20_requests_one_key_buying_all_the_stock(
    client: Client, shop_dsn: str, admin: psycopg.Connection, buckets: int
) -> None:
    product = client.new_product(2, buckets=buckets)
    key = str(uuid4())
    replies = concurrently(20, lambda i: patient_client(shop_dsn), lambda c: c.order([(product, 2)], key=key))
    assert {r.status for r in replies} == {201}, Counter(r.status for r in replies)
    assert all(r.body == replies[0].body for r in replies)
    assert stock(admin, product) == 0


@orders
@pytest.mark.parametrize("buckets", [1, 16])
def test_20_requests_one_key_two_different_bodies(
    client: Client, shop_dsn: str, admin: psycopg.Connection, buckets: int
) -> None:
    """One key, two bodies racing: one order is placed; the requests with its body get it, the
    others 422 idempotency-key-reused (docs/api.md), and only the placed order's units are gone."""
    product = client.new_product(10, buckets=buckets)
    key = str(uuid4())
    quantities: dict[int, int] = {}  # per client: 1 or 2 units, ten of each

    def make(i: int) -> Client:
        buyer = patient_client(shop_dsn)
        quantities[id(buyer)] = 1 + i % 2
        return buyer

    replies = concurrently(20, make, lambda c: c.order([(product, quantities[id(c)])], key=key))
    placed = [r for r in replies if r.status == 201]
    assert len(placed) == 10 and all(r.body == placed[0].body for r in placed), Counter(
        r.status for r in replies
    )
    refused = [r for r in replies if r.status != 201]
    assert {(r.status, r.problem_type) for r in refused} == {(422, "idempotency-key-reused")}
    (quantity,) = admin.execute(
        "SELECT i.quantity FROM orders o JOIN order_items i USING (order_id) WHERE i.product_id = %s",
        (product,),
    ).fetchone()  # type: ignore[misc]
    assert stock(admin, product) == 10 - quantity
