"""Use cases of the shop: the rules between a validated request and the repository."""

from __future__ import annotations

import uuid
from decimal import Decimal
from uuid import UUID

from .domain import (
    DEFAULT_PAGE_SIZE,
    Customer,
    NotFound,
    Order,
    OrderRequest,
    Page,
    PlacedOrder,
    Product,
    ProductChanges,
    check_transition,
    decode_cursor,
    normalize_email,
)
from .repository import ShopRepository


class Shop:
    def __init__(self, repository: ShopRepository) -> None:
        self.repository = repository

    # catalog
    def list_products(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, category: str | None = None
    ) -> Page[Product]:
        after = decode_cursor(cursor, category) if cursor else None
        return self.repository.list_products(limit=limit, after=after, category=category)

    def get_product(self, product_id: UUID) -> Product:
        return self.repository.get_product(product_id)

    def create_product(
        self, *, name: str, description: str, price: Decimal, stock_quantity: int, category: str
    ) -> Product:
        return self.repository.create_product(
            name=name, description=description, price=price, stock_quantity=stock_quantity, category=category
        )

    def update_product(self, product_id: UUID, changes: ProductChanges) -> Product:
        if not changes.as_dict():
            return self.repository.get_product(product_id)
        return self.repository.update_product(product_id, changes)

    def retire_product(self, product_id: UUID) -> None:
        self.repository.retire_product(product_id)

    # customers
    def create_customer(self, *, email: str, first_name: str, last_name: str) -> Customer:
        # Stored lower-case: the unique constraint then ignores case (DSQL has no citext).
        return self.repository.create_customer(
            email=normalize_email(email), first_name=first_name, last_name=last_name
        )

    def get_customer(self, customer_id: UUID) -> Customer:
        return self.repository.get_customer(customer_id)

    def list_customer_orders(
        self, customer_id: UUID, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Order]:
        after = decode_cursor(cursor, str(customer_id)) if cursor else None
        return self.repository.list_customer_orders(customer_id, limit=limit, after=after)

    # orders
    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> PlacedOrder:
        return self.repository.place_order(request, order_id=uuid.uuid4(), idempotency_key=idempotency_key)

    def get_order(self, order_id: UUID) -> Order:
        return self.repository.get_order(order_id)

    def cancel_order(self, order_id: UUID) -> Order:
        cancelled = self.repository.cancel_order(order_id)
        if cancelled is not None:
            return cancelled
        # Nothing matched a confirmed order: say whether it is missing or in the wrong state.
        order = self.repository.get_order(order_id)
        check_transition(order, "cancelled")
        raise NotFound("order", order_id)  # unreachable: only 'confirmed' may be cancelled

    def health(self) -> None:
        self.repository.ping()
