"""What the pruning job removes, and how: small batches, each its own transaction, within a time
budget.

DSQL allows at most 3,000 modified rows per transaction (user guide, "Cluster quotas and database
limits", https://docs.aws.amazon.com/aurora-dsql/latest/userguide/CHAP_quotas.html, read 2026-12-07),
so a batch deletes at most ``batch_size`` rows [500]; a conflict (40001) re-runs just that batch
(``Database.run_transaction``), and a deleted row stays deleted whatever happens to the next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: DSQL's limit of modified rows per transaction; a batch stays well under it.
DSQL_MAX_MODIFIED_ROWS = 3_000
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 2_000
#: How many due rows a run counts after it finishes at most (the "still due" metric is bounded so
#: the count itself never becomes a large scan).
DUE_COUNT_CAP = 10_000
#: Outbox rows are kept longer than DSQL keeps undelivered change-stream records (one week: user
#: guide, "Monitoring CDC streams", https://docs.aws.amazon.com/aurora-dsql/latest/userguide/cdc-monitoring.html).
DEFAULT_OUTBOX_RETENTION_DAYS = 14


@dataclass(frozen=True)
class PruneTarget:
    """One table the job keeps small: rows whose ``time_column`` is older than now minus
    ``retention_days`` (0: the column holds the expiry itself) go, oldest first, by ``key_columns``.
    ``optional``: the table may not exist yet (a migration still to come): skipped, not an error."""

    table: str
    time_column: str
    key_columns: tuple[str, ...]
    retention_days: int = 0
    optional: bool = False


IDEMPOTENCY_RECORDS = PruneTarget("idempotency_records", "expires_at", ("scope", "idempotency_key"))


def outbox_target(retention_days: int = DEFAULT_OUTBOX_RETENTION_DAYS) -> PruneTarget:
    """Order events older than ``retention_days`` (migration 0008). No row records that it was
    published (the publisher reads the change stream, not the table): a row older than the week DSQL
    keeps undelivered changes was delivered, or its stream failed and docs/events.md's replay from
    the outbox is due well within ``retention_days``."""
    return PruneTarget("outbox", "created_at", ("event_id",), retention_days)


def default_targets(outbox_retention_days: int = DEFAULT_OUTBOX_RETENTION_DAYS) -> tuple[PruneTarget, ...]:
    return (IDEMPOTENCY_RECORDS, outbox_target(outbox_retention_days))


class PruneRepository(Protocol):
    def table_exists(self, table: str) -> bool: ...
    def delete_batch(self, target: PruneTarget, limit: int, *, deadline: float) -> int: ...
    def count_due(self, target: PruneTarget, cap: int) -> int: ...


@dataclass
class TargetReport:
    table: str
    removed: int = 0
    batches: list[int] = field(default_factory=list)  # rows per transaction
    still_due: int = 0  # bounded by DUE_COUNT_CAP
    skipped: str | None = None


@dataclass
class PruneReport:
    targets: list[TargetReport]
    out_of_time: bool = False

    @property
    def removed(self) -> int:
        return sum(t.removed for t in self.targets)

    @property
    def still_due(self) -> int:
        return sum(t.still_due for t in self.targets)


def prune(
    repository: PruneRepository,
    targets: tuple[PruneTarget, ...],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    budget_seconds: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> PruneReport:
    """Delete due rows target by target until none is left or the budget is spent, then count
    (up to ``DUE_COUNT_CAP``) what is still due."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(
            f"batch_size must be 1-{MAX_BATCH_SIZE} (DSQL: {DSQL_MAX_MODIFIED_ROWS} rows per transaction)"
        )
    deadline = clock() + budget_seconds
    report = PruneReport([])  # deadline: on the clock the repository's Database uses (monotonic)
    for target in targets:
        result = TargetReport(target.table)
        report.targets.append(result)
        if target.optional and not repository.table_exists(target.table):
            result.skipped = "table does not exist yet"
            continue
        while not report.out_of_time:
            if clock() >= deadline:
                report.out_of_time = True
                break
            removed = repository.delete_batch(target, batch_size, deadline=deadline)
            if removed:
                result.batches.append(removed)
                result.removed += removed
            if removed < batch_size:
                break
        result.still_due = repository.count_due(target, DUE_COUNT_CAP)
    return report
