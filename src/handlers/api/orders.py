"""Lambda entry point for the order routes (the recipe's orders function)."""

from __future__ import annotations

from .common import ApiHandler
from .routes import register_orders


def build(**kwargs: object) -> ApiHandler:
    return ApiHandler((register_orders,), **kwargs)  # type: ignore[arg-type]


handler = build()
