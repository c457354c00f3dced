"""Analysis: PostgreSQL's scanner finds the DSQL-only syntax, pglast parses the rest."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Final, Literal

import pglast
from pglast import ast, enums
from pglast.parser import ParseError, Token, scan

from ._checks import _violations
from ._classify import _classify, _control
from ._model import (
    Analysis,
    AsyncIndex,
    CatalogCheck,
    IamCommand,
    Kind,
    Statement,
    SyntaxProblem,
    _Prefix,
    _relation_name,
    _walk,
)
from ._rules import violation

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
