"""The pruning job on the embedded engine with the DSQL guard on, logged in as its own role:
more than 10,000 due rows go in transactions the guard counts (never over DSQL's 3,000), no live
row is touched, and the role can do nothing else."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.guarded import DsqlLimitError, GuardedConnection, guarded_connector
from ecommerce_ops.cli import main
from handlers.db import Database
from handlers.db.roles import function_roles, setup_roles
from handlers.maintenance.domain import IDEMPOTENCY_RECORDS, default_targets, prune
from handlers.maintenance.repository import PruneRepositorySql
from integration.conftest import migrated_database

PRUNE_ARN = "arn:aws:iam::123456789012:role/shop-us-east-1-Prune"
DUE, LIVE = 12_345, 700
OUTBOX_DUE, OUTBOX_LIVE = 1_234, 56


def _role_dsn(dsn: str, role: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["user"] = role
    return psycopg.conninfo.make_conninfo(**params)


class CountingConnection(GuardedConnection):  # type: ignore[misc]
    """Records the rows each DELETE removed (a batch is one transaction: one DELETE)."""

    deleted: list[int] = []

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        cursor = super().execute(query, params, **kwargs)
        text = query.as_string(self) if hasattr(query, "as_string") else str(query)
        if text.lstrip().upper().startswith("DELETE"):
            CountingConnection.deleted.append(cursor.rowcount)
        return cursor


@pytest.fixture
def pruned_dsn(local_engine: LocalEngine) -> str:
    import secrets

    dsn = migrated_database(local_engine, f"prune_{secrets.token_hex(4)}")
    with psycopg.connect(dsn, autocommit=True) as admin:  # unguarded: test data only
        admin.execute(
            "INSERT INTO idempotency_records (scope, idempotency_key, request_hash, status, response_status, "
            "response_body, created_at, expires_at) "
            "SELECT 'cust-' || (i %% 97), 'due-' || i, 'h', 'completed', 201, '{}', "
            "now() - interval '3 days', now() - interval '1 day' - make_interval(secs => i) "
            "FROM generate_series(1, %s) AS i",
            (DUE,),
        )
        admin.execute(
            "INSERT INTO idempotency_records (scope, idempotency_key, request_hash, status, response_status, "
            "response_body, expires_at) "
            "SELECT 'cust-' || (i %% 97), 'live-' || i, 'h', 'completed', 201, '{}', "
            "now() + interval '1 hour' + make_interval(secs => i) FROM generate_series(1, %s) AS i",
            (LIVE,),
        )
        admin.execute(
            "INSERT INTO outbox (event_id, event_type, event_version, entity_id, payload, region, "
            "created_at) "
            "SELECT gen_random_uuid(), 'OrderPlaced', 1, gen_random_uuid(), '{}', 'us-east-1', "
            "now() - CASE WHEN i <= %s THEN interval '15 days' ELSE interval '1 day' END "
            "FROM generate_series(1, %s) AS i",
            (OUTBOX_DUE, OUTBOX_DUE + OUTBOX_LIVE),
        )
    setup_roles(guarded_connector(dsn), function_roles({"prune": [PRUNE_ARN]}), log=lambda _: None)
    return dsn


def _live(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as admin:
        return admin.execute(
            "SELECT * FROM idempotency_records WHERE expires_at >= now() ORDER BY scope, idempotency_key"
        ).fetchall()


def test_more_than_10000_due_rows_go_in_small_transactions_and_no_live_row_is_touched(
    pruned_dsn: str,
) -> None:
    live_before = _live(pruned_dsn)
    assert len(live_before) == LIVE
    CountingConnection.deleted = []
    db = Database(
        connector=lambda: CountingConnection.connect(
            _role_dsn(pruned_dsn, "ecommerce_prune"), autocommit=True
        )
    )
    try:
        report = prune(PruneRepositorySql(db), default_targets(), batch_size=500, budget_seconds=300)
    finally:
        db.close()
    records, outbox = report.targets
    assert records.removed == DUE and records.still_due == 0
    assert outbox.removed == OUTBOX_DUE and outbox.skipped is None
    # Every transaction the guard let through, counted on the wire: none above the batch size.
    assert sum(CountingConnection.deleted) == DUE + OUTBOX_DUE
    assert max(CountingConnection.deleted) == 500 and len(records.batches) == -(-DUE // 500)
    assert _live(pruned_dsn) == live_before
    with psycopg.connect(pruned_dsn, autocommit=True) as admin:
        assert admin.execute("SELECT count(*) FROM idempotency_records").fetchone() == (LIVE,)
        assert admin.execute("SELECT count(*) FROM outbox").fetchone() == (OUTBOX_LIVE,)


def test_the_guard_would_refuse_a_batch_over_dsqls_limit(pruned_dsn: str) -> None:
    """The counting above can fail: one transaction of 3,001 deletions is what DSQL refuses."""
    db = Database(connector=guarded_connector(pruned_dsn))
    try:
        with pytest.raises(DsqlLimitError):
            PruneRepositorySql(db).delete_batch(
                IDEMPOTENCY_RECORDS, 3_001, deadline=__import__("time").monotonic() + 60
            )
    finally:
        db.close()


def test_a_spent_budget_stops_between_batches_and_counts_what_is_still_due(pruned_dsn: str) -> None:
    import itertools
    import time

    ticks = itertools.count(time.monotonic(), 10)  # each look at the clock: 10 s later
    db = Database(connector=guarded_connector(pruned_dsn))
    try:
        report = prune(
            PruneRepositorySql(db), (IDEMPOTENCY_RECORDS,), batch_size=1000, budget_seconds=25,
            clock=lambda: float(next(ticks)),
        )  # fmt: skip
    finally:
        db.close()
    (records,) = report.targets
    assert report.out_of_time and records.batches == [1000, 1000]
    assert DUE - 2000 > 10_000 and records.still_due == 10_000  # the count is bounded


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT count(*) FROM orders",
        "INSERT INTO idempotency_records SELECT * FROM idempotency_records WHERE false",
        "UPDATE idempotency_records SET status = status WHERE false",
        "DELETE FROM orders WHERE false",
    ],
)
def test_the_prune_role_can_only_read_and_delete_what_it_prunes(pruned_dsn: str, statement: str) -> None:
    role = _role_dsn(pruned_dsn, "ecommerce_prune")
    with (
        GuardedConnection.connect(role, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def test_ecommerce_dev_prune_runs_the_job(pruned_dsn: str) -> None:
    result = CliRunner().invoke(main, ["dev", "prune", "--dsn", pruned_dsn, "--batch-size", "2000"])
    assert result.exit_code == 0, result.output
    assert (
        f"idempotency_records: removed {DUE:,} in 7 transaction(s) (largest 2,000 rows), still due 0"
        in result.output
    )
    assert f"outbox: removed {OUTBOX_DUE:,} in 1 transaction(s)" in result.output


def test_a_key_replays_until_its_expired_record_is_pruned_then_it_is_a_new_order(
    local_engine: LocalEngine,
) -> None:
    """docs/api.md, Idempotency-Key, "Expiry"."""
    import secrets
    from uuid import uuid4

    from api_support import JOHN, Client

    dsn = migrated_database(local_engine, f"expiry_{secrets.token_hex(4)}")
    client = Client(dsn)
    try:
        product = client.new_product(5)
        body = {"customer_id": JOHN, "items": [{"product_id": product, "quantity": 1}]}
        key = str(uuid4())
        first = client.post("/orders", body, headers={"Idempotency-Key": key})
        with psycopg.connect(dsn, autocommit=True) as admin:  # 25 hours pass
            admin.execute(
                "UPDATE idempotency_records SET created_at = created_at - interval '25 hours', "
                "expires_at = expires_at - interval '25 hours'"
            )
        due = client.post("/orders", body, headers={"Idempotency-Key": key})
        assert due.headers.get("Idempotent-Replayed") == "true" and due.body == first.body
        report = run_prune_once(dsn)
        assert report.targets[0].removed == 1
        again = client.post("/orders", body, headers={"Idempotency-Key": key})
        assert again.status == 201 and again.headers.get("Idempotent-Replayed") is None
        assert again.body["order_id"] != first.body["order_id"]
    finally:
        client.close()


def run_prune_once(dsn: str) -> Any:
    from ecommerce_dev.prune import run_prune

    return run_prune(guarded_connector(dsn), batch_size=500, budget_seconds=60)


def test_a_batch_that_conflicts_is_retried_as_a_whole(pruned_dsn: str) -> None:
    """Another transaction deletes a due row first: the batch's transaction fails with 40001
    (REPEATABLE READ, as DSQL at commit) and is run again, deleting a full batch of other rows."""
    import threading
    import time

    db = Database(connector=guarded_connector(pruned_dsn))
    repository = PruneRepositorySql(db)
    result: list[int] = []
    with psycopg.connect(pruned_dsn, autocommit=True) as other:
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        other.execute(
            "DELETE FROM idempotency_records WHERE idempotency_key = "
            "(SELECT idempotency_key FROM idempotency_records ORDER BY expires_at LIMIT 1)"
        )
        worker = threading.Thread(
            target=lambda: result.append(
                repository.delete_batch(IDEMPOTENCY_RECORDS, 500, deadline=time.monotonic() + 60)
            )
        )
        worker.start()
        with psycopg.connect(pruned_dsn, autocommit=True) as watcher:
            for _ in range(200):  # until the batch waits for the other transaction's row lock
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the batch never waited for the other transaction")
        other.execute("COMMIT")
        worker.join(30)
    db.close()
    assert result == [500]
    assert db.stats.conflicts == 1
