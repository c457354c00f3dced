"""Every SQL statement of the pruning job. Table and column names come from the job's own target
table (``domain.PruneTarget``), composed as identifiers, never from input."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from handlers.db import Database

from .domain import PruneTarget


def _due(target: PruneTarget) -> sql.Composed:
    column = sql.Identifier(target.time_column)
    if target.retention_days:
        return sql.SQL("{} < now() - make_interval(days => {})").format(
            column, sql.Literal(target.retention_days)
        )
    return sql.SQL("{} < now()").format(column)


class PruneRepositorySql:
    """``PruneRepository`` on a ``Database`` (DSQL, or the local engine through the guard)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def table_exists(self, table: str) -> bool:
        def work(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = %s",
                (table,),
            ).fetchone()
            return row is not None

        return self.db.run_autocommit(work)

    def delete_batch(self, target: PruneTarget, limit: int, *, deadline: float) -> int:
        """One transaction: the ``limit`` oldest due rows, by primary key. DSQL has no DELETE ...
        LIMIT, so the keys come from a subquery (the time column is indexed)."""
        keys = sql.SQL(", ").join(map(sql.Identifier, target.key_columns))
        statement = sql.SQL(
            "DELETE FROM {table} WHERE ({keys}) IN "
            "(SELECT {keys} FROM {table} WHERE {due} ORDER BY {column} LIMIT %s)"
        ).format(
            table=sql.Identifier(target.table),
            keys=keys,
            due=_due(target),
            column=sql.Identifier(target.time_column),
        )

        def work(conn: psycopg.Connection[Any]) -> int:
            return conn.execute(statement, (limit,)).rowcount

        # Idempotent: re-running a batch whose COMMIT's answer was lost deletes the next rows due.
        return self.db.run_transaction(work, deadline=deadline, idempotent=True)

    def count_due(self, target: PruneTarget, cap: int) -> int:
        statement = sql.SQL(
            "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {due} LIMIT %s) AS due"
        ).format(table=sql.Identifier(target.table), due=_due(target))

        def work(conn: psycopg.Connection[Any]) -> int:
            row = conn.execute(statement, (cap,)).fetchone()
            return int(row[0]) if row is not None else 0

        return self.db.run_autocommit(work)
