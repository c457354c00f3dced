"""The pruning job's entry point: an EventBridge schedule invokes ``handler`` in one region.

Settings (environment, set by ``ecommerce_constructs.prune_job.PruneJob``): the database as the
functions read it (``DSQL_ENDPOINT``, ``DSQL_REGION``, ``DB_USER``: the prune role, which may only
read and delete the pruned tables), ``PRUNE_BATCH_SIZE`` [500], ``PRUNE_BUDGET_SECONDS`` [60; the
function's timeout leaves room for the last batch and the counts], ``PRUNE_OUTBOX_RETENTION_DAYS``
[14]. Metrics (CloudWatch EMF, namespace ``POWERTOOLS_METRICS_NAMESPACE``): ``PrunedRows`` and
``PruneRowsStillDue`` (bounded: at most 10,000 per table), per table.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from handlers.db import Database

from .domain import DEFAULT_BATCH_SIZE, DEFAULT_OUTBOX_RETENTION_DAYS, PruneReport, default_targets, prune
from .repository import PruneRepositorySql

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

BATCH_SIZE_ENV = "PRUNE_BATCH_SIZE"
BUDGET_ENV = "PRUNE_BUDGET_SECONDS"
OUTBOX_RETENTION_ENV = "PRUNE_OUTBOX_RETENTION_DAYS"
METRIC_REMOVED = "PrunedRows"
METRIC_DUE = "PruneRowsStillDue"


def run(db: Database, env: dict[str, str] | os._Environ[str] = os.environ) -> PruneReport:
    return prune(
        PruneRepositorySql(db),
        default_targets(int(env.get(OUTBOX_RETENTION_ENV, DEFAULT_OUTBOX_RETENTION_DAYS))),
        batch_size=int(env.get(BATCH_SIZE_ENV, DEFAULT_BATCH_SIZE)),
        budget_seconds=float(env.get(BUDGET_ENV, 60)),
    )


def emf(report: PruneReport, namespace: str, service: str) -> str:
    """One CloudWatch embedded-metric-format line per run (dimension ``Table``)."""
    lines = []
    for target in report.targets:
        if target.skipped:
            continue
        lines.append(
            json.dumps(
                {
                    "_aws": {
                        "Timestamp": int(time.time() * 1000),
                        "CloudWatchMetrics": [
                            {
                                "Namespace": namespace,
                                "Dimensions": [["service", "Table"]],
                                "Metrics": [
                                    {"Name": METRIC_REMOVED, "Unit": "Count"},
                                    {"Name": METRIC_DUE, "Unit": "Count"},
                                ],
                            }
                        ],
                    },
                    "service": service,
                    "Table": target.table,
                    METRIC_REMOVED: target.removed,
                    METRIC_DUE: target.still_due,
                    "batches": len(target.batches),
                    "largest_batch": max(target.batches, default=0),
                }
            )
        )
    return "\n".join(lines)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from handlers.settings import Settings

    settings = Settings.from_env()
    db = Database(settings.database(application_name="prune"))
    try:
        report = run(db)
    finally:
        db.close()
    print(emf(report, settings.metrics_namespace, settings.service_name))  # EMF: stdout is the log
    summary = {
        "removed": report.removed,
        "still_due": report.still_due,
        "out_of_time": report.out_of_time,
        "tables": {t.table: t.skipped or t.removed for t in report.targets},
    }
    logger.info("prune: %s", summary)
    return summary
