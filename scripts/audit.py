"""``make audit``: checkov on the default synthesized templates; every failed check must be listed,
with its reason, in docs/security.md ("Audit: checkov's remaining findings"). Exit 1 on any other.

    python scripts/audit.py --checkov build/checkov-venv/bin/checkov --out build/audit

The accepted list is the markdown table of that section: ``| check | resources | reason |``, where
``resources`` is a comma-separated list of logical-id globs (``*`` for every resource) and the
reason must not be empty. An entry that matches nothing is reported (stale), not fatal.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECURITY_MD = ROOT / "docs" / "security.md"
SECTION = "## Audit: checkov's remaining findings"


@dataclass(frozen=True)
class Accepted:
    check: str
    resources: tuple[str, ...]
    reason: str

    def covers(self, check: str, resource: str) -> bool:
        return check == self.check and any(fnmatch.fnmatchcase(resource, glob) for glob in self.resources)


@dataclass(frozen=True)
class Finding:
    check: str
    name: str
    template: str
    resource: str  # the logical id

    def __str__(self) -> str:
        return f"{self.check} {self.template}:{self.resource} ({self.name})"


def accepted_findings(markdown: str) -> list[Accepted]:
    """The table of the audit section of docs/security.md."""
    if SECTION not in markdown:
        raise SystemExit(f"{SECURITY_MD}: no section {SECTION!r}")
    section = markdown.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 3 or not re.fullmatch(r"`?CKV2?_AWS_\d+`?", cells[0]):
            continue
        check, resources, reason = (cell.strip("`") for cell in cells)
        if not reason:
            raise SystemExit(f"{SECURITY_MD}: {check} is listed without a reason")
        globs = tuple(g.strip().strip("`") for g in resources.split(",") if g.strip())
        found.append(Accepted(check, globs, reason))
    if not found:
        raise SystemExit(f"{SECURITY_MD}: the {SECTION!r} table lists nothing")
    return found


def synthesize(out: Path) -> list[Path]:
    """Every stack of the default app (config/regions.yaml, cdk.json's context), bundling skipped."""
    os.environ.setdefault("CDK_DEFAULT_ACCOUNT", "123456789012")
    from ecommerce_constructs.app import build
    from ecommerce_constructs.config import load_config
    from ecommerce_constructs.testing import unit_test_app

    app = unit_test_app(None, cdk_json=ROOT / "cdk.json")
    built = build(app, load_config(ROOT / "config" / "regions.yaml"))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.template.json"):
        old.unlink()
    from aws_cdk.assertions import Template

    paths = []
    for stack in built.stacks:
        path = out / f"{stack.stack_name}.template.json"
        path.write_text(json.dumps(Template.from_stack(stack).to_json(), indent=1, sort_keys=True))
        paths.append(path)
    return paths


def run_checkov(checkov: str, directory: Path, templates: list[Path]) -> list[Finding]:
    result = subprocess.run(  # noqa: S603 - our own pinned tool
        [checkov, "--directory", str(directory), "--framework", "cloudformation", "--output", "json",
         "--quiet", "--compact", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise SystemExit(f"checkov failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return findings_of(result.stdout, templates)


def findings_of(report_json: str, templates: list[Path]) -> list[Finding]:
    """The failed checks of checkov's JSON report. Refuses (exit) a report that cannot vouch for
    the templates: one that parsed no resource, had parsing errors, or has no result (passed,
    failed or skipped) for one of ``templates`` — a run that checked nothing must not pass."""
    reports = json.loads(report_json)
    reports = reports if isinstance(reports, list) else [reports]
    # A report with nothing to check is a bare summary (no "results"); otherwise it has a "summary".
    summaries = [report.get("summary", report) for report in reports if isinstance(report, dict)]
    resources = sum(int(summary.get("resource_count") or 0) for summary in summaries)
    if resources == 0:
        raise SystemExit(f"checkov parsed no resources in {len(templates)} templates: nothing was checked")
    errors = sum(int(summary.get("parsing_errors") or 0) for summary in summaries)
    if errors:
        files = [f for r in reports for f in (r.get("results") or {}).get("parsing_errors", [])]
        raise SystemExit(f"checkov could not parse {errors} file(s): {files}")
    seen: set[str] = set()
    findings = []
    for report in reports:
        results = report.get("results") or {}
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            seen.update(Path(c.get("file_path", "")).name for c in results.get(kind, []))
        for failed in results.get("failed_checks", []):
            resource = str(failed.get("resource", "")).split(".", 1)[-1]
            findings.append(
                Finding(
                    failed["check_id"],
                    failed.get("check_name", ""),
                    Path(failed.get("file_path", "")).name,
                    resource,
                )
            )
    missing = sorted(t.name for t in templates if t.name not in seen)
    if missing:
        raise SystemExit(f"checkov's report has no result for {missing}: those templates were not checked")
    return sorted(set(findings), key=str)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkov", required=True, help="the pinned checkov executable")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "audit")
    args = parser.parse_args()
    accepted = accepted_findings(SECURITY_MD.read_text())
    templates = synthesize(args.out)
    findings = run_checkov(args.checkov, args.out, templates)
    unexplained = [f for f in findings if not any(a.covers(f.check, f.resource) for a in accepted)]
    stale = [a for a in accepted if not any(a.covers(f.check, f.resource) for f in findings)]
    print(
        f"checkov: {len(templates)} templates, {len(findings)} failed checks, {len(unexplained)} not accepted"
    )
    for entry in stale:
        print(f"  stale entry in docs/security.md (matches nothing now): {entry.check} {entry.resources}")
    for finding in unexplained:
        print(f"  NOT ACCEPTED: {finding}")
    if unexplained:
        print(f"Fix them, or list each with its reason in {SECURITY_MD.relative_to(ROOT)} ({SECTION}).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
