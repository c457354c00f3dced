"""Request and response bodies. The same models validate requests and generate docs/openapi.json.

Field names follow the recipe (``product_id``, ``stock_quantity``, ``total_amount`` …) so its curl
examples keep working. Money leaves as a decimal string beside a currency code; it arrives as a
JSON number (the recipe's ``"price": 99.99``) or a string, and either way must have at most two
decimal places — never a float in between.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from handlers.shop.domain import (
    MAX_LINE_QUANTITY,
    MAX_ORDER_LINES,
    Customer,
    Order,
    OrderLine,
    Product,
)

Money = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Category = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=4000)]
Stock = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
MoneyOut = Annotated[str, Field(pattern=r"^\d+\.\d{2}$", examples=["999.99"])]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL; refuse it here with the field named, not as a 5xx later.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


# ---- requests -------------------------------------------------------------------------------------


class ProductCreate(_In):
    name: Name
    description: Description = ""
    price: Money
    stock_quantity: Stock = 0
    category: Category


class ProductPatch(_In):
    """Fields to change; omit a field to keep it (explicit null is refused, not ignored)."""

    name: Name | None = None
    description: Description | None = None
    price: Money | None = None
    stock_quantity: Stock | None = None
    category: Category | None = None

    @model_validator(mode="after")
    def _no_explicit_null(self) -> ProductPatch:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: null is not a value; omit the field to keep it")
        return self


class CustomerCreate(_In):
    email: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    first_name: Annotated[str, Field(min_length=1, max_length=100)]
    last_name: Annotated[str, Field(min_length=1, max_length=100)]


class OrderItemIn(_In):
    product_id: UUID
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_LINE_QUANTITY)]


class OrderCreate(_In):
    customer_id: UUID
    # Raw lines before merging; the merged order may list at most MAX_ORDER_LINES products.
    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=10 * MAX_ORDER_LINES)]


# ---- responses ------------------------------------------------------------------------------------


class ProductOut(_Out):
    product_id: UUID
    name: str
    description: str
    price: MoneyOut
    currency: str
    stock_quantity: int
    category: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            product_id=product.product_id,
            name=product.name,
            description=product.description,
            price=money(product.price),
            currency=product.currency,
            stock_quantity=product.stock_quantity,
            category=product.category,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ProductPage(_Out):
    products: list[ProductOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class CustomerOut(_Out):
    customer_id: UUID
    email: str
    first_name: str
    last_name: str
    created_at: datetime

    @classmethod
    def of(cls, customer: Customer) -> CustomerOut:
        return cls(**customer.__dict__)


class OrderItemOut(_Out):
    product_id: UUID
    quantity: int
    unit_price: MoneyOut
    line_total: MoneyOut

    @classmethod
    def of(cls, line: OrderLine) -> OrderItemOut:
        return cls(
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=money(line.unit_price),
            line_total=money(line.line_total),
        )


class OrderSummary(_Out):
    order_id: UUID
    customer_id: UUID
    status: str = Field(description="confirmed | cancelled")
    total_amount: MoneyOut
    currency: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order) -> OrderSummary:
        fields = {key: value for key, value in order.__dict__.items() if key != "items"}
        return cls(**{**fields, "total_amount": money(order.total_amount)})


class OrderOut(OrderSummary):
    items: list[OrderItemOut]

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        summary = OrderSummary.of(order).model_dump()
        return cls(**summary, items=[OrderItemOut.of(line) for line in order.items])


class OrderPage(_Out):
    orders: list[OrderSummary]
    next_cursor: str | None


class Health(_Out):
    status: str
    region: str
    version: str
    database: str


class FieldError(_Out):
    field: str = Field(description="Dotted path of the failing input, e.g. items.0.quantity")
    message: str


class Problem(_Out):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(description="Stable URI reference naming the problem type")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None

    @field_validator("status")
    @classmethod
    def _http_status(cls, value: int) -> int:
        if not 400 <= value <= 599:
            raise ValueError("problem status must be 4xx or 5xx")
        return value
