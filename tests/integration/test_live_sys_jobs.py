"""scripts/live/dsql_assumptions.py ``sys-jobs`` (read-only on a real cluster) runs against the
embedded engine's emulation of ``sys.jobs``, so what an operator runs works."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import psycopg

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "live" / "dsql_assumptions.py"


def test_sys_jobs_reports_the_columns_the_migration_runner_relies_on(fresh_dsn: str) -> None:
    spec = importlib.util.spec_from_file_location("dsql_assumptions_db", SCRIPT)
    assert spec is not None and spec.loader is not None
    checks = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = checks
    spec.loader.exec_module(checks)
    found = checks.sys_jobs(lambda: psycopg.connect(fresh_dsn, autocommit=True))
    assert found["has_object_name"] and {"job_id", "status", "update_time"} <= set(found["columns"])
