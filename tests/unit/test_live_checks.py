"""The live checks of scripts/live/dsql_assumptions.py run end to end against the fake control plane,
so the first person with an AWS account runs code that works (what they print is the point there)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fakes.dsql_control_plane import FakeDsql

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "live" / "dsql_assumptions.py"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dsql_assumptions", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_peering_observes_every_assumption_and_cleans_up(checks: ModuleType) -> None:
    fake = FakeDsql(ticks=1)
    findings = checks.peering(fake.client, ("us-east-1", "us-east-2"), "us-west-2", sleep=lambda s: None)
    assert set(findings) >= {
        "first_alone", "update_while_second_creating", "first_while_peering", "second_while_peering",
        "naming_a_cluster_active_in_another_pair", "second_after_unpeer", "first_after_unpeer",
        "listed_statuses", "after_delete", "delete_while_creating", "delete_while_protected",
    }  # fmt: skip
    assert findings["first_alone"][-1] == "PENDING_SETUP"
    fake.settle()
    assert not fake.find("us-east-1") and not fake.find("us-east-2")  # nothing left billed


def test_key_change_records_the_encryption_sequence(checks: ModuleType) -> None:
    fake = FakeDsql(ticks=1)
    findings = checks.key_change(fake.client, "us-east-1", KEY, sleep=lambda s: None)
    assert findings["status_and_encryption"][-1] == ("ACTIVE", "ENABLED")
    assert findings["rolled_back"][-1] == ("ACTIVE", "ENABLED")
    fake.settle()
    assert not fake.find("us-east-1")


def test_observe_is_read_only(checks: ModuleType) -> None:
    fake = FakeDsql(ticks=1)
    fake.client("us-east-1").create_cluster(deletionProtectionEnabled=True)
    before = len(fake.calls)
    seen = checks.observe(fake.client, "us-east-1")
    assert len(seen) == 1 and seen[0]["has_tags_field"]
    assert {call.operation for call in fake.calls[before:]} <= {"ListClusters", "GetCluster"}


def test_creating_checks_need_the_explicit_flag(
    checks: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert checks.main(["peering", "--regions", "us-east-1", "us-east-2", "--witness", "us-west-2"]) == 2
    assert "--create-billable-clusters" in capsys.readouterr().err
