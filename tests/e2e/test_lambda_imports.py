"""The Lambda modules, imported in a fresh interpreter, pull in nothing from synthesis or dev tooling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lambda_modules_import_nothing_from_cdk_or_dev_tooling() -> None:
    code = (
        "import sys; import handlers.infra.edge_health, handlers.infra.edge_state;"
        "import handlers.infra.backup_opt_in, handlers.maintenance.prune;"
        "bad = sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('aws_cdk', 'ecommerce_constructs', 'ecommerce_dev'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "src", capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
