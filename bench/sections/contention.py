"""Section ``contention``: concurrent buyers through both simulated regions, at each injected latency.

Each buyer is its own execution environment (the orders function's real entry point, its own
connection), half of them in us-east-1 and half in us-east-2, each region behind its own latency
proxy in front of the one database (two peered clusters are one logical database). Two scenarios:

* ``hot``: every buyer orders one unit of one product whose stock is smaller than the demand, so it
  sells out and the rest get 409 — units sold must equal the stock exactly;
* ``spread``: every buyer orders 3 random products of a catalog with plenty of stock.

Bursts are interleaved (every round runs every latency and scenario, in a shuffled order), with
fresh products per burst. The data layer runs with its production settings (8 attempts, capped
backoff with full jitter, the Lambda's deadline). PostgreSQL at REPEATABLE READ makes a concurrent
writer wait and then fail with 40001 where DSQL would let both run and fail one at COMMIT; both end
in the same retry, so the counts of conflicts are comparable, not the waiting.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.common import Lab, Progress, interleaved, new_products
from ecommerce_dev.invoker import Environment, order_body, plain_connector

REGIONS = ("us-east-1", "us-east-2")
SCENARIOS = ("hot", "spread")


@dataclass
class Burst:
    scenario: str
    rtt_ms: float
    seconds: float
    statuses: Counter[int]
    problems: Counter[str]
    conflicts: int
    attempts: int
    units_ordered_201: int
    units_sold_db: int
    stock_taken_db: int
    stock: int

    @property
    def exact(self) -> bool:
        return self.units_ordered_201 == self.units_sold_db == self.stock_taken_db


def _burst(
    envs: list[Environment],
    claims: dict[str, str],
    dsn: str,
    scenario: str,
    rtt_ms: float,
    orders_per_buyer: int,
    seed: int,
) -> Burst:
    buyers = len(envs)
    if scenario == "hot":
        stock = buyers * orders_per_buyer * 3 // 4  # sells out: a quarter of the demand gets 409
        products = new_products(dsn, 1, stock=stock)
    else:
        stock = 10**6
        products = new_products(dsn, 100, stock=stock)
    before = [db.stats.conflicts for env in envs for db in env.databases()]
    attempts_before = [db.stats.attempts for env in envs for db in env.databases()]
    start = threading.Barrier(buyers)

    def buyer(index: int) -> list[tuple[int, str, int]]:
        rng = random.Random(seed * 1000 + index)  # noqa: S311 - a load pattern, not a secret
        env = envs[index]
        results = []
        start.wait()
        for _ in range(orders_per_buyer):
            lines = [(products[0], 1)] if scenario == "hot" else [(p, 1) for p in rng.sample(products, 3)]
            reply = env.request(
                "POST",
                "/orders",
                order_body(lines),
                claims=claims,
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            results.append((reply.status, reply.problem_type, len(lines) if reply.status == 201 else 0))
        return results

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=buyers) as pool:
        outcomes = [item for result in pool.map(buyer, range(buyers)) for item in result]
    seconds = time.perf_counter() - started
    conflicts = sum(db.stats.conflicts for env in envs for db in env.databases()) - sum(before)
    attempts = sum(db.stats.attempts for env in envs for db in env.databases()) - sum(attempts_before)
    with psycopg.connect(dsn, autocommit=True) as conn:
        sold_row = conn.execute(
            "SELECT coalesce(sum(i.quantity), 0) FROM order_items AS i JOIN orders AS o USING (order_id) "
            "WHERE i.product_id = ANY(%s::uuid[]) AND o.status = 'confirmed'",
            (products,),
        ).fetchone()
        left_row = conn.execute(
            "SELECT coalesce(sum(stock_quantity), 0) FROM products WHERE product_id = ANY(%s::uuid[])",
            (products,),
        ).fetchone()
    assert sold_row is not None
    assert left_row is not None
    return Burst(
        scenario=scenario,
        rtt_ms=rtt_ms,
        seconds=seconds,
        statuses=Counter(status for status, _, _ in outcomes),
        problems=Counter(problem for status, problem, _ in outcomes if status != 201),
        conflicts=conflicts,
        attempts=attempts,
        units_ordered_201=sum(units for _, _, units in outcomes),
        units_sold_db=int(sold_row[0]),
        stock_taken_db=stock * len(products) - int(left_row[0]),
        stock=stock if scenario == "hot" else stock * len(products),
    )


def run(
    lab: Lab,
    progress: Progress,
    *,
    rtts_ms: Sequence[float] = (0, 1, 10),
    buyers_per_region: int = 4,
    orders_per_buyer: int = 12,
    rounds: int = 5,
) -> dict[str, Any]:
    dsn = lab.database("bench_contention")
    proxies = {region: lab.proxy(dsn) for region in REGIONS}
    envs = [
        Environment(plain_connector(proxies[region].dsn, application_name=f"bench-{region}"), region=region)
        for _ in range(buyers_per_region)
        for region in REGIONS
    ]
    claims = lab.claims()
    for env in envs:  # connections open
        env.request("GET", "/health")
    bursts: list[Burst] = []
    arms = [(rtt, scenario) for rtt in rtts_ms for scenario in SCENARIOS]
    for index, (round_index, (rtt, scenario)) in enumerate(interleaved(rounds, arms, seed=17)):
        for proxy in proxies.values():
            proxy.set_rtt_ms(rtt)
        burst = _burst(envs, claims, dsn, scenario, rtt, orders_per_buyer, seed=index)
        bursts.append(burst)
        if scenario == "hot" and round_index == 0:
            progress.say(f"rtt {rtt} ms, {scenario}: {burst.statuses[201] / burst.seconds:.0f} orders/s")
    progress.say(f"{len(bursts)} bursts done")
    for env in envs:
        env.close()
    grouped: dict[tuple[float, str], list[Burst]] = defaultdict(list)
    for burst in bursts:
        grouped[(burst.rtt_ms, burst.scenario)].append(burst)
    rows = []
    for (rtt, scenario), group in sorted(grouped.items()):
        rates = sorted(b.statuses[201] / b.seconds for b in group)
        requests = sum(sum(b.statuses.values()) for b in group)
        statuses: Counter[int] = Counter()
        problems: Counter[str] = Counter()
        for b in group:
            statuses.update(b.statuses)
            problems.update(b.problems)
        rows.append(
            {
                "scenario": scenario,
                "rtt_ms": rtt,
                "bursts": len(group),
                "requests": requests,
                "orders_per_second_p50": round(statistics.median(rates), 1),
                "orders_per_second_min": round(rates[0], 1),
                "orders_per_second_max": round(rates[-1], 1),
                "conflict_retries_per_order": round(sum(b.conflicts for b in group) / requests, 3),
                "status_201": statuses[201],
                "status_409": statuses[409],
                "status_503": statuses[503],
                "other_statuses": {str(k): v for k, v in statuses.items() if k not in (201, 409, 503)},
                "problems": dict(problems),
                "units_sold": sum(b.units_sold_db for b in group),
                "stock_offered": sum(b.stock for b in group) if scenario == "hot" else None,
                "units_exact": all(b.exact for b in group),
            }
        )
    return {
        "description": "concurrent buyers through both simulated regions: orders per second (201s per "
        "second of "
        "burst), conflict retries (SQLSTATE 40001) per order request, 503s, and units sold checked against "
        "stock by SQL after every burst",
        "regions": list(REGIONS),
        "buyers": buyers_per_region * len(REGIONS),
        "orders_per_buyer_per_burst": orders_per_buyer,
        "rounds": rounds,
        "hot_stock": "3/4 of the demand (buyers x orders per buyer), so every hot burst sells out",
        "spread_catalog": "100 products, 3 random lines per order",
        "database": "PostgreSQL REPEATABLE READ (waits, then 40001) standing in for DSQL (aborts at COMMIT)",
        "rows": rows,
    }
