"""The rule table: every DSQL rule with the user-guide page and date it comes from, and the
limits the guard and the linter enforce."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

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
