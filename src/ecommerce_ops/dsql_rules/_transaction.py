"""Transaction rules: what DSQL refuses across the statements of one transaction."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ._model import Control, GuardSyntaxError, Kind, Statement, TableFacts
from ._rules import (
    MAX_INDEXES_PER_TABLE,
    MAX_MODIFIED_ROWS,
    MAX_STATISTICS_PER_TABLE,
    MAX_TABLE_COLUMNS,
    MAX_TRANSACTION_BYTES,
    Violation,
    _bigint_violation,
    _column_count_violation,
    row_limit_violation,
    transaction_size_violation,
    violation,
)
from ._scanner import analyze

# ---------------------------------------------------------------------------------------------------
# Transaction rules


@dataclass(slots=True)
class TransactionState:
    """DSQL's per-transaction rules; `admit` is fed every statement of one transaction in order."""

    started: float = field(default_factory=time.monotonic)
    ddl: str | None = None
    dml: str | None = None
    # Before this transaction's first write (see guarded.py): the pending pg_stat_xact counter total
    # and the WAL insert position.
    rows_baseline: int | None = None
    wal_start: str | None = None

    def admit(self, stmt: Statement) -> Violation | None:
        if stmt.kind is Kind.DDL:
            if self.ddl is not None:
                return violation(
                    "dsql/ddl-per-transaction",
                    f"Aurora DSQL runs one DDL statement per transaction and this transaction already "
                    f"ran {self.ddl}; run each DDL statement in its own transaction (autocommit)",
                    stmt.offset,
                )
            if self.dml is not None:
                return _mix(stmt, self.dml)
            self.ddl = stmt.command
        elif stmt.kind is Kind.DML:
            if self.ddl is not None:
                return _mix(stmt, self.ddl)
            self.dml = self.dml or stmt.command
        return None

    def age(self) -> float:
        return time.monotonic() - self.started


@dataclass(slots=True)
class _StaticWrites:
    """Rows and literal bytes one transaction's INSERT ... VALUES lists write: a linter's lower bound."""

    rows: int = 0
    size: int = 0
    reported: set[str] = field(default_factory=set)

    def add(self, stmt: Statement) -> list[Violation]:
        self.rows += stmt.values_rows
        self.size += stmt.literal_bytes
        found = []
        if self.rows > MAX_MODIFIED_ROWS and "rows" not in self.reported:
            self.reported.add("rows")
            found.append(row_limit_violation(self.rows, stmt.offset, "inserts"))
        if self.size > MAX_TRANSACTION_BYTES and "size" not in self.reported:
            self.reported.add("size")
            found.append(transaction_size_violation(self.size, stmt.offset, "inserts literals of"))
        return found


def check_script(statements: Iterable[Statement]) -> list[Violation]:
    """Run statements the way a migration runner does: autocommit, except explicit BEGIN ... COMMIT."""
    found: list[Violation] = []
    block: TransactionState | None = None
    writes = _StaticWrites()
    for stmt in statements:
        found.extend(stmt.violations)
        if stmt.control is Control.BEGIN:
            block, writes = TransactionState(), _StaticWrites()
        elif stmt.control is not None:
            block = None
        elif block is not None:
            if (problem := block.admit(stmt)) is not None:
                found.append(problem)
            found.extend(writes.add(stmt))
        else:
            found.extend(_StaticWrites().add(stmt))
    return found


def check(sql: str) -> list[Violation]:
    """Every DSQL violation in `sql`, a script as a migration runner would execute it."""
    analysis = analyze(sql)
    if analysis.syntax_error is not None:
        raise GuardSyntaxError(analysis.syntax_error)
    return check_script(analysis.statements)


def check_transaction(statements: Sequence[str]) -> list[Violation]:
    """Violations of running `statements` in order inside one explicit transaction."""
    found: list[Violation] = []
    state = TransactionState()
    writes = _StaticWrites()
    for sql in statements:
        analysis = analyze(sql)
        if analysis.syntax_error is not None:
            raise GuardSyntaxError(analysis.syntax_error)
        for stmt in analysis.statements:
            found.extend(stmt.violations)
            if stmt.control is None:
                if (problem := state.admit(stmt)) is not None:
                    found.append(problem)
                found.extend(writes.add(stmt))
    return found


def catalog_violations(stmt: Statement, facts: TableFacts) -> list[Violation]:
    """The limits of `stmt.catalog` judged against the table as the catalog describes it."""
    check = stmt.catalog
    if check is None:
        return []
    found: list[Violation] = []
    table = check.table
    new_index = check.indexes and not (check.index_name is not None and check.index_name in facts.indexes)
    if new_index and len(facts.indexes) + check.indexes > MAX_INDEXES_PER_TABLE:
        found.append(
            violation(
                "dsql/index-count",
                f"table {table} already has {len(facts.indexes)} indexes, Aurora DSQL allows at most "
                f"{MAX_INDEXES_PER_TABLE} per table; drop an unused index first (or widen one with INCLUDE)",
                stmt.offset,
            )
        )
    if check.statistics and facts.statistics + check.statistics > MAX_STATISTICS_PER_TABLE:
        found.append(
            violation(
                "dsql/statistics-count",
                f"table {table} already has {facts.statistics} extended statistics, Aurora DSQL allows "
                f"at most {MAX_STATISTICS_PER_TABLE} per table; DROP STATISTICS an unused one first",
                stmt.offset,
            )
        )
    active = len(set(facts.columns) - set(check.dropped_columns)) + check.added_columns
    if check.added_columns and active > MAX_TABLE_COLUMNS:
        found.append(_column_count_violation(table, active, stmt.offset))
    lost = sorted(set(check.dropped_columns) & facts.primary_key)
    if lost or (facts.primary_key_name is not None and facts.primary_key_name in check.dropped_constraints):
        what = f"primary key column {', '.join(lost)}" if lost else f"primary key {facts.primary_key_name}"
        found.append(
            violation(
                "dsql/primary-key-change",
                f"Aurora DSQL cannot drop the {what} of {table}; a table keeps the primary key of its "
                "CREATE TABLE (create a new table and copy the rows in batches to change it)",
                stmt.offset,
            )
        )
    for column in check.identity_columns:
        kind = facts.columns.get(column)
        if kind is not None and kind != "bigint":
            found.append(_bigint_violation(f"identity column {table}.{column} of type {kind}", stmt.offset))
    return found


def _mix(stmt: Statement, earlier: str) -> Violation:
    return violation(
        "dsql/ddl-dml-mix",
        f"Aurora DSQL does not mix DDL and DML in one transaction: {stmt.command} after {earlier}; "
        "commit first and run DDL in a transaction of its own",
        stmt.offset,
    )
