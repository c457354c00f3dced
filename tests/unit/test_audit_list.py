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
