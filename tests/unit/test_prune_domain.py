"""The pruning job's domain with an in-memory repository: batch loop, budget, optional targets,
and its EMF metrics line."""

from __future__ import annotations

import json

import pytest

from handlers.maintenance.domain import IDEMPOTENCY_RECORDS, PruneTarget, default_targets, prune
from handlers.maintenance.prune import METRIC_DUE, METRIC_REMOVED, emf


class Rows:
    def __init__(self, due: dict[str, int], tables: set[str]) -> None:
        self.due = due
        self.tables = tables
        self.limits: list[int] = []

    def table_exists(self, table: str) -> bool:
        return table in self.tables

    def delete_batch(self, target: PruneTarget, limit: int, *, deadline: float) -> int:
        self.limits.append(limit)
        removed = min(limit, self.due[target.table])
        self.due[target.table] -= removed
        return removed

    def count_due(self, target: PruneTarget, cap: int) -> int:
        return min(cap, self.due[target.table])


def test_batches_until_nothing_is_due_in_every_table() -> None:
    rows = Rows({"idempotency_records": 1_234, "outbox": 600}, {"idempotency_records", "outbox"})
    report = prune(rows, default_targets(), batch_size=500)
    records, outbox = report.targets
    assert records.batches == [500, 500, 234] and records.still_due == 0
    assert outbox.batches == [500, 100] and outbox.skipped is None and report.removed == 1_834


def test_an_optional_missing_table_is_skipped() -> None:
    optional = PruneTarget("later", "created_at", ("id",), 14, optional=True)
    rows = Rows({"idempotency_records": 0}, {"idempotency_records"})
    assert prune(rows, (IDEMPOTENCY_RECORDS, optional)).targets[1].skipped


def test_a_required_table_is_never_skipped() -> None:
    rows = Rows({"idempotency_records": 0}, set())
    assert prune(rows, (IDEMPOTENCY_RECORDS,)).targets[0].skipped is None


def test_an_exact_multiple_ends_with_an_empty_batch_not_an_endless_loop() -> None:
    rows = Rows({"idempotency_records": 1_000}, {"idempotency_records"})
    assert prune(rows, (IDEMPOTENCY_RECORDS,), batch_size=500).targets[0].batches == [500, 500]
    assert rows.limits == [500, 500, 500]


@pytest.mark.parametrize("size", [0, 2_001, 3_000])
def test_batch_sizes_near_dsqls_limit_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match=r"DSQL: 3000 rows per transaction"):
        prune(Rows({}, set()), (), batch_size=size)


def test_the_metrics_line_is_embedded_metric_format_per_table() -> None:
    rows = Rows({"idempotency_records": 42, "outbox": 7}, {"idempotency_records", "outbox"})
    line, outbox = map(json.loads, emf(prune(rows, default_targets()), "Ecommerce", "ecommerce").splitlines())
    assert line["Table"] == "idempotency_records" and line[METRIC_REMOVED] == 42 and line[METRIC_DUE] == 0
    assert outbox["Table"] == "outbox" and outbox[METRIC_REMOVED] == 7
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Ecommerce" and directive["Dimensions"] == [["service", "Table"]]
