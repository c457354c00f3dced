"""The schema migration runner: one runner for deploy time (custom resource), local dev and tests.

Migrations are ``migrations/NNNN_name.sql`` files shipped in the package. Rules that make them safe on
Aurora DSQL, where DDL is not transactional across statements:

* The runner executes **each statement in its own autocommit transaction** (DSQL allows one DDL
  statement per transaction and no DDL/DML mix). Statements end with ``;`` outside quotes and comments;
  comments are stripped before execution. pglast is not used: it cannot parse ``CREATE INDEX ASYNC`` or
  ``AWS IAM GRANT``.
* Every statement must be **idempotent** (``CREATE TABLE IF NOT EXISTS``, ``CREATE INDEX ASYNC IF NOT
  EXISTS name``, ``INSERT … ON CONFLICT DO NOTHING``): a version is recorded in ``schema_migrations``
  only after all its statements succeeded, so a runner that died mid-file simply re-runs the file.
* Secondary indexes only as ``CREATE [UNIQUE] INDEX ASYNC IF NOT EXISTS <name> ON …`` (named, no
  ASC/DESC). The runner waits for the job in ``sys.jobs`` and then checks ``pg_index.indisvalid``.
* Applied files are immutable: the sha256 of every applied file is recorded and checked on each run.
* Two runners may race (two regions deploying at once; DSQL has no advisory locks): conflicts (40001,
  DSQL's OC001) and PostgreSQL catalog races are retried, "already exists" (42P07, 42710) of a CREATE
  statement means the object is there, and each version is recorded once (``ON CONFLICT DO NOTHING``).

Sample data (``sample_data.sql``) is never a numbered migration; it is loaded on request.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from os import PathLike
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .errors import (
    DUPLICATE_OBJECT,
    DUPLICATE_TABLE,
    SERIALIZATION_FAILURE,
    SERVER_UNAVAILABLE,
    UNIQUE_VIOLATION,
    IndexBuildError,
    MigrationChecksumError,
    MigrationError,
    sqlstate_of,
)
from .transactions import Backoff, connection_unusable, is_connection_error

logger = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection[Any]]
MigrationSource = str | PathLike[str] | Traversable | Sequence["Migration"] | None

_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_INDEX_ASYNC = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+ASYNC\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)\s+ON\s",
    re.IGNORECASE,
)
_CREATE = re.compile(r"^CREATE\s", re.IGNORECASE)
_ALREADY_EXISTS = frozenset({DUPLICATE_TABLE, DUPLICATE_OBJECT})
_JOB_DONE = "completed"
_JOB_FAILED = frozenset({"failed", "cancelled", "canceled"})
_DROPPED = (
    "the invalid index was dropped; fix the cause (duplicate values for a unique index, say) and deploy again"
)

SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
)


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    filename: str
    sql: str
    checksum: str  # sha256 of the file's bytes

    @property
    def statements(self) -> list[str]:
        return split_statements(self.sql)

    @classmethod
    def from_text(cls, filename: str, text: str) -> Migration:
        match = _FILENAME.match(filename)
        if not match:
            raise MigrationError(f"migration file name {filename!r} does not match NNNN_name.sql")
        checksum = hashlib.sha256(text.encode()).hexdigest()
        return cls(match["version"], match["name"], filename, text, checksum)


@dataclass(frozen=True)
class MigrationResult:
    applied: tuple[str, ...]  # versions this runner recorded
    skipped: tuple[str, ...]  # versions already recorded (before this run, or by a concurrent runner)
    seconds: float
    sample_data_loaded: bool = False
    indexes_built: tuple[str, ...] = field(default=())


def default_migrations_dir() -> Traversable:
    return resources.files("handlers.db").joinpath("migrations")


def load_migrations(source: MigrationSource = None) -> list[Migration]:
    """Migrations sorted by version, from a directory (default: the packaged ones) or a list."""
    if source is not None and not isinstance(source, (str, PathLike, Traversable)):
        migrations = sorted(source, key=lambda m: m.version)
    else:
        directory: Traversable = (
            default_migrations_dir()
            if source is None
            else source
            if isinstance(source, Traversable)
            else Path(source)
        )
        files = [f for f in directory.iterdir() if f.name.endswith(".sql")]
        migrations = sorted(
            (Migration.from_text(f.name, f.read_text(encoding="utf-8")) for f in files),
            key=lambda m: m.version,
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return migrations


def sample_data_statements() -> list[str]:
    text = resources.files("handlers.db").joinpath("sample_data.sql").read_text(encoding="utf-8")
    return split_statements(text)


def apply_migrations(
    connect: Connect,
    *,
    migrations: MigrationSource = None,
    include_sample_data: bool = False,
    poll_interval: float = 1.0,
    index_timeout: float = 600.0,
    log: Callable[[str], None] | None = None,
    max_attempts: int = 10,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> MigrationResult:
    """Apply pending migrations (and optionally the sample data) through connections from ``connect``.

    ``connect`` must return a new connection (the ``admin`` role on AWS); it is called again if the
    connection breaks. Raises :class:`MigrationChecksumError` when an applied file was edited,
    :class:`IndexBuildError` when an async index build fails or exceeds ``index_timeout`` seconds.
    """
    started = clock()
    runner = StatementRunner(connect, log or logger.info, max_attempts, sleep, clock)
    try:
        loaded, recorded = _prepare(runner, migrations)
        applied: list[str] = []
        skipped = [m.version for m in loaded if m.version in recorded]
        indexes: list[str] = []
        for migration in loaded:
            if migration.version in recorded:
                continue
            runner.log(f"applying migration {migration.filename}")
            for statement in migration.statements:
                built = runner.run_statement(statement, poll_interval, index_timeout)
                if built:
                    indexes.append(built)
            if runner.record(migration):
                applied.append(migration.version)
            else:
                skipped.append(migration.version)
        if include_sample_data:
            for statement in sample_data_statements():
                runner.execute(statement)
        seconds = clock() - started
        runner.log(f"migrations: applied {applied or 'none'}, skipped {len(skipped)} in {seconds:.2f}s")
        return MigrationResult(tuple(applied), tuple(skipped), seconds, include_sample_data, tuple(indexes))
    finally:
        runner.close()


@dataclass(frozen=True)
class PendingIndex:
    """An async index build a migration started and has not seen finish."""

    version: str
    name: str
    job_id: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"version": self.version, "name": self.name, "job_id": self.job_id}

    @classmethod
    def of(cls, data: Any) -> PendingIndex:
        return cls(str(data["version"]), str(data["name"]), data.get("job_id"))


@dataclass(frozen=True)
class MigrationStart:
    result: MigrationResult  # the versions recorded now (none of their indexes still building)
    pending: tuple[PendingIndex, ...]  # builds to wait for; their versions are recorded when done


def start_migrations(
    connect: Connect,
    *,
    migrations: MigrationSource = None,
    up_to: str | None = None,
    log: Callable[[str], None] | None = None,
    max_attempts: int = 10,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> MigrationStart:
    """The pending migrations' statements in order, without waiting for async index builds.

    For a deploy that must not wait minutes inside one Lambda invocation: the custom resource's
    ``is_complete`` calls :func:`finish_migrations`, then this again, until nothing is pending. It
    stops after the first migration with a build still running, so a later migration never runs
    before an index it may rely on is valid (an ``ON CONFLICT`` on a new unique index), and versions
    are recorded in order, each only once its indexes are valid. ``up_to``: apply no version after
    this one (a rollback asks for the schema the previous template had) [every version].
    """
    started = clock()
    runner = StatementRunner(connect, log or logger.info, max_attempts, sleep, clock)
    try:
        loaded, recorded = _prepare(runner, migrations)
        applied: list[str] = []
        skipped = [m.version for m in loaded if m.version in recorded]
        pending: list[PendingIndex] = []
        for migration in loaded:
            if migration.version in recorded:
                continue
            if up_to is not None and migration.version > up_to:
                runner.log(f"migration {migration.version} is newer than the requested {up_to}: not applied")
                break
            if pending:
                break  # the previous migration's indexes are still building
            runner.log(f"applying migration {migration.filename}")
            building: list[PendingIndex] = []
            for statement in migration.statements:
                index = runner.start_statement(statement)
                if index is not None and runner.index_state(*index) != "valid":
                    building.append(PendingIndex(migration.version, *index))
            if building:
                pending += building
            elif runner.record(migration):
                applied.append(migration.version)
            else:
                skipped.append(migration.version)
        seconds = clock() - started
        runner.log(f"migrations: applied {applied or 'none'}, {len(pending)} index build(s) pending")
        return MigrationStart(MigrationResult(tuple(applied), tuple(skipped), seconds), tuple(pending))
    finally:
        runner.close()


def finish_migrations(
    connect: Connect,
    pending: Sequence[PendingIndex],
    *,
    migrations: MigrationSource = None,
    log: Callable[[str], None] | None = None,
    max_attempts: int = 10,
) -> tuple[PendingIndex, ...]:
    """One look at the builds :func:`start_migrations` left: records each version whose indexes are
    all valid, raises :class:`IndexBuildError` for a failed build, returns what is still building."""
    runner = StatementRunner(connect, log or logger.info, max_attempts, time.sleep, time.monotonic)
    try:
        by_version = {m.version: m for m in load_migrations(migrations)}
        still: list[PendingIndex] = []
        for version in sorted({p.version for p in pending}):
            builds = [p for p in pending if p.version == version]
            building = [p for p in builds if runner.index_state(p.name, p.job_id) != "valid"]
            if building:
                still += building
            else:
                runner.record(by_version[version])
                runner.log(f"migration {version}: every index is valid; recorded")
        return tuple(still)
    finally:
        runner.close()


def _prepare(runner: StatementRunner, migrations: MigrationSource) -> tuple[list[Migration], dict[str, Any]]:
    loaded = load_migrations(migrations)
    runner.execute(SCHEMA_MIGRATIONS_DDL, create=True)
    recorded = {
        row["version"]: row for row in runner.execute("SELECT version, name, checksum FROM schema_migrations")
    }
    _verify_checksums(loaded, recorded, runner.log)
    return loaded, recorded


def _verify_checksums(
    loaded: Iterable[Migration], recorded: dict[str, dict[str, Any]], log: Callable[[str], None]
) -> None:
    known = {m.version: m for m in loaded}
    for version, row in sorted(recorded.items()):
        migration = known.get(version)
        if migration is None:
            log(f"warning: version {version} ({row['name']}) is recorded but has no migration file")
        elif row["checksum"] != migration.checksum:
            raise MigrationChecksumError(version, migration.filename, row["checksum"], migration.checksum)


class StatementRunner:
    """Executes statements one per autocommit transaction, reconnecting and retrying where safe:
    the migrations' and the database roles' way to run DDL on DSQL."""

    def __init__(
        self,
        connect: Connect,
        log: Callable[[str], None],
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self.log = log
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self._backoff = Backoff(base=0.05, cap=2.0)
        self._conn: psycopg.Connection[Any] | None = None

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if connection_unusable(self._conn):
            self.close()
            self._conn = self._connect()
            self._conn.autocommit = True
        assert self._conn is not None
        return self._conn

    def render(self, statement: Any) -> str:
        """A composed statement (``psycopg.sql``) as text, quoted for this connection."""
        return str(statement.as_string(self._connection()))

    def execute(
        self, sql: str, params: Sequence[Any] | None = None, *, create: bool = False
    ) -> list[dict[str, Any]]:
        """Run one statement; retry conflicts and lost connections (every statement is idempotent).

        For ``create`` statements, "already exists" means the object is there (a concurrent runner, or a
        runner that died before recording the version, created it) and a catalog race is retried.
        """
        for attempt in range(1, self._max_attempts + 1):
            conn = self._connection()
            try:
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                state = sqlstate_of(exc)
                if create and state in _ALREADY_EXISTS:
                    self.log(f"already exists (SQLSTATE {state}), continuing: {_summary(sql)}")
                    return []
                retryable = state in (SERIALIZATION_FAILURE, SERVER_UNAVAILABLE) or (
                    create and _catalog_race(exc)
                )
                if is_connection_error(exc, conn):
                    self.close()
                elif not retryable:
                    raise
                if attempt == self._max_attempts:
                    raise MigrationError(f"gave up after {attempt} attempts: {_summary(sql)}") from exc
                self.log(f"retrying after SQLSTATE {state}: {_summary(sql)}")
                self._sleep(self._backoff.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def start_statement(self, statement: str) -> tuple[str, str | None] | None:
        """Execute a migration statement; for an async index, (its name, the build's job id)."""
        index = _INDEX_ASYNC.match(statement)
        if index is None:
            self.execute(statement, create=bool(_CREATE.match(statement)))
            return None
        name = _unquote(index["name"])
        if not index["if_not_exists"]:
            raise MigrationError(f"use CREATE INDEX ASYNC IF NOT EXISTS so re-runs are no-ops: {name}")
        rows = self.execute(statement, create=True)
        job_id = rows[0].get("job_id") if rows else None
        return name, None if job_id is None else str(job_id)

    def run_statement(self, statement: str, poll_interval: float, index_timeout: float) -> str | None:
        """Execute a migration statement; for an async index, wait until it is valid and return its name."""
        deadline = self._clock() + index_timeout
        started = self.start_statement(statement)
        if started is None:
            return None
        name, job_id = started
        if job_id is not None:
            self._wait_for_job(name, job_id, deadline, poll_interval)
        self._wait_until_valid(name, job_id, deadline, poll_interval)
        self.log(f"index {name} is valid")
        return name

    def index_state(self, name: str, job_id: str | None) -> str:
        """``valid`` or ``building``; a failed build raises :class:`IndexBuildError`.

        A build that failed leaves an invalid index, and ``CREATE INDEX ASYNC IF NOT EXISTS`` then
        skips it without starting a job, so an invalid index with no build running is a failure
        too, whatever job this runner knows of. The index is dropped first (it is unusable, and
        ``DROP INDEX`` is how DSQL cancels a build: user guide, "Asynchronous indexes in Aurora
        DSQL"), so the next deploy builds it again instead of skipping it forever.
        """
        if job_id is not None:
            rows = self.execute("SELECT * FROM sys.jobs WHERE job_id = %s", (job_id,))
            status = str(rows[0].get("status", "")).lower() if rows else ""
            if status in _JOB_FAILED and not self._index_valid(name):
                detail = rows[0].get("details") or rows[0].get("detail") or ""
                self._drop_invalid(name)
                raise IndexBuildError(name, job_id, f"job {status}: {detail} {_DROPPED}".strip(": "))
            if rows and status != _JOB_DONE:
                return "building"
        valid = self._index_valid(name)
        if valid is True:
            return "valid"
        if valid is False:
            latest = self._latest_job(name)
            if latest is not None and latest["status"] not in _JOB_FAILED | {_JOB_DONE}:
                return "building"
            if latest is not None:  # failed, or done and still invalid: nothing will fix it
                detail = f"no build of it is running (its last job, {latest['job_id']}, is {latest['status']}"
                detail += f": {latest['details']})" if latest["details"] else ")"
                self._drop_invalid(name)
                raise IndexBuildError(
                    name, latest["job_id"], f"the index is not valid and {detail}; {_DROPPED}"
                )
        return "building"

    def _latest_job(self, name: str) -> dict[str, Any] | None:
        """The newest ``sys.jobs`` row of an index build by the index's name, or None when there is
        none or ``sys.jobs`` has no ``object_name`` (the user guide lists no columns: see
        docs/dsql-clusters.md, "What the fake believes"; without it, the deploy's time budget ends
        the wait with the same advice)."""
        try:
            rows = self.execute(
                "SELECT job_id, status, details FROM sys.jobs WHERE object_name = %s"
                " ORDER BY update_time DESC LIMIT 1",
                (name,),
            )
        except psycopg.errors.UndefinedColumn:
            self.log("sys.jobs has no object_name/update_time: cannot look a build up by index name")
            return None
        if not rows:
            return None
        row = rows[0]
        return {"job_id": str(row["job_id"]), "status": str(row["status"]).lower(), "details": row["details"]}

    def _drop_invalid(self, name: str) -> None:
        if self._index_valid(name) is False:
            self.execute(self.render(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name))))
            self.log(f"dropped the invalid index {name}")

    def _wait_for_job(self, index: str, job_id: str, deadline: float, poll_interval: float) -> None:
        while True:
            rows = self.execute("SELECT * FROM sys.jobs WHERE job_id = %s", (job_id,))
            status = str(rows[0].get("status", "")).lower() if rows else ""
            if status == _JOB_DONE:
                return
            if status in _JOB_FAILED:
                if self._index_valid(index):
                    # A concurrent runner built the same index; this runner's job lost the race.
                    self.log(f"index job {job_id} {status}, but index {index} exists and is valid")
                    return
                detail = rows[0].get("details") or rows[0].get("detail") or ""
                raise IndexBuildError(index, job_id, f"job {status}: {detail}".strip(": "))
            if not rows:
                return  # job history not (or no longer) visible: the catalog decides
            self._pause(index, job_id, deadline, poll_interval, f"job still {status}")

    def _wait_until_valid(
        self, index: str, job_id: str | None, deadline: float, poll_interval: float
    ) -> None:
        while (valid := self._index_valid(index)) is not True:
            self._pause(
                index, job_id, deadline, poll_interval, f"index {'invalid' if valid is False else 'missing'}"
            )

    def _index_valid(self, index: str) -> bool | None:
        """``pg_index.indisvalid`` of an index in the current schema; ``None`` when there is no such index."""
        rows = self.execute(
            "SELECT i.indisvalid FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = %s AND n.nspname = current_schema()",
            (index,),
        )
        return bool(rows[0]["indisvalid"]) if rows else None

    def _pause(self, index: str, job_id: str | None, deadline: float, poll_interval: float, why: str) -> None:
        if self._clock() + poll_interval > deadline:
            raise IndexBuildError(index, job_id, f"not ready before the index timeout ({why})")
        self._sleep(poll_interval)

    def record(self, migration: Migration) -> bool:
        """Record a version; False when a concurrent runner recorded it first (with the same file)."""
        rows = self.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
            " ON CONFLICT (version) DO NOTHING RETURNING version",
            (migration.version, migration.name, migration.checksum),
        )
        if rows:
            return True
        (winner,) = self.execute(
            "SELECT checksum FROM schema_migrations WHERE version = %s", (migration.version,)
        )
        if winner["checksum"] != migration.checksum:
            raise MigrationChecksumError(
                migration.version, migration.filename, winner["checksum"], migration.checksum
            )
        return False


def split_statements(sql: str) -> list[str]:
    """Split SQL text at ``;`` outside quotes, dollar quotes and comments; comments are dropped."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
            buf.append(" ")
        elif c in "'\"":
            end = _skip_quoted(sql, i, c, backslash=c == "'" and i > 0 and sql[i - 1] in "eE")
            buf.append(sql[i:end])
            i = end
        elif c == "$" and (tag := _DOLLAR_TAG.match(sql, i)) and not (i and _IDENT_CHAR.match(sql[i - 1])):
            close = sql.find(tag.group(0), tag.end())
            end = n if close < 0 else close + len(tag.group(0))
            buf.append(sql[i:end])
            i = end
        elif c == ";":
            statements.append("".join(buf))
            buf = []
            i += 1
        else:
            buf.append(c)
            i += 1
    statements.append("".join(buf))
    return [s.strip() for s in statements if s.strip()]


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$]")


def _skip_block_comment(sql: str, i: int) -> int:
    depth, i = 0, i
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return i


def _skip_quoted(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    j = i + 1
    while j < len(sql):
        ch = sql[j]
        if backslash and ch == "\\":
            j += 2
            continue
        if ch == quote:
            if sql.startswith(quote * 2, j):
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _catalog_race(exc: psycopg.Error) -> bool:
    # Concurrent CREATE ... IF NOT EXISTS in PostgreSQL: the loser hits a unique index of the catalog
    # (pg_type, pg_class) instead of seeing the object. A data duplicate names a user index instead.
    if sqlstate_of(exc) != UNIQUE_VIOLATION:
        return False
    return (exc.diag.constraint_name or "").startswith("pg_")


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _summary(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 100 else flat[:97] + "..."
