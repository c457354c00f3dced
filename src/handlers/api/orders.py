"""Lambda entry point of the orders function."""

from __future__ import annotations

from typing import Any

from .handler import ApiHandler
from .routes import register_orders


def build(**kwargs: Any) -> ApiHandler:
    return ApiHandler("orders", (register_orders,), **kwargs)


handler = build()
