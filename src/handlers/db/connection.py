"""The one module that owns database connections.

One :class:`Database` per Lambda execution environment keeps one connection open across invocations:
DSQL limits the cluster-wide rate of new connections, and a new connection costs several round trips
(TLS, authentication). The connection is recycled before DSQL's 60-minute limit and replaced when it
breaks. On AWS the password is an IAM token signed locally by a boto3 ``dsql`` client that is created
once per process; locally the same code runs against the embedded engine behind the DSQL guard.

Retry rule for a lost connection: the unit of work is re-run on a new connection only when it failed
before COMMIT left the client (the server then discards the transaction), or when the caller declared
it idempotent or read-only. Otherwise :class:`~handlers.db.errors.CommitOutcomeUnknownError` is raised.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import pq

from handlers.contract import ADMIN_ROLE, DEFAULT_APP_ROLE, default_trust_file

from .errors import (
    CONNECT_RETRYABLE,
    SERVER_UNAVAILABLE,
    CommitOutcomeUnknownError,
    ConfigurationError,
    RetriesExhaustedError,
    sqlstate_of,
)
from .transactions import (
    Backoff,
    CallStats,
    Failure,
    RetryStats,
    UnitProgress,
    Work,
    abort,
    classify,
    connection_unusable,
    is_retryable_connect_error,
    run_autocommit_unit,
    run_unit,
)

T = TypeVar("T")
Connection = psycopg.Connection[Any]
Connector = Callable[[], Connection]
ConnectFn = Callable[..., Connection]

logger = logging.getLogger(__name__)

DSQL_PORT = 5432  # libpq's own default, so never passed (see aws_connect_kwargs)
DSQL_DATABASE = "postgres"
_LIBPQ_DIRECT_SSL = 170000  # sslnegotiation=direct needs libpq >= 17
#: The roots DSQL's server certificate chains to, shipped in every asset (``handlers.contract``).
DEFAULT_CA_FILE = default_trust_file()


@dataclass(frozen=True)
class DatabaseSettings:
    """Where and how to connect. Exactly one of ``endpoint`` (AWS) and ``local_dsn`` (local) is used."""

    endpoint: str | None = None
    region: str | None = None
    user: str = DEFAULT_APP_ROLE
    admin: bool = False
    local_dsn: str | None = None
    connect_timeout: int = 5
    application_name: str = "ecommerce"
    max_connection_age: float = 55 * 60.0  # DSQL closes connections after 60 minutes
    token_expires_in: int = 900  # the token is only checked when connecting
    ca_file: str = DEFAULT_CA_FILE

    @property
    def local(self) -> bool:
        return self.local_dsn is not None

    @property
    def role(self) -> str:
        """Database role to log in as: ``admin`` for migrations, the application role otherwise."""
        return ADMIN_ROLE if self.admin else self.user

    def validate(self) -> None:
        if self.local:
            return
        if not self.endpoint:
            raise ConfigurationError("set DSQL_ENDPOINT (AWS) or ECOMMERCE_LOCAL_DSN (local engine)")
        if not self.region:
            raise ConfigurationError("set DSQL_REGION or AWS_REGION for the DSQL endpoint")


# -- IAM tokens -------------------------------------------------------------------------------------

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def dsql_client(region: str) -> Any:
    """The process-wide boto3 ``dsql`` client of a region (a new one per token would cost 30-85 ms)."""
    with _clients_lock:
        client = _clients.get(region)
        if client is None:
            import boto3  # type: ignore[import-untyped]  # lazily: only AWS mode needs boto3

            client = _clients[region] = boto3.client("dsql", region_name=region)
        return client


def generate_auth_token(settings: DatabaseSettings, *, client: Any = None) -> str:
    """A SigV4-presigned IAM token (computed locally, no network call) for ``settings.role``."""
    if not settings.endpoint or not settings.region:
        raise ConfigurationError("an IAM token needs both an endpoint and a region")
    client = client if client is not None else dsql_client(settings.region)
    generate = (
        client.generate_db_connect_admin_auth_token
        if settings.admin
        else client.generate_db_connect_auth_token
    )
    token: str = generate(
        Hostname=settings.endpoint, Region=settings.region, ExpiresIn=settings.token_expires_in
    )
    return token


def aws_connect_kwargs(
    settings: DatabaseSettings, password: str, *, libpq_version: int | None = None
) -> dict[str, Any]:
    """libpq parameters for DSQL: TLS verified against the shipped roots, for the endpoint's name.

    ``verify-full`` checks the chain against ``settings.ca_file`` and the certificate against the
    host name, which libpq also sends as SNI (DSQL requires it). The port is libpq's default, 5432,
    DSQL's; leaving it out (like the host address) lets libpq's own PGPORT/PGHOSTADDR point a
    test at a local endpoint without any switch in this code (tests/lambda_check).
    ``gssencmode=disable``: DSQL takes TLS and IAM tokens only, so libpq must not first try GSSAPI
    encryption (it would whenever a Kerberos credential cache happens to exist).
    """
    version = psycopg.pq.version() if libpq_version is None else libpq_version
    kwargs: dict[str, Any] = {
        "host": settings.endpoint,
        "dbname": DSQL_DATABASE,
        "user": settings.role,
        "password": password,
        "sslmode": "verify-full",
        "sslrootcert": settings.ca_file,
        "gssencmode": "disable",
        "connect_timeout": settings.connect_timeout,
        "application_name": settings.application_name,
    }
    if version >= _LIBPQ_DIRECT_SSL:
        kwargs["sslnegotiation"] = "direct"  # TLS handshake without the SSLRequest round trip
    return kwargs


def make_connector(
    settings: DatabaseSettings,
    *,
    connect_fn: ConnectFn | None = None,
    token_provider: Callable[[DatabaseSettings], str] | None = None,
) -> Connector:
    """A function opening a new autocommit connection as described by ``settings``."""
    settings.validate()
    if settings.local:
        return _local_connector(settings, connect_fn)
    fn: ConnectFn = connect_fn or psycopg.Connection.connect
    tokens = token_provider or generate_auth_token

    def connect_aws() -> Connection:
        kwargs = aws_connect_kwargs(settings, tokens(settings))
        return fn(autocommit=True, **kwargs)

    return connect_aws


def _local_connector(settings: DatabaseSettings, connect_fn: ConnectFn | None) -> Connector:
    # The local runtime and the tests inject the DSQL guard's connection class here; the data layer
    # itself knows nothing of it (the guard needs pglast, which Lambda never ships).
    fn: ConnectFn = connect_fn or psycopg.Connection.connect

    def connect_local() -> Connection:
        return fn(
            settings.local_dsn or "",
            autocommit=True,
            connect_timeout=settings.connect_timeout,
            application_name=settings.application_name,
            # DSQL has one isolation level, snapshot isolation: PostgreSQL's REPEATABLE READ.
            options="-c default_transaction_isolation=repeatable\\ read",
        )

    return connect_local


# -- Database ---------------------------------------------------------------------------------------


class Database:
    """One reused connection plus retrying units of work. Not thread-safe: one per thread."""

    def __init__(
        self,
        settings: DatabaseSettings | None = None,
        *,
        connector: Connector | None = None,
        backoff: Backoff | None = None,
        max_attempts: int = 8,
        max_connection_age: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if connector is None:
            if settings is None:
                # No fallback to the environment here: handlers.settings builds DatabaseSettings,
                # and this module must not import it back.
                raise TypeError("Database needs settings (Settings.from_env().database()) or a connector")
            connector = make_connector(settings)
        self.settings = settings
        self._connector = connector
        self.max_connection_age = (
            max_connection_age
            if max_connection_age is not None
            else (settings.max_connection_age if settings else DatabaseSettings.max_connection_age)
        )
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._conn: Connection | None = None
        self._opened_at = 0.0
        self._watchdog = _Watchdog()
        self.stats = RetryStats()
        self.last_call: CallStats | None = None

    @property
    def last_attempts(self) -> int:
        return self.last_call.attempts if self.last_call else 0

    @property
    def connection(self) -> Connection | None:
        """The current connection, if one is open (for diagnostics and tests)."""
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.close()

    def run_transaction(
        self,
        work: Work[T],
        *,
        deadline: float | None = None,
        max_attempts: int | None = None,
        read_only: bool = False,
        pipeline: bool = False,
        idempotent: bool = False,
    ) -> T:
        """Run ``work(conn)`` in one transaction, re-running the whole unit on conflicts (40001).

        ``deadline`` is a :func:`time.monotonic` instant (e.g. from the Lambda's remaining time): no
        attempt starts and no backoff sleeps past it. ``pipeline=True`` sends BEGIN, the statements
        and COMMIT in one round trip; ``work`` must then not fetch (return the cursor instead).
        ``idempotent=True`` allows a re-run even when the connection broke after COMMIT was sent.
        """

        def attempt(conn: Connection, progress: UnitProgress) -> T:
            return run_unit(conn, work, progress, read_only=read_only, pipeline=pipeline)

        replay = idempotent or read_only
        return self._run(attempt, deadline, max_attempts, replay_after_commit=replay, retry_conflicts=True)

    def run_autocommit(
        self,
        work: Work[T],
        *,
        deadline: float | None = None,
        max_attempts: int | None = None,
        idempotent: bool = True,
    ) -> T:
        """Run ``work(conn)`` outside a transaction: each statement is its own (one round trip each).

        Meant for reads, hence ``idempotent=True``: a failed read is simply run again. With
        ``idempotent=False`` nothing that reached the server is re-run (earlier statements of ``work``
        may have committed already): conflicts and lost connections are raised.
        """

        def attempt(conn: Connection, progress: UnitProgress) -> T:
            return run_autocommit_unit(conn, work, progress)

        return self._run(
            attempt, deadline, max_attempts, replay_after_commit=idempotent, retry_conflicts=idempotent
        )

    def retry_as_conflict(self, attempts: int, *, deadline: float | None = None) -> bool:
        """The caller's unit failed on something only a newer snapshot resolves, like a conflict
        (40001) would: count it as a conflict retry and back off. False (nothing counted) when
        ``attempts`` units already ran or the next could not start before ``deadline``; the caller
        then answers as for exhausted conflicts."""
        if attempts >= self.max_attempts:
            return False
        delay = self.backoff.delay(attempts)
        if deadline is not None and self._clock() + delay >= deadline:
            return False
        self.stats.conflicts += 1
        self.stats.retries += 1
        self.stats.backoff_seconds += delay
        self._sleep(delay)
        return True

    # -- internals ----------------------------------------------------------------------------------

    def _run(
        self,
        attempt: Callable[[Connection, UnitProgress], T],
        deadline: float | None,
        max_attempts: int | None,
        *,
        replay_after_commit: bool,
        retry_conflicts: bool,
    ) -> T:
        limit = max_attempts if max_attempts is not None else self.max_attempts
        started = self._clock()
        calls = _CallCounter()
        self.stats.units += 1
        try:
            while True:
                # A retry that must reconnect reserves the connect timeout: a connect that cannot
                # finish before the deadline is not started (the first attempt always may).
                budget = self._connect_budget() if calls.attempts else 0.0
                if deadline is not None and self._clock() + budget >= deadline:
                    raise self._exhausted(calls, reason="deadline")
                calls.attempts += 1
                self.stats.attempts += 1
                try:
                    return self._attempt_once(attempt, replay_after_commit, retry_conflicts, deadline)
                except _Retryable as retry:
                    calls.record(retry, self.stats)
                    if calls.attempts >= limit:
                        raise self._exhausted(calls, reason="attempts") from retry.error
                    if not self._back_off(calls, deadline):
                        raise self._exhausted(calls, reason="deadline") from retry.error
                    self.stats.retries += 1
        finally:
            self.last_call = calls.finish(self._clock() - started)

    def _attempt_once(
        self,
        attempt: Callable[[Connection, UnitProgress], T],
        replay_after_commit: bool,
        retry_conflicts: bool,
        deadline: float | None = None,
    ) -> T:
        try:
            conn = self._acquire()
        except psycopg.OperationalError as exc:
            if is_retryable_connect_error(exc):
                throttled = sqlstate_of(exc) in CONNECT_RETRYABLE
                raise _Retryable(exc, Failure.CONNECTION, throttled=throttled) from exc
            raise
        progress = UnitProgress()
        if deadline is not None:
            self._watchdog.arm(conn, deadline - self._clock())
        try:
            return attempt(conn, progress)
        except Exception as exc:
            failure = classify(exc, conn, commit_sent=progress.commit_sent)
            if failure is Failure.OUTCOME_UNKNOWN and replay_after_commit:
                # The connection is fine after a server-side XX000; only a broken one is replaced.
                failure = (
                    Failure.UNAVAILABLE if sqlstate_of(exc) == SERVER_UNAVAILABLE else Failure.CONNECTION
                )
            if failure in (Failure.CONFLICT, Failure.UNAVAILABLE) and not retry_conflicts:
                failure = Failure.FATAL
            if failure in (Failure.CONNECTION, Failure.OUTCOME_UNKNOWN) or not abort(conn):
                self._watchdog.disarm()  # before the close: a cut never meets a closed descriptor
                self._discard()
            if failure is Failure.OUTCOME_UNKNOWN:
                self.stats.connection_failures += 1
                raise CommitOutcomeUnknownError(exc) from exc
            if failure is Failure.FATAL:
                raise
            raise _Retryable(exc, failure) from exc
        finally:
            if deadline is not None:
                self._watchdog.disarm()

    def _connect_budget(self) -> float:
        """Seconds the next attempt must reserve for opening a connection (0 when one is open)."""
        if self._conn is not None and not connection_unusable(self._conn):
            return 0.0
        return float(self.settings.connect_timeout) if self.settings is not None else 0.0

    def _acquire(self) -> Connection:
        conn = self._conn
        if conn is not None and (self._clock() - self._opened_at) >= self.max_connection_age:
            self.stats.connections_recycled += 1
            self._discard()
            conn = None
        if conn is not None and (
            connection_unusable(conn)
            or conn.info.transaction_status != pq.TransactionStatus.IDLE
            or self._watchdog.was_cut(conn)
        ):
            # Broken, left inside a transaction by an interrupted unit (e.g. KeyboardInterrupt), or
            # cut by the watchdog just after its last answer.
            self._discard()
            conn = None
        if conn is None:
            conn = self._connector()
            conn.autocommit = True
            self._conn, self._opened_at = conn, self._clock()
            self.stats.connections_opened += 1
        return conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - closing a dead socket
                logger.debug("error closing a broken connection", exc_info=True)

    def _back_off(self, calls: _CallCounter, deadline: float | None) -> bool:
        """Sleep before the next attempt; False when that attempt could not start before the deadline."""
        delay = self.backoff.delay(calls.attempts)
        if deadline is not None and self._clock() + delay >= deadline:
            return False
        calls.backoff += delay
        self.stats.backoff_seconds += delay
        self._sleep(delay)
        return True

    def _exhausted(self, calls: _CallCounter, *, reason: str) -> RetriesExhaustedError:
        self.stats.exhausted += 1
        return RetriesExhaustedError(calls.attempts, calls.last_error, reason=reason)


class _Watchdog:
    """Cuts the connection's socket when the deadline passes with a statement still waiting.

    A database that stops answering (a stalled network, a server that hangs) would otherwise hold
    the function until Lambda kills it: the client gets API Gateway's 504 and the environment is
    lost. Cut at the deadline, the wait ends as a lost connection, which the caller's rules answer:
    a retry is not started (past the deadline), so a 503 with Retry-After, and after a COMMIT was
    sent, "outcome unknown" as always.

    One daemon thread per Database, started by the first armed attempt and reused: arming and
    disarming write two fields under a lock. The thread wakes when a deadline is due, when one comes
    earlier than the one it sleeps towards, and at least every ``IDLE_SECONDS``; unarmed that long it
    ends (the next armed attempt starts another), so a discarded Database's thread ends within two
    ``IDLE_SECONDS``. A ``threading.Timer`` per attempt started a thread per attempt: about 8 % of
    the handler process's CPU per order in the hot-product bench (docs/performance.md).

    The Database disarms before it closes a connection, and a cut happens under the same lock, so a
    cut never meets a closed (or reused) descriptor. A cut connection is remembered (``was_cut``):
    the cut may land just after the attempt's last answer, and the connection must not be reused.
    """

    IDLE_SECONDS = 30.0

    def __init__(self) -> None:
        self._lock = threading.Condition(threading.Lock())
        self._conn: Connection | None = None
        self._due = math.inf  # time.monotonic() instant of the armed deadline
        self._sleeping_until = math.inf  # what the thread waits for; an earlier deadline wakes it
        self._thread: threading.Thread | None = None
        self._cut_conn: Connection | None = None
        self.cuts = 0

    def arm(self, conn: Connection, seconds: float) -> None:
        due = time.monotonic() + max(0.0, seconds)
        with self._lock:
            self._conn, self._due = conn, due
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._watch, name="database-watchdog", daemon=True)
                thread.start()  # it waits for the lock, then sees the armed deadline
                self._thread = thread
            elif due < self._sleeping_until:
                self._lock.notify()

    def disarm(self) -> None:
        with self._lock:
            self._conn, self._due = None, math.inf

    def was_cut(self, conn: Connection) -> bool:
        with self._lock:
            return conn is self._cut_conn

    def _watch(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                if self._conn is not None and self._due <= now:
                    conn, self._conn, self._due = self._conn, None, math.inf
                    self.cuts += 1
                    self._cut_conn = conn
                    _cut(conn)
                    continue
                if self._conn is None:
                    self._sleeping_until = math.inf
                    if not self._lock.wait(self.IDLE_SECONDS) and self._conn is None:
                        self._thread = None  # under the lock: the next arm starts a new thread
                        return
                    continue
                self._sleeping_until = self._due
                self._lock.wait(min(self._due - now, self.IDLE_SECONDS))


def _cut(conn: Connection) -> None:
    """Shut the socket down; never raises (the watchdog's thread must outlive a failed cut)."""
    logger.warning("database did not answer before the deadline: cutting the connection")
    try:
        # A duplicate of the descriptor: shutting it down wakes the blocked read on the original
        # without closing a descriptor the other thread is using.
        duplicate = os.dup(conn.pgconn.socket)
    except (psycopg.Error, OSError):  # closed or already gone
        logger.debug("cutting the connection failed", exc_info=True)
        return
    try:
        dup = socket.socket(fileno=duplicate)
    except OSError:  # not a socket: the duplicate is still ours to close
        os.close(duplicate)
        logger.debug("cutting the connection failed", exc_info=True)
        return
    with dup, contextlib.suppress(OSError):  # closes the duplicate; OSError: already shut down
        dup.shutdown(socket.SHUT_RDWR)


class _Retryable(Exception):
    """Internal: an attempt failed in a way that allows another attempt."""

    def __init__(self, error: BaseException, failure: Failure, *, throttled: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.failure = failure
        self.throttled = throttled


class _CallCounter:
    __slots__ = ("attempts", "backoff", "conflicts", "connection_failures", "last_error", "unavailable")

    def __init__(self) -> None:
        self.attempts = 0
        self.conflicts = 0
        self.unavailable = 0
        self.connection_failures = 0
        self.backoff = 0.0
        self.last_error: BaseException | None = None

    def record(self, retry: _Retryable, stats: RetryStats) -> None:
        self.last_error = retry.error
        if retry.failure is Failure.CONFLICT:
            self.conflicts += 1
            stats.conflicts += 1
        elif retry.failure is Failure.UNAVAILABLE:
            self.unavailable += 1
            stats.unavailable += 1
        else:
            self.connection_failures += 1
            stats.connection_failures += 1
        if retry.throttled:
            stats.throttled_connects += 1

    def finish(self, elapsed: float) -> CallStats:
        return CallStats(
            attempts=self.attempts,
            conflicts=self.conflicts,
            connection_failures=self.connection_failures,
            backoff_seconds=self.backoff,
            elapsed_seconds=elapsed,
        )
