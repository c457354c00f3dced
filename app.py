#!/usr/bin/env python3
"""CDK app: one stack per configured region plus the CloudFront edge stack (see config/regions.yaml).

cdk.json runs ``python3 app.py``. That interpreter need not be the project's: when it cannot import
ecommerce_constructs, this file re-runs itself with the virtualenv ``make install`` created, so
``npx cdk synth`` / ``deploy`` work in a fresh shell without activating anything.
"""

import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv"
REEXEC = "ECOMMERCE_APP_REEXEC"


def _project_python() -> None:
    try:
        import ecommerce_constructs  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        # Not compared by executable path: a venv's python is a symlink to the base interpreter.
        if python.is_file() and not os.environ.get(REEXEC):
            os.environ[REEXEC] = "1"
            os.execv(str(python), [str(python), *sys.argv])  # noqa: S606 - our own venv
        sys.exit(
            f"{__file__}: ecommerce_constructs is not installed for {sys.executable}; run `make install`"
        )


if __name__ == "__main__":
    _project_python()
    from ecommerce_constructs.app import main

    main()
