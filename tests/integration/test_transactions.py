"""Retrying units of work against the embedded engine: real conflicts, real limits, real round trips."""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.roundtrips import RoundTripCounter

from ecommerce_dev.guarded import guarded_connector, guarded_database
from handlers.db import (
    Backoff,
    CommitOutcomeUnknownError,
    Database,
    DatabaseSettings,
    DataLayerError,
    RetriesExhaustedError,
    make_connector,
    sqlstate_of,
)
from handlers.db.migrate import apply_migrations, default_migrations_dir

Conn = psycopg.Connection[Any]


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingRng:
    """Full jitter draws uniform(0, ceiling); this one returns a fixed fraction and records the bounds."""

    def __init__(self, fraction: float = 0.5) -> None:
        self.fraction = fraction
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return a + (b - a) * self.fraction


@pytest.fixture
def dsn(fresh_dsn: str) -> str:
    with _admin(fresh_dsn) as conn:
        conn.execute("CREATE TABLE counters (id integer PRIMARY KEY, n integer NOT NULL CHECK (n >= 0))")
        conn.execute("CREATE TABLE items (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO counters VALUES (1, 0)")
    return fresh_dsn


def _admin(dsn: str) -> Conn:
    return guarded_connector(dsn)()


def _db(dsn: str, **kwargs: Any) -> Database:
    kwargs.setdefault("sleep", lambda s: None)
    return guarded_database(dsn, **kwargs)


def _plain_db(dsn: str, **kwargs: Any) -> Database:
    """Plain psycopg, as on AWS: the local guard's bookkeeping queries would add round trips."""
    kwargs.setdefault("sleep", lambda s: None)
    connector = make_connector(DatabaseSettings(local_dsn=dsn), connect_fn=psycopg.Connection.connect)
    return Database(connector=connector, **kwargs)


def _value(dsn: str) -> int:
    with _admin(dsn) as conn:
        row = conn.execute("SELECT n FROM counters WHERE id = 1").fetchone()
        assert row is not None
        return int(row[0])


class Conflicts:
    """Makes an attempt fail with a REAL serialization failure: after this transaction took its snapshot,
    another connection updates and commits the same row; our update then raises 40001 ("could not
    serialize access due to concurrent update"), as DSQL's OC000 would at commit."""

    def __init__(self, dsn: str, *, times: int) -> None:
        self.other = _admin(dsn)
        self.remaining = times
        self.attempts = 0

    def __call__(self, conn: Conn) -> int:
        self.attempts += 1
        conn.execute("SELECT n FROM counters WHERE id = 1")  # takes the snapshot
        if self.remaining > 0:
            self.remaining -= 1
            self.other.execute("UPDATE counters SET n = n + 1 WHERE id = 1")
        row = conn.execute("UPDATE counters SET n = n + 1 WHERE id = 1 RETURNING n").fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.other.close()


# -- backoff (pure) ---------------------------------------------------------------------------------


def test_full_jitter_draws_from_zero_to_a_capped_exponential_ceiling() -> None:
    rng = RecordingRng(fraction=1.0)
    backoff = Backoff(base=0.02, cap=1.0, rng=rng)
    delays = [backoff.delay(n) for n in range(1, 9)]
    assert rng.calls == [(0.0, c) for c in (0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0)]
    assert delays == [c for _, c in rng.calls]


def test_default_jitter_stays_within_bounds() -> None:
    backoff = Backoff()
    samples = [backoff.delay(3) for _ in range(2000)]
    assert min(samples) >= 0.0
    assert max(samples) <= 0.08
    assert statistics.mean(samples) == pytest.approx(0.04, rel=0.15)


# -- conflicts --------------------------------------------------------------------------------------


def test_real_serialization_failure_is_retried_to_success(dsn: str) -> None:
    work = Conflicts(dsn, times=1)
    rng = RecordingRng(fraction=0.5)
    sleeps: list[float] = []
    db = _db(dsn, backoff=Backoff(base=0.02, cap=1.0, rng=rng), sleep=sleeps.append)
    try:
        assert db.run_transaction(work) == 2  # the other transaction's +1, then ours
        assert work.attempts == 2
        assert db.last_attempts == 2
        assert db.last_call is not None
        assert db.last_call.conflicts == 1
        assert (db.stats.conflicts, db.stats.retries, db.stats.attempts) == (1, 1, 2)
        assert sleeps == [0.01]  # the injected RNG decided the jitter
        assert _value(dsn) == 2
    finally:
        work.close()
        db.close()


def test_conflicts_exhaust_attempts_with_a_typed_error(dsn: str) -> None:
    work = Conflicts(dsn, times=100)
    sleeps: list[float] = []
    db = _db(dsn, sleep=sleeps.append, backoff=Backoff(rng=RecordingRng(0.25)))
    try:
        with pytest.raises(RetriesExhaustedError) as caught:
            db.run_transaction(work, max_attempts=4)
        assert caught.value.attempts == 4
        assert caught.value.reason == "attempts"
        assert sqlstate_of(caught.value.last_error) == "40001"  # type: ignore[arg-type]
        assert isinstance(caught.value.__cause__, psycopg.errors.SerializationFailure)
        assert work.attempts == 4
        assert len(sleeps) == 3  # no sleep after the last attempt
        assert db.stats.exhausted == 1
        assert _value(dsn) == 4  # only the other connection's updates committed
    finally:
        work.close()
        db.close()


def test_backoff_never_sleeps_past_the_deadline(dsn: str) -> None:
    clock = FakeClock()
    work = Conflicts(dsn, times=100)
    db = _db(dsn, clock=clock, sleep=clock.sleep, backoff=Backoff(base=0.2, cap=1.0, rng=RecordingRng(1.0)))
    deadline = clock() + 0.5
    try:
        with pytest.raises(RetriesExhaustedError) as caught:
            db.run_transaction(work, deadline=deadline)
        assert caught.value.reason == "deadline"
        assert isinstance(caught.value.__cause__, psycopg.errors.SerializationFailure)
        assert clock.sleeps == [0.2]  # the next sleep (0.4) would have ended after the deadline
        assert clock.now <= deadline
        assert work.attempts == 2
    finally:
        work.close()
        db.close()


def test_no_attempt_starts_after_the_deadline(dsn: str) -> None:
    clock = FakeClock()
    db = _db(dsn, clock=clock)
    calls: list[int] = []
    try:
        with pytest.raises(RetriesExhaustedError) as caught:
            db.run_transaction(lambda c: calls.append(1), deadline=clock() - 0.001)
        assert caught.value.attempts == 0
        assert calls == []
    finally:
        db.close()


@pytest.mark.parametrize("idempotent", [True, False])
def test_autocommit_conflicts_are_retried_only_when_idempotent(dsn: str, idempotent: bool) -> None:
    holder = _admin(dsn)
    holder.execute("BEGIN")
    holder.execute("UPDATE counters SET n = n + 1 WHERE id = 1")  # holds the row until COMMIT
    outcome: list[object] = []
    db = _db(dsn)

    def write() -> None:
        try:
            outcome.append(
                db.run_autocommit(
                    lambda c: c.execute("UPDATE counters SET n = n + 10 WHERE id = 1"), idempotent=idempotent
                )
            )
        except psycopg.Error as exc:
            outcome.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)  # the writer now waits for the row lock
    holder.execute("COMMIT")  # ... and then fails with 40001 (its snapshot predates this commit)
    writer.join()
    holder.close()
    db.close()
    if idempotent:
        assert db.last_attempts == 2
        assert _value(dsn) == 11
    else:
        assert isinstance(outcome[0], psycopg.errors.SerializationFailure)
        assert db.last_attempts == 1
        assert _value(dsn) == 1


# -- errors that must not be retried ----------------------------------------------------------------


def _count_attempts(work: Callable[[Conn], object]) -> tuple[Callable[[Conn], object], list[int]]:
    attempts: list[int] = []

    def counted(conn: Conn) -> object:
        attempts.append(1)
        return work(conn)

    return counted, attempts


def test_dsql_row_limit_error_is_raised_without_retry(dsn: str) -> None:
    work, attempts = _count_attempts(
        lambda c: c.execute("INSERT INTO items SELECT g FROM generate_series(1, 3001) AS g")
    )
    db = _db(dsn)
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the guard's DsqlLimitError
            db.run_transaction(work)
        assert sqlstate_of(caught.value) == "54000"
        assert attempts == [1]
        assert db.last_attempts == 1
        with _admin(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    finally:
        db.close()


def test_unsupported_sql_is_raised_without_retry(dsn: str) -> None:
    work, attempts = _count_attempts(lambda c: c.execute("TRUNCATE items"))
    db = _db(dsn)
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the guard's DsqlUnsupportedError
            db.run_transaction(work)
        assert sqlstate_of(caught.value) == "0A000"
        assert attempts == [1]
        # The connection is still usable afterwards.
        assert db.run_autocommit(lambda c: c.execute("SELECT 1").fetchone()) == (1,)
    finally:
        db.close()


def test_constraint_violation_is_raised_and_rolled_back(dsn: str) -> None:
    db = _db(dsn)
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            db.run_transaction(lambda c: c.execute("UPDATE counters SET n = n - 1 WHERE id = 1"))
        assert db.last_attempts == 1
        assert db.connection is not None
        assert db.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        db.close()


def test_a_swallowed_database_error_is_not_committed(dsn: str) -> None:
    def sloppy(conn: Conn) -> None:
        conn.execute("UPDATE counters SET n = 10 WHERE id = 1")
        with contextlib.suppress(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")

    db = _db(dsn)
    try:
        with pytest.raises(DataLayerError, match="swallowed"):
            db.run_transaction(sloppy)
        assert _value(dsn) == 0
    finally:
        db.close()


# -- lost connections -------------------------------------------------------------------------------


def test_connection_lost_before_commit_is_retried_on_a_new_connection(dsn: str) -> None:
    killer = _admin(dsn)
    attempts: list[int] = []

    def work(conn: Conn) -> None:
        attempts.append(1)
        conn.execute("UPDATE counters SET n = n + 1 WHERE id = 1")
        if len(attempts) == 1:
            killer.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            conn.execute("SELECT 1")  # fails: the server is gone, COMMIT was never sent

    db = _db(dsn)
    try:
        db.run_transaction(work)  # not declared idempotent: safe anyway, COMMIT was not sent
        assert len(attempts) == 2
        assert db.stats.connection_failures == 1
        assert _value(dsn) == 1  # applied exactly once
    finally:
        killer.close()
        db.close()


@pytest.mark.parametrize("pipeline", [False, True], ids=["plain", "pipeline"])
def test_connection_lost_while_commit_in_flight_is_not_replayed_blindly(dsn: str, pipeline: bool) -> None:
    with RoundTripCounter(dsn) as proxy:
        db = _plain_db(proxy.dsn)
        try:
            db.run_autocommit(lambda c: c.execute("SELECT 1"))
            proxy.drop_on(b"COMMIT")
            with pytest.raises(CommitOutcomeUnknownError):
                db.run_transaction(
                    lambda c: c.execute("UPDATE counters SET n = n + 1 WHERE id = 1"), pipeline=pipeline
                )
            assert db.last_attempts == 1
            assert _value(dsn) == 0  # here COMMIT never reached the server, but the client cannot know
        finally:
            db.close()


def test_idempotent_unit_is_replayed_after_a_lost_commit(dsn: str) -> None:
    with RoundTripCounter(dsn) as proxy:
        db = _plain_db(proxy.dsn)
        try:
            db.run_autocommit(lambda c: c.execute("SELECT 1"))
            proxy.drop_on(b"COMMIT")
            db.run_transaction(
                lambda c: c.execute("UPDATE counters SET n = 7 WHERE id = 1"), pipeline=True, idempotent=True
            )
            assert db.last_attempts == 2
            assert _value(dsn) == 7
        finally:
            db.close()


# -- XX000 "server unavailable" (DSQL user guide, Troubleshooting, 2026-09-08) --------------------------


def _server_unavailable(dsn: str, *, times: int, at_commit: bool = False) -> None:
    """Install a REAL XX000 on the server: a function (or, at_commit, a deferred constraint trigger)
    raising it `times` times. A sequence counts the calls: it does not roll back with the error.
    Installed unguarded: PL/pgSQL is the test's tool, never the application's."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE unavailable_calls")
        conn.execute(
            "CREATE FUNCTION server_unavailable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF nextval('unavailable_calls') <= {times} THEN "
            "RAISE EXCEPTION 'server unavailable' USING ERRCODE = 'XX000'; END IF; RETURN NULL; END $$"
        )
        timing = "DEFERRABLE INITIALLY DEFERRED" if at_commit else "NOT DEFERRABLE"
        conn.execute(
            f"CREATE CONSTRAINT TRIGGER unavailable AFTER INSERT ON items {timing} "
            "FOR EACH ROW EXECUTE FUNCTION server_unavailable()"
        )


def _insert(conn: Conn) -> None:
    conn.execute("UPDATE counters SET n = n + 1 WHERE id = 1")
    conn.execute("INSERT INTO items VALUES ((SELECT n FROM counters WHERE id = 1))")


@pytest.mark.parametrize("pipeline", [False, True], ids=["plain", "pipeline"])
def test_server_unavailable_is_retried_without_reconnecting(dsn: str, pipeline: bool) -> None:
    _server_unavailable(dsn, times=2)
    db = _db(dsn)
    try:
        db.run_transaction(_insert, pipeline=pipeline)
        assert db.last_attempts == 3
        assert db.stats.unavailable == 2
        assert db.stats.connections_opened == 1  # AWS: "no reconnect needed"
        assert _value(dsn) == 1  # the failed attempts left nothing behind
    finally:
        db.close()


def test_server_unavailable_at_commit_is_an_unknown_outcome(dsn: str) -> None:
    _server_unavailable(dsn, times=1, at_commit=True)
    db = _db(dsn)
    try:
        with pytest.raises(CommitOutcomeUnknownError):
            db.run_transaction(_insert)
        assert db.last_attempts == 1
        db.run_transaction(_insert, idempotent=True)  # an idempotent unit may simply run again
        assert _value(dsn) == 1
    finally:
        db.close()


def test_server_unavailable_at_commit_of_an_idempotent_unit_is_retried(dsn: str) -> None:
    _server_unavailable(dsn, times=1, at_commit=True)
    db = _db(dsn)
    try:
        db.run_transaction(_insert, pipeline=True, idempotent=True)
        assert db.last_attempts == 2
        assert db.stats.connections_opened == 1
    finally:
        db.close()


def test_server_unavailable_exhausting_the_budget_is_a_typed_error(dsn: str) -> None:
    _server_unavailable(dsn, times=100)
    db = _db(dsn, max_attempts=3)
    try:
        with pytest.raises(RetriesExhaustedError) as raised:
            db.run_transaction(_insert)
        assert sqlstate_of(raised.value.last_error) == "XX000"  # type: ignore[arg-type]
    finally:
        db.close()


# -- round trips ------------------------------------------------------------------------------------


@pytest.fixture
def counted(dsn: str) -> Iterator[tuple[Database, RoundTripCounter]]:
    with RoundTripCounter(dsn) as proxy:
        db = _plain_db(proxy.dsn)
        db.run_autocommit(lambda c: c.execute("SELECT 1"))  # warm: connection open, handshake done
        proxy.reset()
        try:
            yield db, proxy
        finally:
            db.close()


def test_pipelined_write_transaction_is_one_round_trip(counted: tuple[Database, RoundTripCounter]) -> None:
    db, proxy = counted
    cur = db.run_transaction(
        lambda c: c.execute("UPDATE counters SET n = n + %s WHERE id = 1 RETURNING n", (5,)), pipeline=True
    )
    assert proxy.round_trips == 1  # BEGIN + UPDATE + COMMIT + Sync out, all results back
    assert cur.fetchone() == (5,)  # results are read after the call, from the client buffer
    assert proxy.round_trips == 1


def test_pipelined_transaction_with_several_statements_is_still_one_round_trip(
    counted: tuple[Database, RoundTripCounter],
) -> None:
    db, proxy = counted

    def work(conn: Conn) -> list[psycopg.Cursor[Any]]:
        return [
            conn.execute("UPDATE counters SET n = n + 1 WHERE id = 1"),
            conn.execute("INSERT INTO items VALUES (1), (2)"),
            conn.execute("SELECT count(*) FROM items"),
        ]

    cursors = db.run_transaction(work, pipeline=True)
    assert proxy.round_trips == 1
    assert cursors[2].fetchone() == (2,)


def test_plain_transaction_costs_one_round_trip_per_statement(
    counted: tuple[Database, RoundTripCounter],
) -> None:
    db, proxy = counted
    db.run_transaction(lambda c: c.execute("UPDATE counters SET n = n + 1 WHERE id = 1"))
    assert proxy.round_trips == 3  # BEGIN, UPDATE, COMMIT


def test_autocommit_read_is_one_round_trip(counted: tuple[Database, RoundTripCounter]) -> None:
    db, proxy = counted
    assert db.run_autocommit(lambda c: c.execute("SELECT n FROM counters").fetchone()) == (0,)
    assert proxy.round_trips == 1


def test_failed_pipelined_transaction_reports_the_first_error_and_rolls_back(
    counted: tuple[Database, RoundTripCounter], caplog: pytest.LogCaptureFixture
) -> None:
    db, proxy = counted
    with pytest.raises(psycopg.errors.CheckViolation):
        db.run_transaction(lambda c: c.execute("UPDATE counters SET n = n - 1 WHERE id = 1"), pipeline=True)
    # The pipeline, then ROLLBACK. The server sends an error at once, so it may cross COMMIT + Sync on
    # the wire; the counter then sees one more turn although the client never waited for it.
    assert proxy.round_trips in (2, 3)
    assert db.connection is not None
    assert db.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not [r for r in caplog.records if "error ignored" in r.getMessage()]


def test_pipelined_conflict_is_retried(dsn: str) -> None:
    work = Conflicts(dsn, times=1)  # fetches inside the unit: extra round trips, but a forced real conflict
    db = _db(dsn)
    try:
        assert db.run_transaction(work, pipeline=True) == 2
        assert work.attempts == 2
        assert db.stats.conflicts == 1
    finally:
        work.close()
        db.close()


# -- foreign keys: measured (docs/decisions/0001-foreign-keys.md) -----------------------------------

ORDER_SQL = """
WITH customer AS (SELECT customer_id FROM customers WHERE customer_id = %(customer_id)s),
stock AS (
    UPDATE products SET stock_quantity = stock_quantity - %(quantity)s, updated_at = now()
    WHERE product_id = %(product_id)s AND active AND EXISTS (SELECT 1 FROM customer)
    RETURNING product_id, price, currency),
new_order AS (
    INSERT INTO orders (order_id, customer_id, status, total_amount, currency)
    SELECT %(order_id)s, %(customer_id)s, 'confirmed', price * %(quantity)s, currency FROM stock
    RETURNING order_id)
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT new_order.order_id, stock.product_id, %(quantity)s, stock.price FROM new_order, stock
RETURNING order_id
"""
PROFILE_SQL = "UPDATE customers SET first_name = %(name)s, updated_at = now() WHERE customer_id = %(id)s"


def _migrations_without_foreign_keys(tmp: Path) -> Path:
    target = tmp / "no_fk"
    target.mkdir()
    for source in default_migrations_dir().iterdir():
        if source.name.endswith(".sql"):
            text = re.sub(r"\s+REFERENCES \w+ \(\w+\)", "", source.read_text(encoding="utf-8"))
            (target / source.name).write_text(text, encoding="utf-8")
    return target


def _shop(
    dsn: str, migrations: Path | None, customers: int = 8, products: int = 8
) -> tuple[list[str], list[str]]:
    apply_migrations(guarded_connector(dsn), migrations=migrations, poll_interval=0.01)
    cids = [str(uuid.UUID(int=i + 1)) for i in range(customers)]
    pids = [str(uuid.UUID(int=1000 + i)) for i in range(products)]
    with _admin(dsn) as conn:
        for i, cid in enumerate(cids):
            conn.execute(
                "INSERT INTO customers (customer_id, email, first_name, last_name) VALUES (%s, %s, 'A', 'B')",
                (cid, f"c{i}@example.com"),
            )
        for i, pid in enumerate(pids):
            conn.execute(
                "INSERT INTO products (product_id, name, price, stock_quantity, category)"
                " VALUES (%s, %s, 10, 100000, 'Test')",
                (pid, f"p{i}"),
            )
    return cids, pids


def _concurrently(dsn: str, jobs: list[Callable[[Database], None]]) -> list[Database]:
    dbs = [_db(dsn, backoff=Backoff(base=0.002, cap=0.05), max_attempts=100, sleep=time.sleep) for _ in jobs]
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(db: Database, job: Callable[[Database], None]) -> None:
        barrier.wait()
        try:
            job(db)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=pair) for pair in zip(dbs, jobs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return dbs


def _orders(customer: str, product: str, n: int, sql: str = ORDER_SQL) -> Callable[[Database], None]:
    def job(db: Database) -> None:
        for _ in range(n):
            params = {"customer_id": customer, "product_id": product, "quantity": 1, "order_id": uuid.uuid4()}
            cur = db.run_transaction(lambda c, p=params: c.execute(sql, p), pipeline=True)
            assert cur.fetchone() is not None

    return job


def _profile_updates(customer: str, n: int) -> Callable[[Database], None]:
    def job(db: Database) -> None:
        for i in range(n):
            params = {"name": f"N{i}", "id": customer}
            db.run_transaction(lambda c, p=params: c.execute(PROFILE_SQL, p))

    return job


# The application-level alternative to the orders -> customers FK: lock the parent row.
ORDER_SQL_PARENT_FOR_UPDATE = ORDER_SQL.replace(
    "WHERE customer_id = %(customer_id)s)", "WHERE customer_id = %(customer_id)s FOR UPDATE)"
)


def test_foreign_key_conflicts_measured(
    local_engine: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Conflict (40001) counts of concurrent order placement with and without the foreign keys.

    Printed (pytest -s); asserted only where the outcome is deterministic: FK checks (KEY SHARE) never
    make order placement conflict with customer profile updates or with the same customer's orders.
    """
    per_worker, workers = 10, 6
    no_fks = _migrations_without_foreign_keys(tmp_path)
    variants = (
        ("FKs (chosen)", None, ORDER_SQL),
        ("no FKs", no_fks, ORDER_SQL),
        ("no FKs, parent FOR UPDATE", no_fks, ORDER_SQL_PARENT_FOR_UPDATE),
    )
    report = [f"{workers} workers x {per_worker} orders each; conflicts (40001 retries):"]
    for label, migrations, sql in variants:
        dsn = local_engine.create_database(f"fk_{uuid.uuid4().hex[:10]}")
        cids, pids = _shop(dsn, migrations)
        hot = _concurrently(dsn, [_orders(cids[w], pids[0], per_worker, sql) for w in range(workers)])
        same_customer = _concurrently(
            dsn, [_orders(cids[0], pids[1 + w], per_worker, sql) for w in range(workers)]
        )
        mixed = _concurrently(
            dsn,
            [_orders(cids[1], pids[1 + w], per_worker, sql) for w in range(workers - 1)]
            + [_profile_updates(cids[1], per_worker * 2)],
        )
        hot_conflicts = sum(d.stats.conflicts for d in hot)
        customer_conflicts = sum(d.stats.conflicts for d in same_customer)
        order_vs_profile = sum(d.stats.conflicts for d in mixed)
        report.append(
            f"  {label:26s} hot product: {hot_conflicts:3d}   one customer, {workers} products: "
            f"{customer_conflicts:3d}   orders + profile updates: {order_vs_profile:3d}"
        )
        if sql is ORDER_SQL:
            assert customer_conflicts == 0
            assert order_vs_profile == 0
        with _admin(dsn) as conn:
            sold = conn.execute(
                "SELECT 100000 - stock_quantity FROM products WHERE product_id = %s", (pids[0],)
            )
            assert sold.fetchone() == (workers * per_worker,)  # every retried order applied exactly once
            totals = conn.execute(
                "SELECT (SELECT sum(100000 - stock_quantity) FROM products),"
                " (SELECT sum(quantity) FROM order_items), (SELECT count(*) FROM orders)"
            ).fetchone()
            assert totals == (3 * workers * per_worker - per_worker,) * 3
    with capsys.disabled():
        print("\n" + "\n".join(report))


def _outcome(action: Callable[[], object]) -> str:
    try:
        action()
    except psycopg.Error as exc:
        return str(exc.sqlstate)
    return "ok"


@pytest.mark.parametrize(
    ("with_fk", "concurrent", "expected"),
    [
        # A profile update (non-key columns) committed after the order's snapshot: no conflict either way.
        (True, "profile", ("ok", "ok", 0)),
        (False, "profile", ("ok", "ok", 0)),
        # The customer deleted after the order's snapshot: the FK turns a silent orphan into a conflict
        # (retrying then finds no customer); without it the order commits pointing nowhere.
        (True, "delete", ("ok", "40001", 0)),
        (False, "delete", ("ok", "ok", 1)),
    ],
)
def test_foreign_key_outcomes_of_interleaved_transactions(
    local_engine: Any, tmp_path: Path, with_fk: bool, concurrent: str, expected: tuple[str, str, int]
) -> None:
    dsn = local_engine.create_database(f"fk_{uuid.uuid4().hex[:10]}")
    cids, pids = _shop(dsn, None if with_fk else _migrations_without_foreign_keys(tmp_path), 1, 1)
    statement = {
        "profile": (PROFILE_SQL, {"name": "Changed", "id": cids[0]}),
        "delete": ("DELETE FROM customers WHERE customer_id = %(id)s", {"id": cids[0]}),
    }[concurrent]
    with _admin(dsn) as order, _admin(dsn) as other:
        order.execute("BEGIN")
        order.execute("SELECT 1")  # the order transaction's snapshot
        other_outcome = _outcome(lambda: other.execute(*statement))  # autocommit: committed now
        params = {"customer_id": cids[0], "product_id": pids[0], "quantity": 1, "order_id": uuid.uuid4()}
        order_outcome = _outcome(lambda: (order.execute(ORDER_SQL, params), order.execute("COMMIT")))
        if order_outcome != "ok":
            order.execute("ROLLBACK")
        orphans = other.execute(
            "SELECT count(*) FROM orders o WHERE NOT EXISTS"
            " (SELECT 1 FROM customers c WHERE c.customer_id = o.customer_id)"
        ).fetchone()
    assert orphans is not None
    assert (other_outcome, order_outcome, orphans[0]) == expected
