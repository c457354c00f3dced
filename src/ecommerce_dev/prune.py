"""``ecommerce dev prune``: the scheduled pruning job (handlers/maintenance), run once against a
local database through the DSQL guard, with its report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.maintenance.domain import DEFAULT_OUTBOX_RETENTION_DAYS, PruneReport, default_targets, prune
from handlers.maintenance.repository import PruneRepositorySql


def run_prune(
    connect: Callable[[], Any],
    *,
    batch_size: int,
    budget_seconds: float,
    outbox_retention_days: int = DEFAULT_OUTBOX_RETENTION_DAYS,
) -> PruneReport:
    from handlers.db import Database

    db = Database(connector=connect)
    try:
        return prune(
            PruneRepositorySql(db),
            default_targets(outbox_retention_days),
            batch_size=batch_size,
            budget_seconds=budget_seconds,
        )
    finally:
        db.close()


def format_report(report: PruneReport) -> list[str]:
    lines = []
    for target in report.targets:
        if target.skipped:
            lines.append(f"{target.table}: skipped ({target.skipped})")
            continue
        largest = max(target.batches, default=0)
        due = f"{target.still_due:,}" + ("+" if target.still_due >= 10_000 else "")
        lines.append(
            f"{target.table}: removed {target.removed:,} in {len(target.batches)} transaction(s) "
            f"(largest {largest:,} rows), still due {due}"
        )
    if report.out_of_time:
        lines.append("time budget spent: the next run goes on")
    return lines
