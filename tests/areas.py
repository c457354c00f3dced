"""The test areas, what each may use, and the guard that keeps tests/unit pure.

- ``tests/unit``: pure Python in one process (fakes, in-process loopback servers, click's
  CliRunner); no database, no CDK synthesis, no child process. Enforced by :func:`refuse_impure`.
- ``tests/integration``: real parts in-process: the embedded PostgreSQL with the DSQL guard, AWS's
  dsql-lint, node for the CloudFront Function.
- ``tests/infra``: CDK synthesis, templates, cfn-lint, cdk-nag, bundling.
- ``tests/e2e``: programs run as a user runs them: documented commands in a fresh shell, ``make dev``,
  the wheel in a new virtualenv, the fuzzer against a running server.
- ``tests/snapshot``: one template snapshot per stack.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from typing import Any

import psycopg
import pytest

AREAS = ("unit", "integration", "infra", "e2e", "snapshot")
#: Seconds of test time (setup + call + teardown, summed over workers) each area may take on a
#: 2-core machine of CI's class. Exceeding one does not fail the run (tests assert no wall-clock
#: limits); the summary flags it so that the change that spent it says why, or wins it back.
#: Measured and chosen in docs/decisions/0006-fast-test-loop.md.
BUDGET_SECONDS = {"unit": 25.0, "integration": 110.0, "infra": 80.0, "e2e": 220.0, "snapshot": 15.0}
SLOWEST = 15
ELSEWHERE = (
    "tests/integration (the embedded database, AWS's dsql-lint, node)",
    "tests/infra (CDK synthesis and templates)",
    "tests/e2e (programs run as a user runs them)",
)


class NotAUnitTest(AssertionError):
    def __init__(self, what: str) -> None:
        super().__init__(f"a unit test must not {what}; move it to one of: {'; '.join(ELSEWHERE)}")


def _refuse(what: str) -> Any:
    def refuse(*_: Any, **__: Any) -> Any:
        raise NotAUnitTest(what)

    return refuse


def refuse_impure(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the current test: starting a process, connecting to a database or calling jsii raises."""
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(_refuse("connect to a database")))
    monkeypatch.setattr(psycopg, "connect", _refuse("connect to a database"))
    from jsii._kernel.providers import process as jsii_process

    monkeypatch.setattr(jsii_process._NodeProcess, "send", _refuse("synthesize (talk to jsii)"))


def area_of(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" and parts[1] in AREAS else "other"


def report_budget(reporter: pytest.TerminalReporter, wall_seconds: float) -> None:
    """Time per area against its budget, the slowest tests and the wall time of the whole run."""
    per_test: dict[str, float] = defaultdict(float)
    per_worker: dict[str, float] = defaultdict(float)
    for reports in reporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                per_test[report.nodeid] += report.duration
                node = getattr(report, "node", None)
                per_worker[getattr(getattr(node, "gateway", None), "id", "main")] += report.duration
    if not per_test:
        return
    per_area: dict[str, list[float]] = defaultdict(list)
    for nodeid, seconds in per_test.items():
        per_area[area_of(nodeid)].append(seconds)
    workers = reporter.config.getoption("numprocesses", None) or 1
    reporter.write_sep("=", f"time budget: {wall_seconds:.0f} s wall, {len(per_test)} tests")
    reporter.write_line(f"{'area':<12}{'tests':>7}{'seconds':>10}{'budget':>9}")
    for area in (*AREAS, "other"):
        if area not in per_area:
            continue
        spent, budget = sum(per_area[area]), BUDGET_SECONDS.get(area)
        flag = "  OVER BUDGET" if budget is not None and spent > budget else ""
        shown = f"{budget:>9.0f}" if budget is not None else f"{'-':>9}"
        reporter.write_line(f"{area:<12}{len(per_area[area]):>7}{spent:>10.1f}{shown}{flag}")
    total = sum(per_test.values())
    reporter.write_line(f"{'total':<12}{len(per_test):>7}{total:>10.1f}   (workers: {workers})")
    busy = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in sorted(per_worker.items()))
    reporter.write_line(f"busy per worker: {busy} (the rest of the wall time is start-up, waits, idle)")
    reporter.write_line(f"slowest {SLOWEST}:")
    for nodeid, seconds in sorted(per_test.items(), key=lambda item: -item[1])[:SLOWEST]:
        reporter.write_line(f"{seconds:8.2f}s  {nodeid}")
