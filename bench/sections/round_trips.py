"""Sections ``round_trips`` and ``latency_ms``: what each request costs on the wire and in time.

The shop (the real Lambda entry points, warm: one reused connection per execution environment) and
the REFERENCE (the recipe's flow, bench/reference.py: a new connection and token per request) go
through the same latency proxy at each injected round-trip time; samples are interleaved (every
round visits every operation of both arms, in a shuffled order) and the proxy counts the round trips
of every sample.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.common import (
    CONNECT_ROUND_TRIPS,
    Lab,
    Progress,
    interleaved,
    new_products,
    ratio,
    summary,
    timed,
)
from bench.reference import Reference
from ecommerce_dev.catalog_seed import seed_products
from ecommerce_dev.invoker import Environment, order_body, plain_connector
from handlers.db.sample import JOHN

PAGE = 20
CATALOG = 1_000  # seeded products (plus the sample data's 5)
WARMUP = 8


@dataclass(frozen=True)
class Operation:
    name: str
    arm: str  # "shop" or "reference"
    #: Untimed preparation (e.g. the order a cancel needs); its result goes to ``act``.
    prepare: Callable[[], Any]
    #: The measured request: returns milliseconds.
    act: Callable[[Any], float]


def operations(
    lab: Lab, dsn: str, proxy_dsn: str, lines: Sequence[int]
) -> tuple[list[Operation], Environment]:
    shop = Environment(plain_connector(proxy_dsn, application_name="bench-shop"), region="us-east-1")
    reference = Reference(proxy_dsn)
    claims = lab.claims()
    products = new_products(dsn, max(lines), stock=10**9)

    def request(method: str, path: str, body: Any = None, expect: int = 200, **kwargs: Any) -> float:
        reply = shop.request(method, path, body, claims=claims, **kwargs)
        if reply.status != expect:
            raise AssertionError(f"{method} {path}: {reply.status} {reply.body}")
        return reply.seconds * 1000

    def place(count: int, key: str | None = None) -> dict[str, Any]:
        body = order_body([(p, 1) for p in products[:count]])
        reply = shop.request(
            "POST", "/orders", body, claims=claims, headers={"Idempotency-Key": key or str(uuid.uuid4())}
        )
        if reply.status != 201:
            raise AssertionError(reply.body)
        return {"key": key, "body": body, "order_id": reply.body["order_id"]}

    def nothing() -> None:
        return None

    ops = [
        Operation(
            "catalog", "shop", nothing, lambda _: request("GET", "/products", query={"limit": str(PAGE)})
        ),
        Operation("product by id", "shop", nothing, lambda _: request("GET", f"/products/{products[0]}")),
    ]
    for count in lines:
        ops.append(
            Operation(
                f"order, {count} line{'s' if count > 1 else ''}",
                "shop",
                functools.partial(lambda c: order_body([(p, 1) for p in products[:c]]), count),
                lambda body: request(
                    "POST", "/orders", body, 201, headers={"Idempotency-Key": str(uuid.uuid4())}
                ),
            )
        )
    ops += [
        Operation(
            "idempotent replay",
            "shop",
            lambda: place(1, str(uuid.uuid4())),
            lambda placed: request(
                "POST", "/orders", placed["body"], 201, headers={"Idempotency-Key": placed["key"]}
            ),
        ),
        Operation(
            "cancel",
            "shop",
            lambda: place(1),
            lambda placed: request("POST", f"/orders/{placed['order_id']}/cancel"),
        ),
        Operation("catalog", "reference", nothing, lambda _: timed(reference.catalog)[0]),
        Operation(
            "product by id",
            "reference",
            nothing,
            lambda _: timed(lambda: reference.get_product(products[0]))[0],
        ),
    ]
    for count in lines:
        ops.append(
            Operation(
                f"order, {count} line{'s' if count > 1 else ''}",
                "reference",
                functools.partial(lambda c: [(p, 1) for p in products[:c]], count),
                lambda chosen: timed(lambda: reference.place_order(JOHN, chosen))[0],
            )
        )
    return ops, shop


def run(
    lab: Lab,
    progress: Progress,
    *,
    rtts_ms: Sequence[float] = (0, 1, 10),
    rounds: int = 30,
    lines: Sequence[int] = (1, 10, 50),
) -> tuple[dict[str, Any], dict[str, Any]]:
    dsn = lab.database("bench_round_trips")
    seed_products(lambda: psycopg.connect(dsn), CATALOG)
    proxy = lab.proxy(dsn)
    ops, shop = operations(lab, dsn, proxy.dsn, lines)
    # Warm: connections open, code paths taken, and every statement past psycopg's prepare threshold
    # (5 executions; preparing costs one extra round trip once), so counts are the steady state's.
    for op in ops:
        for _ in range(WARMUP if op.arm == "shop" else 1):
            op.act(op.prepare())
    samples: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    trips: dict[tuple[str, str], set[int]] = defaultdict(set)
    arms = [(rtt, op) for rtt in rtts_ms for op in ops]
    total = rounds * len(arms)
    for done, (_, (rtt, op)) in enumerate(interleaved(rounds, arms), start=1):
        if proxy.one_way_delay != rtt / 2000:
            proxy.set_rtt_ms(rtt)
        prepared = op.prepare()
        proxy.reset()
        elapsed = op.act(prepared)
        trips[(op.name, op.arm)].add(proxy.round_trips)
        samples[(op.name, op.arm, rtt)].append(elapsed)
        if done % max(1, total // 10) == 0:
            progress.say(f"{done}/{total} samples")
    shop.close()
    names = list(dict.fromkeys(op.name for op in ops))
    trip_rows = []
    for name in names:
        row: dict[str, Any] = {"operation": name}
        for arm in ("shop", "reference"):
            observed = sorted(trips.get((name, arm), set()))
            row[arm] = observed[0] if len(observed) == 1 else (observed or None)
        both = isinstance(row["shop"], int) and isinstance(row["reference"], int)
        row["reference_over_shop"] = ratio(row["reference"], row["shop"]) if both else None
        trip_rows.append(row)
    latency_rows = []
    for name in names:
        for rtt in rtts_ms:
            row = {"operation": name, "rtt_ms": rtt}
            for arm in ("shop", "reference"):
                row[arm] = summary(samples[(name, arm, rtt)]) if (name, arm, rtt) in samples else None
            if row["shop"] and row["reference"]:
                row["reference_over_shop_p50"] = ratio(row["reference"]["p50"], row["shop"]["p50"])
                row["reference_over_shop_p99"] = ratio(row["reference"]["p99"], row["shop"]["p99"])
            latency_rows.append(row)
    catalog_note = (
        f"catalog of {CATALOG + 5:,} products: the shop returns its first page ({PAGE}), "
        "the reference all of them"
    )
    round_trips = {
        "description": "network round trips per request, counted on the wire by the latency proxy "
        "(the same proxy for both arms); one number when every sample agreed, [min, max] otherwise",
        "unit": "round trips",
        "connect_round_trips_modelled": CONNECT_ROUND_TRIPS,
        "connect_model": "a new connection is charged 3 extra round trips the local unix socket does not "
        "have: TCP, TLS 1.3 (sslnegotiation=direct), the IAM-token password exchange",
        "catalog": catalog_note,
        "operations": trip_rows,
    }
    latency = {
        "description": "handler (shop) or whole-flow (reference) time per request with the injected "
        "round-trip "
        "time; medians and spread of interleaved samples",
        "unit": "ms",
        "rtts_ms": list(rtts_ms),
        "samples_per_cell": rounds,
        "percentiles": "p99 by linear interpolation; with fewer than 100 samples it is close to the maximum",
        "catalog": catalog_note,
        "operations": latency_rows,
    }
    return round_trips, latency
