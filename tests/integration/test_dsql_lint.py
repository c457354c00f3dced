"""``ecommerce dsql-lint``: output format, line numbers, transaction blocks, exit codes, AWS merging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecommerce_ops import lint
from ecommerce_ops.cli import main
from ecommerce_ops.lint import find_aws_lint, lint_text

MIGRATION = """\
-- 0001_init.sql
CREATE TABLE orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    total numeric(10, 2) NOT NULL CHECK (total >= 0)
);

CREATE INDEX ASYNC orders_total ON orders (total);
AWS IAM GRANT app TO 'arn:aws:iam::123456789012:role/api';

/* a block comment
   spanning lines */ TRUNCATE orders;
CREATE INDEX orders_created ON orders (total DESC);
"""


def _lint(tmp_path: Path, text: str, name: str = "m.sql") -> tuple[int, str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["dsql-lint", str(path)])
    return result.exit_code, result.output


def test_reports_file_line_rule_message(tmp_path: Path) -> None:
    code, output = _lint(tmp_path, MIGRATION)
    path = tmp_path / "m.sql"
    lines = [line for line in output.splitlines() if line.startswith(str(path))]
    assert code == 1
    assert lines[0].startswith(f"{path}:11: dsql/truncate: TRUNCATE is not supported")
    assert lines[1].startswith(f"{path}:12: dsql/index-async: ")
    assert lines[2].startswith(f"{path}:12: dsql/index-order: ")
    assert len(lines) == 3


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    code, output = _lint(tmp_path, "CREATE TABLE t (id uuid PRIMARY KEY);\nSELECT 1;\n")
    assert (code, output) == (0, "")


def test_statements_outside_blocks_are_autocommit() -> None:
    text = "CREATE TABLE a (id int PRIMARY KEY);\nINSERT INTO a VALUES (1);\nCREATE TABLE b (id int);"
    assert lint_text(text) == []


def test_begin_commit_blocks_are_one_transaction() -> None:
    text = """\
BEGIN;
CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int PRIMARY KEY);
COMMIT;
START TRANSACTION;
INSERT INTO a VALUES (1);
ALTER TABLE a ADD COLUMN note text;
ROLLBACK;
BEGIN;
SAVEPOINT s;
END;
CREATE TABLE c (id int PRIMARY KEY);
"""
    found = [(f.line, f.rule) for f in lint_text(text, "x.sql")]
    assert found == [(3, "dsql/ddl-per-transaction"), (7, "dsql/ddl-dml-mix"), (10, "dsql/savepoint")]


def test_syntax_error_reports_line_and_exits_2(tmp_path: Path) -> None:
    code, output = _lint(tmp_path, "SELECT 1;\n\nSELEC 2;\nTRUNCATE t;\n")
    assert code == 2
    assert f"{tmp_path / 'm.sql'}:3: syntax: " in output


def test_malformed_aws_iam_is_a_syntax_error(tmp_path: Path) -> None:
    code, output = _lint(tmp_path, "SELECT 1;\nAWS IAM GRANT app 'arn:x';\n")
    assert code == 2
    assert ":2: syntax: expected AWS IAM GRANT" in output


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dsql-lint", str(tmp_path / "missing.sql")])
    assert result.exit_code == 2
    assert "missing.sql:0: error: cannot read file" in result.output


def test_several_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("SELECT 1;\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.sql").write_text("\nCREATE SEQUENCE s;\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["dsql-lint", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{tmp_path / 'sub' / 'b.sql'}:2: dsql/sequence-cache: ")


def test_requires_a_file() -> None:
    assert CliRunner().invoke(main, ["dsql-lint"]).exit_code == 2


def test_non_ascii_text_keeps_line_numbers() -> None:
    text = "SELECT 'héllo wörld';\n-- ünïcode\nTRUNCATE t;\n"
    assert [(f.line, f.rule) for f in lint_text(text)] == [(3, "dsql/truncate")]


@pytest.mark.parametrize("how", ["console-script", "module"])
def test_command_line_subprocess(tmp_path: Path, how: str) -> None:
    path = tmp_path / "m.sql"
    path.write_text("SELECT 1;\nTRUNCATE t;\n", encoding="utf-8")
    script = Path(sys.executable).parent / "ecommerce"
    if how == "console-script":
        if not script.exists():
            pytest.skip("console script not installed")
        command = [str(script), "dsql-lint", str(path)]
    else:
        command = [sys.executable, "-m", "ecommerce_ops.cli", "dsql-lint", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:2: dsql/truncate: ")


# --- AWS's dsql-lint, merged ------------------------------------------------------------------------

needs_aws = pytest.mark.skipif(find_aws_lint() is None, reason="dsql-lint is not installed")


@needs_aws
def test_aws_findings_are_prefixed_and_duplicates_merged(tmp_path: Path) -> None:
    text = """\
LISTEN orders;
BEGIN;
CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int PRIMARY KEY);
COMMIT;
SELECT 1 FOR NO KEY UPDATE;
CREATE TABLE t (id int PRIMARY KEY,
    tags int[]);
"""
    code, output = _lint(tmp_path, text)
    path = tmp_path / "m.sql"
    assert code == 1
    assert [line.split(": ")[0] + ": " + line.split(": ")[1] for line in output.splitlines()[:-1]] == [
        f"{path}:1: aws/unsupported_listen",  # only dsql-lint knows LISTEN
        f"{path}:4: dsql/ddl-per-transaction",  # dsql-lint's multi_ddl_transaction (line 2) is the same
        f"{path}:6: dsql/for-share",  # dsql-lint cannot parse it: its parse error is dropped
        f"{path}:7: dsql/array-column",  # dsql-lint's array_type points at line 8, same statement
    ]


@needs_aws
def test_aws_parse_error_on_a_statement_the_guard_accepts_is_reported(tmp_path: Path) -> None:
    code, output = _lint(tmp_path, "SELECT 1;\nCLUSTER items USING items_pkey;\n")
    assert code == 1
    assert f"{tmp_path / 'm.sql'}:2: aws/parse_error: " in output


def test_without_aws_dsql_lint_the_guard_runs_alone_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lint, "find_aws_lint", lambda: None)
    clean, dirty = tmp_path / "clean.sql", tmp_path / "dirty.sql"
    clean.write_text("SELECT 1;\n", encoding="utf-8")
    dirty.write_text("LISTEN orders;\nTRUNCATE t;\n", encoding="utf-8")
    report = lint.lint_paths([clean])
    assert [(f.rule, f.warning) for f in report.findings] == [("aws/unavailable", True)]
    assert report.exit_code == 0
    report = lint.lint_paths([dirty])
    assert [f.rule for f in report.findings] == ["aws/unavailable", "dsql/truncate"]
    assert report.exit_code == 1
    assert lint.lint_paths([clean], aws=None).findings == []  # asked for the guard alone: no warning


def test_a_failing_aws_dsql_lint_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "m.sql"
    path.write_text("TRUNCATE t;\n", encoding="utf-8")
    report = lint.lint_paths([path], aws=Path("/bin/false"))
    assert [f.rule for f in report.findings] == ["aws/unavailable", "dsql/truncate"]
    assert "AWS dsql-lint failed" in report.findings[0].message
    assert report.exit_code == 1


@pytest.mark.parametrize(("rows", "found"), [(3000, []), (3001, ["dsql/row-limit"])])
def test_static_row_limit(rows: int, found: list[str]) -> None:
    values = ", ".join(f"({i})" for i in range(rows))
    assert [f.rule for f in lint_text(f"INSERT INTO t (id) VALUES {values};")] == found
    block = f"BEGIN;\nINSERT INTO t (id) VALUES {values};\nINSERT INTO t (id) VALUES (-1);\nCOMMIT;\n"
    assert [f.rule for f in lint_text(block)] == ["dsql/row-limit"]  # the block adds up


@pytest.mark.parametrize(("mib", "found"), [(9, []), (11, ["dsql/transaction-size"])])
def test_static_size_limit(mib: int, found: list[str]) -> None:
    literal = "x" * (mib * 2**20)
    findings = lint_text(f"INSERT INTO t (body) VALUES ('{literal}');\n")
    assert [f.rule for f in findings] == found


def test_insert_on_conflict_rows_are_not_counted_statically() -> None:
    """ON CONFLICT DO NOTHING may skip rows, so the linter cannot know how many are written."""
    values = ", ".join(f"({i})" for i in range(3001))
    assert lint_text(f"INSERT INTO t (id) VALUES {values} ON CONFLICT DO NOTHING;") == []
