"""``ecommerce dsql-lint``: DSQL violations in SQL files, judged by the guard's own rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ecommerce_dev.guard import analyze, check_script

SYNTAX = "syntax"
ERROR = "error"


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


@dataclass(slots=True)
class LintReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """2: a file could not be read or parsed; 1: DSQL violations; 0: clean."""
        if any(f.rule in (SYNTAX, ERROR) for f in self.findings):
            return 2
        return 1 if self.findings else 0


def lint_text(text: str, path: str = "<sql>") -> list[Finding]:
    """Statements outside BEGIN ... COMMIT run alone (autocommit), as a migration runner runs them."""
    analysis = analyze(text)
    if analysis.syntax_error is not None:
        problem = analysis.syntax_error
        return [Finding(path, _line(text, problem.offset), SYNTAX, problem.message)]
    return [
        Finding(path, _line(text, v.offset), v.rule, v.message.removeprefix(f"{v.rule}: "))
        for v in check_script(analysis.statements)
    ]


def lint_file(path: Path) -> list[Finding]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding(str(path), 0, ERROR, f"cannot read file: {exc}")]
    return lint_text(text, str(path))


def lint_paths(paths: Iterable[Path]) -> LintReport:
    """Lint files; a directory means every ``*.sql`` file below it."""
    report = LintReport()
    for path in paths:
        files = sorted(path.rglob("*.sql")) if path.is_dir() else [path]
        for file in files:
            report.findings.extend(lint_file(file))
    return report


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
