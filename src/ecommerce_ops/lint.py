"""``ecommerce dsql-lint``: DSQL violations in SQL files, from two linters merged into one report.

AWS's own linter (``dsql-lint``, awslabs/aurora-dsql-tools) judges the grammar; its findings are
reported as ``aws/<rule_id>``. The guard's rules (`ecommerce_ops.dsql_rules`, the same ones the local
database enforces) add what a grammar check cannot see: transactions (one DDL per transaction, no
DDL/DML mix inside BEGIN ... COMMIT), row and size limits where the SQL shows them (INSERT ... VALUES),
isolation settings, and the documented rules dsql-lint lacks. When both report the same problem on the
same statement, only the guard's finding is kept (`AWS_EQUIVALENTS`). Without dsql-lint the guard runs
alone and a warning says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from ecommerce_ops.dsql_rules import Control, Statement, analyze, check_script

SYNTAX: Final = "syntax"
ERROR: Final = "error"
AWS_PREFIX: Final = "aws/"
AWS_UNAVAILABLE: Final = "aws/unavailable"
AWS_PARSE_ERROR: Final = "parse_error"
AWS_TIMEOUT: Final = 300.0
_AWS_BATCH: Final = 200  # files per dsql-lint run (keeps the command line short)

# dsql-lint rules (0.2.22) that report what a guard rule reports: merged into the guard's finding.
AWS_EQUIVALENTS: Final[Mapping[str, frozenset[str]]] = {
    rule: frozenset(aws.split())
    for rule, aws in {
        "dsql/truncate": "truncate",
        "dsql/savepoint": "unsupported_savepoint unsupported_release_savepoint "
        "unsupported_rollback_to_savepoint",
        "dsql/temporary-table": "temp_table unsupported_temp_view unsupported_on_commit",
        "dsql/trigger": "unsupported_create_trigger",
        "dsql/procedural-language": "unsupported_create_function_non_sql unsupported_create_procedure",
        "dsql/extension": "unsupported_create_extension",
        "dsql/create-type": "unsupported_create_type unsupported_alter_type",
        "dsql/partition": "partition_by unsupported_partition_of",
        "dsql/materialized-view": "unsupported_materialized_view unsupported_drop_materialized_view",
        "dsql/create-table-as": "create_table_as",
        "dsql/inherits": "inherits",
        "dsql/collate": "collation",
        "dsql/row-level-security": "at_unsupported_row_level_security unsupported_create_policy "
        "unsupported_alter_policy",
        "dsql/create-database": "unsupported_create_database",
        "dsql/primary-key-change": "at_unsupported_add_primary_key at_unsupported_primary_key_using_index "
        "primary_key_removal",
        "dsql/index-async": "index_async index_concurrently",
        "dsql/index-order": "index_sort_direction",
        "dsql/index-options": "index_using",
        "dsql/array-column": "array_type",
        "dsql/serial": "serial_type serial_sequence_idiom",
        "dsql/sequence-cache": "sequence_cache sequence_cache_missing identity_cache identity_cache_missing",
        "dsql/sequence-type": "sequence_type identity_type",
        "dsql/isolation-level": "transaction_isolation set_transaction",
        "dsql/set-transaction": "set_transaction",
        "dsql/vacuum": "unsupported_vacuum",
        "dsql/tablespace": "tablespace",
        "dsql/add-column": "add_column_constraint identity_type",
        "dsql/not-valid": "check_not_valid foreign_key_not_valid",
        "dsql/validate-async": "validate_constraint_async",
        "dsql/alter-table": "at_unsupported_alter_column_set_type at_unsupported_alter_column_set_not_null "
        "at_unsupported_add_unique at_unsupported_replica_identity at_unsupported_rewrite_rule "
        "alter_column_set_compression_strip",
        "dsql/ddl-per-transaction": "multi_ddl_transaction",
        "dsql/ddl-dml-mix": "mixed_ddl_dml_transaction",
    }.items()
}
# dsql-lint reports these once per BEGIN ... COMMIT block, at its first line.
AWS_TRANSACTION_RULES: Final = frozenset({"multi_ddl_transaction", "mixed_ddl_dml_transaction"})


def equivalent(guard_rule: str, aws_rule: str) -> bool:
    """Do the two linters' rules report the same problem?"""
    return aws_rule in AWS_EQUIVALENTS.get(guard_rule, frozenset())


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    line: int
    rule: str
    message: str
    warning: bool = False  # reported, but does not fail the run

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


@dataclass(slots=True)
class LintReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """2: a file could not be read or parsed; 1: DSQL violations; 0: clean (warnings allowed)."""
        if any(f.rule in (SYNTAX, ERROR) for f in self.findings):
            return 2
        return 1 if any(not f.warning for f in self.findings) else 0


@dataclass(frozen=True, slots=True)
class AwsDiagnostic:
    line: int
    rule: str
    message: str


class AwsLintError(RuntimeError):
    """dsql-lint ran but did not answer with its JSON report."""


def lint_text(text: str, path: str = "<sql>") -> list[Finding]:
    """The guard's findings alone. Statements outside BEGIN ... COMMIT run alone (autocommit), as a
    migration runner runs them."""
    analysis = analyze(text)
    if analysis.syntax_error is not None:
        problem = analysis.syntax_error
        return [Finding(path, _line(text, problem.offset), SYNTAX, problem.message)]
    return [
        Finding(path, _line(text, v.offset), v.rule, v.message.removeprefix(f"{v.rule}: "))
        for v in check_script(analysis.statements)
    ]


def lint_file(path: Path) -> list[Finding]:
    """The guard's findings for one file."""
    text = _read(path)
    return text if isinstance(text, list) else lint_text(text, str(path))


def lint_paths(paths: Iterable[Path], *, aws: Path | Literal["auto"] | None = "auto") -> LintReport:
    """Lint files with AWS's dsql-lint and the guard; a directory means every ``*.sql`` file below it.

    `aws`: the dsql-lint binary, ``"auto"`` to look for it (`find_aws_lint`; a warning finding when it
    is missing), None for the guard alone.
    """
    files = [f for p in paths for f in (sorted(p.rglob("*.sql")) if p.is_dir() else [p])]
    texts = {f: _read(f) for f in files}
    report = LintReport()
    binary = find_aws_lint() if aws == "auto" else aws
    readable = [f for f, t in texts.items() if isinstance(t, str)]
    aws_found: dict[str, list[AwsDiagnostic]] = {}
    if binary is None and aws == "auto":
        report.findings.append(
            _aws_warning(
                files,
                "AWS dsql-lint not found next to the Python interpreter or on PATH (pip install "
                "dsql-lint); only the guard's rules ran",
            )
        )
    elif binary is not None and readable:
        try:
            aws_found = run_aws_lint(binary, readable)
        except (AwsLintError, OSError, subprocess.SubprocessError) as exc:
            report.findings.append(
                _aws_warning(files, f"AWS dsql-lint failed ({exc}); only the guard's rules ran")
            )
    for file, text in texts.items():
        if isinstance(text, list):
            report.findings.extend(text)
        else:
            guard = lint_text(text, str(file))
            report.findings.extend(merge_findings(text, str(file), guard, aws_found.get(str(file), [])))
    return report


def find_aws_lint() -> Path | None:
    """dsql-lint installed with this interpreter (the dev venv), else the first one on PATH."""
    beside = Path(sys.executable).parent / "dsql-lint"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("dsql-lint")
    return Path(found) if found else None


def run_aws_lint(binary: Path, files: Sequence[Path]) -> dict[str, list[AwsDiagnostic]]:
    """dsql-lint's diagnostics per file (keyed by the path as given), a few runs for many files."""
    found: dict[str, list[AwsDiagnostic]] = {}
    for start in range(0, len(files), _AWS_BATCH):
        command = [str(binary), "--format", "json", *(str(f) for f in files[start : start + _AWS_BATCH])]
        result = subprocess.run(  # noqa: S603 - a found binary, fixed options, file paths, no shell
            command, capture_output=True, text=True, timeout=AWS_TIMEOUT, check=False
        )
        if result.returncode not in (0, 1):
            raise AwsLintError(f"exit status {result.returncode}: {result.stderr.strip()[:500]}")
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise AwsLintError(f"unreadable JSON report: {exc}") from exc
        for entry in report.get("files", []):
            found[str(entry["file"])] = [
                AwsDiagnostic(
                    int(d["line"]),
                    str(d["rule"]),
                    " ".join(str(d[k]) for k in ("message", "suggestion") if d.get(k)),
                )
                for d in entry.get("diagnostics", [])
            ]
    return found


def merge_findings(
    text: str, path: str, guard: Sequence[Finding], aws: Sequence[AwsDiagnostic]
) -> list[Finding]:
    """Guard findings plus the AWS findings that report something else.

    An AWS diagnostic is matched to the statement containing its line (dsql-lint points into the
    statement, the guard at its start). It is dropped when the guard reports an equivalent rule on that
    statement - on that BEGIN ... COMMIT block for dsql-lint's transaction rules - or, for dsql-lint's
    parse errors, any rule on it. AWS findings are reported at the statement's first line.
    """
    spans = _spans(text)
    by_statement: dict[int, set[str]] = {}
    by_block: dict[int, set[str]] = {}
    for finding in guard:
        span = _span_at(spans, finding.line)
        if span is not None:
            by_statement.setdefault(span.first, set()).add(finding.rule)
            by_block.setdefault(span.block, set()).add(finding.rule)
    merged = list(guard)
    for diagnostic in aws:
        span = _span_at(spans, diagnostic.line)
        if span is None:
            merged.append(Finding(path, diagnostic.line, AWS_PREFIX + diagnostic.rule, diagnostic.message))
            continue
        if diagnostic.rule in AWS_TRANSACTION_RULES:
            seen = by_block.get(span.block, set())
        else:
            seen = by_statement.get(span.first, set())
        duplicate = any(equivalent(rule, diagnostic.rule) for rule in seen) or (
            diagnostic.rule == AWS_PARSE_ERROR and bool(seen)
        )
        if not duplicate:
            merged.append(Finding(path, span.first, AWS_PREFIX + diagnostic.rule, diagnostic.message))
    return sorted(merged, key=lambda f: f.line)


@dataclass(frozen=True, slots=True)
class _Span:
    first: int
    last: int
    block: int  # statements of one BEGIN ... COMMIT share it; autocommit statements have their own


def _spans(text: str) -> list[_Span]:
    analysis = analyze(text)
    spans: list[_Span] = []
    block: int | None = None
    for index, stmt in enumerate(analysis.statements):
        if stmt.control is Control.BEGIN:
            block = index
        spans.append(
            _Span(_line(text, stmt.offset), _last_line(text, stmt), block if block is not None else index)
        )
        if stmt.control in (Control.COMMIT, Control.ROLLBACK):
            block = None
    return spans


def _span_at(spans: Sequence[_Span], line: int) -> _Span | None:
    """The statement containing `line`, or the next one (a diagnostic on a comment before it)."""
    return next((s for s in spans if s.last >= line), None)


def _last_line(text: str, stmt: Statement) -> int:
    return _line(text, stmt.offset + max(len(stmt.text.rstrip()) - 1, 0))


def _aws_warning(files: Sequence[Path], message: str) -> Finding:
    return Finding(str(files[0]) if files else "-", 0, AWS_UNAVAILABLE, message, warning=True)


def _read(path: Path) -> str | list[Finding]:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding(str(path), 0, ERROR, f"cannot read file: {exc}")]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
