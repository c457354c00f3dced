"""Lambda entry point of the browse function: the anonymous reads (health, the catalog). Its
database role can read products and nothing else (handlers/db/roles.py)."""

from __future__ import annotations

from typing import Any

from .handler import ApiHandler
from .routes import register_browse


def build(**kwargs: Any) -> ApiHandler:
    return ApiHandler("browse", (register_browse,), **kwargs)


handler = build()
