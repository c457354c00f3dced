"""Aurora DSQL's SQL rules as one pure rule engine.

The guarded local connection (`ecommerce_dev.guarded`) and the linter (`ecommerce_ops.lint`) both
call `analyze`, so a statement is judged the same way whether it is linted or executed.
Classification works on pglast's parse tree (PostgreSQL's own parser). The DSQL-only syntaxes
PostgreSQL cannot parse - ``CREATE [UNIQUE] INDEX ASYNC``, ``ALTER TABLE ASYNC`` and ``AWS IAM
GRANT/REVOKE`` - are found with PostgreSQL's scanner (token level, never regular expressions) before
parsing.

Every rule cites the user-guide page it comes from and when that page said so (`Rule.source`,
`Rule.date`); docs/dsql-guard.md lists them. Limits that need database state (the catalog, bytes
written) are judged by the guarded connection with `catalog_violations` and the `*_violation` helpers.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import pglast
from pglast import ast, enums
from pglast.parser import ParseError, Token, scan

UNSUPPORTED: Final = "0A000"
LIMIT: Final = "54000"
TOO_MANY_COLUMNS: Final = "54011"

MAX_MODIFIED_ROWS: Final = 3000
MAX_TRANSACTION_BYTES: Final = 10 * 1024 * 1024
MAX_TRANSACTION_AGE: Final = 300.0
MAX_INDEX_KEY_COLUMNS: Final = 8
MAX_INDEXES_PER_TABLE: Final = 24
MAX_TABLE_COLUMNS: Final = 255
MAX_STATISTICS_PER_TABLE: Final = 5
MIN_LARGE_SEQUENCE_CACHE: Final = 65536

# Sources. Page names and dates as read in the user guide (research of 2026-11: the newest crawls
# of the release notes end at 2026-09-15); "undated" pages carry no change date for the statement.
USER_GUIDE: Final = "https://docs.aws.amazon.com/aurora-dsql/latest/userguide/"
UNSUPPORTED_PAGE: Final = USER_GUIDE + "working-with-postgresql-compatibility-unsupported-features.html"
SQL_PAGE: Final = USER_GUIDE + "working-with-postgresql-compatibility-supported-sql-features.html"
TYPES_PAGE: Final = USER_GUIDE + "working-with-postgresql-compatibility-supported-data-types.html"
DDL_PAGE: Final = USER_GUIDE + "working-with-ddl.html"
CREATE_TABLE_PAGE: Final = USER_GUIDE + "create-table-syntax-support.html"
ALTER_TABLE_PAGE: Final = USER_GUIDE + "alter-table-syntax-support.html"
CREATE_INDEX_PAGE: Final = USER_GUIDE + "create-index-syntax-support.html"
CREATE_SEQUENCE_PAGE: Final = USER_GUIDE + "create-sequence-syntax-support.html"
CONCURRENCY_PAGE: Final = USER_GUIDE + "working-with-concurrency-control.html"
QUOTAS_PAGE: Final = USER_GUIDE + "CHAP_quotas.html"
DSQL_LINT: Final = "https://github.com/awslabs/aurora-dsql-tools"
LONG_STANDING: Final = "long-standing"
UNDATED: Final = "undated (page as crawled 2026-09)"


@dataclass(frozen=True, slots=True)
class Rule:
    """One DSQL rule: `source` is the page it comes from, `date` when that page said so.

    `evidence` hedges rules the page implies rather than states (or that only AWS's dsql-lint
    fixtures, run against live clusters, show); SQLSTATEs are DSQL's where the quotas page gives
    them, else 0A000 by assumption (DSQL documents no code for "not supported").
    """

    id: str
    sqlstate: str
    summary: str
    source: str
    date: str
    evidence: str = ""


RULES: Final[dict[str, Rule]] = {
    rule.id: rule
    for rule in (
        Rule("dsql/truncate", UNSUPPORTED, "TRUNCATE is not supported", UNSUPPORTED_PAGE, LONG_STANDING),
        Rule(
            "dsql/savepoint",
            UNSUPPORTED,
            "SAVEPOINT, RELEASE and ROLLBACK TO are not supported",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/temporary-table",
            UNSUPPORTED,
            "temporary tables, views and sequences are not supported",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
        ),
        Rule("dsql/trigger", UNSUPPORTED, "triggers are not supported", UNSUPPORTED_PAGE, LONG_STANDING),
        Rule(
            "dsql/procedural-language",
            UNSUPPORTED,
            "only LANGUAGE sql functions; no PL/pgSQL, no DO",
            SQL_PAGE,
            LONG_STANDING,
        ),
        Rule("dsql/extension", UNSUPPORTED, "extensions are not supported", UNSUPPORTED_PAGE, LONG_STANDING),
        Rule(
            "dsql/create-type",
            UNSUPPORTED,
            "CREATE TYPE (enum, composite, range, base) is not supported",
            TYPES_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/partition",
            UNSUPPORTED,
            "table partitioning is not supported",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/materialized-view",
            UNSUPPORTED,
            "materialized views are not supported",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/create-table-as",
            UNSUPPORTED,
            "CREATE TABLE ... AS / SELECT ... INTO are not supported",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/inherits",
            UNSUPPORTED,
            "table inheritance is not supported",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/collate",
            UNSUPPORTED,
            "no COLLATE on columns, no CREATE COLLATION; expressions may use only C/POSIX",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
            "the page lists COLLATE under CREATE TABLE; expressions: dsql-lint `collation` flags other "
            "collations, C/POSIX pass",
        ),
        Rule(
            "dsql/row-level-security",
            UNSUPPORTED,
            "row-level security is not supported",
            DSQL_LINT,
            "2026-08-07",
            "not documented; dsql-lint's cluster-validated fixtures (v0.2.14) are rejected",
        ),
        Rule(
            "dsql/advisory-lock",
            UNSUPPORTED,
            "advisory locks are not supported",
            CONCURRENCY_PAGE,
            UNDATED,
            "not documented; inferred from optimistic concurrency control (no locks, no waiting)",
        ),
        Rule(
            "dsql/exclusion-constraint",
            UNSUPPORTED,
            "exclusion constraints are not supported",
            CREATE_TABLE_PAGE,
            LONG_STANDING,
        ),
        Rule("dsql/create-database", UNSUPPORTED, "one database per cluster: postgres", QUOTAS_PAGE, UNDATED),
        Rule(
            "dsql/primary-key-change",
            UNSUPPORTED,
            "a primary key cannot be added, dropped, or lose a column",
            ALTER_TABLE_PAGE,
            "2026-08-03",
            "ADD PRIMARY KEY is absent from the grammar; dropping primary key columns is stated",
        ),
        Rule(
            "dsql/index-async",
            UNSUPPORTED,
            "secondary indexes need CREATE [UNIQUE] INDEX ASYNC",
            CREATE_INDEX_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/index-order",
            UNSUPPORTED,
            "no ASC/DESC in index keys (NULLS FIRST/LAST is fine)",
            CREATE_INDEX_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/index-options",
            UNSUPPORTED,
            "CREATE INDEX ASYNC takes no USING, WITH (...), operator class or COLLATE",
            CREATE_INDEX_PAGE,
            "2026-08-13",
            "absent from the documented grammar (page reorganized 2026-08-13); dsql-lint flags only USING",
        ),
        Rule(
            "dsql/index-columns",
            TOO_MANY_COLUMNS,
            "at most 8 key columns per index or primary key",
            QUOTAS_PAGE,
            UNDATED,
        ),
        Rule("dsql/index-count", LIMIT, "at most 24 indexes per table", QUOTAS_PAGE, UNDATED),
        Rule(
            "dsql/column-type",
            UNSUPPORTED,
            "column types outside the supported data types (inet is runtime-only)",
            TYPES_PAGE,
            UNDATED,
            "json (2026-05-04) and jsonb (2026-06-08) are storable; unlisted built-in types are rejected",
        ),
        Rule(
            "dsql/array-column",
            UNSUPPORTED,
            "array columns are not supported (arrays are runtime-only)",
            TYPES_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/serial",
            UNSUPPORTED,
            "SERIAL pseudo-types are not supported",
            DSQL_LINT,
            "2026-08-07",
            "not documented; dsql-lint's cluster-validated fixture is rejected (rule serial_type)",
        ),
        Rule(
            "dsql/sequence-cache",
            UNSUPPORTED,
            "sequences and identity columns need an explicit CACHE 1 or CACHE >= 65536",
            CREATE_SEQUENCE_PAGE,
            "2026-02-13",
        ),
        Rule(
            "dsql/sequence-type",
            UNSUPPORTED,
            "sequences and identity columns are bigint only",
            CREATE_SEQUENCE_PAGE,
            "2026-02-13",
        ),
        Rule(
            "dsql/isolation-level",
            UNSUPPORTED,
            "REPEATABLE READ (snapshot isolation) is the only level",
            SQL_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/set-transaction",
            UNSUPPORTED,
            "SET TRANSACTION is not supported",
            DSQL_LINT,
            "2026-08-07",
            "absent from the SQL page's transaction commands; dsql-lint's cluster fixture is rejected",
        ),
        Rule(
            "dsql/prepare-transaction",
            UNSUPPORTED,
            "no two-phase commit (PREPARE TRANSACTION / COMMIT PREPARED)",
            SQL_PAGE,
            UNDATED,
            "not documented as rejected: absent from the documented transaction commands",
        ),
        Rule(
            "dsql/vacuum",
            UNSUPPORTED,
            "VACUUM is not supported (not needed)",
            UNSUPPORTED_PAGE,
            LONG_STANDING,
        ),
        Rule("dsql/alter-system", UNSUPPORTED, "ALTER SYSTEM is blocked", UNSUPPORTED_PAGE, LONG_STANDING),
        Rule(
            "dsql/tablespace", UNSUPPORTED, "tablespaces are not supported", UNSUPPORTED_PAGE, LONG_STANDING
        ),
        Rule(
            "dsql/add-column",
            UNSUPPORTED,
            "ALTER TABLE ADD COLUMN takes a name, a type and STORAGE only",
            ALTER_TABLE_PAGE,
            UNDATED,
        ),
        Rule(
            "dsql/not-valid",
            UNSUPPORTED,
            "CHECK and FOREIGN KEY constraints are added to existing tables only NOT VALID",
            ALTER_TABLE_PAGE,
            "2026-08-03",
            "CHECK from 2026-08-03, FOREIGN KEY from 2026-08-26",
        ),
        Rule(
            "dsql/validate-async",
            UNSUPPORTED,
            "VALIDATE CONSTRAINT runs only as ALTER TABLE ASYNC",
            ALTER_TABLE_PAGE,
            "2026-08-03",
        ),
        Rule(
            "dsql/alter-table",
            UNSUPPORTED,
            "ALTER TABLE actions outside DSQL's grammar (ALTER COLUMN TYPE, SET NOT NULL, ...)",
            ALTER_TABLE_PAGE,
            UNDATED,
        ),
        Rule(
            "dsql/for-share",
            UNSUPPORTED,
            "no SELECT ... FOR SHARE / FOR NO KEY UPDATE (FOR UPDATE and FOR KEY SHARE are fine)",
            CONCURRENCY_PAGE,
            UNDATED,
        ),
        Rule(
            "dsql/deferrable",
            UNSUPPORTED,
            "DEFERRABLE applies to foreign keys only",
            CREATE_TABLE_PAGE,
            "2026-08-26",
        ),
        Rule("dsql/column-count", TOO_MANY_COLUMNS, "at most 255 columns per table", QUOTAS_PAGE, UNDATED),
        Rule(
            "dsql/statistics-count",
            LIMIT,
            "at most 5 extended statistics per table",
            QUOTAS_PAGE,
            "2026-08-27",
        ),
        Rule(
            "dsql/ddl-per-transaction",
            UNSUPPORTED,
            "one DDL statement per transaction",
            DDL_PAGE,
            LONG_STANDING,
        ),
        Rule(
            "dsql/ddl-dml-mix",
            UNSUPPORTED,
            "DDL and DML never in the same transaction",
            DDL_PAGE,
            LONG_STANDING,
        ),
        Rule("dsql/row-limit", LIMIT, "at most 3,000 modified rows per transaction", QUOTAS_PAGE, UNDATED),
        Rule(
            "dsql/transaction-size",
            LIMIT,
            "at most 10 MiB of modified data per transaction",
            QUOTAS_PAGE,
            UNDATED,
            "measured locally as WAL bytes of the transaction's own records, without full-page images",
        ),
        Rule("dsql/transaction-age", LIMIT, "transactions may last at most 5 minutes", QUOTAS_PAGE, UNDATED),
    )
}


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    message: str
    offset: int = 0

    @property
    def sqlstate(self) -> str:
        return RULES[self.rule].sqlstate


def violation(rule: str, text: str, offset: int = 0) -> Violation:
    """Messages start with the rule id so logs and error handlers can key on it."""
    assert rule in RULES, rule
    return Violation(rule, f"{rule}: {text}", offset)


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


def _mix(stmt: Statement, earlier: str) -> Violation:
    return violation(
        "dsql/ddl-dml-mix",
        f"Aurora DSQL does not mix DDL and DML in one transaction: {stmt.command} after {earlier}; "
        "commit first and run DDL in a transaction of its own",
        stmt.offset,
    )


def age_violation(age: float, limit: float) -> Violation:
    return violation(
        "dsql/transaction-age",
        f"transaction is {age:.1f} s old, Aurora DSQL aborts transactions after {limit:g} s; "
        "keep transactions short and retry the whole transaction",
    )


def row_limit_violation(rows: int, offset: int = 0, verb: str = "modified") -> Violation:
    return violation(
        "dsql/row-limit",
        f"transaction {verb} {rows} rows, Aurora DSQL allows at most {MAX_MODIFIED_ROWS:,} per "
        f"transaction; write in batches of <= {MAX_MODIFIED_ROWS:,} rows, one transaction each",
        offset,
    )


def transaction_size_violation(size: int, offset: int = 0, verb: str = "wrote") -> Violation:
    return violation(
        "dsql/transaction-size",
        f"transaction {verb} {size / 2**20:.1f} MiB, Aurora DSQL allows at most "
        f"{MAX_TRANSACTION_BYTES // 2**20} MiB of modified data per transaction; write in smaller "
        "batches, one transaction each",
        offset,
    )


def isolation_violation(level: str) -> Violation:
    return violation(
        "dsql/isolation-level",
        f"isolation level {level.upper()} is not available: Aurora DSQL runs every transaction at "
        "REPEATABLE READ (snapshot isolation); drop the setting or use REPEATABLE READ",
    )


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


def _column_count_violation(table: str, columns: int, offset: int = 0) -> Violation:
    return violation(
        "dsql/column-count",
        f"table {table} would have {columns} columns, Aurora DSQL allows at most {MAX_TABLE_COLUMNS} "
        "active columns per table; move rarely used columns to a second table with the same key",
        offset,
    )


def _bigint_violation(what: str, offset: int = 0) -> Violation:
    return violation(
        "dsql/sequence-type",
        f"{what}: Aurora DSQL sequences and identity columns are bigint only; use bigint (AS bigint)",
        offset,
    )


# ---------------------------------------------------------------------------------------------------
# Analysis


@dataclass(frozen=True, slots=True)
class _Prefix:
    """What the scanner saw at a statement's start that the parse tree loses."""

    is_async: bool = False  # CREATE INDEX ASYNC / ALTER TABLE ASYNC
    index_using: bool = False  # an explicit USING in CREATE INDEX (pglast fills in btree either way)


@functools.lru_cache(maxsize=4096)
def analyze(sql: str) -> Analysis:
    """Split, classify and check `sql`; cached because applications repeat their statements."""
    try:
        tokens = [t for t in scan(sql) if t.name not in _COMMENTS]
    except ParseError as exc:
        return Analysis((), sql, SyntaxProblem(str(exc.args[0]), _error_offset(sql, exc)))
    blanks: list[tuple[int, int]] = []
    special: list[Statement] = []
    prefixes: dict[int, _Prefix] = {}
    for piece in _pieces(tokens):
        iam = _iam_command(sql, piece)
        if iam is not None:
            start, end = piece[0].start, piece[-1].end + 1
            blanks.append((start, end))
            special.append(
                Statement(sql[start:end], start, Kind.DDL, "AWS IAM " + iam.action.upper(), iam=iam)
            )
            continue
        if _is_aws_iam(sql, piece):
            problem = "expected AWS IAM GRANT <role> TO '<arn>' or AWS IAM REVOKE <role> FROM '<arn>'"
            return Analysis((), sql, SyntaxProblem(problem, piece[0].start))
        keyword = _async_keyword(sql, piece)
        if keyword is not None:
            blanks.append(keyword)
        prefix = _Prefix(is_async=keyword is not None, index_using=_index_using(piece))
        if prefix != _Prefix():
            prefixes[piece[0].start] = prefix
    pg_sql = _blank(sql, blanks)
    try:
        raw = pglast.parse_sql(pg_sql)
    except ParseError as exc:
        return Analysis((), pg_sql, SyntaxProblem(str(exc.args[0]), _failing_offset(pg_sql, tokens, exc)))
    parsed = [_statement(sql, r, prefixes) for r in raw]
    ordered = sorted([*parsed, *special], key=lambda s: s.offset)
    return Analysis(tuple(ordered), pg_sql)


_COMMENTS: Final = frozenset({"SQL_COMMENT", "C_COMMENT"})


def _pieces(tokens: Sequence[Token]) -> Iterator[list[Token]]:
    """Token runs between semicolons (enough to spot statement prefixes)."""
    current: list[Token] = []
    for token in tokens:
        if token.name == "ASCII_59":
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def _text(sql: str, token: Token) -> str:
    return sql[token.start : token.end + 1]


def _is_aws_iam(sql: str, piece: list[Token]) -> bool:
    return len(piece) >= 2 and [_text(sql, t).lower() for t in piece[:2]] == ["aws", "iam"]


def _iam_command(sql: str, piece: list[Token]) -> IamCommand | None:
    """``AWS IAM GRANT role TO 'arn'`` / ``AWS IAM REVOKE role FROM 'arn'`` (DSQL-only syntax)."""
    if not _is_aws_iam(sql, piece) or len(piece) != 6:
        return None
    _, _, verb, role, preposition, arn = piece
    expected = {"GRANT": "TO", "REVOKE": "FROM"}.get(verb.name)
    if expected is None or preposition.name != expected or arn.name != "SCONST":
        return None
    literal = _text(sql, arn)
    if not literal.startswith("'"):
        return None
    action: Literal["grant", "revoke"] = "grant" if verb.name == "GRANT" else "revoke"
    return IamCommand(action, _identifier(_text(sql, role)), literal[1:-1].replace("''", "'"))


def _identifier(text: str) -> str:
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def _async_keyword(sql: str, piece: list[Token]) -> tuple[int, int] | None:
    """Span of ASYNC in ``CREATE [UNIQUE] INDEX ASYNC ...`` / ``ALTER TABLE ASYNC ...``.

    After INDEX an unquoted ``async`` is always the keyword, as in DSQL. After ALTER TABLE it is the
    keyword unless an action follows (``ALTER TABLE async ADD ...`` alters a table named async).
    """
    names = [t.name for t in piece[:4]]
    if names[:2] == ["ALTER", "TABLE"]:
        at = 2
        if len(piece) <= at + 1 or piece[at + 1].name in _ALTER_TABLE_FOLLOWERS:
            return None
    else:
        at = 3 if names[:3] == ["CREATE", "UNIQUE", "INDEX"] else 2 if names[:2] == ["CREATE", "INDEX"] else 0
    if not at or len(piece) <= at or _text(sql, piece[at]).lower() != "async":
        return None
    return piece[at].start, piece[at].end + 1


# Tokens that, right after ``ALTER TABLE async``, make ``async`` the table's name.
_ALTER_TABLE_FOLLOWERS: Final = frozenset(
    [
        "ADD_P",
        "ALTER",
        "ATTACH",
        "CLUSTER",
        "DETACH",
        "DISABLE_P",
        "DROP",
        "ENABLE_P",
        "FORCE",
        "INHERIT",
        "NO",
        "NOT",
        "OF",
        "OWNER",
        "RENAME",
        "REPLICA",
        "RESET",
        "SET",
        "VALIDATE",
        "ASCII_42",
        "ASCII_44",
        "ASCII_46",
    ]
)


def _index_using(piece: list[Token]) -> bool:
    """``CREATE [UNIQUE] INDEX ... USING method (...)``: USING before the key list's parenthesis."""
    if [t.name for t in piece[:2]] not in (["CREATE", "INDEX"], ["CREATE", "UNIQUE"]):
        return False
    for token in piece:
        if token.name == "ASCII_40":
            return False
        if token.name == "USING":
            return True
    return False


def _blank(sql: str, spans: Sequence[tuple[int, int]]) -> str:
    """Replace spans with spaces so every offset still points into the original text."""
    if not spans:
        return sql
    parts: list[str] = []
    last = 0
    for start, end in sorted(spans):
        parts += [sql[last:start], " " * (end - start)]
        last = end
    parts.append(sql[last:])
    return "".join(parts)


def _error_offset(sql: str, exc: ParseError) -> int:
    location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
    return max(0, min(location, len(sql)))


def _failing_offset(pg_sql: str, tokens: Sequence[Token], exc: ParseError) -> int:
    """Start of the first statement that fails alone (pglast's error offsets are unreliable for non-ASCII)."""
    for piece in _pieces(tokens):
        start, end = piece[0].start, piece[-1].end + 1
        if not pg_sql[start:end].strip():
            continue
        try:
            pglast.parse_sql(pg_sql[start:end])
        except ParseError:
            return start
    return _error_offset(pg_sql, exc)


def _statement(sql: str, raw: ast.RawStmt, prefixes: Mapping[int, _Prefix]) -> Statement:
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(sql)
    node = raw.stmt
    assert node is not None
    prefix = prefixes.get(start, _Prefix())
    kind, command, may_write = _classify(node)
    found = [violation(rule, text, start) for rule, text in _violations(node, prefix)]
    async_index = None
    if isinstance(node, ast.IndexStmt) and prefix.is_async and node.relation is not None:
        async_index = AsyncIndex(node.idxname, _relation_name(node.relation))
        command = "CREATE INDEX ASYNC"
    elif isinstance(node, ast.AlterTableStmt) and prefix.is_async:
        command = "ALTER TABLE ASYNC"
    rows, size = _values_written(node)
    return Statement(
        text=sql[start:end],
        offset=start,
        kind=kind,
        command=command,
        violations=tuple(found),
        may_write=may_write,
        control=_control(node),
        async_index=async_index,
        catalog=_catalog_check(node),
        values_rows=rows,
        literal_bytes=size,
    )


def _relation_name(rel: ast.RangeVar) -> str:
    return f"{rel.schemaname}.{rel.relname}" if rel.schemaname else str(rel.relname)


def _values_written(node: ast.Node) -> tuple[int, int]:
    """(rows, string-literal bytes) of ``INSERT ... VALUES``; ON CONFLICT may skip rows, so not counted."""
    if not isinstance(node, ast.InsertStmt) or node.onConflictClause is not None:
        return 0, 0
    values = node.selectStmt.valuesLists if isinstance(node.selectStmt, ast.SelectStmt) else None
    if not values:
        return 0, 0
    size = sum(
        len(str(n.val.sval).encode())
        for n in _walk(values)
        if isinstance(n, ast.A_Const) and isinstance(n.val, ast.String)
    )
    return len(values), size


def _catalog_check(node: ast.Node) -> CatalogCheck | None:
    """The part of a DDL statement's rules that needs the catalog (judged by `catalog_violations`)."""
    if isinstance(node, ast.IndexStmt) and node.relation is not None:
        rel = node.relation
        name = node.idxname if node.if_not_exists else None
        return CatalogCheck(rel.schemaname, str(rel.relname), indexes=1, index_name=name)
    if isinstance(node, ast.CreateStatsStmt):
        relations = node.relations or ()
        if len(relations) == 1 and isinstance(relations[0], ast.RangeVar):
            return CatalogCheck(relations[0].schemaname, str(relations[0].relname), statistics=1)
        return None
    if not (
        isinstance(node, ast.AlterTableStmt)
        and node.objtype == enums.ObjectType.OBJECT_TABLE
        and node.relation is not None
    ):
        return None
    kinds = enums.AlterTableType
    cmds = [c for c in node.cmds or () if isinstance(c, ast.AlterTableCmd)]
    added = sum(1 for c in cmds if c.subtype == kinds.AT_AddColumn)
    dropped = tuple(str(c.name) for c in cmds if c.subtype == kinds.AT_DropColumn)
    constraints = tuple(str(c.name) for c in cmds if c.subtype == kinds.AT_DropConstraint)
    identities = tuple(str(c.name) for c in cmds if c.subtype == kinds.AT_AddIdentity)
    if not (added or dropped or constraints or identities):
        return None
    rel = node.relation
    return CatalogCheck(
        rel.schemaname,
        str(rel.relname),
        added_columns=added,
        dropped_columns=dropped,
        dropped_constraints=constraints,
        identity_columns=identities,
    )


# ---------------------------------------------------------------------------------------------------
# Classification


_DML_COMMANDS: Final[dict[type[ast.Node], str]] = {
    ast.InsertStmt: "INSERT",
    ast.UpdateStmt: "UPDATE",
    ast.DeleteStmt: "DELETE",
    ast.MergeStmt: "MERGE",
}
_READ_NODES: Final = (
    ast.SelectStmt,
    ast.VariableShowStmt,
    ast.DeclareCursorStmt,
    ast.FetchStmt,
    ast.ClosePortalStmt,
    ast.ExecuteStmt,
    ast.ExplainStmt,
    ast.ListenStmt,
    ast.UnlistenStmt,
    ast.NotifyStmt,
)
_SESSION_NODES: Final = (
    ast.VariableSetStmt,
    ast.DiscardStmt,
    ast.ConstraintsSetStmt,
    ast.PrepareStmt,
    ast.DeallocateStmt,
)
_COMMAND_NAMES: Final[dict[type[ast.Node], str]] = {
    ast.CreateStmt: "CREATE TABLE",
    ast.IndexStmt: "CREATE INDEX",
    ast.CreateSeqStmt: "CREATE SEQUENCE",
    ast.AlterSeqStmt: "ALTER SEQUENCE",
    ast.ViewStmt: "CREATE VIEW",
    ast.CreateTableAsStmt: "CREATE TABLE AS",
    ast.CreatedbStmt: "CREATE DATABASE",
    ast.CreateTrigStmt: "CREATE TRIGGER",
    ast.CreateFunctionStmt: "CREATE FUNCTION",
    ast.DefineStmt: "CREATE",
    ast.DoStmt: "DO",
    ast.VariableSetStmt: "SET",
    ast.VariableShowStmt: "SHOW",
}


def _classify(node: ast.Node) -> tuple[Kind, str, bool]:
    """(kind, command tag, may it modify rows)."""
    if type(node) in _DML_COMMANDS:
        return Kind.DML, _DML_COMMANDS[type(node)], True
    if isinstance(node, ast.SelectStmt):
        if node.intoClause is not None:
            return Kind.DDL, "SELECT INTO", True
        if _writes_in_cte(node):
            return Kind.DML, "WITH ... " + _cte_write_command(node), True
        return Kind.READ, "SELECT", _has_function_call(node)
    if isinstance(node, ast.ExplainStmt):
        return _classify_explain(node)
    if isinstance(node, ast.CopyStmt):
        return (Kind.DML, "COPY", True) if node.is_from else (Kind.READ, "COPY", False)
    if isinstance(node, ast.CallStmt):
        return Kind.DML, "CALL", True
    if isinstance(node, ast.TransactionStmt):
        return Kind.TRANSACTION, _transaction_command(node), False
    if isinstance(node, _READ_NODES):
        return Kind.READ, _command_name(node), isinstance(node, ast.ExecuteStmt)
    if isinstance(node, _SESSION_NODES):
        return Kind.SESSION, _command_name(node), False
    return Kind.DDL, _command_name(node), False


def _classify_explain(node: ast.ExplainStmt) -> tuple[Kind, str, bool]:
    analyzed = any(isinstance(o, ast.DefElem) and o.defname == "analyze" for o in node.options or ())
    if analyzed and node.query is not None:
        kind, command, may_write = _classify(node.query)
        return kind, "EXPLAIN ANALYZE " + command, may_write
    return Kind.READ, "EXPLAIN", False


def _cte_writes(node: ast.SelectStmt) -> list[ast.Node]:
    clause = node.withClause
    if clause is None:
        return []
    return [cte.ctequery for cte in clause.ctes or () if type(cte.ctequery) in _DML_COMMANDS]


def _writes_in_cte(node: ast.SelectStmt) -> bool:
    return bool(_cte_writes(node))


def _cte_write_command(node: ast.SelectStmt) -> str:
    return _DML_COMMANDS[type(_cte_writes(node)[0])]


def _has_function_call(node: ast.Node) -> bool:
    """A SELECT calling functions may write through them, so its rows get counted."""
    return any(isinstance(n, ast.FuncCall) for n in _walk(node))


def _transaction_command(node: ast.TransactionStmt) -> str:
    return str(getattr(node.kind, "name", "")).removeprefix("TRANS_STMT_").replace("_", " ")


def _command_name(node: ast.Node) -> str:
    known = _COMMAND_NAMES.get(type(node))
    if known is not None:
        return known
    words: list[str] = []
    for char in type(node).__name__.removesuffix("Stmt"):
        if char.isupper() or not words:
            words.append(char)
        else:
            words[-1] += char
    return " ".join(words).upper()


def _control(node: ast.Node) -> Control | None:
    if not isinstance(node, ast.TransactionStmt):
        return None
    kinds = enums.TransactionStmtKind
    controls = {
        kinds.TRANS_STMT_BEGIN: Control.BEGIN,
        kinds.TRANS_STMT_START: Control.BEGIN,
        kinds.TRANS_STMT_COMMIT: Control.COMMIT,
        kinds.TRANS_STMT_ROLLBACK: Control.ROLLBACK,
    }
    return controls.get(node.kind) if node.kind is not None else None


# ---------------------------------------------------------------------------------------------------
# Statement rules: one function per node type, each yielding (rule id, message)

Found = Iterator[tuple[str, str]]
NodeCheck = Callable[[ast.Node], Found]
_CHECKS: dict[type[ast.Node], list[NodeCheck]] = {}


def _checks(*node_types: type[ast.Node]) -> Callable[[NodeCheck], NodeCheck]:
    def register(func: NodeCheck) -> NodeCheck:
        for node_type in node_types:
            _CHECKS.setdefault(node_type, []).append(func)
        return func

    return register


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


def _violations(root: ast.Node, prefix: _Prefix) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(root, ast.IndexStmt):
        found.extend(_index_rules(root, prefix))
    elif isinstance(root, ast.AlterTableStmt):
        found.extend(_alter_table_rules(root, prefix.is_async))
    for node in _walk(root):
        for check_node in _CHECKS.get(type(node), ()):
            found.extend(check_node(node))
    return list(dict.fromkeys(found))


@_checks(ast.TruncateStmt)
def _truncate(node: ast.Node) -> Found:
    yield (
        "dsql/truncate",
        "TRUNCATE is not supported by Aurora DSQL; DELETE the rows in batches of at most "
        f"{MAX_MODIFIED_ROWS:,} per transaction",
    )


@_checks(ast.TransactionStmt)
def _transaction(node: ast.Node) -> Found:
    assert isinstance(node, ast.TransactionStmt)
    kinds = enums.TransactionStmtKind
    if node.kind in (kinds.TRANS_STMT_SAVEPOINT, kinds.TRANS_STMT_RELEASE, kinds.TRANS_STMT_ROLLBACK_TO):
        yield (
            "dsql/savepoint",
            "SAVEPOINT / RELEASE / ROLLBACK TO are not supported by Aurora DSQL (no subtransactions, "
            "so no nested conn.transaction() either); retry the whole transaction instead",
        )
    elif node.kind in (
        kinds.TRANS_STMT_PREPARE,
        kinds.TRANS_STMT_COMMIT_PREPARED,
        kinds.TRANS_STMT_ROLLBACK_PREPARED,
    ):
        yield (
            "dsql/prepare-transaction",
            "two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) is not available in "
            "Aurora DSQL; COMMIT the transaction (multi-Region commits are already synchronous)",
        )
    yield from _isolation_options(node.options)


@_checks(ast.VariableSetStmt)
def _set(node: ast.Node) -> Found:
    assert isinstance(node, ast.VariableSetStmt)
    if node.name in ("TRANSACTION", "SESSION CHARACTERISTICS"):
        yield from _isolation_options(node.args)
    if node.name == "TRANSACTION":
        yield (
            "dsql/set-transaction",
            "SET TRANSACTION is not supported by Aurora DSQL; every transaction is REPEATABLE READ "
            "already (drop the statement, or write BEGIN ISOLATION LEVEL REPEATABLE READ)",
        )
    elif (
        node.name in ("default_transaction_isolation", "transaction_isolation")
        and node.kind == enums.VariableSetKind.VAR_SET_VALUE
    ):
        for arg in node.args or ():
            yield from _isolation_value(arg)


def _isolation_options(options: tuple[ast.Node, ...] | None) -> Found:
    for option in options or ():
        if isinstance(option, ast.DefElem) and option.defname == "transaction_isolation":
            yield from _isolation_value(option.arg)


def _isolation_value(value: object) -> Found:
    if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String):
        level = str(value.val.sval)
        if level.lower() != "repeatable read":
            problem = isolation_violation(level)
            yield problem.rule, problem.message.removeprefix(problem.rule + ": ")


@_checks(ast.CreateStmt, ast.CreateSeqStmt, ast.ViewStmt, ast.IntoClause)
def _temporary(node: ast.Node) -> Found:
    rel = getattr(node, "relation", None) or getattr(node, "sequence", None) or getattr(node, "view", None)
    rel = rel or getattr(node, "rel", None)
    if isinstance(rel, ast.RangeVar) and rel.relpersistence == "t":
        yield (
            "dsql/temporary-table",
            "temporary tables, views and sequences are not supported by Aurora DSQL; "
            "use a regular table, a CTE or a VALUES list",
        )


@_checks(ast.CreateTrigStmt, ast.CreateEventTrigStmt)
def _trigger(node: ast.Node) -> Found:
    yield (
        "dsql/trigger",
        "triggers are not supported by Aurora DSQL; do the work in the application, in the same "
        "transaction as the write",
    )


@_checks(ast.CreateFunctionStmt)
def _function_language(node: ast.Node) -> Found:
    assert isinstance(node, ast.CreateFunctionStmt)
    for option in node.options or ():
        if isinstance(option, ast.DefElem) and option.defname == "language":
            language = str(getattr(option.arg, "sval", "")).lower()
            if language != "sql":
                what = "procedures" if node.is_procedure else "functions"
                yield (
                    "dsql/procedural-language",
                    f"{what} in LANGUAGE {language} are not supported by Aurora DSQL (only LANGUAGE sql); "
                    "rewrite it in SQL or move the logic into the application",
                )


@_checks(ast.DoStmt, ast.CreatePLangStmt)
def _do(node: ast.Node) -> Found:
    yield (
        "dsql/procedural-language",
        "DO blocks and procedural languages (PL/pgSQL) are not supported by Aurora DSQL; "
        "run plain SQL statements from the application",
    )


@_checks(ast.CreateExtensionStmt, ast.AlterExtensionStmt, ast.AlterExtensionContentsStmt)
def _extension(node: ast.Node) -> Found:
    yield (
        "dsql/extension",
        "extensions are not supported by Aurora DSQL; use built-ins (gen_random_uuid() needs no extension)",
    )


@_checks(ast.CreateEnumStmt, ast.CompositeTypeStmt, ast.CreateRangeStmt, ast.AlterEnumStmt, ast.DefineStmt)
def _create_type(node: ast.Node) -> Found:
    if isinstance(node, ast.DefineStmt):
        if node.kind == enums.ObjectType.OBJECT_COLLATION:
            yield _COLLATE
        if node.kind != enums.ObjectType.OBJECT_TYPE:
            return
    yield (
        "dsql/create-type",
        "CREATE TYPE (enums, composite and range types) is not supported by Aurora DSQL; use text "
        "with a CHECK constraint, e.g. CHECK (status IN ('new', 'paid')), or CREATE DOMAIN",
    )


_PARTITION: Final = (
    "dsql/partition",
    "table partitioning (PARTITION BY / PARTITION OF / ATTACH PARTITION) is not supported by Aurora "
    "DSQL, which distributes tables itself; use one plain table",
)
_INHERITS: Final = (
    "dsql/inherits",
    "table inheritance (INHERITS) is not supported by Aurora DSQL; declare all columns on the table",
)
_COLLATE: Final = (
    "dsql/collate",
    "Aurora DSQL only has the C collation: no COLLATE on columns, no CREATE COLLATION, and only "
    '"C" or "POSIX" in expressions; remove the clause (compare lower() values for case-insensitive '
    "matching)",
)
_TABLESPACE: Final = (
    "dsql/tablespace",
    "tablespaces are not supported by Aurora DSQL, which manages storage itself; remove the "
    "TABLESPACE clause",
)
_C_COLLATIONS: Final = frozenset({"c", "posix", "default"})


@_checks(ast.CreateStmt)
def _create_table(node: ast.Node) -> Found:
    assert isinstance(node, ast.CreateStmt)
    if node.partspec is not None or node.partbound is not None:
        yield _PARTITION
    elif node.inhRelations:
        yield _INHERITS
    if node.tablespacename:
        yield _TABLESPACE
    columns = sum(1 for e in node.tableElts or () if isinstance(e, ast.ColumnDef))
    if columns > MAX_TABLE_COLUMNS:
        problem = _column_count_violation(_relation_name(node.relation) if node.relation else "?", columns)
        yield problem.rule, problem.message.removeprefix(problem.rule + ": ")


@_checks(ast.CreateTableAsStmt)
def _create_table_as(node: ast.Node) -> Found:
    assert isinstance(node, ast.CreateTableAsStmt)
    if node.objtype == enums.ObjectType.OBJECT_MATVIEW:
        yield _MATVIEW
    else:
        yield _CTAS


@_checks(ast.SelectStmt)
def _select_into(node: ast.Node) -> Found:
    assert isinstance(node, ast.SelectStmt)
    if node.intoClause is not None:
        yield _CTAS


_CTAS: Final = (
    "dsql/create-table-as",
    "CREATE TABLE ... AS and SELECT ... INTO are not supported by Aurora DSQL; CREATE TABLE first, "
    f"then INSERT ... SELECT in batches of at most {MAX_MODIFIED_ROWS:,} rows",
)
_MATVIEW: Final = (
    "dsql/materialized-view",
    "materialized views are not supported by Aurora DSQL; use a view, or a table the application refreshes",
)
_RLS: Final = (
    "dsql/row-level-security",
    "row-level security (policies, ENABLE/FORCE ROW LEVEL SECURITY) is not supported by Aurora "
    "DSQL; enforce access with GRANTs and in the application",
)


@_checks(ast.RefreshMatViewStmt)
def _refresh(node: ast.Node) -> Found:
    yield _MATVIEW


@_checks(ast.CollateClause)
def _collate(node: ast.Node) -> Found:
    """Expressions: C and POSIX exist in DSQL; column COLLATE is caught by `_column_def`."""
    assert isinstance(node, ast.CollateClause)
    name = str(getattr((node.collname or (None,))[-1], "sval", "")).lower()
    if name not in _C_COLLATIONS:
        yield _COLLATE


@_checks(ast.CreatePolicyStmt, ast.AlterPolicyStmt)
def _policy(node: ast.Node) -> Found:
    yield _RLS


@_checks(ast.FuncCall)
def _advisory_lock(node: ast.Node) -> Found:
    assert isinstance(node, ast.FuncCall)
    name = str(getattr((node.funcname or (None,))[-1], "sval", "")).lower()
    if name.startswith(("pg_advisory", "pg_try_advisory")):
        yield (
            "dsql/advisory-lock",
            f"{name}() - advisory locks are not supported by Aurora DSQL (optimistic concurrency, no "
            "locks); use SELECT ... FOR UPDATE on a row, or a conditional UPDATE",
        )


@_checks(ast.LockingClause)
def _locking(node: ast.Node) -> Found:
    assert isinstance(node, ast.LockingClause)
    strengths = enums.LockClauseStrength
    if node.strength in (strengths.LCS_FORSHARE, strengths.LCS_FORNOKEYUPDATE):
        clause = "FOR SHARE" if node.strength == strengths.LCS_FORSHARE else "FOR NO KEY UPDATE"
        yield (
            "dsql/for-share",
            f"SELECT ... {clause} is not supported by Aurora DSQL; use FOR KEY SHARE (depend on the "
            "key columns) or FOR UPDATE (treat the rows as written)",
        )


@_checks(ast.Constraint)
def _constraint(node: ast.Node) -> Found:
    assert isinstance(node, ast.Constraint)
    kinds = enums.ConstrType
    if node.contype == kinds.CONSTR_EXCLUSION:
        yield (
            "dsql/exclusion-constraint",
            "exclusion constraints are not supported by Aurora DSQL; use a UNIQUE constraint or check "
            "overlaps in the application (SELECT ... FOR UPDATE)",
        )
    elif node.contype == kinds.CONSTR_IDENTITY:
        yield from _cache_option(node.options, required=True, what="identity column")
    elif (
        node.contype in (kinds.CONSTR_PRIMARY, kinds.CONSTR_UNIQUE)
        and len(node.keys or ()) > MAX_INDEX_KEY_COLUMNS
    ):
        yield _too_many_keys(
            len(node.keys or ()), "PRIMARY KEY" if node.contype == kinds.CONSTR_PRIMARY else "UNIQUE"
        )
    if node.indexspace:
        yield _TABLESPACE
    if node.deferrable and node.contype != kinds.CONSTR_FOREIGN:
        yield _DEFERRABLE


_DEFERRABLE: Final = (
    "dsql/deferrable",
    "Aurora DSQL defers only foreign key checks: DEFERRABLE applies to FOREIGN KEY constraints only "
    "(primary key, UNIQUE and CHECK are always checked immediately); remove DEFERRABLE",
)


@_checks(ast.CreatedbStmt)
def _create_database(node: ast.Node) -> Found:
    yield (
        "dsql/create-database",
        "CREATE DATABASE is not supported: an Aurora DSQL cluster has exactly one database, postgres; "
        "use a schema instead",
    )


@_checks(ast.VacuumStmt)
def _vacuum(node: ast.Node) -> Found:
    assert isinstance(node, ast.VacuumStmt)
    if node.is_vacuumcmd:
        yield (
            "dsql/vacuum",
            "VACUUM is not supported by Aurora DSQL, which needs no vacuuming; remove it "
            "(ANALYZE table is supported)",
        )


@_checks(ast.AlterSystemStmt)
def _alter_system(node: ast.Node) -> Found:
    yield (
        "dsql/alter-system",
        "ALTER SYSTEM is blocked in Aurora DSQL; set session parameters with SET, or configure the "
        "cluster through the AWS API",
    )


@_checks(
    ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt,
    ast.AlterTableSpaceOptionsStmt,
    ast.AlterTableMoveAllStmt,
)
def _tablespace(node: ast.Node) -> Found:
    yield _TABLESPACE


@_checks(ast.CreateSeqStmt, ast.AlterSeqStmt)
def _sequence(node: ast.Node) -> Found:
    assert isinstance(node, ast.CreateSeqStmt | ast.AlterSeqStmt)
    yield from _cache_option(node.options, required=isinstance(node, ast.CreateSeqStmt), what="sequence")
    for option in node.options or ():
        if isinstance(option, ast.DefElem) and option.defname == "as" and not _is_bigint(option.arg):
            problem = _bigint_violation(f"sequence AS {_type_name(option.arg)}")
            yield problem.rule, problem.message.removeprefix(problem.rule + ": ")


def _cache_option(options: object, *, required: bool, what: str) -> Found:
    items = options if isinstance(options, tuple) else ()
    caches = [o.arg for o in items if isinstance(o, ast.DefElem) and o.defname == "cache"]
    if not caches:
        if required:
            yield (
                "dsql/sequence-cache",
                f"Aurora DSQL requires an explicit CACHE on every {what}; add CACHE 1 (dense values, "
                f"slower) or CACHE {MIN_LARGE_SEQUENCE_CACHE} (fast, gaps)",
            )
        return
    value = _number(caches[-1])
    if value != 1 and (value is None or value < MIN_LARGE_SEQUENCE_CACHE):
        yield (
            "dsql/sequence-cache",
            f"{what} CACHE {value if value is not None else '?'} is not allowed by Aurora DSQL; use "
            f"CACHE 1 or CACHE >= {MIN_LARGE_SEQUENCE_CACHE}",
        )


def _number(value: object) -> int | None:
    if isinstance(value, ast.Integer):
        return int(value.ival or 0)
    if isinstance(value, ast.Float):
        try:
            return int(float(value.fval or "nan"))
        except ValueError:
            return None
    return None


def _type_name(type_name: object) -> str:
    names = getattr(type_name, "names", None) or ()
    return str(getattr(names[-1], "sval", "")).lower() if names else ""


def _is_bigint(type_name: object) -> bool:
    return _type_name(type_name) in ("int8", "bigint") and not getattr(type_name, "arrayBounds", None)


_SERIALS: Final = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})
# Built-in types the data-types page does not list as storable (inet: "supported only during query
# runtime"). Unknown names pass: they may be domains (supported) over a storable type.
_UNSTORABLE_TYPES: Final = frozenset(
    [
        "inet",
        "cidr",
        "macaddr",
        "macaddr8",
        "money",
        "xml",
        "point",
        "line",
        "lseg",
        "box",
        "path",
        "polygon",
        "circle",
        "tsvector",
        "tsquery",
        "bit",
        "varbit",
        "pg_lsn",
        "pg_snapshot",
        "txid_snapshot",
        "int4range",
        "int8range",
        "numrange",
        "tsrange",
        "tstzrange",
        "daterange",
        "int4multirange",
        "int8multirange",
        "nummultirange",
        "tsmultirange",
        "tstzmultirange",
        "datemultirange",
    ]
)


@_checks(ast.ColumnDef)
def _column_def(node: ast.Node) -> Found:
    assert isinstance(node, ast.ColumnDef)
    type_name = node.typeName
    column = node.colname or "?"
    if node.collClause is not None:
        yield _COLLATE
    if type_name is None:
        return
    name = _type_name(type_name)
    if type_name.arrayBounds:
        yield (
            "dsql/array-column",
            f"column {column}: array types are supported only at query runtime in Aurora DSQL, not as "
            "column types; use a child table (one row per element)",
        )
    elif name in _UNSTORABLE_TYPES:
        runtime = " is supported only at query runtime, not as a column type," if name == "inet" else ""
        yield (
            "dsql/column-type",
            f"column {column}: type {name}{runtime} is not among Aurora DSQL's storable data types; "
            "store it as text (or numeric, bytea, json/jsonb) and cast in queries",
        )
    if name in _SERIALS:
        yield (
            "dsql/serial",
            f"column {column}: {name.upper()} is not supported by Aurora DSQL; use uuid DEFAULT "
            "gen_random_uuid(), or bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 65536)",
        )
    constraints = [c for c in node.constraints or () if isinstance(c, ast.Constraint)]
    if any(c.contype == enums.ConstrType.CONSTR_IDENTITY for c in constraints) and not _is_bigint(type_name):
        problem = _bigint_violation(f"identity column {column} of type {name}")
        yield problem.rule, problem.message.removeprefix(problem.rule + ": ")
    yield from _column_deferrable(constraints)


def _column_deferrable(constraints: Sequence[ast.Constraint]) -> Found:
    """Column constraints carry DEFERRABLE as a separate node after the constraint it applies to."""
    kinds = enums.ConstrType
    target: ast.Constraint | None = None
    for constraint in constraints:
        if constraint.contype not in _CONSTRAINT_ATTRIBUTES:
            target = constraint
        elif constraint.contype == kinds.CONSTR_ATTR_DEFERRABLE and (
            target is None or target.contype != kinds.CONSTR_FOREIGN
        ):
            yield _DEFERRABLE


_CONSTRAINT_ATTRIBUTES: Final = frozenset(k for k in enums.ConstrType if k.name.startswith("CONSTR_ATTR_"))


# --- CREATE INDEX -----------------------------------------------------------------------------------


def _index_rules(node: ast.IndexStmt, prefix: _Prefix) -> Found:
    if node.concurrent or not prefix.is_async:
        yield (
            "dsql/index-async",
            "Aurora DSQL builds secondary indexes asynchronously only; write CREATE "
            f"{'UNIQUE ' if node.unique else ''}INDEX ASYNC name ON table (columns) and wait for its "
            "job in sys.jobs",
        )
    keys = [k for k in node.indexParams or () if isinstance(k, ast.IndexElem)]
    if any(k.ordering != enums.SortByDir.SORTBY_DEFAULT for k in keys):
        yield (
            "dsql/index-order",
            "ASC/DESC are not supported in Aurora DSQL index keys (NULLS FIRST/LAST is); list the bare "
            "columns - a backward scan serves the descending order",
        )
    if prefix.index_using or node.accessMethod not in (None, "btree"):
        yield _index_option("USING", "remove it (DSQL chooses the index structure)")
    if node.options:
        yield _index_option("WITH (...) storage parameters", "remove them")
    if any(k.opclass or k.collation for k in keys):
        yield _index_option("operator classes and COLLATE on key columns", "list the bare columns")
    if node.tableSpace:
        yield _TABLESPACE
    if len(keys) > MAX_INDEX_KEY_COLUMNS:
        yield _too_many_keys(len(keys), "index")


def _index_option(what: str, fix: str) -> tuple[str, str]:
    return (
        "dsql/index-options",
        f"{what}: not part of Aurora DSQL's CREATE INDEX ASYNC grammar; {fix}",
    )


def _too_many_keys(count: int, what: str) -> tuple[str, str]:
    return (
        "dsql/index-columns",
        f"{what} has {count} key columns, Aurora DSQL allows at most {MAX_INDEX_KEY_COLUMNS}; "
        "move extra columns to INCLUDE (...) or narrow the key",
    )


# --- ALTER TABLE ------------------------------------------------------------------------------------

_AT = enums.AlterTableType
# The ALTER TABLE actions in DSQL's documented grammar (ENABLE/DISABLE TRIGGER ALL/USER: not
# documented, accepted on live clusters per dsql-lint's fixtures of 2026-08-07).
_ALTER_TABLE_ACTIONS: Final = frozenset(
    _AT.__members__[name]
    for name in [
        "AT_AddColumn",
        "AT_DropColumn",
        "AT_ColumnDefault",
        "AT_DropNotNull",
        "AT_DropExpression",
        "AT_AddIdentity",
        "AT_SetIdentity",
        "AT_DropIdentity",
        "AT_SetStorage",
        "AT_AlterConstraint",
        "AT_AddConstraint",
        "AT_ValidateConstraint",
        "AT_DropConstraint",
        "AT_ChangeOwner",
        "AT_EnableTrigAll",
        "AT_DisableTrigAll",
        "AT_EnableTrigUser",
        "AT_DisableTrigUser",
    ]
)
_ALTER_TABLE_FIXES: Final[Mapping[object, str]] = {
    _AT.AT_AlterColumnType: "add a column of the new type, backfill it in batches, switch readers over, "
    "then DROP COLUMN the old one",
    _AT.AT_SetNotNull: "ADD CONSTRAINT name CHECK (column IS NOT NULL) NOT VALID, then ALTER TABLE ASYNC "
    "table VALIDATE CONSTRAINT name",
    _AT.AT_SetCompression: "DSQL compresses large values itself; use SET STORAGE if needed",
    _AT.AT_SetStatistics: "use CREATE STATISTICS for extended statistics",
    _AT.AT_SetRelOptions: "remove the storage parameters (DSQL manages storage itself)",
    _AT.AT_ResetRelOptions: "remove the storage parameters (DSQL manages storage itself)",
}


def _alter_table_rules(node: ast.AlterTableStmt, is_async: bool) -> Found:
    cmds = [c for c in node.cmds or () if isinstance(c, ast.AlterTableCmd)]
    for cmd in cmds:
        yield from _alter_table_cmd(cmd)
        if node.objtype == enums.ObjectType.OBJECT_TABLE:
            yield from _alter_table_action(cmd, is_async)
    if is_async and any(c.subtype != _AT.AT_ValidateConstraint for c in cmds):
        yield (
            "dsql/alter-table",
            "ALTER TABLE ASYNC applies only to VALIDATE CONSTRAINT in Aurora DSQL; run other actions "
            "without ASYNC",
        )


def _alter_table_cmd(cmd: ast.AlterTableCmd) -> Found:
    """Rules of their own, for ALTER TABLE and its relatives (ALTER INDEX, ALTER VIEW, ...)."""
    if cmd.subtype in (_AT.AT_AttachPartition, _AT.AT_DetachPartition, _AT.AT_DetachPartitionFinalize):
        yield _PARTITION
    elif cmd.subtype == _AT.AT_AddInherit:
        yield _INHERITS
    elif cmd.subtype in (_AT.AT_EnableRowSecurity, _AT.AT_ForceRowSecurity):
        yield _RLS
    elif cmd.subtype == _AT.AT_SetTableSpace:
        yield _TABLESPACE
    elif cmd.subtype == _AT.AT_SetIdentity:
        yield from _cache_option(cmd.def_, required=False, what="identity column")
    elif cmd.subtype == _AT.AT_AddConstraint and _is_primary_key(cmd.def_):
        yield (
            "dsql/primary-key-change",
            "Aurora DSQL cannot add a primary key to an existing table; declare PRIMARY KEY in "
            "CREATE TABLE (add a UNIQUE index with CREATE UNIQUE INDEX ASYNC instead)",
        )


def _alter_table_action(cmd: ast.AlterTableCmd, is_async: bool) -> Found:
    """ALTER TABLE actions against DSQL's ALTER TABLE grammar."""
    kinds = enums.ConstrType
    if cmd.subtype == _AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
        extras = [_CONSTRAINT_WORDS.get(c.contype, "constraints") for c in cmd.def_.constraints or ()]
        extras += ["COMPRESSION"] if cmd.def_.compression else []
        if extras:
            yield (
                "dsql/add-column",
                f"ALTER TABLE ... ADD COLUMN {cmd.def_.colname} with {', '.join(dict.fromkeys(extras))}: "
                "Aurora DSQL adds columns with a name, a type and STORAGE only; add the bare column, then "
                "ALTER COLUMN ... SET DEFAULT (own transaction), backfill in batches, and add a CHECK "
                "... NOT VALID constraint if needed",
            )
    elif cmd.subtype == _AT.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
        constraint = cmd.def_
        if (
            constraint.contype in (kinds.CONSTR_CHECK, kinds.CONSTR_FOREIGN)
            and not constraint.skip_validation
        ):
            yield (
                "dsql/not-valid",
                "Aurora DSQL adds CHECK and FOREIGN KEY constraints to existing tables only with NOT "
                "VALID; append NOT VALID, then check existing rows with ALTER TABLE ASYNC table VALIDATE "
                "CONSTRAINT name",
            )
        elif constraint.contype == kinds.CONSTR_UNIQUE and not constraint.indexname:
            yield (
                "dsql/alter-table",
                "ALTER TABLE ... ADD UNIQUE (columns) is not supported by Aurora DSQL; CREATE UNIQUE "
                "INDEX ASYNC first, then ADD CONSTRAINT name UNIQUE USING INDEX index_name",
            )
        elif constraint.contype not in _ADDABLE_CONSTRAINTS:
            yield _outside_grammar(f"ADD {_CONSTRAINT_WORDS.get(constraint.contype, 'CONSTRAINT')}")
    elif cmd.subtype == _AT.AT_ValidateConstraint and not is_async:
        yield (
            "dsql/validate-async",
            "Aurora DSQL validates constraints as an asynchronous job; write ALTER TABLE ASYNC table "
            "VALIDATE CONSTRAINT name and follow the job in sys.jobs",
        )
    elif cmd.subtype not in _ALTER_TABLE_ACTIONS and cmd.subtype not in _OWN_RULES:
        yield _outside_grammar(_action_words(cmd.subtype), _ALTER_TABLE_FIXES.get(cmd.subtype))


_OWN_RULES: Final = frozenset(
    _AT.__members__[name]
    for name in [
        "AT_AttachPartition",
        "AT_DetachPartition",
        "AT_DetachPartitionFinalize",
        "AT_AddInherit",
        "AT_EnableRowSecurity",
        "AT_ForceRowSecurity",
        "AT_SetTableSpace",
    ]
)
# CHECK / FOREIGN KEY (NOT VALID) and UNIQUE USING INDEX are DSQL's; PRIMARY KEY and EXCLUDE have rules.
_ADDABLE_CONSTRAINTS: Final = frozenset(
    enums.ConstrType.__members__[name]
    for name in ["CONSTR_CHECK", "CONSTR_FOREIGN", "CONSTR_UNIQUE", "CONSTR_PRIMARY", "CONSTR_EXCLUSION"]
)
_CONSTRAINT_WORDS: Final[Mapping[object, str]] = {
    enums.ConstrType.CONSTR_NULL: "NULL",
    enums.ConstrType.CONSTR_NOTNULL: "NOT NULL",
    enums.ConstrType.CONSTR_DEFAULT: "DEFAULT",
    enums.ConstrType.CONSTR_IDENTITY: "GENERATED AS IDENTITY",
    enums.ConstrType.CONSTR_GENERATED: "GENERATED ALWAYS AS",
    enums.ConstrType.CONSTR_CHECK: "CHECK",
    enums.ConstrType.CONSTR_PRIMARY: "PRIMARY KEY",
    enums.ConstrType.CONSTR_UNIQUE: "UNIQUE",
    enums.ConstrType.CONSTR_FOREIGN: "REFERENCES",
}


def _outside_grammar(action: str, fix: str | None = None) -> tuple[str, str]:
    return (
        "dsql/alter-table",
        f"ALTER TABLE ... {action} is not part of Aurora DSQL's ALTER TABLE grammar; "
        + (fix or "see the supported actions in docs/dsql-guard.md"),
    )


def _action_words(subtype: object) -> str:
    """AT_SetNotNull -> SET NOT NULL (the enum name, spelled as SQL)."""
    words: list[str] = []
    for char in str(getattr(subtype, "name", subtype)).removeprefix("AT_"):
        if char.isupper() or not words:
            words.append(char)
        else:
            words[-1] += char
    return " ".join(words).upper()


def _is_primary_key(node: object) -> bool:
    return isinstance(node, ast.Constraint) and node.contype == enums.ConstrType.CONSTR_PRIMARY
