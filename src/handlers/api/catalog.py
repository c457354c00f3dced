"""Lambda entry point of the catalog function: catalog writes (operators) and customers."""

from __future__ import annotations

from typing import Any

from .handler import ApiHandler
from .routes import register_catalog


def build(**kwargs: Any) -> ApiHandler:
    return ApiHandler("catalog", (register_catalog,), **kwargs)


handler = build()
