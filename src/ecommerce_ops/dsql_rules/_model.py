"""What analysis produces: statements, their kinds and the facts the transaction rules need."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from pglast import ast

from ._rules import Violation


class Kind(enum.Enum):
    DDL = "ddl"
    DML = "dml"
    READ = "read"
    SESSION = "session"
    TRANSACTION = "transaction"


class Control(enum.Enum):
    BEGIN = "begin"
    COMMIT = "commit"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class AsyncIndex:
    name: str | None
    table: str


@dataclass(frozen=True, slots=True)
class IamCommand:
    action: Literal["grant", "revoke"]
    role: str
    arn: str


@dataclass(frozen=True, slots=True)
class CatalogCheck:
    """What a DDL statement adds to or removes from one table, for limits only the catalog can judge."""

    schema: str | None
    table: str
    indexes: int = 0
    index_name: str | None = None  # with IF NOT EXISTS: an existing index of that name makes it a no-op
    statistics: int = 0
    added_columns: int = 0
    dropped_columns: tuple[str, ...] = ()
    dropped_constraints: tuple[str, ...] = ()
    identity_columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TableFacts:
    """The catalog's answer for one table (read by the guarded connection)."""

    indexes: frozenset[str]  # secondary indexes, unique constraints included, the primary key not
    statistics: int
    columns: Mapping[str, str]  # active column -> format_type()
    primary_key: frozenset[str]
    primary_key_name: str | None


@dataclass(frozen=True, slots=True)
class Statement:
    text: str
    offset: int
    kind: Kind
    command: str
    violations: tuple[Violation, ...] = ()
    may_write: bool = False
    control: Control | None = None
    async_index: AsyncIndex | None = None
    iam: IamCommand | None = None
    catalog: CatalogCheck | None = None
    values_rows: int = 0  # rows of an INSERT ... VALUES list: what a static linter can count
    literal_bytes: int = 0  # bytes of its string literals


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    message: str
    offset: int


@dataclass(frozen=True, slots=True)
class Analysis:
    """One SQL string: its statements, and the text PostgreSQL may run (ASYNC / IAM blanked out)."""

    statements: tuple[Statement, ...]
    pg_sql: str
    syntax_error: SyntaxProblem | None = None

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(v for s in self.statements for v in s.violations)


class GuardSyntaxError(ValueError):
    def __init__(self, problem: SyntaxProblem) -> None:
        super().__init__(problem.message)
        self.offset = problem.offset


@dataclass(frozen=True, slots=True)
class _Prefix:
    """What the scanner saw at a statement's start that the parse tree loses."""

    is_async: bool = False  # CREATE INDEX ASYNC / ALTER TABLE ASYNC
    index_using: bool = False  # an explicit USING in CREATE INDEX (pglast fills in btree either way)


def _relation_name(rel: ast.RangeVar) -> str:
    return f"{rel.schemaname}.{rel.relname}" if rel.schemaname else str(rel.relname)


def _walk(node: object) -> Iterator[ast.Node]:
    if isinstance(node, ast.Node):
        yield node
        for name in getattr(type(node), "__slots__", ()):
            value = getattr(node, name, None)
            if isinstance(value, ast.Node | tuple):
                yield from _walk(value)
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)
