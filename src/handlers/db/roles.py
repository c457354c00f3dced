"""Database roles: one per Lambda function, with only what its routes need, mapped to its IAM role.

Run as ``admin``, each statement in its own transaction (DSQL: one DDL per transaction; ``AWS IAM
GRANT`` is DDL), through the migration runner's statement runner: DDL can fail with 40001 (OC001,
the schema changed under it, e.g. when an index build finishes) or XX000 and is retried, and a lost
connection is replaced (every statement here is idempotent). Converges instead of appending:
missing roles, privileges and IAM mappings are added, extra privileges and stale mappings (a
replaced function role) are removed, so a re-run after any change leaves exactly the declared state
and a re-run without one changes nothing. The functions log in with ``dsql:DbConnect`` tokens as
these roles, never as ``admin``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from handlers.contract import db_role

from .migrate import StatementRunner

Connect = Callable[[], psycopg.Connection[Any]]

#: What each function's routes touch, and how (handlers/shop/repository.py). The browse function
#: (anonymous catalog reads, health) reads products and nothing else: a flaw in an anonymous route
#: cannot reach a customer's data. The catalog function cannot write orders; the orders function
#: cannot create products or customers; none owns a table, so none can run DDL.
FUNCTION_PRIVILEGES: dict[str, dict[str, tuple[str, ...]]] = {
    "browse": {
        "products": ("SELECT",),
        "product_stock_buckets": ("SELECT",),  # a hot product's total is its row plus its buckets
    },
    "catalog": {
        "products": ("SELECT", "INSERT", "UPDATE"),
        # An operator's (re)sharding gathers the units, drops the buckets and spreads them again.
        "product_stock_buckets": ("SELECT", "INSERT", "DELETE"),
        "customers": ("SELECT", "INSERT"),
        "orders": ("SELECT",),  # a customer's orders
        "outbox": ("INSERT",),  # the catalog's events (docs/events.md); never read back
    },
    "orders": {
        "products": ("SELECT", "UPDATE"),  # stock and the price at order time
        "product_stock_buckets": ("SELECT", "UPDATE"),  # a hot product's units: take and restock
        "customers": ("SELECT",),  # the order's customer must exist
        "orders": ("SELECT", "INSERT", "UPDATE"),
        "order_items": ("SELECT", "INSERT"),
        "idempotency_records": ("SELECT", "INSERT"),
        "outbox": ("INSERT",),  # the orders' events (docs/events.md); never read back
    },
}
#: Scheduled jobs' roles, beside the API functions' (handlers/maintenance). The pruning job reads
#: and deletes the rows it prunes, nothing else: it cannot insert, update or read another table.
JOB_PRIVILEGES: dict[str, dict[str, tuple[str, ...]]] = {
    "prune": {
        "idempotency_records": ("SELECT", "DELETE"),
        "outbox": ("SELECT", "DELETE"),
    },
}
_IAM_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


@dataclass(frozen=True)
class RoleSpec:
    """A database role: its table privileges and the IAM roles that may log in as it."""

    privileges: Mapping[str, Sequence[str]]
    iam_role_arns: Sequence[str]


@dataclass
class RoleReport:
    """What a run changed (statements actually executed), for logs and tests."""

    executed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.executed)


def function_roles(
    iam_role_arns: Mapping[str, Sequence[str]], *, prefix: str | None = None
) -> dict[str, RoleSpec]:
    """Role specs for the shop's functions: function name -> the IAM role ARNs of its copies."""
    declared = {**FUNCTION_PRIVILEGES, **JOB_PRIVILEGES}
    unknown = set(iam_role_arns) - set(declared)
    if unknown:
        raise ValueError(f"no privileges declared for functions {sorted(unknown)}")
    return {
        db_role(function, prefix) if prefix else db_role(function): RoleSpec(declared[function], arns)
        for function, arns in iam_role_arns.items()
    }


def setup_roles(
    connect: Connect,
    roles: Mapping[str, RoleSpec],
    *,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> RoleReport:
    bad = [arn for spec in roles.values() for arn in spec.iam_role_arns if not _IAM_ROLE_ARN.fullmatch(arn)]
    if bad:
        raise ValueError(f"not IAM role ARNs (arn:aws:iam::<account>:role/<name>): {', '.join(bad)}")
    report = RoleReport()
    runner = StatementRunner(connect, log, sleep=sleep)
    try:

        def run(statement: sql.Composed) -> None:
            text = runner.render(statement)
            # create=True: "already exists" (42710: a role, or a mapping DSQL already has) is the
            # state we want, whoever made it (a concurrent runner, a retry after a lost answer).
            runner.execute(text, create=True)
            report.executed.append(text)
            log(f"ok: {text}")

        for name, spec in roles.items():
            role = sql.Identifier(name)
            if not runner.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (name,)):
                run(sql.SQL("CREATE ROLE {} WITH LOGIN").format(role))
                run(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
            _converge_privileges(runner, name, spec.privileges, run)
            _converge_mappings(runner, name, spec.iam_role_arns, run)
    finally:
        runner.close()
    return report


def _converge_privileges(
    runner: StatementRunner,
    name: str,
    wanted: Mapping[str, Sequence[str]],
    run: Callable[[sql.Composed], None],
) -> None:
    rows = runner.execute(
        "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = %s AND table_schema = 'public'",
        (name,),
    )
    current = {(str(row["table_name"]), str(row["privilege_type"])) for row in rows}
    desired = {(table, privilege) for table, privileges in wanted.items() for privilege in privileges}
    role = sql.Identifier(name)
    for table, privilege in sorted(desired - current):
        run(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), sql.Identifier(table), role))
    for table, privilege in sorted(current - desired):
        run(sql.SQL("REVOKE {} ON {} FROM {}").format(sql.SQL(privilege), sql.Identifier(table), role))


def _converge_mappings(
    runner: StatementRunner, name: str, wanted: Sequence[str], run: Callable[[sql.Composed], None]
) -> None:
    rows = runner.execute("SELECT arn FROM sys.iam_pg_role_mappings WHERE pg_role_name = %s", (name,))
    current = {str(row["arn"]) for row in rows}
    role = sql.Identifier(name)
    for arn in sorted(set(wanted) - current):
        # DSQL does not document whether re-granting an existing mapping errors; a mapping we did
        # not see (another runner, replication lag) is the state we want either way (run tolerates
        # duplicate_object).
        run(sql.SQL("AWS IAM GRANT {} TO {}").format(role, sql.Literal(arn)))
    for arn in sorted(current - set(wanted)):
        # A replaced function role leaves a mapping to an IAM role that no longer exists; the
        # new role must be the one mapped (else every query fails with SQLSTATE 28000).
        run(sql.SQL("AWS IAM REVOKE {} FROM {}").format(role, sql.Literal(arn)))
