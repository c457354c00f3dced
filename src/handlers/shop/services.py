"""Use cases of the shop: the rules between a validated request and the repository."""

from __future__ import annotations

import uuid
from decimal import Decimal
from uuid import UUID

from handlers.contract import CUSTOMER, OPERATOR

from .domain import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_STOCK_BUCKETS,
    Caller,
    Customer,
    NotFound,
    Order,
    OrderRequest,
    Page,
    PlacedOrder,
    Product,
    ProductChanges,
    check_transition,
    claimable_email,
    decode_cursor,
    require,
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
        self,
        caller: Caller,
        *,
        name: str,
        description: str,
        price: Decimal,
        stock_quantity: int,
        category: str,
        stock_buckets: int = DEFAULT_STOCK_BUCKETS,
    ) -> Product:
        require(OPERATOR, caller)
        return self.repository.create_product(
            name=name,
            description=description,
            price=price,
            stock_quantity=stock_quantity,
            category=category,
            stock_buckets=stock_buckets,
        )

    def update_product(self, caller: Caller, product_id: UUID, changes: ProductChanges) -> Product:
        require(OPERATOR, caller)
        if not changes.as_dict():
            return self.repository.get_product(product_id)
        return self.repository.update_product(product_id, changes)

    def retire_product(self, caller: Caller, product_id: UUID) -> None:
        require(OPERATOR, caller)
        self.repository.retire_product(product_id)

    # customers: a customer acts on their own profile; an operator may read anyone's
    def create_customer(self, caller: Caller, *, email: str, first_name: str, last_name: str) -> Customer:
        subject = require(CUSTOMER, caller)
        # Stored lower-case: the unique constraint then ignores case (DSQL has no citext).
        email = claimable_email(caller, email)
        return self.repository.create_customer(
            subject=subject, email=email, first_name=first_name, last_name=last_name
        )

    def get_my_customer(self, caller: Caller) -> Customer:
        require(CUSTOMER, caller)
        return self.repository.get_my_customer(caller)

    def get_customer(self, caller: Caller, customer_id: UUID) -> Customer:
        require(CUSTOMER, caller)
        return self.repository.get_customer(customer_id, caller)

    def list_customer_orders(
        self, caller: Caller, customer_id: UUID, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Order]:
        require(CUSTOMER, caller)
        after = decode_cursor(cursor, str(customer_id)) if cursor else None
        return self.repository.list_customer_orders(customer_id, caller, limit=limit, after=after)

    # orders: placed for the caller's own profile; read and cancelled by their owner or an operator
    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> PlacedOrder:
        return self.repository.place_order(request, order_id=uuid.uuid4(), idempotency_key=idempotency_key)

    def get_order(self, caller: Caller, order_id: UUID) -> Order:
        require(CUSTOMER, caller)
        return self.repository.get_order(order_id, caller)

    def cancel_order(self, caller: Caller, order_id: UUID) -> Order:
        require(CUSTOMER, caller)
        cancelled = self.repository.cancel_order(order_id, caller)
        if cancelled is not None:
            return cancelled
        # Nothing matched a confirmed order of the caller's: missing, another's, or the wrong state.
        order = self.repository.get_order(order_id, caller)
        check_transition(order, "cancelled")
        raise NotFound("order", order_id)  # unreachable: only 'confirmed' may be cancelled

    def health(self) -> None:
        self.repository.ping()
