"""The application's database role: created, mapped to IAM roles, granted what the API needs.

Run as ``admin`` (each statement its own transaction, as DSQL requires for DDL and AWS IAM GRANT).
Idempotent: an existing role or mapping is kept. The handlers log in as this role with
``dsql:DbConnect`` tokens and never as ``admin``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from handlers.contract import DEFAULT_APP_ROLE

# What the API touches, and how. DELETE only where records expire (idempotency pruning).
TABLE_PRIVILEGES: dict[str, str] = {
    "customers": "SELECT, INSERT, UPDATE",
    "products": "SELECT, INSERT, UPDATE",
    "orders": "SELECT, INSERT, UPDATE",
    "order_items": "SELECT, INSERT",
    "idempotency_records": "SELECT, INSERT, DELETE",
}
_IAM_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


def grant_app_role(
    connect: Callable[[], psycopg.Connection[Any]],
    iam_role_arns: Sequence[str],
    *,
    role: str = DEFAULT_APP_ROLE,
    log: Callable[[str], None] = lambda _: None,
) -> None:
    bad = [arn for arn in iam_role_arns if not _IAM_ROLE_ARN.fullmatch(arn)]
    if bad:
        raise ValueError(f"not IAM role ARNs (arn:aws:iam::<account>:role/<name>): {', '.join(bad)}")
    identifier = sql.Identifier(role)
    statements: list[sql.Composed] = [
        sql.SQL("CREATE ROLE {} WITH LOGIN").format(identifier),
        *(sql.SQL("AWS IAM GRANT {} TO {}").format(identifier, sql.Literal(arn)) for arn in iam_role_arns),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(identifier),
        *(
            sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privileges), sql.Identifier(table), identifier)
            for table, privileges in TABLE_PRIVILEGES.items()
        ),
    ]
    with connect() as conn:
        conn.autocommit = True
        for statement in statements:
            try:
                conn.execute(statement)
                log(f"ok: {statement.as_string(conn)}")
            except psycopg.errors.DuplicateObject:
                log(f"kept: {statement.as_string(conn)}")
