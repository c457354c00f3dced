"""The outbox rows the shop's statements write (migration 0008, docs/events.md): one per domain event,
in the same transaction as the change, with payloads that are the shared event models; both order
strategies; nothing for rolled-back or repeated work."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from api_support import JOHN, MOUSE, OPERATOR, Client
from ecommerce_dev.guarded import guarded_database
from handlers.events.models import EVENT_VERSION, validate
from handlers.shop.domain import InvalidValue
from handlers.shop.repository import ShopRepository

orders = pytest.mark.usefixtures("order_strategy")


def events(admin: psycopg.Connection, entity: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of the entity's outbox rows, oldest first; each validated against its model."""
    rows = admin.execute(
        "SELECT event_id, event_type, event_version, payload, region, created_at FROM outbox "
        "WHERE entity_id = %s ORDER BY created_at, event_type",
        (entity,),
    ).fetchall()
    found = []
    for event_id, event_type, version, payload, region, created_at in rows:
        assert isinstance(event_id, UUID) and version == EVENT_VERSION and region and created_at
        data = json.loads(payload)
        validate(event_type, version, data)
        found.append((event_type, data))
    return found


def stock_events(admin: psycopg.Connection, product: str) -> list[str]:
    return [t for t, _ in events(admin, product) if t == "StockDepleted"]


@orders
def test_an_order_writes_one_order_placed_with_lines_totals_customer_and_region(
    client: Client, admin: psycopg.Connection
) -> None:
    product = client.new_product(10, price="19.99")
    order = client.order([(product, 2), (MOUSE, 1)]).body
    [(event_type, data)] = events(admin, order["order_id"])
    assert event_type == "OrderPlaced"
    assert data == {
        "orderId": order["order_id"],
        "customerId": JOHN,
        "status": "confirmed",
        "currency": "USD",
        "total": order["total_amount"],
        "lines": sorted(
            [
                {"productId": i["product_id"], "quantity": i["quantity"], "unitPrice": i["unit_price"]}
                for i in order["items"]
            ],
            key=lambda line: line["productId"],
        ),
        "region": client.handlers["orders"].region,
    }
    assert stock_events(admin, product) == []


@orders
def test_replays_failures_and_a_second_cancel_write_nothing(
    client: Client, admin: psycopg.Connection
) -> None:
    product = client.new_product(3)
    key = str(uuid4())
    first = client.order([(product, 1)], key=key)
    replay = client.order([(product, 1)], key=key)
    assert first.status == replay.status == 201
    order_id = first.body["order_id"]
    assert [t for t, _ in events(admin, order_id)] == ["OrderPlaced"]
    too_many = client.order([(product, 5)])
    assert too_many.status == 409
    mentions = "SELECT count(*) FROM outbox WHERE event_type LIKE 'Order%%' AND payload LIKE %s"
    assert admin.execute(mentions, (f"%{product}%",)).fetchone() == (1,)  # the first order only
    assert client.post(f"/orders/{order_id}/cancel").status == 200
    assert client.post(f"/orders/{order_id}/cancel").status == 409
    assert [t for t, _ in events(admin, order_id)] == ["OrderPlaced", "OrderCancelled"]
    (_, placed), (_, cancelled) = events(admin, order_id)
    assert cancelled == {**placed, "status": "cancelled"}


@orders
@pytest.mark.parametrize("buckets", [1, 4])
def test_stock_depleted_when_an_order_takes_the_last_units(
    client: Client, admin: psycopg.Connection, buckets: int
) -> None:
    product = client.new_product(5, buckets=buckets)
    first = client.order([(product, 2)]).body
    assert stock_events(admin, product) == []
    last = client.order([(product, 3)]).body
    depleted = [d for t, d in events(admin, product) if t == "StockDepleted"]
    assert depleted == [{"productId": product, "orderId": last["order_id"]}]
    assert first["order_id"] != last["order_id"]


def test_catalog_changes_write_created_changed_and_retired(client: Client, admin: psycopg.Connection) -> None:
    product = client.new_product(7, price="12.50")
    [(created, data)] = events(admin, product)
    assert created == "ProductCreated"
    assert data == {
        "productId": product,
        "name": "P",
        "description": "",
        "price": "12.50",
        "currency": "USD",
        "category": "Test",
        "stockQuantity": 7,
        "stockBuckets": 1,
    }
    # Only the fields whose value changed; a PATCH that changes nothing writes nothing.
    patch = {"name": "P", "price": "13.00", "stock_quantity": 9, "stock_buckets": 2}
    assert client.request("PATCH", f"/products/{product}", patch, who=OPERATOR).status == 200
    assert client.request("PATCH", f"/products/{product}", {"name": "P"}, who=OPERATOR).status == 200
    assert client.request("DELETE", f"/products/{product}", who=OPERATOR).status == 204
    assert client.request("DELETE", f"/products/{product}", who=OPERATOR).status == 404
    found = events(admin, product)
    assert [t for t, _ in found] == ["ProductCreated", "ProductChanged", "ProductRetired"]
    assert found[1][1] == {
        "productId": product,
        "changes": {
            "price": {"old": "12.50", "new": "13.00"},
            "stockQuantity": {"old": 7, "new": 9},
            "stockBuckets": {"old": 1, "new": 2},
        },
    }
    assert found[2][1] == {"productId": product}


def test_an_aborted_catalog_change_writes_nothing(shop_dsn: str, admin: psycopg.Connection) -> None:
    """The event and the change are one transaction: a row the table refuses (its CHECK on the
    category's length, past the API's validation) leaves no event either."""
    before = admin.execute("SELECT count(*) FROM outbox").fetchone()
    repository = ShopRepository(guarded_database(shop_dsn), region="us-east-1")
    with pytest.raises(InvalidValue):
        repository.create_product(
            name="P", description="", price=Decimal("1.00"), stock_quantity=1, category="x" * 101
        )
    assert admin.execute("SELECT count(*) FROM outbox").fetchone() == before
    product = repository.create_product(
        name="P", description="", price=Decimal("1.00"), stock_quantity=1, category="x"
    )
    assert [t for t, _ in events(admin, str(product.product_id))] == ["ProductCreated"]
    assert admin.execute(
        "SELECT region FROM outbox WHERE entity_id = %s", (product.product_id,)
    ).fetchone() == ("us-east-1",)
