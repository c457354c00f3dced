"""LocalEngine: lifecycle, persistence, databases, guarded connections."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.guarded import DsqlUnsupportedError, GuardedConnection


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """Outside pytest's basetemp (see conftest.local_engine)."""
    path = Path(tempfile.mkdtemp(prefix="dsql-engine-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_engine_serves_postgres(local_engine: LocalEngine) -> None:
    assert local_engine.running
    with psycopg.connect(local_engine.dsn) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == ("postgres", "postgres")
        settings = conn.execute("SHOW default_transaction_isolation").fetchone()
        assert settings == ("repeatable read",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)  # durable=False in tests
        assert conn.execute("SHOW timezone").fetchone() == ("UTC",)


def test_start_is_idempotent(local_engine: LocalEngine) -> None:
    assert LocalEngine.start(local_engine.pgdata.parent) is local_engine


def test_create_database_has_sys_surface(local_engine: LocalEngine, fresh_dsn: str) -> None:
    assert "dbname=test_" in fresh_dsn
    with psycopg.connect(fresh_dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sys' ORDER BY 1"
        ).fetchall()
        assert tables == [("iam_pg_role_mappings",), ("jobs",)]
        assert conn.execute("SELECT count(*) FROM sys.jobs").fetchone() == (0,)
    assert local_engine.iam_role_mappings(fresh_dsn) == []


def test_guarded_connect_is_repeatable_read(local_engine: LocalEngine, fresh_dsn: str) -> None:
    with local_engine.connect(fresh_dsn) as conn:
        assert isinstance(conn, GuardedConnection)
        assert conn.isolation_level == psycopg.IsolationLevel.REPEATABLE_READ
        assert conn.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)
        with pytest.raises(DsqlUnsupportedError):
            conn.execute("TRUNCATE sys.jobs")
    with local_engine.connect(autocommit=True) as conn:
        assert conn.autocommit
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)
    with GuardedConnection.connect(fresh_dsn, max_transaction_age=1.5) as conn:
        assert conn.max_transaction_age == 1.5


def test_data_persists_across_restarts(scratch_dir: Path) -> None:
    engine = LocalEngine.start(scratch_dir, durable=False)
    try:
        dsn = engine.create_database("shop")
        with engine.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text)")
            conn.execute("INSERT INTO kept (name) VALUES ('pen')")
    finally:
        engine.stop()
    assert not engine.running

    engine = LocalEngine.start(scratch_dir, durable=True)
    try:
        with engine.connect(engine.dsn_for("shop")) as conn:
            assert conn.execute("SELECT name FROM kept").fetchall() == [("pen",)]
        with psycopg.connect(engine.dsn) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
    finally:
        engine.stop()
