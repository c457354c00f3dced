"""AWS's dsql-lint against the guard's corpus, and over every SQL statement the project ships.

dsql-lint (awslabs/aurora-dsql-tools) is evidence, not authority: its grammar is syntactic, so where
it and the guard judge a corpus entry differently the entry records how (`dsql_lint`) and why, citing
the user guide. An unrecorded difference fails, and so does a recorded one that no longer happens.
dsql-lint runs once per module for all entries (one file each, one process).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecommerce_ops.dsql_rules import check, check_transaction
from ecommerce_ops.lint import (
    AWS_PARSE_ERROR,
    AwsDiagnostic,
    equivalent,
    find_aws_lint,
    lint_paths,
    run_aws_lint,
)
from handlers.db.migrate import default_migrations_dir

CORPUS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "dsql_corpus.yaml").read_text(encoding="utf-8")
)
OUTCOMES = ("agrees", "disagrees", "cannot-parse", "other-rule")
SAMPLE_DATA = default_migrations_dir().parent / "sample_data.sql"

# Shipped statements dsql-lint cannot judge, by file stem (repository statements: repository_<name>,
# non-alphanumerics as "_") and AWS rule, with the reason. Empty today: dsql-lint 0.2.22 parses
# CREATE INDEX ASYNC IF NOT EXISTS, AWS IAM GRANT and the repository's CTEs.
AWS_CANNOT_JUDGE: dict[tuple[str, str], str] = {}

AWS_LINT = find_aws_lint()
pytestmark = pytest.mark.skipif(AWS_LINT is None, reason="dsql-lint is not installed (pip install dsql-lint)")


def _script(entry: dict[str, Any]) -> str:
    """The entry as a file: autocommit statement(s), or the transaction inside BEGIN ... COMMIT."""
    if "transaction" in entry:
        return "BEGIN;\n" + "".join(f"{s.strip().rstrip(';')};\n" for s in entry["transaction"]) + "COMMIT;\n"
    return str(entry["sql"]).strip().rstrip(";") + ";\n"


def _guard_rules(entry: dict[str, Any]) -> set[str]:
    found = check_transaction(entry["transaction"]) if "transaction" in entry else check(entry["sql"])
    return {v.rule for v in found}


def outcome(guard: set[str], aws: list[AwsDiagnostic]) -> str:
    """How dsql-lint's verdict relates to the guard's static verdict on the same SQL."""
    rules = {d.rule for d in aws}
    if not guard and not rules:
        return "agrees"
    if rules == {AWS_PARSE_ERROR}:
        return "cannot-parse"
    if not guard or not rules:
        return "disagrees"
    if any(equivalent(g, a) for g in guard for a in rules):
        return "agrees"
    return "other-rule"


@pytest.fixture(scope="module")
def corpus_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[AwsDiagnostic]]:
    """dsql-lint's diagnostics for every corpus entry, from one run."""
    assert AWS_LINT is not None
    directory = tmp_path_factory.mktemp("corpus")
    files = {}
    for entry in CORPUS:
        files[entry["id"]] = directory / f"{entry['id']}.sql"
        files[entry["id"]].write_text(_script(entry), encoding="utf-8")
    found = run_aws_lint(AWS_LINT, list(files.values()))
    return {entry_id: found[str(path)] for entry_id, path in files.items()}


@pytest.mark.parametrize("entry", CORPUS, ids=[e["id"] for e in CORPUS])
def test_corpus_against_aws_dsql_lint(entry: dict[str, Any], corpus_verdicts: dict[str, Any]) -> None:
    guard = _guard_rules(entry)
    aws = corpus_verdicts[entry["id"]]
    observed = outcome(guard, aws)
    recorded = entry.get("dsql_lint", "agrees")
    assert recorded in OUTCOMES
    assert observed == recorded, (
        f"guard {sorted(guard)} vs dsql-lint {[(d.rule, d.message) for d in aws]}: "
        f"record dsql_lint: {observed} with a `why` citing the docs, or fix the guard"
    )
    if recorded != "agrees":
        assert len(str(entry.get("why", ""))) > 20, "a recorded difference needs a `why` citing its source"


def test_docs_list_every_recorded_difference() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "dsql-guard.md").read_text(encoding="utf-8")
    missing = [e["id"] for e in CORPUS if "dsql_lint" in e and f"`{e['id']}`" not in docs]
    assert missing == [], "add them to 'Where AWS's dsql-lint disagrees' in docs/dsql-guard.md"


def test_stateful_entries_are_invisible_to_static_linters(corpus_verdicts: dict[str, Any]) -> None:
    """Entries decided by database state: neither the pure guard nor dsql-lint can see them."""
    for entry in (e for e in CORPUS if e.get("stateful")):
        assert _guard_rules(entry) == set(), entry["id"]
        assert corpus_verdicts[entry["id"]] == [], entry["id"]


# --- every statement the project ships ------------------------------------------------------------


def _shipped(directory: Path) -> Iterator[Path]:
    """Migration files and sample data as they are; repository statements one file each."""
    from handlers.shop.repository import statements_for_lint

    yield from sorted(default_migrations_dir().glob("*.sql"))
    yield SAMPLE_DATA
    for name, statement in statements_for_lint().items():
        path = directory / f"repository_{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.sql"
        assert not path.exists(), f"two statement names map to {path.name}"
        path.write_text(statement.strip().rstrip(";") + ";\n", encoding="utf-8")
        yield path


def test_shipped_sql_passes_aws_dsql_lint(tmp_path: Path) -> None:
    assert AWS_LINT is not None
    files = list(_shipped(tmp_path))
    assert len(files) >= 8  # 4 migrations, sample data, 3+ repository statements
    found = run_aws_lint(AWS_LINT, files)
    judged = {(f.stem, d.rule): d for f in files for d in found[str(f)]}
    unexpected = {key: d.message for key, d in judged.items() if key not in AWS_CANNOT_JUDGE}
    assert unexpected == {}
    assert set(AWS_CANNOT_JUDGE) <= set(judged), "stale AWS_CANNOT_JUDGE entries: dsql-lint judges them now"


def test_shipped_sql_passes_the_guard() -> None:
    from handlers.shop.repository import statements_for_lint

    for name, statement in statements_for_lint().items():
        assert check(statement) == [], name


def test_ecommerce_dsql_lint_is_clean_on_shipped_sql(tmp_path: Path) -> None:
    """The command developers run: both linters, merged."""
    report = lint_paths(list(_shipped(tmp_path)))
    assert [str(f) for f in report.findings] == []
    assert report.exit_code == 0
