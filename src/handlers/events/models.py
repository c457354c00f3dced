"""The domain events, shared by the statements that write them (as outbox rows, handlers/shop/repository.py)
and the publisher that puts them on the bus: one model per event type and version. The JSON Schemas in
docs/events/ are generated from these models (``python -m handlers.events.schemas``) and a test keeps them
in step. Money is a decimal string ("12.50"), ids are UUID strings, times RFC 3339.

A new field is a compatible change of the same version: consumers ignore fields they do not know, and so
does the publisher (models accept unknown fields), because during a deployment the API functions may
write a row with the new field before the publisher is updated. Anything else (a field removed,
renamed or retyped) is a new version (a new model, ``EVENT_VERSION`` + 1) published next to the old
one until consumers moved."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE = "ecommerce.shop"
"""EventBridge ``source`` of every event (rules match on it)."""

Money = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", description="A decimal amount, two places")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class OrderLine(_Model):
    productId: str = Field(description="The product ordered (UUID)")
    quantity: int = Field(ge=1)
    unitPrice: Money = Field(description="The price per unit when the order was placed")


class OrderPlaced(_Model):
    """A customer's order was placed (stock taken, order confirmed)."""

    orderId: str
    customerId: str
    status: Literal["confirmed"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    total: Money
    lines: list[OrderLine] = Field(min_length=1)
    region: str = Field(description="The region whose API took the order")


class OrderCancelled(_Model):
    """A confirmed order was cancelled; its lines' stock went back."""

    orderId: str
    customerId: str
    status: Literal["cancelled"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    total: Money
    lines: list[OrderLine] = Field(min_length=1)
    region: str = Field(description="The region whose API took the cancellation")


class ProductCreated(_Model):
    productId: str
    name: str
    description: str
    price: Money
    currency: str
    category: str
    stockQuantity: int = Field(ge=0)
    stockBuckets: int = Field(ge=1)


class Change(_Model):
    old: Any = Field(description="The value before the change")
    new: Any = Field(description="The value after the change")


class ProductChanged(_Model):
    """An operator changed a product: only the fields whose value changed, with old and new values."""

    productId: str
    changes: dict[
        Literal["name", "description", "price", "category", "stockQuantity", "stockBuckets"], Change
    ] = Field(min_length=1)


class ProductRetired(_Model):
    productId: str


class StockDepleted(_Model):
    """An order took a product's last units (its total stock is now 0)."""

    productId: str
    orderId: str = Field(description="The order that took the last units")


EVENT_TYPES: dict[str, type[_Model]] = {
    model.__name__: model
    for model in (OrderPlaced, OrderCancelled, ProductCreated, ProductChanged, ProductRetired, StockDepleted)
}
EVENT_VERSION = 1
"""Every event type is at version 1."""


class Detail(_Model):
    """An EventBridge event's ``detail``: the envelope around one outbox row's payload."""

    eventId: str = Field(description="The outbox row's event_id: the event's identity; deduplicate on it")
    eventVersion: int = Field(ge=1)
    entityId: str = Field(description="The order's or product's id: order events per entity by sequence")
    sequence: int = Field(
        description="The commit timestamp in nanoseconds (DSQL's source.ts_ns): later commits of an entity "
        "have larger sequences"
    )
    region: str
    occurredAt: str = Field(description="When the row was written (RFC 3339)")
    data: dict[str, Any]


def validate(event_type: str, version: int, data: dict[str, Any]) -> None:
    """Raises ValueError (pydantic's ValidationError) when ``data`` is not the named event."""
    model = EVENT_TYPES.get(event_type)
    if model is None or version != EVENT_VERSION:
        raise ValueError(f"unknown event {event_type} v{version}")
    model.model_validate(data)
