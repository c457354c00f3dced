"""API Gateway REST proxy handlers. Entry points: ``handlers.api.catalog.handler`` and
``handlers.api.orders.handler``; ``ROUTES`` says which one serves each top-level path."""

# Must match ecommerce_constructs.ecommerce_api.ROUTES (tests/unit/test_api.py checks it).
ROUTES: dict[str, str] = {
    "products": "catalog",
    "customers": "catalog",
    "health": "catalog",
    "orders": "orders",
}
