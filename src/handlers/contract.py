"""The contracts between synthesis and the Lambda code, each in one place.

Standard library only, and no imports from this package: ``ecommerce_constructs`` loads this file
by path from the ``handlers`` directory that ships beside it (never ``import handlers``, which in a
user's CDK app may resolve to their own package), and the handlers import it as usual. What the
constructs put into a function's environment and what :mod:`handlers.settings` reads from it are
both spelled here; ``tests/unit/test_contract.py`` checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Marks the directory as this distribution's Lambda code (the constructs check it before bundling).
DISTRIBUTION: Final = "ecommerce-constructs"

#: PostgreSQL role the functions log in as (created and mapped to their IAM roles at deploy time).
DEFAULT_APP_ROLE: Final = "ecommerce_app"
#: DSQL's built-in role: migrations only, with ``dsql:DbConnectAdmin`` tokens.
ADMIN_ROLE: Final = "admin"

#: DSQL endpoints live under ``on.aws`` in every partition (not the partition's URL suffix).
DSQL_ENDPOINT_SUFFIX: Final = "on.aws"


def dsql_endpoint(cluster_identifier: str, region: str) -> str:
    """``<cluster-id>.dsql.<region>.on.aws`` (works with CDK tokens as well as plain strings)."""
    return f"{cluster_identifier}.dsql.{region}.{DSQL_ENDPOINT_SUFFIX}"


def region_of_endpoint(endpoint: str | None) -> str | None:
    """The region named by a DSQL endpoint, or None when it is not one."""
    parts = (endpoint or "").split(".")
    if len(parts) == 5 and parts[1] == "dsql" and ".".join(parts[3:]) == DSQL_ENDPOINT_SUFFIX:
        return parts[2]
    return None


class Env:
    """Names of the Lambda environment variables the constructs set and the handlers read."""

    DSQL_ENDPOINT: Final = "DSQL_ENDPOINT"
    DSQL_REGION: Final = "DSQL_REGION"
    DB_USER: Final = "DB_USER"
    CORS_ORIGINS: Final = "CORS_ORIGINS"
    SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
    METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
    TRACE_DISABLED: Final = "POWERTOOLS_TRACE_DISABLED"
    # Not set by the constructs: local runs, tools and tests.
    LOCAL_DSN: Final = "ECOMMERCE_LOCAL_DSN"
    DB_ADMIN: Final = "DB_ADMIN"
    DB_CONNECT_TIMEOUT: Final = "DB_CONNECT_TIMEOUT"
    DB_APPLICATION_NAME: Final = "DB_APPLICATION_NAME"
    DB_MAX_CONNECTION_AGE: Final = "DB_MAX_CONNECTION_AGE"


SERVICE_NAME: Final = "ecommerce"
METRICS_NAMESPACE: Final = "Ecommerce"

#: Lambda functions of the shop API: logical name -> handler entry point.
FUNCTIONS: Final = {
    "catalog": "handlers.api.catalog.handler",
    "orders": "handlers.api.orders.handler",
}


@dataclass(frozen=True)
class Route:
    """One operation of the REST API. ``path`` uses API Gateway's ``{param}`` syntax."""

    operation: str
    method: str
    path: str
    function: str


#: Every operation the API offers. API Gateway's resources and methods, the handlers' routes,
#: the local runtime's router and the OpenAPI document are all generated from this table.
ROUTES: Final = (
    Route("health", "GET", "/health", "catalog"),
    Route("list_products", "GET", "/products", "catalog"),
    Route("create_product", "POST", "/products", "catalog"),
    Route("get_product", "GET", "/products/{product_id}", "catalog"),
    Route("update_product", "PATCH", "/products/{product_id}", "catalog"),
    Route("retire_product", "DELETE", "/products/{product_id}", "catalog"),
    Route("create_customer", "POST", "/customers", "catalog"),
    Route("get_customer", "GET", "/customers/{customer_id}", "catalog"),
    Route("list_customer_orders", "GET", "/customers/{customer_id}/orders", "catalog"),
    Route("place_order", "POST", "/orders", "orders"),
    Route("get_order", "GET", "/orders/{order_id}", "orders"),
    Route("cancel_order", "POST", "/orders/{order_id}/cancel", "orders"),
)


def route(operation: str) -> Route:
    for candidate in ROUTES:
        if candidate.operation == operation:
            return candidate
    raise KeyError(f"no operation {operation!r} in handlers.contract.ROUTES")


def methods_by_path() -> dict[str, tuple[str, ...]]:
    """Path -> the methods it answers (GET implies HEAD, as HTTP requires)."""
    table: dict[str, list[str]] = {}
    for item in ROUTES:
        methods = table.setdefault(item.path, [])
        methods.append(item.method)
        if item.method == "GET":
            methods.append("HEAD")
    return {path: tuple(methods) for path, methods in table.items()}
