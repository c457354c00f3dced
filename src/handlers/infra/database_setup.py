"""``Custom::DatabaseSetup``: the schema and the functions' database roles, at deploy time.

Runs the migration runner as ``admin`` (the only code with ``dsql:DbConnectAdmin``), then makes
one database role per function and maps each to its functions' IAM roles with ``AWS IAM GRANT``
(``handlers.db.roles``). CloudFormation calls it again whenever a property changes: the
migrations' content hash, the privilege table's hash and every mapped IAM role ARN are properties,
so a replaced function role is re-mapped (the constructs hash the migration files and
``handlers/db/roles.py`` as they ship). Both steps converge, so a re-run changes nothing.

Asynchronous behind the Provider framework: :func:`on_event` applies the migrations in order
without waiting for index builds (``CREATE INDEX ASYNC``), stopping after the first whose builds
still run, and returns them; :func:`is_complete` looks every poll, records a migration once its
indexes are valid, goes on with the next ones, and sets up the roles when none is left. Two large
indexes can take longer than a Lambda invocation may; a poll takes seconds. ``SchemaVersion`` (the
newest migration the template shipped) bounds what is applied, so a rollback applies nothing new.

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

from handlers.contract import DatabaseSetupProperty as Prop
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
    up_to: str | None = None,
    log: Callable[[str], None] = logger.info,
) -> tuple[dict[str, str], tuple[PendingIndex, ...]]:
    """Migrations (up to the first with index builds left running), then, once none is pending,
    the roles; the resource's data and the builds."""
    started = start_migrations(connect, up_to=up_to, log=log)
    if started.pending:
        return {}, started.pending
    return _roles(connect, roles, verify, log), ()


def _roles(
    connect: Connect, roles: Mapping[str, RoleSpec], verify: Sequence[Connect], log: Callable[[str], None]
) -> dict[str, str]:
    """Roles after every migration: they are granted on the tables the migrations make."""
    report = setup_roles(connect, roles, log=log)
    for other in verify:
        # Idempotent: on a peer that already sees everything this executes nothing.
        setup_roles(other, roles, log=log)
    return {"RoleStatements": str(len(report.executed))}


def _connect(props: Mapping[str, Any]) -> Connect:
    return connector_factory(str(props[Prop.ENDPOINT]), str(props[Prop.REGION]))


def _setup(props: Mapping[str, Any]) -> tuple[dict[str, str], tuple[PendingIndex, ...]]:
    roles = function_roles(
        {function: list(arns) for function, arns in props[Prop.FUNCTION_ROLE_ARNS].items()},
        prefix=props.get(Prop.ROLE_PREFIX) or None,
    )
    verify = [
        connector_factory(str(p[Prop.ENDPOINT]), str(p[Prop.REGION]))
        for p in props.get(Prop.PEER_ENDPOINTS, [])
    ]
    # The schema the template asks for: a rollback's Update asks for the previous one, and this
    # code (CloudFormation rolls the custom resource back before the function's code) must not
    # apply its newer migrations then, least of all one whose index build just failed.
    return run_setup(_connect(props), roles, verify=verify, up_to=props.get(Prop.SCHEMA_VERSION) or None)


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    kind = event["RequestType"]
    props = event["ResourceProperties"]
    physical = str(event.get("PhysicalResourceId") or f"database-setup-{props[Prop.ENDPOINT]}")
    if kind == "Delete":
        # The schema and the data stay with the cluster (its own removal policy decides).
        return {"PhysicalResourceId": physical}
    data, pending = _setup(props)
    logger.info("setup: %d index build(s) pending: %s", len(pending), data)
    return {
        "PhysicalResourceId": physical,
        "Data": {**data, Prop.SCHEMA_VERSION: str(props.get(Prop.SCHEMA_VERSION) or "latest")},
        "PendingIndexes": [p.as_dict() for p in pending],
        "StartedAt": time.time(),
    }


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Every poll gets the event on_event answered (never this poll's progress), so progress is
    read back from the database: record what finished, go on with the next migrations, and set up
    the roles once nothing is pending."""
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    pending = [PendingIndex.of(p) for p in event.get("PendingIndexes") or []]
    if not pending:
        return {"IsComplete": True}  # on_event did everything
    props = event["ResourceProperties"]
    still = finish_migrations(_connect(props), pending)
    data: dict[str, str] = {}
    if not still:
        data, still = _setup(props)
    if not still:
        return {"IsComplete": True, "Data": data}
    elapsed = time.time() - float(event.get("StartedAt", time.time()))
    if elapsed > INDEX_BUDGET_SECONDS:
        names = ", ".join(f"{p.name} (job {p.job_id})" for p in still)
        raise RuntimeError(
            f"index builds still running after {elapsed / 60:.0f} min: {names}; see SELECT * FROM sys.jobs "
            "on the cluster, then deploy again (finished builds are kept, the migration is applied again)"
        )
    logger.info("waiting for %d index build(s): %s", len(still), [p.name for p in still])
    return {"IsComplete": False}
