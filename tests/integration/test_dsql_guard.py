"""The DSQL guard: the corpus through the pure API and through real guarded connections."""

from __future__ import annotations

import pickle
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.guarded import (
    DsqlLimitError,
    DsqlTooManyColumnsError,
    DsqlUnsupportedError,
    GuardedConnection,
    GuardedCursor,
)
from ecommerce_ops.dsql_rules import DSQL_LINT, RULES, USER_GUIDE, analyze, check, check_transaction

CORPUS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "dsql_corpus.yaml").read_text(encoding="utf-8")
)
ENGINE_CORPUS = [e for e in CORPUS if e.get("engine", True)]
DsqlError = (DsqlUnsupportedError, DsqlLimitError)
ARN = "arn:aws:iam::123456789012:role/ecommerce-api"
DOCS = Path(__file__).parents[2] / "docs"

# Rules the corpus cannot show (they need time to pass), and the tests that show both sides instead.
COVERED_BY_TESTS = {
    "dsql/transaction-age": (
        "test_old_transaction_rejected_at_next_statement",
        "test_old_transaction_rejected_at_commit",
    ),
}


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


def test_corpus_ids_are_unique_and_rules_known() -> None:
    assert len(set(_ids(CORPUS))) == len(CORPUS)
    assert {e["rule"] for e in CORPUS if "rule" in e} <= set(RULES)


def test_every_rule_is_shown_rejected_and_its_nearest_form_accepted() -> None:
    """A check that cannot fail is a defect: each rule fires on an entry, and the closest form passes."""
    by_id = {e["id"]: e for e in CORPUS}
    nearest = [e for e in CORPUS if "accepts_nearest" in e]
    for entry in nearest:
        assert "rule" not in entry, f"{entry['id']}: an accepts_nearest entry must be accepted"
        assert "rule" in by_id[entry["accepts_nearest"]], f"{entry['id']}: must name a rejected entry"
    rejected = {e["rule"] for e in CORPUS if "rule" in e}
    accepted = {by_id[e["accepts_nearest"]]["rule"] for e in nearest}
    for rule, tests in COVERED_BY_TESTS.items():
        assert all(callable(globals().get(name)) for name in tests), tests
        rejected.add(rule)
        accepted.add(rule)
    assert set(RULES) - rejected == set(), "rules without a rejected corpus entry"
    assert set(RULES) - accepted == set(), "rules without an accepts_nearest corpus entry"


def test_every_rule_cites_its_source_and_date() -> None:
    for rule in RULES.values():
        assert rule.source.startswith((USER_GUIDE, DSQL_LINT)), rule.id
        assert rule.date in ("long-standing",) or rule.date[:4] == "2026" or rule.date.startswith("undated")
        if rule.source == DSQL_LINT:
            assert rule.evidence, f"{rule.id}: a rule only dsql-lint evidences must say so"


def test_docs_list_every_rule_with_source_and_date() -> None:
    """docs/dsql-guard.md has one table row per rule naming its page and date."""
    rows = [
        line
        for line in (DOCS / "dsql-guard.md").read_text(encoding="utf-8").splitlines()
        if "| `dsql/" in line
    ]
    for rule in RULES.values():
        row = next((r for r in rows if r.startswith(f"| `{rule.id}`")), None)
        assert row is not None, f"{rule.id} missing from docs/dsql-guard.md"
        page = (
            rule.source.removeprefix(USER_GUIDE)
            if rule.source.startswith(USER_GUIDE)
            else "aurora-dsql-tools"
        )
        assert page in row, f"{rule.id}: docs row does not cite {page}"
        assert rule.date.split(" ")[0] in row, f"{rule.id}: docs row does not give the date {rule.date}"
        assert rule.sqlstate in row, rule.id


@pytest.mark.parametrize("entry", CORPUS, ids=_ids(CORPUS))
def test_corpus_check_api(entry: dict[str, Any]) -> None:
    found = check_transaction(entry["transaction"]) if "transaction" in entry else check(entry["sql"])
    if "rule" not in entry or entry.get("stateful"):
        assert found == []  # stateful: only the guarded connection, reading the database, can tell
        return
    assert any(v.rule == entry["rule"] and entry["message"] in v.message for v in found), found
    assert all(v.message.startswith(v.rule + ": ") for v in found)


# --- the corpus on the embedded server ------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_dsn(local_engine: LocalEngine) -> str:
    return local_engine.create_database("dsql_corpus")


def _in_schema(dsn: str, schema: str) -> str:
    return make_conninfo(dsn, options=f"-c search_path={schema}")


def _prepare(dsn: str, entry: dict[str, Any]) -> str:
    """A schema of its own per entry, with the entry's setup applied unguarded."""
    schema = "c_" + str(entry["id"]).replace("-", "_")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    if entry.get("setup"):
        with psycopg.connect(_in_schema(dsn, schema), autocommit=True) as admin:
            admin.execute(entry["setup"].encode())
    return schema


def _assert_rejected(info: pytest.ExceptionInfo[Exception], entry: dict[str, Any]) -> None:
    exc = info.value
    assert isinstance(exc, DsqlError)
    assert exc.rule == entry["rule"]
    assert exc.sqlstate == RULES[entry["rule"]].sqlstate
    assert str(exc).startswith(entry["rule"] + ": ")
    assert entry["message"] in str(exc)


def _prove_postgres_accepts(dsn: str, schema: str, statements: list[str]) -> None:
    """The same statements succeed on plain PostgreSQL: the guard, not PostgreSQL, rejected them."""
    with psycopg.connect(_in_schema(dsn, schema)) as plain:
        for statement in statements:
            plain.execute(analyze(statement).pg_sql.encode())
        plain.rollback()


@pytest.mark.parametrize("entry", ENGINE_CORPUS, ids=_ids(ENGINE_CORPUS))
def test_corpus_on_engine(local_engine: LocalEngine, corpus_dsn: str, entry: dict[str, Any]) -> None:
    schema = _prepare(corpus_dsn, entry)
    statements = entry.get("transaction") or [entry["sql"]]
    in_transaction = "transaction" in entry
    with local_engine.connect(_in_schema(corpus_dsn, schema), autocommit=not in_transaction) as conn:
        rejected_at = entry.get("at", len(statements) - 1) if "rule" in entry else None
        for index, statement in enumerate(statements):
            if index == rejected_at:
                with pytest.raises(DsqlError) as info:
                    conn.execute(statement)
                _assert_rejected(info, entry)
                if in_transaction:
                    assert conn.info.transaction_status == TransactionStatus.INERROR
                break
            conn.execute(statement)
        if in_transaction:
            conn.rollback() if rejected_at is not None else conn.commit()
    if rejected_at is not None and entry.get("pg_accepts", True):
        _prove_postgres_accepts(corpus_dsn, schema, statements)


# --- fixtures for the behaviour tests ---------------------------------------------------------------


@pytest.fixture(scope="module")
def module_dsn(local_engine: LocalEngine) -> str:
    return local_engine.create_database(f"guard_{secrets.token_hex(4)}")


@pytest.fixture
def schema_dsn(module_dsn: str) -> str:
    """An empty schema of its own (cheaper than a database per test)."""
    schema = f"t_{secrets.token_hex(4)}"
    with psycopg.connect(module_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return _in_schema(module_dsn, schema)


@pytest.fixture
def items_dsn(schema_dsn: str) -> str:
    with psycopg.connect(schema_dsn, autocommit=True) as admin:
        admin.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
    return schema_dsn


@pytest.fixture
def conn(local_engine: LocalEngine, items_dsn: str) -> Iterator[GuardedConnection[Any]]:
    with local_engine.connect(items_dsn) as connection:
        yield connection


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as plain:
        row = plain.execute("SELECT count(*) FROM items").fetchone()
        assert row is not None
        return int(row[0])


INSERT_SERIES = "INSERT INTO items (id) SELECT generate_series(%s::int, %s::int)"


# --- 3,000 modified rows per transaction -------------------------------------------------------------


def test_3000_rows_commit(conn: GuardedConnection[Any], items_dsn: str) -> None:
    conn.execute(INSERT_SERIES, (1, 1000))
    conn.execute(INSERT_SERIES, (1001, 3000))
    conn.commit()
    assert _count(items_dsn) == 3000


def test_3001_rows_fail_at_commit_and_nothing_is_committed(
    conn: GuardedConnection[Any], items_dsn: str
) -> None:
    conn.execute(INSERT_SERIES, (1, 2000))
    conn.execute(INSERT_SERIES, (2001, 3001))
    with pytest.raises(DsqlLimitError) as info:
        conn.commit()
    assert info.value.sqlstate == "54000"
    assert info.value.rule == "dsql/row-limit"
    assert "modified 3001 rows" in str(info.value)
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert _count(items_dsn) == 0


def test_updates_and_deletes_count_too(conn: GuardedConnection[Any], items_dsn: str) -> None:
    conn.execute(INSERT_SERIES, (1, 2000))
    conn.commit()
    conn.execute("UPDATE items SET name = 'x' WHERE id <= 1500")
    conn.execute("DELETE FROM items WHERE id > 499")
    with pytest.raises(DsqlLimitError):
        conn.commit()
    assert _count(items_dsn) == 2000


def test_rows_of_earlier_transactions_are_not_counted(conn: GuardedConnection[Any], items_dsn: str) -> None:
    """PostgreSQL's pending statistics still hold the first transaction's rows; the baseline removes them."""
    conn.execute(INSERT_SERIES, (1, 2500))
    conn.commit()
    conn.execute(INSERT_SERIES, (2501, 5000))
    conn.commit()
    assert _count(items_dsn) == 5000


def test_transaction_block_counts_rows(conn: GuardedConnection[Any], items_dsn: str) -> None:
    with pytest.raises(DsqlLimitError), conn.transaction():
        conn.execute(INSERT_SERIES, (1, 3001))
    assert _count(items_dsn) == 0


@pytest.mark.parametrize(("rows", "fails"), [(3000, False), (3001, True)])
def test_pipeline_mode_counts_rows(
    conn: GuardedConnection[Any], items_dsn: str, rows: int, fails: bool
) -> None:
    def insert_in_pipeline() -> None:
        with conn.transaction(), conn.pipeline():
            cur = conn.cursor()
            for i in range(rows):
                cur.execute("INSERT INTO items (id) VALUES (%s)", (i,))

    if fails:
        with pytest.raises(DsqlLimitError):
            insert_in_pipeline()
    else:
        insert_in_pipeline()
    assert _count(items_dsn) == (0 if fails else rows)


def test_pipeline_commit_inside_pipeline_block(conn: GuardedConnection[Any], items_dsn: str) -> None:
    with conn.pipeline():
        conn.execute(INSERT_SERIES, (1, 3001))
        with pytest.raises(DsqlLimitError):
            conn.commit()
    assert _count(items_dsn) == 0


def test_autocommit_single_statement_over_limit(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        conn.execute(INSERT_SERIES, (1, 3000))
        with pytest.raises(DsqlLimitError):
            conn.execute(INSERT_SERIES, (3001, 6001))
        assert conn.info.transaction_status == TransactionStatus.IDLE
        conn.execute("SELECT 1")
    assert _count(items_dsn) == 3000


def test_autocommit_executemany_over_limit(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        with pytest.raises(DsqlLimitError):
            conn.cursor().executemany("INSERT INTO items (id) VALUES (%s)", [(i,) for i in range(3001)])
        conn.cursor().executemany("INSERT INTO items (id) VALUES (%s)", [(i,) for i in range(10)])
    assert _count(items_dsn) == 10


def test_autocommit_statement_errors_roll_back(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO items (id) VALUES (1)")
        with pytest.raises(errors.UniqueViolation):
            conn.execute("INSERT INTO items (id) VALUES (2), (1)")
        assert conn.info.transaction_status == TransactionStatus.IDLE
    assert _count(items_dsn) == 1


# --- DDL rules ----------------------------------------------------------------------------------------


def test_autocommit_runs_each_ddl_alone(local_engine: LocalEngine, schema_dsn: str) -> None:
    with local_engine.connect(schema_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id uuid PRIMARY KEY DEFAULT gen_random_uuid())")
        conn.execute("CREATE TABLE b (id uuid PRIMARY KEY DEFAULT gen_random_uuid())")
        conn.execute("INSERT INTO a DEFAULT VALUES")


def test_autocommit_multi_statement_string_is_one_transaction(
    local_engine: LocalEngine, schema_dsn: str
) -> None:
    with (
        local_engine.connect(schema_dsn, autocommit=True) as conn,
        pytest.raises(DsqlUnsupportedError) as info,
    ):
        conn.execute("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)")
    assert info.value.rule == "dsql/ddl-per-transaction"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("INSERT INTO items (id) VALUES (1)", "CREATE TABLE other (id int PRIMARY KEY)"),
        ("CREATE TABLE other (id int PRIMARY KEY)", "INSERT INTO items (id) VALUES (1)"),
    ],
    ids=["dml-then-ddl", "ddl-then-dml"],
)
def test_ddl_dml_mix_in_explicit_block(
    local_engine: LocalEngine, items_dsn: str, first: str, second: str
) -> None:
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute(first)
        with pytest.raises(DsqlUnsupportedError) as info:
            conn.execute(second)
        assert info.value.rule == "dsql/ddl-dml-mix"
        assert conn.info.transaction_status == TransactionStatus.INERROR
        conn.execute("ROLLBACK")
        conn.execute(second)  # alone it is fine


def test_two_ddl_in_transaction_block(local_engine: LocalEngine, schema_dsn: str) -> None:
    with local_engine.connect(schema_dsn) as conn:

        def create_two_tables() -> None:
            with conn.transaction():
                conn.execute("CREATE TABLE a (id int PRIMARY KEY)")
                conn.execute("CREATE TABLE b (id int PRIMARY KEY)")

        with pytest.raises(DsqlUnsupportedError) as info:
            create_two_tables()
        assert info.value.rule == "dsql/ddl-per-transaction"
        assert conn.execute("SELECT to_regclass('a')").fetchone() == (None,)


# --- failed transactions ---------------------------------------------------------------------------


def test_rejection_fails_the_transaction_like_postgres(conn: GuardedConnection[Any]) -> None:
    conn.execute("INSERT INTO items (id) VALUES (1)")
    with pytest.raises(DsqlUnsupportedError):
        conn.execute("TRUNCATE items")
    assert conn.info.transaction_status == TransactionStatus.INERROR
    with pytest.raises(errors.InFailedSqlTransaction):
        conn.execute("SELECT 1")
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_rejected_first_statement_still_opens_a_failed_transaction(conn: GuardedConnection[Any]) -> None:
    with pytest.raises(DsqlUnsupportedError):
        conn.execute("SELECT pg_advisory_lock(1)")
    assert conn.info.transaction_status == TransactionStatus.INERROR
    conn.rollback()
    conn.execute("SELECT 1")


def test_rejection_in_autocommit_leaves_connection_idle(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        with pytest.raises(DsqlUnsupportedError):
            conn.execute("TRUNCATE items")
        assert conn.info.transaction_status == TransactionStatus.IDLE
        conn.execute("SELECT 1")


def test_nested_transaction_block_needs_savepoint(conn: GuardedConnection[Any]) -> None:
    def nest() -> None:
        with conn.transaction():
            conn.execute("INSERT INTO items (id) VALUES (1)")
            with conn.transaction():
                pass

    with pytest.raises(DsqlUnsupportedError) as info:
        nest()
    assert info.value.rule == "dsql/savepoint"
    with conn.transaction():
        conn.execute("INSERT INTO items (id) VALUES (2)")
    assert conn.execute("SELECT array_agg(id) FROM items").fetchone() == ([2],)


# --- isolation ---------------------------------------------------------------------------------------


def test_connections_are_repeatable_read(local_engine: LocalEngine, schema_dsn: str) -> None:
    for autocommit in (False, True):
        with local_engine.connect(schema_dsn, autocommit=autocommit) as conn:
            assert conn.isolation_level == psycopg.IsolationLevel.REPEATABLE_READ
            assert conn.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)


@pytest.mark.parametrize(
    "level",
    [
        psycopg.IsolationLevel.SERIALIZABLE,
        psycopg.IsolationLevel.READ_COMMITTED,
        psycopg.IsolationLevel.READ_UNCOMMITTED,
    ],
)
def test_other_isolation_levels_raise(conn: GuardedConnection[Any], level: psycopg.IsolationLevel) -> None:
    with pytest.raises(DsqlUnsupportedError) as info:
        conn.isolation_level = level
    assert info.value.rule == "dsql/isolation-level"
    with pytest.raises(DsqlUnsupportedError):
        conn.set_isolation_level(level)
    assert conn.isolation_level == psycopg.IsolationLevel.REPEATABLE_READ
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.isolation_level = None  # the server default, which is REPEATABLE READ


# --- 10 MiB written per transaction --------------------------------------------------------------------

MIB_ROWS = "INSERT INTO blobs SELECT g, repeat('x', 1000000) FROM generate_series(%s::int, %s::int) AS g"


@pytest.fixture
def blobs_dsn(schema_dsn: str) -> str:
    """EXTERNAL storage: values are stored uncompressed, so 1,000,000 characters write ~1 MB."""
    with psycopg.connect(schema_dsn, autocommit=True) as admin:
        admin.execute("CREATE TABLE blobs (id int PRIMARY KEY, body text)")
        admin.execute("ALTER TABLE blobs ALTER COLUMN body SET STORAGE EXTERNAL")
    return schema_dsn


def _blob_count(dsn: str) -> int:
    with psycopg.connect(dsn) as plain:
        row = plain.execute("SELECT count(*) FROM blobs").fetchone()
        assert row is not None
        return int(row[0])


def test_bytes_of_a_transaction_add_up_and_fail_at_commit(local_engine: LocalEngine, blobs_dsn: str) -> None:
    with local_engine.connect(blobs_dsn) as conn:
        conn.execute(MIB_ROWS, (1, 6))
        conn.execute(MIB_ROWS, (7, 11))
        with pytest.raises(DsqlLimitError) as info:
            conn.commit()
        assert info.value.rule == "dsql/transaction-size"
        assert info.value.sqlstate == "54000"
        conn.execute(MIB_ROWS, (1, 9))  # the next transaction starts from zero
        conn.commit()
    assert _blob_count(blobs_dsn) == 9


def test_other_sessions_bytes_do_not_count(local_engine: LocalEngine, blobs_dsn: str) -> None:
    """The cheap WAL bound includes everyone's writes; the precise count keeps only this transaction's."""
    with local_engine.connect(blobs_dsn) as conn, psycopg.connect(blobs_dsn, autocommit=True) as other:
        conn.execute(MIB_ROWS, (1, 5))
        other.execute(MIB_ROWS, (101, 108))  # 8 MB more WAL, committed by another session
        conn.commit()
    assert _blob_count(blobs_dsn) == 13


# --- limits read from the catalog ----------------------------------------------------------------------


def test_catalog_limits_resolve_quoted_and_qualified_names(
    local_engine: LocalEngine, schema_dsn: str
) -> None:
    with psycopg.connect(schema_dsn, autocommit=True) as admin:
        admin.execute('CREATE SCHEMA "Shop"')
        admin.execute('CREATE TABLE "Shop"."Items" (id int PRIMARY KEY, "Name" text)')
        for i in range(24):
            admin.execute(f'CREATE INDEX "Items_{i}" ON "Shop"."Items" ("Name")')
    with local_engine.connect(schema_dsn, autocommit=True) as conn:
        with pytest.raises(DsqlLimitError) as info:
            conn.execute('CREATE INDEX ASYNC "Items_name" ON "Shop"."Items" ("Name", id)')
        assert info.value.rule == "dsql/index-count"
        conn.execute('DROP INDEX "Shop"."Items_0"')
        conn.execute('CREATE INDEX ASYNC "Items_name" ON "Shop"."Items" ("Name", id)')
        with pytest.raises(errors.UndefinedTable):  # no such table: PostgreSQL says so, not the guard
            conn.execute("ALTER TABLE missing ADD COLUMN note text")


def test_too_many_columns_is_sqlstate_54011(local_engine: LocalEngine, schema_dsn: str) -> None:
    columns = ", ".join(f"c{i} int" for i in range(9))
    keys = ", ".join(f"c{i}" for i in range(9))
    with local_engine.connect(schema_dsn, autocommit=True) as conn:
        with pytest.raises(DsqlTooManyColumnsError) as info:
            conn.execute(f"CREATE TABLE wide ({columns}, PRIMARY KEY ({keys}))")
        assert isinstance(info.value, DsqlLimitError)
        assert (info.value.sqlstate, info.value.rule) == ("54011", "dsql/index-columns")


# --- transaction age -----------------------------------------------------------------------------------


def test_old_transaction_rejected_at_next_statement(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, max_transaction_age=0.2) as conn:
        conn.execute("SELECT 1")
        time.sleep(0.3)
        with pytest.raises(DsqlLimitError) as info:
            conn.execute("SELECT 1")
        assert info.value.rule == "dsql/transaction-age"
        assert info.value.sqlstate == "54000"
        conn.rollback()
        conn.execute("SELECT 1")  # a new transaction starts a new clock
        conn.commit()


def test_old_transaction_rejected_at_commit(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, max_transaction_age=0.2) as conn:
        conn.execute("INSERT INTO items (id) VALUES (1)")
        time.sleep(0.3)
        with pytest.raises(DsqlLimitError):
            conn.commit()
        assert conn.info.transaction_status == TransactionStatus.IDLE
    assert _count(items_dsn) == 0


# --- query forms ------------------------------------------------------------------------------------


def test_composed_queries_are_checked(conn: GuardedConnection[Any]) -> None:
    with pytest.raises(DsqlUnsupportedError) as info:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier("items")))
    assert info.value.rule == "dsql/truncate"


def test_bytes_queries_are_checked(conn: GuardedConnection[Any]) -> None:
    with pytest.raises(DsqlUnsupportedError):
        conn.execute(b"TRUNCATE items")


def test_executemany_is_checked(conn: GuardedConnection[Any]) -> None:
    with pytest.raises(DsqlUnsupportedError):
        conn.cursor().executemany("SELECT pg_advisory_lock(%s)", [(1,), (2,)])
    conn.rollback()
    conn.cursor().executemany("INSERT INTO items (id) VALUES (%s)", [(1,), (2,)])
    conn.commit()


def test_stream_is_checked(conn: GuardedConnection[Any]) -> None:
    with pytest.raises(DsqlUnsupportedError):
        list(conn.cursor().stream("SELECT pg_advisory_lock(1)"))
    conn.rollback()
    assert list(conn.cursor().stream("SELECT 1")) == [(1,)]


def test_server_cursor_is_checked(conn: GuardedConnection[Any]) -> None:
    with pytest.raises(DsqlUnsupportedError), conn.cursor("named") as cur:
        cur.execute("SELECT pg_advisory_lock(1)")


def test_iam_and_async_index_must_be_sent_alone(local_engine: LocalEngine, schema_dsn: str) -> None:
    with local_engine.connect(schema_dsn, autocommit=True) as conn, pytest.raises(psycopg.ProgrammingError):
        conn.execute(f"SELECT 1; AWS IAM GRANT app TO '{ARN}'")


def test_syntax_errors_come_from_postgres(conn: GuardedConnection[Any]) -> None:
    with pytest.raises(errors.SyntaxError):
        conn.execute("SELEC 1")


# --- CREATE INDEX ASYNC emulation ------------------------------------------------------------------------


def test_create_index_async_returns_job_and_builds_index(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        row = conn.execute("CREATE INDEX ASYNC items_name ON items (name)").fetchone()
        assert row is not None
        job_id = row[0]
        job = conn.execute("SELECT status, object_name FROM sys.jobs WHERE job_id = %s", (job_id,))
        assert job.fetchone() == ("completed", "items_name")
        assert conn.execute("SELECT sys.wait_for_job(%s)", (job_id,)).fetchone() == (True,)
        valid = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_name'::regclass")
        assert valid.fetchone() == (True,)
        conn.execute("CREATE UNIQUE INDEX ASYNC ON items (name, id)")  # unnamed, as PostgreSQL allows


def test_failed_async_index_build_is_reported_in_sys_jobs(local_engine: LocalEngine, items_dsn: str) -> None:
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO items (id, name) VALUES (1, 'pen'), (2, 'pen')")
        row = conn.execute("CREATE UNIQUE INDEX ASYNC items_name ON items (name)").fetchone()
        assert row is not None
        status = conn.execute("SELECT status, details FROM sys.jobs WHERE job_id = %s", (row[0],)).fetchone()
        assert status is not None
        assert status[0] == "failed"
        assert "duplicate" in status[1]
        assert conn.execute("SELECT to_regclass('items_name')").fetchone() == (None,)


# --- AWS IAM GRANT / REVOKE emulation --------------------------------------------------------------------


def test_aws_iam_grant_and_revoke_are_recorded(local_engine: LocalEngine, fresh_dsn: str) -> None:
    with local_engine.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS guard_api")
        conn.execute("CREATE ROLE guard_api WITH LOGIN")
        conn.execute(f"AWS IAM GRANT guard_api TO '{ARN}'")
        assert local_engine.iam_role_mappings(fresh_dsn) == [("guard_api", ARN)]
        conn.execute(f"AWS IAM REVOKE guard_api FROM '{ARN}'")
    assert local_engine.iam_role_mappings(fresh_dsn) == []


def test_aws_iam_grant_in_transaction_rolls_back(local_engine: LocalEngine, fresh_dsn: str) -> None:
    with local_engine.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS guard_tx")
        conn.execute("CREATE ROLE guard_tx")
    with local_engine.connect(fresh_dsn) as conn:
        conn.execute(f"AWS IAM GRANT guard_tx TO '{ARN}'")
        conn.rollback()
    assert local_engine.iam_role_mappings(fresh_dsn) == []


def test_aws_iam_grant_unknown_role(local_engine: LocalEngine, schema_dsn: str) -> None:
    with local_engine.connect(schema_dsn, autocommit=True) as conn, pytest.raises(errors.UndefinedObject):
        conn.execute(f"AWS IAM GRANT no_such_role TO '{ARN}'")


def test_aws_iam_grant_bad_arn(local_engine: LocalEngine, schema_dsn: str) -> None:
    with local_engine.connect(schema_dsn) as conn:
        with pytest.raises(errors.InvalidParameterValue):
            conn.execute("AWS IAM GRANT postgres TO 'arn:aws:s3:::bucket'")
        assert conn.info.transaction_status == TransactionStatus.INERROR


# --- bookkeeping stays out of the application's view ---------------------------------------------------


class CountingCursor(GuardedCursor[Any]):
    calls = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        return super().execute(*args, **kwargs)


def test_bookkeeping_bypasses_cursor_execute(local_engine: LocalEngine, items_dsn: str) -> None:
    CountingCursor.calls = 0
    with local_engine.connect(items_dsn, cursor_factory=CountingCursor) as conn:
        conn.execute("INSERT INTO items (id) VALUES (1)")
        conn.execute("UPDATE items SET name = 'x'")
        conn.commit()
        with conn.pipeline():
            conn.execute("INSERT INTO items (id) VALUES (2)")
        conn.commit()
    assert CountingCursor.calls == 3


# --- errors and speed ---------------------------------------------------------------------------------


def test_error_classes_map_to_dsql_sqlstates() -> None:
    unsupported = DsqlUnsupportedError("dsql/truncate: no")
    limit = DsqlLimitError("dsql/row-limit: too many")
    columns = DsqlTooManyColumnsError("dsql/index-columns: too many")
    assert isinstance(unsupported, errors.FeatureNotSupported)
    assert isinstance(limit, errors.ProgramLimitExceeded)
    assert isinstance(columns, errors.TooManyColumns) and isinstance(columns, DsqlLimitError)
    assert (unsupported.sqlstate, unsupported.rule) == ("0A000", "dsql/truncate")
    assert (limit.sqlstate, limit.rule) == ("54000", "dsql/row-limit")
    assert (columns.sqlstate, columns.rule) == ("54011", "dsql/index-columns")
    assert pickle.loads(pickle.dumps(limit)).rule == "dsql/row-limit"


def test_guard_overhead_is_microseconds(local_engine: LocalEngine, items_dsn: str) -> None:
    query = "SELECT id, name FROM items WHERE id = %s"
    assert analyze(query) is analyze(query)
    with local_engine.connect(items_dsn, autocommit=True) as conn:
        conn._plan(query, has_params=True)
        rounds = 5000
        started = time.perf_counter()
        for _ in range(rounds):
            conn._plan(query, has_params=True)
        per_call = (time.perf_counter() - started) / rounds
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} µs per statement"
