"""Lambda entry point for the catalog, customers and health routes (the recipe's products function)."""

from __future__ import annotations

from .common import ApiHandler
from .routes import register_catalog


def build(**kwargs: object) -> ApiHandler:
    return ApiHandler((register_catalog,), **kwargs)  # type: ignore[arg-type]


handler = build()
