"""`make audit`'s accepted list: parsed from docs/security.md, each entry with a reason, and a check
it does not list is not accepted (scripts/audit.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("scripts_audit", ROOT / "scripts" / "audit.py")
assert spec is not None and spec.loader is not None
audit = importlib.util.module_from_spec(spec)
sys.modules["scripts_audit"] = audit  # dataclasses look their module up
spec.loader.exec_module(audit)


def test_the_documented_list_parses_and_every_entry_has_a_reason() -> None:
    accepted = audit.accepted_findings((ROOT / "docs" / "security.md").read_text())
    assert len(accepted) >= 10
    assert all(entry.reason and entry.resources for entry in accepted)
    assert any(a.covers("CKV_AWS_59", "ApiRestApiproductsGET1234") for a in accepted)
    # Not listed: not accepted, whatever the resource.
    assert not any(a.covers("CKV_AWS_45", "ApiCatalog17888A87") for a in accepted)
    assert not any(a.covers("CKV_AWS_18", "SomeOtherBucket") for a in accepted)


def test_an_entry_without_a_reason_is_refused() -> None:
    text = f"{audit.SECTION}\n\n| check | resources | reason |\n|---|---|---|\n| `CKV_AWS_1` | `*` |  |\n"
    with pytest.raises(SystemExit, match="without a reason"):
        audit.accepted_findings(text)


def _report(*checks: tuple[str, str, str], resource_count: int = 3, parsing_errors: int = 0) -> str:
    """A checkov JSON report: (kind, template, resource) per check, kind passed/failed."""
    import json

    results: dict[str, list[dict[str, str]]] = {"passed_checks": [], "failed_checks": []}
    for kind, template, resource in checks:
        results[f"{kind}_checks"].append(
            {
                "check_id": "CKV_AWS_45",
                "check_name": "name",
                "file_path": f"/{template}",
                "resource": f"AWS::Lambda::Function.{resource}",
            }
        )
    summary = {"resource_count": resource_count, "parsing_errors": parsing_errors}
    return json.dumps({"check_type": "cloudformation", "results": results, "summary": summary})


TEMPLATES = [Path("build/audit/a.template.json"), Path("build/audit/b.template.json")]


def test_a_report_that_covers_every_template_gives_its_failed_checks() -> None:
    report = _report(("passed", "a.template.json", "Fn"), ("failed", "b.template.json", "Other"))
    (finding,) = audit.findings_of(report, TEMPLATES)
    assert (finding.check, finding.template, finding.resource) == ("CKV_AWS_45", "b.template.json", "Other")


def test_a_report_that_parsed_nothing_fails() -> None:
    # What checkov prints when it found nothing to check: a bare summary, no results.
    empty = '{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}'
    with pytest.raises(SystemExit, match="parsed no resources"):
        audit.findings_of(empty, TEMPLATES)
    with pytest.raises(SystemExit, match="parsed no resources"):
        audit.findings_of("[]", TEMPLATES)
    with pytest.raises(SystemExit, match="parsed no resources"):
        audit.findings_of(_report(resource_count=0), TEMPLATES)


def test_a_template_missing_from_the_report_fails() -> None:
    with pytest.raises(SystemExit, match=r"no result for \['b.template.json'\]"):
        audit.findings_of(_report(("passed", "a.template.json", "Fn")), TEMPLATES)


def test_parsing_errors_fail() -> None:
    report = _report(
        ("passed", "a.template.json", "Fn"), ("passed", "b.template.json", "Fn"), parsing_errors=1
    )
    with pytest.raises(SystemExit, match="could not parse"):
        audit.findings_of(report, TEMPLATES)
