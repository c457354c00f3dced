"""The OpenAPI 3.1 document of both entry points, generated from the same pydantic models.

Generated at build time (``python -m handlers.api.openapi > docs/openapi.json``), never per cold
start; tests/unit/test_openapi.py fails when the committed document drifts from the code.
"""

from __future__ import annotations

import json
from typing import Any

from handlers import __version__

from .common import ApiHandler
from .routes import register_catalog, register_orders

DESCRIPTION = (
    "Catalog, customers and orders of a global active-active shop on Aurora DSQL. Errors are RFC 9457 "
    "problem+json with a stable `type`; money is a decimal string beside a currency code; lists use "
    "keyset paging (`limit`, opaque `cursor`, `next_cursor`); POST /orders needs an Idempotency-Key. "
    "Every response carries the serving region in `X-Serving-Region`."
)


def openapi_document() -> dict[str, Any]:
    handler = ApiHandler(None, (register_catalog, register_orders), region="openapi")
    schema = handler.app.get_openapi_json_schema(
        title="ecommerce-constructs shop API", version=__version__, description=DESCRIPTION
    )
    document: dict[str, Any] = json.loads(schema)
    return document


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
