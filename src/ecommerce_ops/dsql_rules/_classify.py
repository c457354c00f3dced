"""Classification: what kind of statement a parse tree is (read, write, DDL, control)."""

from __future__ import annotations

from typing import Final

from pglast import ast, enums

from ._model import Control, Kind, _walk

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
