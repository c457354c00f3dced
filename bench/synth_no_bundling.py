"""``cdk synth --app "python bench/synth_no_bundling.py"``: the default app with bundling skipped.

The CDK CLI always asks the app to bundle every stack on ``synth`` (it sets the context key
``aws:cdk:bundling-stacks`` to ``["**"]``); ``cdk ls`` is the only command that skips it. This wrapper
changes that one key to ``[]`` in the context the CLI hands over (``CDK_CONTEXT_JSON``, or the file
named by ``CONTEXT_OVERFLOW_LOCATION_ENV`` when the context is large) and runs app.py unchanged.
"""

from __future__ import annotations

import json
import os
import runpy
import tempfile
from pathlib import Path

BUNDLING_STACKS = "aws:cdk:bundling-stacks"
APP = Path(__file__).resolve().parents[1] / "app.py"


def main() -> None:
    overflow = os.environ.get("CONTEXT_OVERFLOW_LOCATION_ENV")
    if overflow:
        context = json.loads(Path(overflow).read_text())
        context[BUNDLING_STACKS] = []
        handle, name = tempfile.mkstemp(prefix="cdk-context-", suffix=".json")
        with os.fdopen(handle, "w") as file:
            json.dump(context, file)
        os.environ["CONTEXT_OVERFLOW_LOCATION_ENV"] = name
    else:
        context = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
        context[BUNDLING_STACKS] = []
        os.environ["CDK_CONTEXT_JSON"] = json.dumps(context)
    os.chdir(APP.parent)
    runpy.run_path(str(APP), run_name="__main__")


if __name__ == "__main__":
    main()
