"""``Custom::DatabaseSetup``: the schema and the functions' database roles, at deploy time.

Runs the migration runner as ``admin`` (the only code with ``dsql:DbConnectAdmin``), then makes
one database role per function and maps each to its functions' IAM roles with ``AWS IAM GRANT``
(``handlers.db.roles``). CloudFormation calls it again whenever a property changes: the
migrations' content hash, the privilege table's hash and every mapped IAM role ARN are properties,
so a replaced function role is re-mapped (the constructs hash the migration files and
``handlers/db/roles.py`` as they ship). Both steps converge, so a re-run changes nothing.

Asynchronous behind the Provider framework: :func:`on_event` applies every migration's statements
and the roles without waiting for index builds (``CREATE INDEX ASYNC``), and returns the builds;
:func:`is_complete` looks at them every poll and records each migration whose indexes are valid.
Two large indexes can take longer than a Lambda invocation may; a poll takes seconds.

Peered clusters are one logical database, so setup runs once, through the cluster that completed
the pair; it then checks through every other endpoint that the mappings are visible there and
applies them there too if they are not (DSQL documents the single database, not when catalog
changes reach the peer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg

from handlers.db import make_connector
from handlers.db.migrate import PendingIndex, finish_migrations, start_migrations
from handlers.db.roles import RoleSpec, function_roles, setup_roles
from handlers.settings import Settings

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

Connect = Callable[[], psycopg.Connection[Any]]
#: How long index builds may take before the deploy fails with their names (the Provider's own
#: total timeout is longer, so this reason, not "Operation timed out", reaches CloudFormation).
INDEX_BUDGET_SECONDS = 45 * 60


def admin_connector(endpoint: str, region: str) -> Connect:
    # Through the function's settings, so everything they carry (the trust file) applies here too.
    return make_connector(
        Settings.from_env().database(endpoint=endpoint, region=region, admin=True, application_name="setup")
    )


#: Opens an admin connection to (endpoint, region); tests substitute the embedded engine.
connector_factory: Callable[[str, str], Connect] = admin_connector


def run_setup(
    connect: Connect,
    roles: Mapping[str, RoleSpec],
    *,
    verify: Sequence[Connect] = (),
    log: Callable[[str], None] = logger.info,
) -> tuple[dict[str, str], tuple[PendingIndex, ...]]:
    """Migrations (index builds left running) and roles; the resource's data and the builds."""
    started = start_migrations(connect, log=log)
    report = setup_roles(connect, roles, log=log)
    for other in verify:
        # Idempotent: on a peer that already sees everything this executes nothing.
        setup_roles(other, roles, log=log)
    data = {
        "MigrationsApplied": ",".join(started.result.applied) or "none",
        "RoleStatements": str(len(report.executed)),
    }
    return data, started.pending


def _connect(props: Mapping[str, Any]) -> Connect:
    return connector_factory(str(props["Endpoint"]), str(props["Region"]))


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    kind = event["RequestType"]
    props = event["ResourceProperties"]
    physical = str(event.get("PhysicalResourceId") or f"database-setup-{props['Endpoint']}")
    if kind == "Delete":
        # The schema and the data stay with the cluster (its own removal policy decides).
        return {"PhysicalResourceId": physical}
    roles = function_roles(
        {function: list(arns) for function, arns in props["FunctionRoleArns"].items()},
        prefix=props.get("RolePrefix") or None,
    )
    verify = [connector_factory(str(p["Endpoint"]), str(p["Region"])) for p in props.get("PeerEndpoints", [])]
    data, pending = run_setup(_connect(props), roles, verify=verify)
    logger.info("setup done, %d index build(s) pending: %s", len(pending), data)
    return {
        "PhysicalResourceId": physical,
        "Data": data,
        "PendingIndexes": [p.as_dict() for p in pending],
        "StartedAt": time.time(),
    }


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    pending = [PendingIndex.of(p) for p in event.get("PendingIndexes") or []]
    if not pending:
        return {"IsComplete": True}
    # Each poll gets the same event: the builds on_event started, never this poll's progress.
    still = finish_migrations(_connect(event["ResourceProperties"]), pending)
    if not still:
        return {"IsComplete": True}
    elapsed = time.time() - float(event.get("StartedAt", time.time()))
    if elapsed > INDEX_BUDGET_SECONDS:
        names = ", ".join(f"{p.name} (job {p.job_id})" for p in still)
        raise RuntimeError(
            f"index builds still running after {elapsed / 60:.0f} min: {names}; see SELECT * FROM sys.jobs "
            "on the cluster, then deploy again (finished builds are kept, the migration is applied again)"
        )
    logger.info("waiting for %d index build(s): %s", len(still), [p.name for p in still])
    return {"IsComplete": False}
