"""Database roles: one per Lambda function, with only what its routes need, mapped to its IAM role.

Run as ``admin``, each statement in its own transaction (DSQL: one DDL per transaction; ``AWS IAM
GRANT`` is DDL). Converges instead of appending: missing roles, privileges and IAM mappings are
added, extra privileges and stale mappings (a replaced function role) are removed, so a re-run
after any change leaves exactly the declared state and a re-run without one changes nothing.
The functions log in with ``dsql:DbConnect`` tokens as these roles, never as ``admin``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from handlers.contract import db_role

Connect = Callable[[], psycopg.Connection[Any]]

#: What each function's routes touch, and how (handlers/shop/repository.py). The catalog function
#: cannot write orders; the orders function cannot create products or customers; neither owns a
#: table, so neither can run DDL.
FUNCTION_PRIVILEGES: dict[str, dict[str, tuple[str, ...]]] = {
    "catalog": {
        "products": ("SELECT", "INSERT", "UPDATE"),
        "customers": ("SELECT", "INSERT"),
        "orders": ("SELECT",),  # a customer's orders
    },
    "orders": {
        "products": ("SELECT", "UPDATE"),  # stock and the price at order time
        "customers": ("SELECT",),  # the order's customer must exist
        "orders": ("SELECT", "INSERT", "UPDATE"),
        "order_items": ("SELECT", "INSERT"),
        "idempotency_records": ("SELECT", "INSERT"),
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
    unknown = set(iam_role_arns) - set(FUNCTION_PRIVILEGES)
    if unknown:
        raise ValueError(f"no privileges declared for functions {sorted(unknown)}")
    return {
        db_role(function, prefix) if prefix else db_role(function): RoleSpec(
            FUNCTION_PRIVILEGES[function], arns
        )
        for function, arns in iam_role_arns.items()
    }


def setup_roles(
    connect: Connect, roles: Mapping[str, RoleSpec], *, log: Callable[[str], None] = print
) -> RoleReport:
    bad = [arn for spec in roles.values() for arn in spec.iam_role_arns if not _IAM_ROLE_ARN.fullmatch(arn)]
    if bad:
        raise ValueError(f"not IAM role ARNs (arn:aws:iam::<account>:role/<name>): {', '.join(bad)}")
    report = RoleReport()
    with connect() as conn:
        conn.autocommit = True

        def run(statement: sql.Composed) -> None:
            text = statement.as_string(conn)
            conn.execute(statement)
            report.executed.append(text)
            log(f"ok: {text}")

        for name, spec in roles.items():
            role = sql.Identifier(name)
            if (
                conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (name,)).fetchone()
                is None
            ):
                run(sql.SQL("CREATE ROLE {} WITH LOGIN").format(role))
                run(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
            _converge_privileges(conn, name, spec.privileges, run)
            _converge_mappings(conn, name, spec.iam_role_arns, run)
    return report


def _converge_privileges(
    conn: psycopg.Connection[Any],
    name: str,
    wanted: Mapping[str, Sequence[str]],
    run: Callable[[sql.Composed], None],
) -> None:
    rows = conn.execute(
        "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = %s AND table_schema = 'public'",
        (name,),
    ).fetchall()
    current = {(str(table), str(privilege)) for table, privilege in rows}
    desired = {(table, privilege) for table, privileges in wanted.items() for privilege in privileges}
    role = sql.Identifier(name)
    for table, privilege in sorted(desired - current):
        run(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), sql.Identifier(table), role))
    for table, privilege in sorted(current - desired):
        run(sql.SQL("REVOKE {} ON {} FROM {}").format(sql.SQL(privilege), sql.Identifier(table), role))


def _converge_mappings(
    conn: psycopg.Connection[Any], name: str, wanted: Sequence[str], run: Callable[[sql.Composed], None]
) -> None:
    rows = conn.execute(
        "SELECT arn FROM sys.iam_pg_role_mappings WHERE pg_role_name = %s", (name,)
    ).fetchall()
    current = {str(arn) for (arn,) in rows}
    role = sql.Identifier(name)
    for arn in sorted(set(wanted) - current):
        # DSQL does not document whether re-granting an existing mapping errors; a mapping we did
        # not see (another runner, replication lag) is the state we want either way.
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            run(sql.SQL("AWS IAM GRANT {} TO {}").format(role, sql.Literal(arn)))
    for arn in sorted(current - set(wanted)):
        # A replaced function role leaves a mapping to an IAM role that no longer exists; the
        # new role must be the one mapped (else every query fails with SQLSTATE 28000).
        run(sql.SQL("AWS IAM REVOKE {} FROM {}").format(role, sql.Literal(arn)))
