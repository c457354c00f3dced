"""The migration runner against the embedded engine, through the DSQL guard."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ecommerce_dev.guarded import guarded_connector
from ecommerce_ops import dsql_rules as guard
from handlers.db import IndexBuildError, MigrationChecksumError, MigrationError
from handlers.db.migrate import (
    StatementRunner,
    apply_migrations,
    default_migrations_dir,
    load_migrations,
    sample_data_statements,
    split_statements,
)

TABLES = {
    "customers",
    "products",
    "orders",
    "order_items",
    "idempotency_records",
    "outbox",
    "schema_migrations",
}
INDEXES = {
    "products_created_at_idx": ("products", ["created_at", "product_id"]),
    "products_category_created_at_idx": ("products", ["category", "created_at", "product_id"]),
    "orders_customer_created_at_idx": ("orders", ["customer_id", "created_at", "order_id"]),
    "idempotency_records_expires_at_idx": ("idempotency_records", ["expires_at"]),
    "customers_identity_subject_key": ("customers", ["identity_subject"]),
    "outbox_created_at_idx": ("outbox", ["created_at"]),
}
FOREIGN_KEYS = {
    ("orders", "customers"),
    ("order_items", "orders"),
    ("order_items", "products"),
}
Connect = Callable[[], psycopg.Connection[Any]]


def _connect(dsn: str) -> Connect:
    return guarded_connector(dsn)


def _query(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with _connect(dsn)() as conn:
        return conn.execute(sql, params).fetchall()


def _apply(dsn: str, **kwargs: Any) -> Any:
    kwargs.setdefault("poll_interval", 0.01)
    return apply_migrations(_connect(dsn), **kwargs)


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    target.mkdir()
    for source in default_migrations_dir().iterdir():
        if source.name.endswith(".sql"):
            (target / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return target


# -- files and splitting (no database) --------------------------------------------------------------


def test_packaged_migrations_are_numbered_and_load_in_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == ["0001", "0002", "0003", "0004", "0005", "0007", "0008"]
    assert all(len(m.checksum) == 64 for m in migrations)


def test_every_statement_passes_the_dsql_rules() -> None:
    statements = [s for m in load_migrations() for s in m.statements] + sample_data_statements()
    for statement in statements:
        assert guard.check(statement) == [], statement


def test_secondary_indexes_are_async_named_and_idempotent() -> None:
    for migration in load_migrations():
        for statement in migration.statements:
            upper = " ".join(statement.upper().split())
            if "INDEX" in upper.split("(")[0]:
                assert upper.startswith(
                    ("CREATE INDEX ASYNC IF NOT EXISTS", "CREATE UNIQUE INDEX ASYNC IF NOT EXISTS")
                )
            elif upper.startswith("CREATE TABLE"):
                assert upper.startswith("CREATE TABLE IF NOT EXISTS")


def test_split_statements_respects_quotes_comments_and_dollar_quotes() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (a text DEFAULT 'x;y', "we;ird" int); /* block; /* nested; */ still */
    INSERT INTO t VALUES ('it''s; fine', 1);
    SELECT $$ dollar; quoted $$, $tag$ more; $tag$, E'esc\\'; aped';
    AWS IAM GRANT app TO 'arn:aws:iam::123456789012:role/x'
    """
    assert split_statements(sql) == [
        """CREATE TABLE t (a text DEFAULT 'x;y', "we;ird" int)""",
        "INSERT INTO t VALUES ('it''s; fine', 1)",
        "SELECT $$ dollar; quoted $$, $tag$ more; $tag$, E'esc\\'; aped'",
        "AWS IAM GRANT app TO 'arn:aws:iam::123456789012:role/x'",
    ]


def test_bad_file_names_and_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_create.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name"):
        load_migrations(tmp_path)
    (tmp_path / "1_create.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="duplicate"):
        load_migrations(tmp_path)


# -- applying ---------------------------------------------------------------------------------------


def test_fresh_apply_creates_the_schema(fresh_dsn: str) -> None:
    result = _apply(fresh_dsn)
    assert result.applied == ("0001", "0002", "0003", "0004", "0005", "0007", "0008")
    assert result.skipped == ()
    assert set(result.indexes_built) == set(INDEXES)

    tables = {r[0] for r in _query(fresh_dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables >= TABLES
    for name, (table, columns) in INDEXES.items():
        rows = _query(
            fresh_dsn,
            "SELECT t.relname, i.indisvalid, array_agg(a.attname ORDER BY k.ord)::text"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
            " WHERE c.relname = %s GROUP BY t.relname, i.indisvalid",
            (name,),
        )
        assert rows == [(table, True, "{" + ",".join(columns) + "}")], name
    fks = _query(
        fresh_dsn,
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'",
    )
    assert set(fks) == FOREIGN_KEYS
    unique = _query(
        fresh_dsn,
        "SELECT conname FROM pg_constraint WHERE contype = 'u' AND connamespace = 'public'::regnamespace",
    )
    assert unique == [("customers_email_key",)]
    recorded = _query(fresh_dsn, "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert recorded == [(m.version, m.name, m.checksum) for m in load_migrations()]


def test_jobs_are_recorded_for_every_async_index(fresh_dsn: str) -> None:
    _apply(fresh_dsn)
    jobs = _query(fresh_dsn, "SELECT object_name, status FROM sys.jobs ORDER BY object_name")
    assert jobs == sorted((name, "completed") for name in INDEXES)


def test_reapply_is_a_no_op(fresh_dsn: str) -> None:
    _apply(fresh_dsn)
    before = _query(fresh_dsn, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    again = _apply(fresh_dsn)
    assert again.applied == ()
    assert again.skipped == ("0001", "0002", "0003", "0004", "0005", "0007", "0008")
    assert _query(fresh_dsn, "SELECT version, applied_at FROM schema_migrations ORDER BY version") == before
    assert _query(fresh_dsn, "SELECT count(*) FROM sys.jobs") == [(len(INDEXES),)]  # no new index jobs


def test_a_runner_that_died_before_recording_resumes(fresh_dsn: str) -> None:
    _apply(fresh_dsn)
    with _connect(fresh_dsn)() as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version >= '0002'")
    result = _apply(fresh_dsn)  # every statement re-runs as a no-op
    assert result.applied == ("0002", "0003", "0004", "0005", "0007", "0008")


def test_edited_migration_is_refused_with_both_checksums(fresh_dsn: str, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path)
    _apply(fresh_dsn, migrations=directory)
    recorded = _query(fresh_dsn, "SELECT checksum FROM schema_migrations WHERE version = '0002'")[0][0]
    edited = directory / "0002_products.sql"
    edited.write_text(edited.read_text() + "\n-- harmless looking edit\n")
    with pytest.raises(MigrationChecksumError) as caught:
        _apply(fresh_dsn, migrations=directory)
    error = caught.value
    assert (error.version, error.filename) == ("0002", "0002_products.sql")
    assert error.recorded_checksum == recorded
    assert error.current_checksum == load_migrations(directory)[1].checksum != recorded
    assert "0002_products.sql" in str(error)
    assert recorded in str(error)


def test_new_migration_is_applied_after_the_existing_ones(fresh_dsn: str, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path)
    _apply(fresh_dsn, migrations=directory)
    (directory / "0006_product_sku.sql").write_text(
        "ALTER TABLE products ADD COLUMN IF NOT EXISTS sku text;\n"
    )
    result = _apply(fresh_dsn, migrations=directory)
    assert result.applied == ("0006",)
    assert _query(fresh_dsn, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'sku'") == [
        (1,)
    ]


def test_two_concurrent_runners_converge(fresh_dsn: str) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(_apply(fresh_dsn, include_sample_data=True))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    versions = ["0001", "0002", "0003", "0004", "0005", "0007", "0008"]
    assert sorted(results[0].applied + results[1].applied) == versions  # each recorded by exactly one
    assert _query(
        fresh_dsn, "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY 1"
    ) == [(v, 1) for v in versions]
    valid = _query(
        fresh_dsn,
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indisvalid"
        " AND c.relname = ANY(%s)",
        (list(INDEXES),),
    )
    assert {r[0] for r in valid} == set(INDEXES)
    assert _query(fresh_dsn, "SELECT count(*) FROM products") == [(5,)]
    assert _apply(fresh_dsn).applied == ()


def test_sample_data_loads_idempotently(fresh_dsn: str) -> None:
    first = _apply(fresh_dsn, include_sample_data=True)
    assert first.sample_data_loaded
    _apply(fresh_dsn, include_sample_data=True)
    assert _query(fresh_dsn, "SELECT email FROM customers ORDER BY email") == [
        ("bob.wilson@example.com",),
        ("jane.smith@example.com",),
        ("john.doe@example.com",),
    ]
    products = _query(
        fresh_dsn, "SELECT name, price::text, stock_quantity, category FROM products ORDER BY name"
    )
    assert ("Laptop", "999.99", 50, "Electronics") in products
    assert len(products) == 5
    laptop = _query(
        fresh_dsn, "SELECT name FROM products WHERE product_id = 'a1000000-0000-4000-8000-000000000001'"
    )
    assert laptop == [("Laptop",)]


def test_schema_constraints_hold(fresh_dsn: str) -> None:
    _apply(fresh_dsn, include_sample_data=True)
    laptop = "a1000000-0000-4000-8000-000000000001"
    bad = [
        (
            "UPDATE products SET stock_quantity = -1 WHERE product_id = %s",
            (laptop,),
            psycopg.errors.CheckViolation,
        ),
        ("UPDATE products SET price = -0.01 WHERE product_id = %s", (laptop,), psycopg.errors.CheckViolation),
        (
            "UPDATE products SET currency = 'usd' WHERE product_id = %s",
            (laptop,),
            psycopg.errors.CheckViolation,
        ),
        (
            "INSERT INTO customers (email, first_name, last_name) VALUES ('JOHN.DOE@example.com', 'J', 'D')",
            (),
            psycopg.errors.CheckViolation,
        ),
        (
            "INSERT INTO customers (email, first_name, last_name) VALUES ('john.doe@example.com', 'J', 'D')",
            (),
            psycopg.errors.UniqueViolation,
        ),
        (
            "INSERT INTO order_items VALUES (gen_random_uuid(), %s, 1, 1.00)",
            (laptop,),
            psycopg.errors.ForeignKeyViolation,
        ),
        (
            "INSERT INTO orders (customer_id, total_amount) VALUES (gen_random_uuid(), 1.00)",
            (),
            psycopg.errors.ForeignKeyViolation,
        ),
        (
            "INSERT INTO orders (customer_id, status, total_amount)"
            " VALUES ('c1000000-0000-4000-8000-000000000001', 'shipped', 1.00)",
            (),
            psycopg.errors.CheckViolation,
        ),
    ]
    with _connect(fresh_dsn)() as conn:
        for sql, params, error in bad:
            with pytest.raises(error):
                conn.execute(sql, params)


# -- async index jobs -------------------------------------------------------------------------------


def test_failed_index_job_stops_the_migration(fresh_dsn: str, tmp_path: Path) -> None:
    """A real failing build: a UNIQUE index over duplicate values. The guard reports it like DSQL does,
    as a failed job in sys.jobs rather than a statement error."""
    (tmp_path / "0001_t.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t (id integer PRIMARY KEY, x integer);\n"
    )
    (tmp_path / "0002_dupes.sql").write_text("INSERT INTO t VALUES (1, 7), (2, 7) ON CONFLICT DO NOTHING;\n")
    (tmp_path / "0003_unique_x.sql").write_text("CREATE UNIQUE INDEX ASYNC IF NOT EXISTS t_x_key ON t (x);\n")
    with pytest.raises(IndexBuildError) as caught:
        _apply(fresh_dsn, migrations=tmp_path)
    assert caught.value.index == "t_x_key"
    assert caught.value.job_id
    assert "failed" in caught.value.detail
    assert _query(fresh_dsn, "SELECT version FROM schema_migrations ORDER BY 1") == [("0001",), ("0002",)]


def test_index_job_is_polled_until_it_completes(fresh_dsn: str) -> None:
    """Job states as DSQL reports them while a build runs; the runner polls sys.jobs, then pg_index."""
    _apply(fresh_dsn)
    job = "fakejob" + "0" * 19
    with _connect(fresh_dsn)() as conn:
        conn.execute(
            "INSERT INTO sys.jobs (job_id, status, job_type, object_name, table_name)"
            " VALUES (%s, 'processing', 'INDEX_BUILD', 'products_created_at_idx', 'products')",
            (job,),
        )
    polls: list[float] = []
    finisher = _connect(fresh_dsn)()

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:
            finisher.execute("UPDATE sys.jobs SET status = 'completed' WHERE job_id = %s", (job,))

    runner = StatementRunner(_connect(fresh_dsn), lambda m: None, 3, sleep, _Clock())
    try:
        runner._wait_for_job("products_created_at_idx", job, deadline=1000.0, poll_interval=0.5)
        assert polls == [0.5, 0.5, 0.5]
    finally:
        runner.close()
        finisher.close()


def test_index_job_failure_and_timeout_from_sys_jobs(fresh_dsn: str) -> None:
    _apply(fresh_dsn)
    with _connect(fresh_dsn)() as conn:
        conn.execute(
            "INSERT INTO sys.jobs (job_id, status, job_type, object_name, table_name, details) VALUES"
            " ('failedjob', 'failed', 'INDEX_BUILD', 'never_built_idx', 'products', 'duplicate key'),"
            " ('slowjob', 'processing', 'INDEX_BUILD', 'slow_idx', 'products', NULL)"
        )
    clock = _Clock()
    runner = StatementRunner(_connect(fresh_dsn), lambda m: None, 3, clock.sleep, clock)
    try:
        with pytest.raises(IndexBuildError, match="job failed: duplicate key"):
            runner._wait_for_job("never_built_idx", "failedjob", deadline=1000.0, poll_interval=1.0)
        with pytest.raises(IndexBuildError, match="timeout"):
            runner._wait_for_job("slow_idx", "slowjob", deadline=clock() + 5, poll_interval=1.0)
        assert clock.now <= 105  # never slept past the deadline
    finally:
        runner.close()


def test_index_without_if_not_exists_is_refused(fresh_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_t.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t (id integer PRIMARY KEY, x integer);\n"
        "CREATE INDEX ASYNC t_x ON t (x);\n"
    )
    with pytest.raises(MigrationError, match="IF NOT EXISTS"):
        _apply(fresh_dsn, migrations=tmp_path)


def test_runner_statements_run_through_the_guard(fresh_dsn: str, tmp_path: Path) -> None:
    """A migration DSQL would reject fails locally too, before PostgreSQL runs it."""
    from ecommerce_dev.guarded import DsqlUnsupportedError, GuardedConnection

    with _connect(fresh_dsn)() as conn:
        assert isinstance(conn, GuardedConnection)
    (tmp_path / "0001_bad.sql").write_text(
        "CREATE INDEX IF NOT EXISTS bad_idx ON schema_migrations (name);\n"
    )
    with pytest.raises(DsqlUnsupportedError):
        _apply(fresh_dsn, migrations=tmp_path)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_migrations_directory_is_shipped_as_package_data() -> None:
    names = sorted(f.name for f in default_migrations_dir().iterdir() if f.name.endswith(".sql"))
    assert names == [
        "0001_customers.sql",
        "0002_products.sql",
        "0003_orders.sql",
        "0004_idempotency_records.sql",
        "0005_customer_identity.sql",
        "0007_stock_buckets.sql",
        "0008_outbox.sql",
    ]
