"""Aurora DSQL's SQL rules as one pure rule engine.

The guarded local connection (`ecommerce_dev.guarded`) and the linter (`ecommerce_dev.lint`) both
call `analyze`, so a statement is judged the same way whether it is linted or executed.
Classification works on pglast's parse tree (PostgreSQL's own parser). The two DSQL-only syntaxes
PostgreSQL cannot parse - ``CREATE [UNIQUE] INDEX ASYNC`` and ``AWS IAM GRANT/REVOKE`` - are found
with PostgreSQL's scanner (token level, never regular expressions) before parsing.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import pglast
from pglast import ast, enums
from pglast.parser import ParseError, Token, scan

UNSUPPORTED: Final = "0A000"
LIMIT: Final = "54000"

MAX_MODIFIED_ROWS: Final = 3000
MAX_TRANSACTION_AGE: Final = 300.0
MAX_INDEX_KEY_COLUMNS: Final = 8
MIN_LARGE_SEQUENCE_CACHE: Final = 65536


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    sqlstate: str
    summary: str


RULES: Final[dict[str, Rule]] = {
    rule.id: rule
    for rule in (
        Rule("dsql/truncate", UNSUPPORTED, "TRUNCATE is not supported"),
        Rule("dsql/savepoint", UNSUPPORTED, "SAVEPOINT, RELEASE and ROLLBACK TO are not supported"),
        Rule("dsql/temporary-table", UNSUPPORTED, "temporary tables, views and sequences are not supported"),
        Rule("dsql/trigger", UNSUPPORTED, "triggers and event triggers are not supported"),
        Rule("dsql/procedural-language", UNSUPPORTED, "only LANGUAGE sql functions; no PL/pgSQL, no DO"),
        Rule("dsql/extension", UNSUPPORTED, "extensions are not supported"),
        Rule("dsql/create-type", UNSUPPORTED, "CREATE TYPE (enum, composite, range, base) is not supported"),
        Rule("dsql/domain", UNSUPPORTED, "CREATE DOMAIN is not supported (treated like CREATE TYPE)"),
        Rule("dsql/partition", UNSUPPORTED, "table partitioning is not supported"),
        Rule("dsql/materialized-view", UNSUPPORTED, "materialized views are not supported"),
        Rule("dsql/create-table-as", UNSUPPORTED, "CREATE TABLE ... AS / SELECT ... INTO are not supported"),
        Rule("dsql/inherits", UNSUPPORTED, "table inheritance is not supported"),
        Rule("dsql/collate", UNSUPPORTED, "COLLATE clauses are not supported (C collation only)"),
        Rule("dsql/row-level-security", UNSUPPORTED, "row-level security is not supported"),
        Rule("dsql/advisory-lock", UNSUPPORTED, "advisory locks are not supported"),
        Rule("dsql/exclusion-constraint", UNSUPPORTED, "exclusion constraints are not supported"),
        Rule("dsql/create-database", UNSUPPORTED, "one database per cluster: postgres"),
        Rule("dsql/primary-key-change", UNSUPPORTED, "a primary key cannot be added to an existing table"),
        Rule("dsql/index-async", UNSUPPORTED, "secondary indexes need CREATE [UNIQUE] INDEX ASYNC"),
        Rule("dsql/index-order", UNSUPPORTED, "no ASC/DESC or NULLS FIRST/LAST in index keys"),
        Rule("dsql/index-columns", LIMIT, "at most 8 key columns per index"),
        Rule("dsql/jsonb-column", UNSUPPORTED, "columns of type jsonb are not supported"),
        Rule("dsql/array-column", UNSUPPORTED, "array columns are not supported"),
        Rule("dsql/serial", UNSUPPORTED, "SERIAL pseudo-types are not supported"),
        Rule("dsql/sequence-cache", UNSUPPORTED, "sequences need an explicit CACHE 1 or CACHE >= 65536"),
        Rule("dsql/isolation-level", UNSUPPORTED, "REPEATABLE READ (snapshot isolation) is the only level"),
        Rule("dsql/ddl-per-transaction", UNSUPPORTED, "one DDL statement per transaction"),
        Rule("dsql/ddl-dml-mix", UNSUPPORTED, "DDL and DML never in the same transaction"),
        Rule("dsql/row-limit", LIMIT, "at most 3,000 modified rows per transaction"),
        Rule("dsql/transaction-age", LIMIT, "transactions may last at most 5 minutes"),
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
    # Pending pg_stat_xact counter total before this transaction's first write (see guarded.py).
    rows_baseline: int | None = None

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


def row_limit_violation(rows: int) -> Violation:
    return violation(
        "dsql/row-limit",
        f"transaction modified {rows} rows, Aurora DSQL allows at most {MAX_MODIFIED_ROWS:,} per "
        f"transaction; write in batches of <= {MAX_MODIFIED_ROWS:,} rows, one transaction each",
    )


def isolation_violation(level: str) -> Violation:
    return violation(
        "dsql/isolation-level",
        f"isolation level {level.upper()} is not available: Aurora DSQL runs every transaction at "
        "REPEATABLE READ (snapshot isolation); drop the setting or use REPEATABLE READ",
    )


def check_script(statements: Iterable[Statement]) -> list[Violation]:
    """Run statements the way a migration runner does: autocommit, except explicit BEGIN ... COMMIT."""
    found: list[Violation] = []
    block: TransactionState | None = None
    for stmt in statements:
        found.extend(stmt.violations)
        if stmt.control is Control.BEGIN:
            block = TransactionState()
        elif stmt.control is not None:
            block = None
        elif block is not None and (problem := block.admit(stmt)) is not None:
            found.append(problem)
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
    for sql in statements:
        analysis = analyze(sql)
        if analysis.syntax_error is not None:
            raise GuardSyntaxError(analysis.syntax_error)
        for stmt in analysis.statements:
            found.extend(stmt.violations)
            if stmt.control is None and (problem := state.admit(stmt)) is not None:
                found.append(problem)
    return found


# ---------------------------------------------------------------------------------------------------
# Analysis


@functools.lru_cache(maxsize=4096)
def analyze(sql: str) -> Analysis:
    """Split, classify and check `sql`; cached because applications repeat their statements."""
    try:
        tokens = [t for t in scan(sql) if t.name not in _COMMENTS]
    except ParseError as exc:
        return Analysis((), sql, SyntaxProblem(str(exc.args[0]), _error_offset(sql, exc)))
    blanks: list[tuple[int, int]] = []
    special: list[Statement] = []
    async_starts: set[int] = set()
    for piece in _pieces(tokens):
        iam = _iam_command(sql, piece)
        if iam is not None:
            start, end = piece[0].start, piece[-1].end + 1
            blanks.append((start, end))
            special.append(
                Statement(sql[start:end], start, Kind.DDL, "AWS IAM " + iam.action.upper(), iam=iam)
            )
        elif _is_aws_iam(sql, piece):
            problem = "expected AWS IAM GRANT <role> TO '<arn>' or AWS IAM REVOKE <role> FROM '<arn>'"
            return Analysis((), sql, SyntaxProblem(problem, piece[0].start))
        elif (keyword := _async_keyword(sql, piece)) is not None:
            blanks.append(keyword)
            async_starts.add(piece[0].start)
    pg_sql = _blank(sql, blanks)
    try:
        raw = pglast.parse_sql(pg_sql)
    except ParseError as exc:
        return Analysis((), pg_sql, SyntaxProblem(str(exc.args[0]), _failing_offset(pg_sql, tokens, exc)))
    parsed = [_statement(sql, r, async_starts) for r in raw]
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
    """Span of ASYNC in ``CREATE [UNIQUE] INDEX ASYNC ...``; an unquoted ``async`` there is the keyword."""
    names = [t.name for t in piece[:4]]
    at = 3 if names[:3] == ["CREATE", "UNIQUE", "INDEX"] else 2 if names[:2] == ["CREATE", "INDEX"] else 0
    if not at or len(piece) <= at or _text(sql, piece[at]).lower() != "async":
        return None
    return piece[at].start, piece[at].end + 1


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


def _statement(sql: str, raw: ast.RawStmt, async_starts: set[int]) -> Statement:
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(sql)
    node = raw.stmt
    assert node is not None
    is_async = start in async_starts
    kind, command, may_write = _classify(node)
    found = [violation(rule, text, start) for rule, text in _violations(node, is_async)]
    async_index = None
    if isinstance(node, ast.IndexStmt) and is_async and node.relation is not None:
        async_index = AsyncIndex(node.idxname, _relation_name(node.relation))
        command = "CREATE INDEX ASYNC"
    return Statement(
        text=sql[start:end],
        offset=start,
        kind=kind,
        command=command,
        violations=tuple(found),
        may_write=may_write,
        control=_control(node),
        async_index=async_index,
    )


def _relation_name(rel: ast.RangeVar) -> str:
    return f"{rel.schemaname}.{rel.relname}" if rel.schemaname else str(rel.relname)


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


def _violations(root: ast.Node, is_async: bool) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(root, ast.IndexStmt):
        found.extend(_index_rules(root, is_async))
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
    yield from _isolation_options(node.options)


@_checks(ast.VariableSetStmt)
def _set(node: ast.Node) -> Found:
    assert isinstance(node, ast.VariableSetStmt)
    if node.name in ("TRANSACTION", "SESSION CHARACTERISTICS"):
        yield from _isolation_options(node.args)
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
        "triggers are not supported by Aurora DSQL; do the work in the application, e.g. with a "
        "data-modifying CTE in the same statement",
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
        "with a CHECK constraint, e.g. CHECK (status IN ('new', 'paid'))",
    )


@_checks(ast.CreateDomainStmt, ast.AlterDomainStmt)
def _domain(node: ast.Node) -> Found:
    yield (
        "dsql/domain",
        "CREATE DOMAIN is not supported by Aurora DSQL (a domain is a user-defined type); "
        "use the base type and put the CHECK constraint on the column",
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
    "COLLATE is not supported by Aurora DSQL, which only has the C collation; remove the clause "
    "(compare lower() values for case-insensitive matching)",
)


@_checks(ast.CreateStmt)
def _create_table(node: ast.Node) -> Found:
    assert isinstance(node, ast.CreateStmt)
    if node.partspec is not None or node.partbound is not None:
        yield _PARTITION
    elif node.inhRelations:
        yield _INHERITS


@_checks(ast.AlterTableCmd)
def _alter_table_cmd(node: ast.Node) -> Found:
    assert isinstance(node, ast.AlterTableCmd)
    kind = enums.AlterTableType
    if node.subtype in (kind.AT_AttachPartition, kind.AT_DetachPartition, kind.AT_DetachPartitionFinalize):
        yield _PARTITION
    elif node.subtype == kind.AT_AddInherit:
        yield _INHERITS
    elif node.subtype in (kind.AT_EnableRowSecurity, kind.AT_ForceRowSecurity):
        yield _RLS
    elif node.subtype == kind.AT_SetIdentity:
        yield from _cache_option(node.def_, required=False, what="identity column")
    elif node.subtype == kind.AT_AddConstraint and _is_primary_key(node.def_):
        yield (
            "dsql/primary-key-change",
            "Aurora DSQL cannot add a primary key to an existing table; declare PRIMARY KEY in "
            "CREATE TABLE (add a UNIQUE index with CREATE UNIQUE INDEX ASYNC instead)",
        )


def _is_primary_key(node: object) -> bool:
    return isinstance(node, ast.Constraint) and node.contype == enums.ConstrType.CONSTR_PRIMARY


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


@_checks(ast.Constraint)
def _constraint(node: ast.Node) -> Found:
    assert isinstance(node, ast.Constraint)
    if node.contype == enums.ConstrType.CONSTR_EXCLUSION:
        yield (
            "dsql/exclusion-constraint",
            "exclusion constraints are not supported by Aurora DSQL; use a UNIQUE constraint or check "
            "overlaps in the application (SELECT ... FOR UPDATE)",
        )
    elif node.contype == enums.ConstrType.CONSTR_IDENTITY:
        yield from _cache_option(node.options, required=True, what="identity column")


@_checks(ast.CreatedbStmt)
def _create_database(node: ast.Node) -> Found:
    yield (
        "dsql/create-database",
        "CREATE DATABASE is not supported: an Aurora DSQL cluster has exactly one database, postgres; "
        "use a schema instead",
    )


@_checks(ast.CreateSeqStmt, ast.AlterSeqStmt)
def _sequence(node: ast.Node) -> Found:
    assert isinstance(node, ast.CreateSeqStmt | ast.AlterSeqStmt)
    yield from _cache_option(node.options, required=isinstance(node, ast.CreateSeqStmt), what="sequence")


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


_SERIALS: Final = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})


@_checks(ast.ColumnDef)
def _column_type(node: ast.Node) -> Found:
    assert isinstance(node, ast.ColumnDef)
    type_name = node.typeName
    if type_name is None:
        return
    name = str(getattr((type_name.names or (None,))[-1], "sval", "")).lower()
    column = node.colname or "?"
    if type_name.arrayBounds:
        yield (
            "dsql/array-column",
            f"column {column}: array types are not supported by Aurora DSQL; use a child table "
            "(one row per element)",
        )
    if name == "jsonb":
        yield (
            "dsql/jsonb-column",
            f"column {column}: type jsonb is not supported by Aurora DSQL; store the document as text "
            "(or json) and cast at query time",
        )
    if name in _SERIALS:
        yield (
            "dsql/serial",
            f"column {column}: {name.upper()} is not supported by Aurora DSQL; use uuid DEFAULT "
            "gen_random_uuid(), or bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 65536)",
        )


def _index_rules(node: ast.IndexStmt, is_async: bool) -> Found:
    if node.concurrent or not is_async:
        yield (
            "dsql/index-async",
            "Aurora DSQL builds secondary indexes asynchronously only; write CREATE "
            f"{'UNIQUE ' if node.unique else ''}INDEX ASYNC name ON table (columns) and wait for its "
            "job in sys.jobs",
        )
    keys = node.indexParams or ()
    if any(_ordered(k) for k in keys):
        yield (
            "dsql/index-order",
            "ASC/DESC and NULLS FIRST/LAST are not supported in Aurora DSQL index keys; list the "
            "bare columns",
        )
    if len(keys) > MAX_INDEX_KEY_COLUMNS:
        yield (
            "dsql/index-columns",
            f"index has {len(keys)} key columns, Aurora DSQL allows at most {MAX_INDEX_KEY_COLUMNS}; "
            "move extra columns to INCLUDE (...) or narrow the index",
        )


def _ordered(elem: object) -> bool:
    return isinstance(elem, ast.IndexElem) and (
        elem.ordering != enums.SortByDir.SORTBY_DEFAULT
        or elem.nulls_ordering != enums.SortByNulls.SORTBY_NULLS_DEFAULT
    )
