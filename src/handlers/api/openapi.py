"""The OpenAPI 3.1 document of both entry points, generated from the same pydantic models.

Generated at build time (``python -m handlers.api.openapi > docs/openapi.json``), never per cold
start; tests/unit/test_openapi.py fails when the committed document drifts from the code.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from handlers import __version__, contract

from .handler import ApiHandler
from .routes import register_browse, register_catalog, register_orders

DESCRIPTION = (
    "Catalog, customers and orders of a global active-active shop on Aurora DSQL. Errors are RFC 9457 "
    "problem+json with a stable `type`; money is a decimal string beside a currency code; lists use "
    "keyset paging (`limit`, opaque `cursor`, `next_cursor`); POST /orders needs an Idempotency-Key. "
    "Every response carries the serving region in `X-Serving-Region`."
)


# Operation links (OpenAPI 3.1 "links"): how a created resource is reached next. Clients and
# schemathesis' stateful tests follow them.
LINKS: dict[str, dict[str, dict[str, str]]] = {
    "create_product": {
        op: {"product_id": "$response.body#/product_id"}
        for op in ("get_product", "update_product", "retire_product")
    },
    "create_customer": {
        op: {"customer_id": "$response.body#/customer_id"} for op in ("get_customer", "list_customer_orders")
    },
    "place_order": {
        "get_order": {"order_id": "$response.body#/order_id"},
        "cancel_order": {"order_id": "$response.body#/order_id"},
        "get_customer": {"customer_id": "$response.body#/customer_id"},
    },
}


BEARER = HTTPBearer(
    bearerFormat="JWT",
    description=(
        "A Cognito user pool ID token (not the access token), as `Authorization: Bearer <token>`. "
        "Operators sign in to the operators' user pool (MFA required); tokens of the customers' pool "
        "are customers' whatever their groups. Locally: "
        "`ecommerce dev token --customer EMAIL` or `ecommerce dev token --operator`."
    ),
)


def openapi_document() -> dict[str, Any]:
    handler = ApiHandler(None, (register_browse, register_catalog, register_orders), region="openapi")
    schema = handler.app.get_openapi_json_schema(
        title="ecommerce-constructs shop API",
        version=__version__,
        description=DESCRIPTION,
        security_schemes={contract.SECURITY_SCHEME: BEARER},
    )
    document: dict[str, Any] = json.loads(schema)
    _exact(document)
    return document


def _exact(document: dict[str, Any]) -> None:
    """What Powertools' generator cannot say by itself."""
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)  # Powertools' defaults; our validation errors are Problem documents
    for item in document["paths"].values():
        for operation in item.values():
            # Anonymous operations say so, rather than leaving a reader to guess.
            operation.setdefault("security", [])
            for status, response in operation["responses"].items():
                if status == "204":
                    response.pop("content", None)  # No Content means no content type either
            for target, parameters in LINKS.get(operation["operationId"], {}).items():
                success = next(s for s in operation["responses"] if s.startswith("2"))
                operation["responses"][success].setdefault("links", {})[target] = {
                    "operationId": target,
                    "parameters": parameters,
                }
        if "get" in item:
            # HEAD answers wherever GET does (RFC 9110): same statuses and headers, no body.
            head = json.loads(json.dumps(item["get"]))
            head["operationId"] += "_head"
            head["summary"] = f"{item['get'].get('summary', item['get']['operationId'])} (headers only)"
            for response in head["responses"].values():
                response.pop("content", None)
                response.pop("links", None)
            item["head"] = head


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
