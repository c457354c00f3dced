"""``Custom::DatabaseSetup``: the schema and the functions' database roles, at deploy time.

Runs the migration runner as ``admin`` (the only code with ``dsql:DbConnectAdmin``), then makes
one database role per function and maps each to its functions' IAM roles with ``AWS IAM GRANT``
(``handlers.db.roles``). CloudFormation calls it again whenever a property changes: the
migrations' content hash, the privilege table's hash and every mapped IAM role ARN are properties,
so a replaced function role is re-mapped (the constructs hash the migration files and
``handlers/db/roles.py`` as they ship). Both steps converge, so a re-run changes nothing.

Peered clusters are one logical database, so setup runs once, through the cluster that completed
the pair; it then checks through every other endpoint that the mappings are visible there and
applies them there too if they are not (DSQL documents the single database, not when catalog
changes reach the peer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg

from handlers.db import make_connector
from handlers.db.migrate import apply_migrations
from handlers.db.roles import RoleSpec, function_roles, setup_roles
from handlers.settings import Settings

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

Connect = Callable[[], psycopg.Connection[Any]]


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
) -> dict[str, str]:
    result = apply_migrations(connect, poll_interval=2.0, index_timeout=600.0, log=log)
    report = setup_roles(connect, roles, log=log)
    for other in verify:
        # Idempotent: on a peer that already sees everything this executes nothing.
        setup_roles(other, roles, log=log)
    return {
        "MigrationsApplied": ",".join(result.applied) or "none",
        "RoleStatements": str(len(report.executed)),
    }


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
    connect = connector_factory(str(props["Endpoint"]), str(props["Region"]))
    verify = [connector_factory(str(p["Endpoint"]), str(p["Region"])) for p in props.get("PeerEndpoints", [])]
    data = run_setup(connect, roles, verify=verify)
    logger.info("setup done: %s", data)
    return {"PhysicalResourceId": physical, "Data": data}
