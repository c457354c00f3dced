"""make chaos, small: the invariants hold under faults; and the checks do catch broken data.

Invariants only, never timings — except "no request hung past its deadline", a bound the harness
enforces the way Lambda does (the function timeout) and the data layer enforces between attempts.
"""

from __future__ import annotations

import functools
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from bench import chaos
from bench.latency import LatencyProxy

from ecommerce_dev.engine import LocalEngine
from handlers.db.migrate import apply_migrations


@pytest.fixture(scope="module")
def small_run() -> chaos.ChaosReport:
    return chaos.run_chaos(chaos.ChaosConfig.small(seed=7))


def test_every_invariant_holds_under_faults(small_run: chaos.ChaosReport) -> None:
    failed = [f"{i.name}: {i.detail}" for i in small_run.invariants if not i.holds]
    assert not failed, failed
    names = {i.name for i in small_run.invariants}
    assert len(names) == 12  # 8 of the database and the outcomes, 4 of the events
    assert small_run.ok


def test_the_small_run_is_bounded_and_every_fault_kind_was_injected(small_run: chaos.ChaosReport) -> None:
    config = chaos.ChaosConfig.small(seed=7)
    assert small_run.requests["load"] == config.requests
    assert small_run.faults["restart"] == config.restarts
    assert small_run.faults["terminate"] + small_run.faults["cut"] > 0
    server_side = sum(v for k, v in small_run.faults.items() if k.startswith(("40001", "XX000")))
    assert server_side > 0
    assert small_run.retries["retries"] > 0  # the faults reached the data layer and it retried
    assert small_run.deadline["hung_after_kill"] == 0
    assert small_run.database["orders"] == small_run.database["idempotency_records"]


def test_the_fault_plan_is_seeded_and_covers_every_kind() -> None:
    config = chaos.ChaosConfig.small(seed=3)
    plans = [_plan(config), _plan(config)]
    assert plans[0] == plans[1]
    kinds = {kind for _, kind in plans[0]}
    assert kinds == {"terminate", "cut", "commit_lost", "stall", "reshard", "restart"}
    assert all(0 <= at <= config.requests for at, _ in plans[0])


def _plan(config: chaos.ChaosConfig) -> list[tuple[int, str]]:
    fake = SimpleNamespace(config=config)
    return chaos._Run.fault_plan(fake)  # type: ignore[arg-type]


# ---- the checks catch what they claim to ----------------------------------------------------------


@pytest.fixture
def chaos_dsn(local_engine: LocalEngine, fresh_dsn: str) -> str:
    apply_migrations(
        lambda: local_engine.connect(dsn=fresh_dsn, autocommit=True),
        include_sample_data=True,
        poll_interval=0.01,
    )
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute(chaos.FAULT_SCHEMA.encode())
        conn.execute("INSERT INTO chaos.initial_stock SELECT product_id, stock_quantity FROM products")
    return fresh_dsn


def _order(conn: psycopg.Connection[Any], *, total: str, items: int, key: str | None = None) -> str:
    order_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO orders (order_id, customer_id, total_amount) "
        "VALUES (%s, 'c1000000-0000-4000-8000-000000000001', %s)",
        (order_id, total),
    )
    for _ in range(items):
        conn.execute(
            "INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
            "VALUES (%s, 'a1000000-0000-4000-8000-000000000002', 1, 29.99)",
            (order_id,),
        )
        conn.execute(
            "UPDATE products SET stock_quantity = stock_quantity - 1 "
            "WHERE product_id = 'a1000000-0000-4000-8000-000000000002'"
        )
    conn.execute(
        "INSERT INTO idempotency_records (scope, idempotency_key, request_hash, status, response_status, "
        "response_body, expires_at) VALUES ('s', %s, 'h', 'completed', 201, %s, now() + interval '1 day')",
        (key or str(uuid.uuid4()), f'{{"order_id": "{order_id}"}}'),
    )
    return order_id


def test_database_checks_pass_on_consistent_data_and_catch_each_violation(chaos_dsn: str) -> None:
    with psycopg.connect(chaos_dsn, autocommit=True) as conn:
        _order(conn, total="29.99", items=1)
        assert all(i.holds for i in chaos.check_database(conn))
        _order(conn, total="10.00", items=1)  # total is not the sum of its items
        conn.execute(
            "UPDATE products SET stock_quantity = stock_quantity + 5 "
            "WHERE product_id = 'a1000000-0000-4000-8000-000000000001'"
        )  # stock appeared from nowhere
        _order(conn, total="0.00", items=0)  # an order without items
        orphan = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO idempotency_records (scope, idempotency_key, request_hash, status, response_status, "
            "response_body, expires_at, order_id) "
            "VALUES ('s', 'k', 'h', 'completed', 201, %s, now() + interval '1 day', gen_random_uuid())",
            (f'{{"order_id": "{orphan}"}}',),
        )  # a key that maps to no order, and points at yet another
        conn.execute(
            "INSERT INTO product_stock_buckets VALUES ('a1000000-0000-4000-8000-000000000002', 0, 3)"
        )  # a one-bucket product with a bucket: units in two places
        verdicts = {i.name: i.holds for i in chaos.check_database(conn)}
    assert verdicts == dict.fromkeys(verdicts, False), verdicts


def test_outcome_check_catches_a_201_without_its_order(chaos_dsn: str) -> None:
    customer = SimpleNamespace(index=0, email="john.doe@example.com")
    invented = chaos.Outcome(
        "order", 0, "key-1", str(uuid.uuid4()), (("a1000000-0000-4000-8000-000000000002", 1),),
        "us-east-1", 201, "", time.monotonic(), 0.01,
    )  # fmt: skip
    run = SimpleNamespace(outcomes=[invented], customers=[customer])
    with psycopg.connect(chaos_dsn, autocommit=True) as conn:
        (verdict,) = chaos.check_outcomes(conn, run)  # type: ignore[arg-type]
    assert not verdict.holds
    assert "key-1" in verdict.detail


# ---- the proxy's faults -----------------------------------------------------------------------------


def test_stall_holds_a_query_result_and_cut_after_commit_loses_only_the_answer(chaos_dsn: str) -> None:
    with LatencyProxy(chaos_dsn) as proxy:
        conn = psycopg.connect(proxy.dsn, autocommit=True)
        proxy.stall(0.3)
        started = time.monotonic()
        conn.execute("SELECT 1").fetchone()
        assert time.monotonic() - started >= 0.3
        proxy.cut_on(b"COMMIT", after=True)
        conn.execute("BEGIN")
        conn.execute(
            "UPDATE products SET name = 'renamed' WHERE product_id = 'a1000000-0000-4000-8000-000000000003'"
        )
        with pytest.raises(psycopg.OperationalError):
            conn.execute("COMMIT")
        assert proxy.stats()["faults"] == {"stalled": 1, "cut_after_forward": 1}
        conn.close()
    with psycopg.connect(chaos_dsn) as direct:
        row = direct.execute(
            "SELECT name FROM products WHERE product_id = 'a1000000-0000-4000-8000-000000000003'"
        ).fetchone()
    assert row == ("renamed",)  # the commit happened; only its answer was lost


def test_server_side_faults_raise_dsql_sqlstates(chaos_dsn: str) -> None:
    with psycopg.connect(chaos_dsn, autocommit=True) as conn:
        conn.execute("UPDATE chaos.config SET p_statement = 1, p_commit = 0")
        seen: set[str] = set()
        for _ in range(64):  # every statement fails: half with 40001 (OC000), half with XX000
            with pytest.raises((psycopg.errors.InternalError, psycopg.errors.SerializationFailure)) as err:
                conn.execute("UPDATE products SET updated_at = now()")
            seen.add(str(err.value.sqlstate))
        assert seen == {"40001", "XX000"}
        conn.execute("UPDATE chaos.config SET p_statement = 0, p_commit = 1")
        conn.execute("BEGIN")
        _order(conn, total="29.99", items=1)
        with pytest.raises((psycopg.errors.InternalError, psycopg.errors.SerializationFailure)):
            conn.execute("COMMIT")
        row = conn.execute(chaos.INJECTED).fetchone()
    assert row is not None
    assert sum(row) >= 2


def test_a_reshard_that_conflicts_throughout_is_counted_as_failed(chaos_dsn: str) -> None:
    """Review S2: the reshard fault counts only a layout that happened; one that lost every attempt
    (here its only one, to an order's write of the product row) is counted apart."""
    product = "a1000000-0000-4000-8000-000000000001"
    run = SimpleNamespace(
        dsn=chaos_dsn,
        config=SimpleNamespace(hot_buckets=4),
        rng=random.Random(0),
        proxies=dict.fromkeys(chaos.REGIONS),
        restart_lock=threading.Lock(),
        products=[product],
        faults=Counter(),
    )
    run._lay_out = functools.partial(chaos._Run._lay_out, run, attempts=1)  # type: ignore[arg-type]
    with psycopg.connect(chaos_dsn) as writer:
        writer.execute("UPDATE products SET updated_at = now() WHERE product_id = %s", (product,))
        with ThreadPoolExecutor(1) as pool:
            injected = pool.submit(chaos._Run.inject, run, "reshard")  # type: ignore[arg-type]
            _wait_for_a_waiter(writer, chaos_dsn)
            writer.commit()  # the layout's snapshot is older: 40001
            injected.result(timeout=30)
    assert run.faults == {"reshard_failed": 1}
    with psycopg.connect(chaos_dsn) as conn:
        row = conn.execute("SELECT stock_buckets FROM products WHERE product_id = %s", (product,)).fetchone()
    assert row is not None and row[0] is None  # unchanged
    chaos._Run.inject(run, "reshard")  # type: ignore[arg-type]  # nothing in the way now
    assert run.faults == {"reshard_failed": 1, "reshard": 1}


def _wait_for_a_waiter(holder: psycopg.Connection[Any], dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(500):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (holder.info.backend_pid,),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)
    raise AssertionError("nothing waited on the held row")


def test_the_events_checks_catch_missing_duplicated_phantom_and_failed_events(chaos_dsn: str) -> None:
    client_orders = []
    with psycopg.connect(chaos_dsn, autocommit=True) as conn:
        for status in ("confirmed", "cancelled"):
            order_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO orders (order_id, customer_id, status, total_amount) "
                "SELECT %s, customer_id, %s, 0 FROM customers LIMIT 1",
                (order_id, status),
            )
            client_orders.append(order_id)
        placed, cancelled = client_orders

        def event(entity: str, kind: str) -> dict[str, Any]:
            event_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO outbox (event_id, event_type, event_version, entity_id, payload, region) "
                "VALUES (%s, %s, 1, %s, '{}', 'x')",
                (event_id, kind, entity),
            )
            return {"detail-type": kind, "detail": {"entityId": entity, "eventId": event_id}}

        good = [
            event(placed, "OrderPlaced"),
            event(cancelled, "OrderPlaced"),
            event(cancelled, "OrderCancelled"),
        ]
        assert all(i.holds for i in chaos.check_events(conn, good, []))
        phantom = {"detail-type": "OrderPlaced", "detail": {"entityId": str(uuid.uuid4()), "eventId": "x"}}
        broken = {
            "missing": good[1:],
            "duplicated": [*good, good[2]],
            "phantom": [*good, phantom],
        }
        for name, events in broken.items():
            failed = [i.name for i in chaos.check_events(conn, events, []) if not i.holds]
            assert failed, name
        failed = [i.name for i in chaos.check_events(conn, good, [("poison", {})]) if not i.holds]
        assert failed == ["events: the bus saw every outbox row once and nothing else"]
        conn.execute("DELETE FROM outbox WHERE entity_id = ANY(%s::uuid[])", (client_orders,))
        conn.execute("DELETE FROM orders WHERE order_id = ANY(%s::uuid[])", (client_orders,))
