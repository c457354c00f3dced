"""Benchmarks of the shop's database paths on the embedded engine, reported as ratios from one run.

Round trips are counted on the wire (RoundTripCounter) through plain psycopg connections — what
DSQL would see; the local guard's bookkeeping is an emulation cost measured separately. Latencies
are medians of repeated runs on loopback; only their ratios mean anything (on DSQL every round trip
costs far more than here, which is why the round-trip column is the one to watch).

Usage: python scripts/bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from ecommerce_dev.devserver import build_event
from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.roundtrips import RoundTripCounter
from handlers.api import catalog, orders
from handlers.db import Database, apply_migrations
from handlers.db.sample import JOHN


def event(method: str, path: str, body: str | None = None, **extra: Any) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **extra.pop("headers", {})}
    query = extra.pop("query", None) or {}
    return build_event(
        method=method,
        path=path,
        headers=list(headers.items()),
        query=list(query.items()),
        body=(body or "").encode(),
    )


class Shop:
    def __init__(self, connect: Callable[[], Any]) -> None:
        self.catalog = catalog.build(database=Database(connector=connect), region="bench")
        self.orders = orders.build(database=Database(connector=connect), region="bench")

    def order(self, products: list[str]) -> dict[str, Any]:
        body = json.dumps(
            {"customer_id": JOHN, "items": [{"product_id": p, "quantity": 1} for p in products]}
        )
        reply = self.orders(
            event("POST", "/orders", body, headers={"Idempotency-Key": str(uuid.uuid4())}), None
        )
        assert reply["statusCode"] == 201, reply["body"]
        return reply

    def page(self, **query: str) -> dict[str, Any]:
        reply = self.catalog(event("GET", "/products", query=query or None), None)
        assert reply["statusCode"] == 200, reply["body"]
        return reply


def median_ms(action: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def round_trips(proxy: RoundTripCounter, action: Callable[[], Any]) -> int:
    proxy.reset()
    action()
    return proxy.round_trips


def seed_products(dsn: str, count: int, prefix: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with (
            conn.cursor() as cur,
            cur.copy("COPY products (product_id, name, price, stock_quantity, category) FROM STDIN") as copy,
        ):
            for product_id in ids:
                copy.write_row((product_id, f"{prefix} item", "9.99", 1_000_000, prefix))
        conn.execute("ANALYZE products")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    repeat = args.repeat

    engine = LocalEngine.start(Path(tempfile.mkdtemp(prefix="bench-engine-")), durable=False)
    try:
        dsn = engine.create_database("bench")
        apply_migrations(
            lambda: engine.connect(dsn=dsn, autocommit=True), include_sample_data=True, poll_interval=0.01
        )
        products = seed_products(dsn, 50, "bench")
        rows: list[tuple[str, int, float]] = []
        with RoundTripCounter(dsn) as proxy:
            plain = Shop(lambda: psycopg.Connection.connect(proxy.dsn, autocommit=True))
            plain.page()  # connections open and warm
            plain.order(products[:1])
            for lines in (1, 10, 50):
                chosen = products[:lines]
                trips = round_trips(proxy, lambda chosen=chosen: plain.order(chosen))
                rows.append(
                    (
                        f"POST /orders, {lines} line(s)",
                        trips,
                        median_ms(lambda c=chosen: plain.order(c), repeat),
                    )
                )
            trips = round_trips(proxy, lambda: plain.page(limit="20"))
            rows.append(
                ("GET /products (20 of 55 rows)", trips, median_ms(lambda: plain.page(limit="20"), repeat))
            )
            seed_products(dsn, 20_000, "big")
            trips = round_trips(proxy, lambda: plain.page(limit="20"))
            rows.append(
                (
                    "GET /products (20 of 20,055 rows)",
                    trips,
                    median_ms(lambda: plain.page(limit="20"), repeat),
                )
            )
            cursor = None
            for _ in range(50):  # walk deep into the catalog
                cursor = json.loads(
                    plain.page(limit="100", **({"cursor": cursor} if cursor else {}))["body"]
                )["next_cursor"]
            assert cursor
            deep = median_ms(lambda: plain.page(limit="20", cursor=cursor), repeat)
            rows.append(
                (
                    "GET /products, page at row 5,000",
                    round_trips(proxy, lambda: plain.page(limit="20", cursor=cursor)),
                    deep,
                )
            )
        guarded = Shop(lambda: engine.connect(dsn=dsn, autocommit=True))
        guarded.order(products[:10])
        guarded_ms = median_ms(lambda: guarded.order(products[:10]), repeat)
    finally:
        engine.stop()

    base = rows[0][2]
    print(f"\n{'operation':<38} {'round trips':>11} {'median ms':>10} {'ratio':>7}")
    for name, trips, ms in rows:
        print(f"{name:<38} {trips:>11} {ms:>10.2f} {ms / base:>6.2f}x")
    plain_10 = rows[1][2]
    label = "POST /orders 10 lines, DSQL guard on"
    print(f"{label:<38} {'-':>11} {guarded_ms:>10.2f} {guarded_ms / base:>6.2f}x")
    print(
        f"\nratios: 50-line / 1-line order = {rows[2][2] / rows[0][2]:.2f}; "
        f"catalog page 20,055 rows / 55 rows = {rows[4][2] / rows[3][2]:.2f}; "
        f"deep page / first page = {rows[5][2] / rows[4][2]:.2f}; "
        f"guard overhead (10 lines) = {guarded_ms / plain_10:.2f}x"
    )


if __name__ == "__main__":
    main()
