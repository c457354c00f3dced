"""A psycopg connection that rejects, before PostgreSQL runs it, what Aurora DSQL would reject.

Statement rules come from `ecommerce_ops.dsql_rules`. This module adds the stateful part: DSQL's
transaction rules (one DDL per transaction, no DDL/DML mix, 3,000 modified rows, 10 MiB written,
5 minutes), limits the catalog decides (24 indexes and 5 extended statistics per table, 255 columns,
primary keys that cannot lose columns, bigint identity columns), the REPEATABLE READ-only isolation,
and emulation of DSQL-only commands (``CREATE INDEX ASYNC`` with ``sys.jobs``; ``AWS IAM
GRANT/REVOKE`` with ``sys.iam_pg_role_mappings``).

Bookkeeping queries (row counts, job rows, rejections) go straight to libpq through ``pgconn``,
never through ``Cursor.execute``, so code that counts application statements does not see them.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Self, TypeVar, cast

import psycopg
from psycopg import errors, pq, sql
from psycopg._queries import _query2pg  # psycopg's own placeholder conversion (pinned < 4)
from psycopg.abc import Params, PQGen, Query, QueryNoTemplate
from psycopg.copy import Copy, Writer
from psycopg.pq.abc import PGresult
from psycopg.rows import Row, RowFactory, tuple_row

from ecommerce_ops.dsql_rules import (
    LIMIT,
    MAX_MODIFIED_ROWS,
    MAX_TRANSACTION_AGE,
    MAX_TRANSACTION_BYTES,
    TOO_MANY_COLUMNS,
    Analysis,
    AsyncIndex,
    CatalogCheck,
    Control,
    IamCommand,
    Statement,
    TableFacts,
    TransactionState,
    Violation,
    age_violation,
    analyze,
    catalog_violations,
    check_script,
    isolation_violation,
    row_limit_violation,
    transaction_size_violation,
)

T = TypeVar("T")

IDLE: Final = pq.TransactionStatus.IDLE
INTRANS: Final = pq.TransactionStatus.INTRANS
INERROR: Final = pq.TransactionStatus.INERROR

# Pending per-backend counters: they include earlier transactions not yet flushed to the shared
# statistics, hence the baseline taken before a transaction's first write. The WAL insert position
# rides along: the WAL written since bounds what this transaction wrote (other sessions write too).
WRITE_COUNTERS: Final = (
    b"SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint,"
    b" pg_catalog.pg_current_wal_insert_lsn()::text"
    b" FROM pg_catalog.pg_stat_xact_user_tables WHERE schemaname <> 'sys'"
)
# Only when that bound exceeds 10 MiB: this transaction's own WAL records (pg_walinspect, installed
# into sys by the engine), without full-page images. The non-transactional logical message flushes
# the WAL so the records are readable; it needs a superuser, like pg_walinspect.
CAN_READ_WAL: Final = (
    b"SELECT pg_catalog.to_regprocedure('sys.pg_get_wal_records_info(pg_lsn,pg_lsn)') IS NOT NULL"
    b" AND (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)"
)
OWN_WAL_BYTES: Final = (
    b"SELECT coalesce(sum(r.record_length - r.fpi_length), 0)::bigint"
    b" FROM sys.pg_get_wal_records_info($1::pg_lsn,"
    b" pg_catalog.pg_logical_emit_message(false, 'dsql-guard', '', true)) AS r"
    b" WHERE r.xid = pg_catalog.pg_current_xact_id_if_assigned()::xid"
    b" AND r.resource_manager <> 'LogicalMessage'"
)
# What catalog_violations needs to know about one table (no row when the table does not exist).
TABLE_FACTS: Final = b"""
SELECT pg_catalog.json_build_object(
    'indexes', (SELECT coalesce(pg_catalog.json_agg(c.relname), '[]')
                  FROM pg_catalog.pg_index AS i
                  JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
                 WHERE i.indrelid = t.oid AND NOT i.indisprimary),
    'statistics', (SELECT count(*) FROM pg_catalog.pg_statistic_ext AS s WHERE s.stxrelid = t.oid),
    'columns', (SELECT coalesce(pg_catalog.json_object_agg(a.attname,
                                                           pg_catalog.format_type(a.atttypid, NULL)), '{}')
                  FROM pg_catalog.pg_attribute AS a
                 WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped),
    'primary_key', (SELECT coalesce(pg_catalog.json_agg(a.attname), '[]')
                      FROM pg_catalog.pg_index AS i
                      JOIN pg_catalog.pg_attribute AS a
                        ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                     WHERE i.indrelid = t.oid AND i.indisprimary),
    'primary_key_name', (SELECT c.conname FROM pg_catalog.pg_constraint AS c
                          WHERE c.conrelid = t.oid AND c.contype = 'p'))::text
  FROM (SELECT pg_catalog.to_regclass($1) AS oid) AS t
 WHERE t.oid IS NOT NULL
"""
INSERT_JOB: Final = (
    b"INSERT INTO sys.jobs (job_id, status, job_type, object_name, table_name, details)"
    b" VALUES ($1, $2, 'INDEX_BUILD', $3, $4, $5)"
)
INSERT_IAM_MAPPING: Final = (
    b"INSERT INTO sys.iam_pg_role_mappings (pg_role_name, arn) VALUES ($1, $2) ON CONFLICT DO NOTHING"
)
DELETE_IAM_MAPPING: Final = b"DELETE FROM sys.iam_pg_role_mappings WHERE pg_role_name = $1 AND arn = $2"
CHECK_ROLE: Final = b"SELECT pg_catalog.quote_ident($1)::regrole"


class DsqlUnsupportedError(errors.FeatureNotSupported):
    """SQLSTATE 0A000, as DSQL raises for unsupported features; `rule` names the guard rule."""

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule or message.partition(":")[0]


class DsqlLimitError(errors.ProgramLimitExceeded):
    """SQLSTATE 54000, as DSQL raises for its limits (rows, bytes, age per transaction; indexes)."""

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule or message.partition(":")[0]


class DsqlTooManyColumnsError(errors.TooManyColumns, DsqlLimitError):
    """SQLSTATE 54011, DSQL's code for 255 columns per table and 8 key columns; also a DsqlLimitError."""


def error_for(problem: Violation) -> DsqlUnsupportedError | DsqlLimitError:
    if problem.sqlstate == TOO_MANY_COLUMNS:
        return DsqlTooManyColumnsError(problem.message, problem.rule)
    if problem.sqlstate == LIMIT:
        return DsqlLimitError(problem.message, problem.rule)
    return DsqlUnsupportedError(problem.message, problem.rule)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one admitted call runs: what psycopg sends, and what the guard must do around it."""

    send: Any
    wrap: bool = False
    control: Control | None = None
    special: Statement | None = None


Runner = Callable[[Any, Params | None], object]
_TUPLE_ROW: Final = cast(RowFactory[Any], tuple_row)


class GuardedConnection(psycopg.Connection[Row]):
    """`psycopg.Connection` enforcing Aurora DSQL's rules; every connection is REPEATABLE READ."""

    def __init__(self, pgconn: pq.abc.PGconn, row_factory: RowFactory[Row] = _TUPLE_ROW) -> None:
        super().__init__(pgconn, row_factory)
        self.cursor_factory = GuardedCursor
        self.server_cursor_factory = GuardedServerCursor
        self.max_transaction_age = MAX_TRANSACTION_AGE
        self._txn: TransactionState | None = None
        self._wal_readable: bool | None = None  # can this session measure its own WAL (see OWN_WAL_BYTES)?

    @classmethod
    def connect(  # type: ignore[override]
        cls, conninfo: str = "", *, max_transaction_age: float = MAX_TRANSACTION_AGE, **kwargs: Any
    ) -> Self:
        conn = super().connect(conninfo, **kwargs)
        conn.max_transaction_age = max_transaction_age
        # Autocommit statements use the session default; explicit transactions use BEGIN ... LEVEL.
        conn._outside(partial(conn._exec, b"SET default_transaction_isolation = 'repeatable read'"))
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return conn

    # -- psycopg hooks ------------------------------------------------------------------------------

    def _set_isolation_level_gen(self, value: psycopg.IsolationLevel | None) -> PQGen[None]:
        if value is not None and psycopg.IsolationLevel(value) != psycopg.IsolationLevel.REPEATABLE_READ:
            raise error_for(isolation_violation(psycopg.IsolationLevel(value).name.replace("_", " ")))
        return super()._set_isolation_level_gen(value)

    def _exec_command(
        self, command: QueryNoTemplate, result_format: pq.Format = pq.Format.TEXT
    ) -> PQGen[PGresult | None]:
        """psycopg's own BEGIN/COMMIT/ROLLBACK/SAVEPOINT (commit(), transaction(), ...) pass here."""
        stmt = self._command_statement(command)
        if stmt is not None and stmt.violations:
            yield from self._reject_gen(stmt.violations[0])
        control = stmt.control if stmt is not None else None
        if control is Control.COMMIT:
            yield from self._commit_check_gen()
        elif control is Control.BEGIN and self._txn is None:
            self._txn = TransactionState()
        result = yield from super()._exec_command(command, result_format)
        if control in (Control.COMMIT, Control.ROLLBACK):
            self._txn = None
        return result

    def _commit_gen(self) -> PQGen[None]:
        try:
            yield from super()._commit_gen()
        finally:
            self._txn = None

    def _rollback_gen(self) -> PQGen[None]:
        try:
            yield from super()._rollback_gen()
        finally:
            self._txn = None

    @contextmanager
    def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> Iterator[psycopg.Transaction]:
        """Nested blocks would need SAVEPOINT, which DSQL lacks: refuse them before psycopg starts one."""
        if self._pipeline is not None:
            self._pipeline.sync()
        if savepoint_name is not None or self._num_transactions or self.pgconn.transaction_status != IDLE:
            with self.lock:
                self._reject(analyze("SAVEPOINT dsql_guard").violations[0])
        with super().transaction(savepoint_name, force_rollback) as tx:
            yield tx

    # -- admission ----------------------------------------------------------------------------------

    def _plan(self, query: Query, *, has_params: bool, many: bool = False) -> _Plan:
        text = self._render(query)
        if has_params:
            text = _placeholders_to_postgres(text)
        analysis = analyze(text)
        with self.lock:
            return self._admit(query, text, analysis, many=many)

    def _admit(self, query: Query, text: str, analysis: Analysis, *, many: bool) -> _Plan:
        self._forget_stale_transaction()
        if analysis.syntax_error is not None or not analysis.statements or self._pg_failed():
            return _Plan(query)  # PostgreSQL (or psycopg) reports it, exactly as it would
        for problem in analysis.violations[:1]:
            self._reject(problem)
        send = query if analysis.pg_sql == text else analysis.pg_sql.encode(self.info.encoding)
        stmts = analysis.statements
        special = next((s for s in stmts if s.iam is not None or s.async_index is not None), None)
        if special is not None and (len(stmts) > 1 or many):
            raise psycopg.ProgrammingError(f"send {special.command} as a single statement, with execute()")
        if len(stmts) > 1 and any(s.control is not None for s in stmts):
            for problem in check_script(stmts)[:1]:
                self._reject(problem)
            return _Plan(send)
        if stmts[0].control is not None:
            return self._admit_control(stmts[0].control, send)
        return self._admit_work(stmts, send, special)

    def _admit_control(self, control: Control, send: Any) -> _Plan:
        if control is Control.BEGIN and self._txn is None:
            self._txn = TransactionState()
        elif control is Control.COMMIT:
            self.wait(self._commit_check_gen())
        return _Plan(send, control=control)

    def _admit_work(self, stmts: Sequence[Statement], send: Any, special: Statement | None) -> _Plan:
        txn = self._txn
        if txn is None and not self.autocommit:
            txn = self._txn = TransactionState()  # psycopg sends BEGIN with this statement
        if txn is not None and txn.age() > self.max_transaction_age:
            self._reject(age_violation(txn.age(), self.max_transaction_age))
        group = txn if txn is not None else TransactionState()  # autocommit: one call, one transaction
        for stmt in stmts:
            if (problem := group.admit(stmt)) is not None:
                self._reject(problem)
            if stmt.catalog is not None:
                for problem in self._outside(partial(self._catalog_problems, stmt))[:1]:
                    self._reject(problem)
        writes = any(s.may_write for s in stmts)
        if txn is not None and writes and txn.rows_baseline is None:
            txn.rows_baseline, txn.wal_start = self._outside(self._write_counters)
        return _Plan(send, wrap=txn is None and writes, special=special)

    def _run(self, plan: _Plan, run: Runner, params: Params | None) -> None:
        special = plan.special
        if special is not None and special.iam is not None:
            self._apply_iam(special.iam)
        elif special is not None and special.async_index is not None:
            self._build_index_async(special.async_index, plan.send, run)
        elif plan.wrap:
            with self._autocommit_transaction():
                run(plan.send, params)
        else:
            run(plan.send, params)
        if plan.control in (Control.COMMIT, Control.ROLLBACK):
            self._txn = None

    def _render(self, query: Query) -> str:
        if isinstance(query, str):
            return query
        if isinstance(query, bytes):
            return query.decode(self.info.encoding)
        if isinstance(query, sql.Composable):
            return query.as_string(self)
        raise psycopg.NotSupportedError("the DSQL guard checks str, bytes and psycopg.sql queries only")

    def _command_statement(self, command: QueryNoTemplate) -> Statement | None:
        statements = analyze(self._render(command)).statements
        return statements[0] if len(statements) == 1 else None

    def _forget_stale_transaction(self) -> None:
        """A transaction the guard opened but psycopg never began (the call failed client-side)."""
        if (
            self._txn is not None
            and not self.pgconn.pipeline_status
            and self.pgconn.transaction_status == IDLE
        ):
            self._txn = None

    def _pg_failed(self) -> bool:
        return not self.pgconn.pipeline_status and self.pgconn.transaction_status == INERROR

    # -- rejection ----------------------------------------------------------------------------------

    def _reject(self, problem: Violation) -> None:
        self.wait(self._reject_gen(problem))

    def _reject_gen(self, problem: Violation) -> PQGen[None]:
        yield from self._outside_gen(partial(self._fail_transaction, problem.sqlstate, problem.message))
        raise error_for(problem)

    def _fail_transaction(self, sqlstate: str, message: str) -> None:
        """Put the open transaction into PostgreSQL's failed state, as a real DSQL error would.

        Autocommit statements outside a transaction block have nothing to mark.
        """
        status = self.pgconn.transaction_status
        if status == IDLE and not self.autocommit:
            self._exec(self._get_tx_start_command())
            status = INTRANS
        if status != INTRANS:
            return
        body = f"BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlstate}', MESSAGE = {_literal(message)}; END"
        self.pgconn.exec_(b"DO " + _literal(body).encode())

    # -- transaction limits -------------------------------------------------------------------------

    def _commit_check_gen(self) -> PQGen[None]:
        txn = self._txn
        if txn is None:
            return
        problem = yield from self._outside_gen(partial(self._limit_problem, txn))
        if problem is not None:
            self._txn = None
            raise error_for(problem)

    def _limit_problem(self, txn: TransactionState) -> Violation | None:
        """Age, row and size checks before COMMIT; on a violation the transaction is rolled back."""
        if self.pgconn.transaction_status != INTRANS:
            return None
        problem = None
        if txn.age() > self.max_transaction_age:
            problem = age_violation(txn.age(), self.max_transaction_age)
        elif txn.rows_baseline is not None:
            rows, wal_now = self._write_counters()
            if rows - txn.rows_baseline > MAX_MODIFIED_ROWS:
                problem = row_limit_violation(rows - txn.rows_baseline)
            elif txn.wal_start is not None:
                written = self._written_bytes(txn.wal_start, wal_now)
                problem = transaction_size_violation(written) if written > MAX_TRANSACTION_BYTES else None
        if problem is not None:
            self._exec(b"ROLLBACK")
        return problem

    def _written_bytes(self, start: str, now: str) -> int:
        """Bytes this transaction wrote since `start`, measured only when the cheap bound is over 10 MiB.

        Returns the bound itself when it is within the limit or when the precise measurement is
        unavailable (no pg_walinspect in sys, or no superuser): then the limit is not enforced.
        """
        bound = _lsn(now) - _lsn(start)
        if bound <= MAX_TRANSACTION_BYTES:
            return bound
        if self._wal_readable is None:
            self._wal_readable = self._exec(CAN_READ_WAL).get_value(0, 0) == b"t"
        if not self._wal_readable:
            return 0
        return int(self._exec(OWN_WAL_BYTES, (start,)).get_value(0, 0) or b"0")

    @contextmanager
    def _autocommit_transaction(self) -> Iterator[None]:
        """Run an autocommit write inside BEGIN ... COMMIT so the limits are checked before it commits."""
        rows, wal = self._outside(self._begin_counting)
        state = TransactionState(rows_baseline=rows, wal_start=wal)
        try:
            yield
            problem = self._outside(partial(self._limit_problem, state))
            if problem is None:
                self._outside(partial(self._exec, b"COMMIT"))
        except BaseException:
            self._outside(self._rollback_open)
            raise
        if problem is not None:
            raise error_for(problem)

    def _begin_counting(self) -> tuple[int, str]:
        self._exec(b"BEGIN")
        return self._write_counters()

    def _rollback_open(self) -> None:
        if self.pgconn.transaction_status != IDLE:
            self._exec(b"ROLLBACK")

    def _write_counters(self) -> tuple[int, str]:
        """(pending modified-row total, WAL insert position) of this session."""
        result = self._exec(WRITE_COUNTERS)
        return int(result.get_value(0, 0) or b"0"), bytes(result.get_value(0, 1) or b"0/0").decode()

    # -- catalog limits -----------------------------------------------------------------------------

    def _catalog_problems(self, stmt: Statement) -> list[Violation]:
        """Limits DSQL checks against the table as it is (index count, columns, primary key, ...)."""
        check = stmt.catalog
        assert check is not None
        value = self._exec(TABLE_FACTS, (_qualified(check),))
        if value.ntuples == 0:
            return []  # no such table: PostgreSQL reports it
        facts = json.loads(bytes(value.get_value(0, 0) or b"{}"))
        return catalog_violations(
            stmt,
            TableFacts(
                indexes=frozenset(facts["indexes"]),
                statistics=int(facts["statistics"]),
                columns=dict(facts["columns"]),
                primary_key=frozenset(facts["primary_key"]),
                primary_key_name=facts["primary_key_name"],
            ),
        )

    # -- DSQL-only commands -------------------------------------------------------------------------

    def _build_index_async(self, index: AsyncIndex, send: Any, run: Runner) -> None:
        """Build now, then answer like DSQL: a job row in sys.jobs and a ``job_id`` result row.

        DSQL reports a failed build through sys.jobs, not as a statement error; that is emulated
        for autocommit outside transaction blocks (inside a block the error aborts the transaction).
        """
        job_id = secrets.token_hex(13)
        status, details = "completed", None
        standalone = self.autocommit and self._txn is None and not self.pgconn.pipeline_status
        try:
            run(send, None)
        except psycopg.Error as exc:
            if not standalone:
                raise
            status, details = "failed", str(exc)
        values = (job_id, status, index.name, index.table, details)
        self._outside(partial(self._exec, INSERT_JOB, values))
        run("SELECT %s::text AS job_id", (job_id,))

    def _apply_iam(self, iam: IamCommand) -> None:
        self._outside(partial(self._apply_iam_now, iam))

    def _apply_iam_now(self, iam: IamCommand) -> None:
        if self.pgconn.transaction_status == IDLE and not self.autocommit:
            self._exec(self._get_tx_start_command())
        problem = _arn_problem(iam.arn)
        if problem is not None:
            self._fail_transaction("22023", problem)
            raise errors.InvalidParameterValue(problem)
        if iam.action == "grant":
            self._exec(CHECK_ROLE, (iam.role,))
            self._exec(INSERT_IAM_MAPPING, (iam.role, iam.arn))
        else:
            self._exec(DELETE_IAM_MAPPING, (iam.role, iam.arn))

    # -- raw libpq access ---------------------------------------------------------------------------

    def _outside(self, work: Callable[[], T]) -> T:
        return self.wait(self._outside_gen(work))

    def _outside_gen(self, work: Callable[[], T]) -> PQGen[T]:
        """Run `work` with libpq out of pipeline mode (flushing the pipeline first)."""
        pipeline = self._pipeline if self.pgconn.pipeline_status else None
        if pipeline is not None:
            yield from pipeline._sync_gen()
            self.pgconn.exit_pipeline_mode()
        try:
            return work()
        finally:
            if pipeline is not None:
                self.pgconn.enter_pipeline_mode()

    def _exec(self, query: bytes, params: Sequence[str | None] | None = None) -> PGresult:
        encoding = self.info.encoding
        if params is None:
            result = self.pgconn.exec_(query)
        else:
            result = self.pgconn.exec_params(
                query, [p.encode(encoding) if p is not None else None for p in params]
            )
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise errors.error_from_result(result, encoding=encoding)
        return result


class GuardedCursor(psycopg.Cursor[Row]):
    """Checks every statement with the connection's guard before psycopg sends it."""

    def execute(
        self,
        query: Query,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Self:
        def run(send: Any, run_params: Params | None) -> object:
            return psycopg.Cursor.execute(self, send, run_params, prepare=prepare, binary=binary)

        conn = self.connection
        if isinstance(conn, GuardedConnection):
            conn._run(conn._plan(query, has_params=params is not None), run, params)
        else:
            run(query, params)
        return self

    def executemany(self, query: Query, params_seq: Iterable[Params], *, returning: bool = False) -> None:
        conn = self.connection
        if not isinstance(conn, GuardedConnection):
            return super().executemany(query, params_seq, returning=returning)
        plan = conn._plan(query, has_params=True, many=True)
        if plan.wrap:
            with conn._autocommit_transaction():
                super().executemany(plan.send, params_seq, returning=returning)
        else:
            super().executemany(plan.send, params_seq, returning=returning)
        return None

    def stream(
        self, query: Query, params: Params | None = None, *, binary: bool | None = None, size: int = 1
    ) -> Iterator[Row]:
        """Streaming runs one statement outside the execute path: checked like execute, never wrapped."""
        conn = self.connection
        send: Any = query
        if isinstance(conn, GuardedConnection):
            send = conn._plan(query, has_params=params is not None).send
        return super().stream(send, params, binary=binary, size=size)

    @contextmanager
    def copy(
        self, statement: Query, params: Params | None = None, *, writer: Writer | None = None
    ) -> Iterator[Copy]:
        conn = self.connection
        if not isinstance(conn, GuardedConnection):
            with super().copy(statement, params, writer=writer) as copy:
                yield copy
            return
        plan = conn._plan(statement, has_params=params is not None)
        if plan.wrap:
            with conn._autocommit_transaction(), super().copy(plan.send, params, writer=writer) as copy:
                yield copy
        else:
            with super().copy(plan.send, params, writer=writer) as copy:
                yield copy


class GuardedServerCursor(psycopg.ServerCursor[Row]):
    """Named (server-side) cursors only run queries; the statement rules still apply."""

    def execute(
        self, query: Query, params: Params | None = None, *, binary: bool | None = None, **kwargs: Any
    ) -> Self:
        conn = self.connection
        send: Any = query
        if isinstance(conn, GuardedConnection):
            send = conn._plan(query, has_params=params is not None).send
        return super().execute(send, params, binary=binary, **kwargs)


@functools.lru_cache(maxsize=4096)
def _placeholders_to_postgres(text: str) -> str:
    """``%s`` / ``%(name)s`` -> ``$n`` exactly as psycopg converts them, so that pglast can parse.

    UTF-8 regardless of the connection: DSQL is UTF-8 only and placeholders are ASCII anyway.
    """
    try:
        converted = _query2pg(text.encode(), "utf-8")[0]
    except psycopg.Error:
        return text  # psycopg itself raises on execute
    return bytes(converted).decode()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(check: CatalogCheck) -> str:
    table = _quote_ident(check.table)
    return f"{_quote_ident(check.schema)}.{table}" if check.schema else table


def _lsn(text: str) -> int:
    """PostgreSQL's 'X/Y' WAL position as a byte offset."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low or "0", 16)


def _arn_problem(arn: str) -> str | None:
    """DSQL maps database roles to IAM roles: arn:<partition>:iam::<account>:role/<name>."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "iam" and parts[3] == "":
        account, resource = parts[4], parts[5]
        if len(account) == 12 and account.isdigit() and resource.startswith("role/") and len(resource) > 5:
            return None
    return f"invalid IAM role ARN {arn!r}: expected arn:aws:iam::<12-digit account>:role/<name>"


def guarded_connector(
    dsn: str, *, application_name: str = "ecommerce"
) -> Callable[[], psycopg.Connection[Any]]:
    """A connection factory for the data layer that goes through the DSQL guard."""
    from handlers.db import DatabaseSettings, make_connector

    settings = DatabaseSettings(local_dsn=dsn, application_name=application_name)
    return make_connector(settings, connect_fn=GuardedConnection.connect)


def guarded_database(dsn: str, *, application_name: str = "ecommerce", **kwargs: Any) -> Any:
    """A :class:`handlers.db.Database` whose connections go through the DSQL guard."""
    from handlers.db import Database, DatabaseSettings

    settings = DatabaseSettings(local_dsn=dsn, application_name=application_name)
    return Database(settings, connector=guarded_connector(dsn, application_name=application_name), **kwargs)
