"""Statement rules: one function per node type, each yielding (rule id, message)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final

from pglast import ast, enums

from ._model import _Prefix, _relation_name, _walk
from ._rules import (
    MAX_INDEX_KEY_COLUMNS,
    MAX_MODIFIED_ROWS,
    MAX_TABLE_COLUMNS,
    MIN_LARGE_SEQUENCE_CACHE,
    _bigint_violation,
    _column_count_violation,
    isolation_violation,
)

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
