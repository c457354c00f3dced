"""Routes of both entry points, registered per ApiHandler (see common.py for why per instance)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from handlers.shop.domain import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, OrderRequest, ProductChanges

from .handler import ApiHandler, health_body
from .models import (
    CustomerCreate,
    CustomerOut,
    Health,
    OrderCreate,
    OrderOut,
    OrderPage,
    OrderSummary,
    ProductAdminOut,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductPatch,
    Uuid,
)
from .problems import PROBLEM_RESPONSE, json_response

# Query strings are text: "5" is a page size, "5.0", "05" or " 5" is not (the pattern is 1..100).
Limit = Annotated[
    str,
    Query(
        pattern=r"^([1-9]|[1-9][0-9]|100)$", description=f"Page size, 1-{MAX_PAGE_SIZE} [{DEFAULT_PAGE_SIZE}]"
    ),
]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="next_cursor of the previous page",
    ),
]
CategoryFilter = Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        # Visible ASCII only: a blank or invisible key would collide between unrelated clients.
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="A UUID per intended order; retries with the same key and body replay the response.",
    ),
]

# What any route with a JSON body may answer before its own rules run.
_BODY_PROBLEMS = (400, 413, 415, 422)


def responses(status: int, model: type[BaseModel] | None, description: str, *problems: int) -> dict[int, Any]:
    """OpenAPI responses: the success (with its model, none for 204) plus the problems a route returns."""
    declared: dict[int, Any] = {status: {"description": description}}
    if model is not None:
        declared[status]["content"] = {"application/json": {"model": model}}
    # Every operation validates its input (422) and may find the database unavailable (503).
    for code in (*problems, 422, 503):
        declared[code] = PROBLEM_RESPONSE
    return declared


def body_responses(status: int, model: type[BaseModel], description: str, *problems: int) -> dict[int, Any]:
    return responses(status, model, description, *problems, *_BODY_PROBLEMS)


def register_browse(handler: ApiHandler) -> None:
    """The anonymous reads: health and the catalog (the browse function, whose database role can
    read only products)."""

    @handler.operation(
        "health", tags=["operations"], responses=responses(200, Health, "Database reachable", 503)
    )
    def health() -> Response[str]:
        status, body = health_body(handler)
        return json_response(status, Health(**body))

    @handler.operation(
        "list_products",
        tags=["catalog"],
        summary="List products, newest first (keyset paging)",
        responses=responses(200, ProductPage, "One page of products", 400),
    )
    def list_products(
        limit: Limit = str(DEFAULT_PAGE_SIZE), cursor: Cursor = None, category: CategoryFilter = None
    ) -> Response[str]:
        page = handler.run(
            lambda shop: shop.list_products(limit=int(limit), cursor=cursor, category=category)
        )
        return json_response(
            200, ProductPage(products=[ProductOut.of(p) for p in page.items], next_cursor=page.next_cursor)
        )

    @handler.operation(
        "get_product", tags=["catalog"], responses=responses(200, ProductOut, "The product", 404)
    )
    def get_product(product_id: Uuid) -> Response[str]:
        return json_response(200, ProductOut.of(handler.run(lambda shop: shop.get_product(product_id))))


def register_catalog(handler: ApiHandler) -> None:
    """Catalog writes (operators) and customers' profiles."""

    @handler.operation(
        "create_product", tags=["catalog"], responses=body_responses(201, ProductAdminOut, "Created")
    )
    def create_product(product: Annotated[ProductCreate, Body()]) -> Response[str]:
        created = handler.run(lambda shop: shop.create_product(handler.caller, **product.model_dump()))
        return json_response(
            201, ProductAdminOut.of(created), {"Location": f"/products/{created.product_id}"}
        )

    @handler.operation(
        "update_product", tags=["catalog"], responses=body_responses(200, ProductAdminOut, "Updated", 404)
    )
    def update_product(product_id: Uuid, changes: Annotated[ProductPatch, Body()]) -> Response[str]:
        updated = handler.run(
            lambda shop: shop.update_product(
                handler.caller, product_id, ProductChanges(**changes.model_dump())
            )
        )
        return json_response(200, ProductAdminOut.of(updated))

    @handler.operation(
        "retire_product",
        tags=["catalog"],
        summary="Retire a product (soft delete: it leaves the catalog, past orders keep it)",
        responses=responses(204, None, "Retired", 404),
    )
    def retire_product(product_id: Uuid) -> Response[str]:
        handler.run(lambda shop: shop.retire_product(handler.caller, product_id))
        return json_response(204, None)

    @handler.operation(
        "create_customer", tags=["customers"], responses=body_responses(201, CustomerOut, "Created", 403, 409)
    )
    def create_customer(customer: Annotated[CustomerCreate, Body()]) -> Response[str]:
        created = handler.run(lambda shop: shop.create_customer(handler.caller, **customer.model_dump()))
        return json_response(201, CustomerOut.of(created), {"Location": f"/customers/{created.customer_id}"})

    @handler.operation(
        "get_my_customer",
        tags=["customers"],
        summary="The caller's own customer profile",
        responses=responses(200, CustomerOut, "Your profile", 404),
    )
    def get_my_customer() -> Response[str]:
        return json_response(
            200, CustomerOut.of(handler.run(lambda shop: shop.get_my_customer(handler.caller)))
        )

    @handler.operation(
        "get_customer",
        tags=["customers"],
        responses=responses(200, CustomerOut, "The customer", 404),
    )
    def get_customer(customer_id: Uuid) -> Response[str]:
        return json_response(
            200, CustomerOut.of(handler.run(lambda shop: shop.get_customer(handler.caller, customer_id)))
        )

    @handler.operation(
        "list_customer_orders",
        tags=["customers"],
        summary="A customer's orders, newest first (keyset paging)",
        responses=responses(200, OrderPage, "One page of orders", 400, 404),
    )
    def list_customer_orders(
        customer_id: Uuid, limit: Limit = str(DEFAULT_PAGE_SIZE), cursor: Cursor = None
    ) -> Response[str]:
        page = handler.run(
            lambda shop: shop.list_customer_orders(
                handler.caller, customer_id, limit=int(limit), cursor=cursor
            )
        )
        return json_response(
            200, OrderPage(orders=[OrderSummary.of(o) for o in page.items], next_cursor=page.next_cursor)
        )


def register_orders(handler: ApiHandler) -> None:
    @handler.operation(
        "place_order",
        tags=["orders"],
        summary="Place an order: takes stock, totals, stores the idempotency record in one transaction",
        responses=body_responses(201, OrderOut, "Created (or the replayed original response)", 403, 409),
    )
    def place_order(order: Annotated[OrderCreate, Body()], idempotency_key: IdempotencyKey) -> Response[str]:
        request = OrderRequest.build(
            handler.signed_in(), ((item.product_id, item.quantity) for item in order.items), order.customer_id
        )
        placed = handler.run(lambda shop: shop.place_order(request, idempotency_key=idempotency_key))
        headers = {"Location": f"/orders/{placed.order.order_id}"}
        if placed.replayed:
            headers["Idempotent-Replayed"] = "true"
        handler.metrics.add_metric(
            name="OrderReplays" if placed.replayed else "OrdersPlaced", unit=MetricUnit.Count, value=1
        )
        return json_response(201, OrderOut.of(placed.order), headers)

    @handler.operation("get_order", tags=["orders"], responses=responses(200, OrderOut, "The order", 404))
    def get_order(order_id: Uuid) -> Response[str]:
        return json_response(
            200, OrderOut.of(handler.run(lambda shop: shop.get_order(handler.caller, order_id)))
        )

    @handler.operation(
        "cancel_order",
        tags=["orders"],
        summary="Cancel a confirmed order and return its stock (exactly once)",
        responses=responses(200, OrderOut, "Cancelled", 404, 409, 503),
    )
    def cancel_order(order_id: Uuid) -> Response[str]:
        return json_response(
            200, OrderOut.of(handler.run(lambda shop: shop.cancel_order(handler.caller, order_id)))
        )
