"""Run cfn-lint over every template of a cloud assembly, each with its own stack's region.

Usage: python scripts/lint_templates.py [cdk.out]. Exit status 1 on any finding except W3005
(redundant DependsOn, a CDK pattern).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cfnlint.api import lint

ALLOWED = {"W3005"}


def main(outdir: str = "cdk.out") -> int:
    manifest = json.loads((Path(outdir) / "manifest.json").read_text(encoding="utf-8"))
    failed = False
    for name, artifact in manifest["artifacts"].items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        region = artifact["environment"].rsplit("/", 1)[-1]
        template = (Path(outdir) / artifact["properties"]["templateFile"]).read_text(encoding="utf-8")
        findings = [m for m in lint(template, regions=[region]) if m.rule.id not in ALLOWED]
        for match in findings:
            print(f"{name} ({region}): {match.rule.id} {match.message} [{'/'.join(map(str, match.path))}]")
        print(f"cfn-lint {name} ({region}): {len(findings)} finding(s)")
        failed = failed or bool(findings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
