"""Running one unit of work as a transaction, and the rules for retrying it.

The connection stays in autocommit mode and every transaction is written out explicitly
(``BEGIN`` … ``COMMIT``). That keeps the SQL identical on DSQL and on the local engine, makes the moment
COMMIT leaves the client explicit (the line between "safe to retry" and "outcome unknown"), and lets a
pipelined unit travel in one network round trip: psycopg's implicit transactions add a Sync after BEGIN
in pipeline mode, which costs a round trip of its own (measured: 3 round trips instead of 1).

Units of work must not use ``conn.transaction()`` or ``conn.commit()``: savepoints are unsupported on
DSQL and the transaction boundaries belong to the runner.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg import pq

from .errors import (
    CONNECT_RETRYABLE,
    NEVER_RETRY,
    SERIALIZATION_FAILURE,
    SERVER_UNAVAILABLE,
    DataLayerError,
    sqlstate_of,
)

T = TypeVar("T")
Work = Callable[[psycopg.Connection[Any]], T]

_BEGIN = b"BEGIN"
_BEGIN_READ_ONLY = b"BEGIN READ ONLY"
_COMMIT = b"COMMIT"
_ROLLBACK = b"ROLLBACK"


class UniformRandom(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**(n-1)))``.

    Full jitter spreads retries of transactions that collided on the same hot row, so they do not
    collide again in lock step.
    """

    base: float = 0.02
    cap: float = 1.0
    rng: UniformRandom = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        """Sleep before the next attempt, after ``failures`` failed attempts (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** max(failures - 1, 0)))
        return self.rng.uniform(0.0, ceiling)


@dataclass
class RetryStats:
    """Cumulative counters of one :class:`~handlers.db.connection.Database`, for metrics and logs."""

    units: int = 0
    attempts: int = 0
    retries: int = 0
    conflicts: int = 0  # SQLSTATE 40001
    unavailable: int = 0  # SQLSTATE XX000, DSQL "server unavailable"
    connection_failures: int = 0  # broken connections and failed connects
    throttled_connects: int = 0  # 53300 / 53400
    exhausted: int = 0
    connections_opened: int = 0
    connections_recycled: int = 0  # closed because of their age
    backoff_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class CallStats:
    """What happened during the most recent unit of work."""

    attempts: int
    conflicts: int
    connection_failures: int
    backoff_seconds: float
    elapsed_seconds: float


class Failure(Enum):
    """How a failed attempt may be handled."""

    CONFLICT = "conflict"  # 40001: retry the whole unit
    UNAVAILABLE = "unavailable"  # XX000 before COMMIT left: retry the whole unit on the same connection
    CONNECTION = "connection"  # connection lost before COMMIT left the client: retry on a new one
    OUTCOME_UNKNOWN = "outcome_unknown"  # connection lost after COMMIT was sent
    FATAL = "fatal"  # raise as is


def connection_unusable(conn: psycopg.Connection[Any] | None) -> bool:
    return conn is None or conn.closed or conn.broken


def is_connection_error(exc: BaseException, conn: psycopg.Connection[Any] | None) -> bool:
    """True when ``exc`` means the connection (not the statement) failed."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = sqlstate_of(exc)
    if state in NEVER_RETRY or state == SERIALIZATION_FAILURE:
        return False
    return connection_unusable(conn) or state is None or state.startswith(("08", "57P"))


#: libpq's words for a TLS failure that no retry can fix: the server's certificate does not verify
#: against the trust file, or the trust file is missing (a packaging or configuration fault).
_PERMANENT_TLS = ("certificate verify failed", "root certificate file", "does not match host name")


def is_retryable_connect_error(exc: BaseException) -> bool:
    """Opening a connection failed for a reason that may go away: throttling or the network."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if any(words in str(exc) for words in _PERMANENT_TLS):
        return False
    state = sqlstate_of(exc)
    return state is None or state in CONNECT_RETRYABLE or state.startswith("08")


def classify(exc: BaseException, conn: psycopg.Connection[Any] | None, *, commit_sent: bool) -> Failure:
    state = sqlstate_of(exc)
    if state in NEVER_RETRY:
        return Failure.FATAL
    if state == SERIALIZATION_FAILURE:
        return Failure.CONFLICT
    if state == SERVER_UNAVAILABLE and not connection_unusable(conn):
        return Failure.OUTCOME_UNKNOWN if commit_sent else Failure.UNAVAILABLE
    if is_connection_error(exc, conn):
        return Failure.OUTCOME_UNKNOWN if commit_sent else Failure.CONNECTION
    return Failure.FATAL


class UnitProgress:
    """Tracks whether COMMIT has left the client, which decides whether a lost connection is retryable."""

    __slots__ = ("commit_sent",)

    def __init__(self) -> None:
        self.commit_sent = False


def run_unit(
    conn: psycopg.Connection[Any],
    work: Work[T],
    progress: UnitProgress,
    *,
    read_only: bool = False,
    pipeline: bool = False,
) -> T:
    """Run ``work`` between an explicit BEGIN and COMMIT on an autocommit connection.

    In pipeline mode nothing is awaited until the pipeline closes: BEGIN, the statements queued by
    ``work`` and COMMIT reach the server in one burst and all results come back after the final Sync,
    i.e. one round trip as long as ``work`` does not fetch results itself (return the cursor and fetch
    after the call instead). Errors surface when the pipeline closes.
    """
    begin = _BEGIN_READ_ONLY if read_only else _BEGIN
    if pipeline:
        return _run_pipelined(conn, work, progress, begin)
    conn.execute(begin, prepare=False)
    result = work(conn)
    if conn.info.transaction_status == pq.TransactionStatus.INERROR:
        # COMMIT of a failed transaction silently rolls back: never report that as success.
        raise DataLayerError("the unit of work swallowed a database error; the transaction was rolled back")
    progress.commit_sent = True
    conn.execute(_COMMIT, prepare=False)
    return result


def _run_pipelined(conn: psycopg.Connection[Any], work: Work[T], progress: UnitProgress, begin: bytes) -> T:
    # An error can arrive while statements are still being queued (the server flushes errors at once);
    # it is kept and re-raised after the pipeline closed, instead of the generic "pipeline aborted"
    # that closing the pipeline then reports (psycopg would also log that one as a warning).
    first_error: psycopg.Error | None = None
    result: T | None = None
    try:
        with conn.pipeline():
            try:
                conn.execute(begin, prepare=False)
                result = work(conn)
                progress.commit_sent = True
                conn.execute(_COMMIT, prepare=False)
            except psycopg.Error as exc:
                first_error = exc
    except psycopg.Error as exc:
        first_error = first_error or exc
    if first_error is not None:
        if conn.info.transaction_status == pq.TransactionStatus.INERROR:
            # A statement before COMMIT failed: the server skipped the rest of the pipeline, COMMIT
            # included, so nothing was committed (an error of COMMIT itself leaves the session idle).
            progress.commit_sent = False
        raise first_error
    return result  # type: ignore[return-value]  # set whenever no error was recorded


def run_autocommit_unit(conn: psycopg.Connection[Any], work: Work[T], progress: UnitProgress) -> T:
    """Run ``work`` with no transaction: every statement commits on its own."""
    progress.commit_sent = True  # any statement may have been applied already
    return work(conn)


def abort(conn: psycopg.Connection[Any]) -> bool:
    """Leave the connection idle after a failed unit; False when that is impossible (the caller
    closes it, after disarming its deadline watchdog)."""
    if connection_unusable(conn):
        return False
    try:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.execute(_ROLLBACK, prepare=False)
    except psycopg.Error:
        return False
    return True
