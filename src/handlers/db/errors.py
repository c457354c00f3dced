"""Typed errors of the data layer and SQLSTATE classification.

Retry decisions are made on SQLSTATE codes, never on message text: DSQL reports optimistic-concurrency
conflicts as 40001 with ``OC000`` (data) or ``OC001`` (schema) in the message, but PostgreSQL (the local
engine) and future DSQL codes only share the SQLSTATE.
"""

from __future__ import annotations

# SQLSTATE codes the data layer reacts to.
SERIALIZATION_FAILURE = "40001"  # DSQL OC000 / OC001, PostgreSQL REPEATABLE READ conflicts
# DSQL "server unavailable" (user guide, Troubleshooting, added 2026-09-08): retry the whole
# transaction, COMMIT included, with backoff; no reconnect is needed. psycopg raises it as
# InternalError, so it is classified by SQLSTATE. After COMMIT was sent its outcome is unknown.
SERVER_UNAVAILABLE = "XX000"
TOO_MANY_CONNECTIONS = "53300"  # DSQL: more than 10,000 connections per cluster
CONNECTION_RATE_EXCEEDED = "53400"  # DSQL: cluster-wide new-connection rate (100/s, burst 1,000)
PROGRAM_LIMIT_EXCEEDED = "54000"  # DSQL: 3,000 rows / 10 MiB / 5 minutes per transaction
FEATURE_NOT_SUPPORTED = "0A000"  # DSQL: unsupported SQL (TRUNCATE, SAVEPOINT, ...)
UNIQUE_VIOLATION = "23505"
DUPLICATE_TABLE = "42P07"
DUPLICATE_OBJECT = "42710"

#: Failures that are worth retrying when opening a connection (throttling, server starting up).
CONNECT_RETRYABLE = frozenset({TOO_MANY_CONNECTIONS, CONNECTION_RATE_EXCEEDED, "57P03"})
#: Failures that no retry can fix: raise them at once.
NEVER_RETRY = frozenset({PROGRAM_LIMIT_EXCEEDED, FEATURE_NOT_SUPPORTED})


def sqlstate_of(exc: BaseException) -> str | None:
    """SQLSTATE of a psycopg (or DSQL guard) error, ``None`` for anything else."""
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_serialization_failure(exc: BaseException) -> bool:
    return sqlstate_of(exc) == SERIALIZATION_FAILURE


class DataLayerError(Exception):
    """Base class of every error raised by :mod:`handlers.db` itself."""


class ConfigurationError(DataLayerError):
    """The environment does not describe a usable database."""


class RetriesExhaustedError(DataLayerError):
    """A unit of work kept failing with retryable errors until attempts or the deadline ran out.

    Map it to HTTP 503 with ``Retry-After``: the request may well succeed later.
    """

    def __init__(self, attempts: int, last_error: BaseException | None, *, reason: str) -> None:
        self.attempts = attempts
        self.last_error = last_error
        self.reason = reason  # "attempts" or "deadline"
        state = sqlstate_of(last_error) if last_error is not None else None
        super().__init__(
            f"gave up after {attempts} attempt(s) ({reason}); last error: "
            f"{type(last_error).__name__ if last_error else None} (SQLSTATE {state})"
        )


class CommitOutcomeUnknownError(DataLayerError):
    """The connection broke after COMMIT was sent: the unit may or may not have been applied.

    Raised instead of a blind retry for units not declared idempotent. Callers that write with an
    idempotency key can safely replay the request; others must reconcile.
    """

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"connection lost after COMMIT was sent: {cause}")


class MigrationError(DataLayerError):
    """A schema migration could not be applied."""


class MigrationChecksumError(MigrationError):
    """An already applied migration file was edited: never rewrite history, add a new migration."""

    def __init__(self, version: str, filename: str, recorded: str, current: str) -> None:
        self.version = version
        self.filename = filename
        self.recorded_checksum = recorded
        self.current_checksum = current
        super().__init__(
            f"migration {filename} (version {version}) was changed after it was applied: "
            f"recorded sha256 {recorded}, file sha256 {current}"
        )


class IndexBuildError(MigrationError):
    """An asynchronous index build failed, was cancelled, left an invalid index or timed out."""

    def __init__(self, index: str, job_id: str | None, detail: str) -> None:
        self.index = index
        self.job_id = job_id
        self.detail = detail
        super().__init__(f"index {index} (job {job_id}): {detail}")
