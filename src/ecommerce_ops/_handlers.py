"""Our Lambda code, importable as ``handlers`` in an operator's process, loaded by path.

Inside its Lambda asset the code is the top-level package ``handlers``; the wheel ships it as data
under ``ecommerce_constructs/_lambda/`` so that installing us never adds a top-level ``handlers``
to a user's environment (where that name is often their own). Importing ``ecommerce_ops`` puts that
directory first on ``sys.path`` of the operator's process (the ``ecommerce`` command's own).
"""

from __future__ import annotations

import sys
from pathlib import Path


class ForeignHandlersError(RuntimeError):
    """Another package named ``handlers`` was imported first in this process."""


def use_handlers() -> None:
    """Make ``import handlers`` resolve to this distribution's Lambda code (idempotent)."""
    from ecommerce_constructs._platform import handlers_source_dir

    source = handlers_source_dir()
    loaded = sys.modules.get("handlers")
    if loaded is not None:
        where = Path(getattr(loaded, "__file__", "") or ".").resolve().parent
        if where != source:
            raise ForeignHandlersError(
                f"a package named handlers was already imported from {where}; run the ecommerce "
                "command in a process of its own"
            )
        return
    parent = str(source.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
