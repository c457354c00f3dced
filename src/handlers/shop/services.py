"""Use cases of the shop: the rules between a validated request and the repository."""

from __future__ import annotations

import uuid
from decimal import Decimal
from uuid import UUID

from .domain import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_STOCK_BUCKETS,
    Caller,
    Customer,
    Forbidden,
    NotFound,
    Order,
    OrderRequest,
    Page,
    PlacedOrder,
    Product,
    ProductChanges,
    Unauthenticated,
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
        require_operator(caller)
        return self.repository.create_product(
            name=name,
            description=description,
            price=price,
            stock_quantity=stock_quantity,
            category=category,
            stock_buckets=stock_buckets,
        )

    def update_product(self, caller: Caller, product_id: UUID, changes: ProductChanges) -> Product:
        require_operator(caller)
        if not changes.as_dict():
            return self.repository.get_product(product_id)
        return self.repository.update_product(product_id, changes)

    def retire_product(self, caller: Caller, product_id: UUID) -> None:
        require_operator(caller)
        self.repository.retire_product(product_id)

    # customers: a customer acts on their own profile; an operator may read anyone's
    def create_customer(self, caller: Caller, *, email: str, first_name: str, last_name: str) -> Customer:
        subject = _signed_in(caller)
        email = normalize_email(email)
        # Stored lower-case: the unique constraint then ignores case (DSQL has no citext).
        if caller.email is not None and normalize_email(caller.email) != email:
            raise Forbidden("email must be the one you signed in with", field="email")
        return self.repository.create_customer(
            subject=subject, email=email, first_name=first_name, last_name=last_name
        )

    def get_my_customer(self, caller: Caller) -> Customer:
        _signed_in(caller)
        return self.repository.get_my_customer(caller)

    def get_customer(self, caller: Caller, customer_id: UUID) -> Customer:
        _signed_in(caller)
        return self.repository.get_customer(customer_id, caller)

    def list_customer_orders(
        self, caller: Caller, customer_id: UUID, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Order]:
        _signed_in(caller)
        after = decode_cursor(cursor, str(customer_id)) if cursor else None
        return self.repository.list_customer_orders(customer_id, caller, limit=limit, after=after)

    # orders: placed for the caller's own profile; read and cancelled by their owner or an operator
    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> PlacedOrder:
        return self.repository.place_order(request, order_id=uuid.uuid4(), idempotency_key=idempotency_key)

    def get_order(self, caller: Caller, order_id: UUID) -> Order:
        _signed_in(caller)
        return self.repository.get_order(order_id, caller)

    def cancel_order(self, caller: Caller, order_id: UUID) -> Order:
        _signed_in(caller)
        cancelled = self.repository.cancel_order(order_id, caller)
        if cancelled is not None:
            return cancelled
        # Nothing matched a confirmed order of the caller's: missing, another's, or the wrong state.
        order = self.repository.get_order(order_id, caller)
        check_transition(order, "cancelled")
        raise NotFound("order", order_id)  # unreachable: only 'confirmed' may be cancelled

    def health(self) -> None:
        self.repository.ping()


def _signed_in(caller: Caller) -> str:
    if caller.subject is None:
        raise Unauthenticated()
    return caller.subject


def require_operator(caller: Caller) -> None:
    """Catalog writes are the operators' (the handlers call this before any catalog change)."""
    _signed_in(caller)
    if not caller.operator:
        raise Forbidden("only operators may change the catalog")
