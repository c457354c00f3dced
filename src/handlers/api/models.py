"""Request and response bodies. The same models validate requests and generate docs/openapi.json.

Field names follow the recipe (``product_id``, ``stock_quantity``, ``total_amount`` …) so its curl
examples keep working. Money leaves as a decimal string beside a currency code; it arrives as a
JSON number (the recipe's ``"price": 99.99``) or a string, and either way must have at most two
decimal places — never a float in between.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from handlers.shop.domain import (
    DEFAULT_STOCK_BUCKETS,
    MAX_LINE_QUANTITY,
    MAX_ORDER_LINES,
    MAX_STOCK_BUCKETS,
    Customer,
    Order,
    OrderLine,
    Product,
    normalize_email,
)

# The document and the validation are the same rules: every constraint below is either a JSON
# Schema keyword or stated in the field's description, and schemathesis checks both ways.

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN)
NO_NUL = r"^[^\x00]*$"
MONEY_PATTERN = r"^(0|[1-9][0-9]{0,7})(\.[0-9]{1,2})?$"
MAX_MONEY = Decimal("99999999.99")
# RFC 5321 limits a mailbox to 254 characters; the database allows 320 after lower-casing (which
# can lengthen a string: 'İ' becomes two characters).
EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
MAX_EMAIL = 254
MAX_STORED_EMAIL = 320


def _canonical_uuid(value: Any) -> Any:
    # Python's UUID() also takes "urn:uuid:…", braces and 32 bare hex digits; the API does not.
    if isinstance(value, str) and not _UUID.match(value):
        raise ValueError("must be a UUID in its canonical 8-4-4-4-12 hexadecimal form")
    return value


Uuid = Annotated[
    UUID,
    BeforeValidator(_canonical_uuid),
    WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN}),
]


def _money(value: Any) -> Decimal:
    """A price: a decimal string (exact), or a JSON number (the recipe's form)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('must be a decimal string such as "19.99" or a JSON number')
    if isinstance(value, str):
        if not re.fullmatch(MONEY_PATTERN, value):
            raise ValueError('must be a decimal string with at most two decimal places, e.g. "19.99"')
        amount = Decimal(value)
    else:
        try:
            # str() of a float is its shortest round-trip form: 19.99 stays "19.99".
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueError("must be a finite number") from None
        if not amount.is_finite():
            raise ValueError("must be a finite number")
        if amount != amount.quantize(Decimal("0.01")):
            # Exactly what the document's multipleOf 0.01 says; a client's float noise
            # (57 * 0.01 = 0.5700000000000001) is not a price: send a decimal string.
            raise ValueError("must have at most two decimal places")
    if not Decimal(0) <= amount <= MAX_MONEY:
        raise ValueError(f"must be between 0 and {MAX_MONEY}")
    return amount


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": MONEY_PATTERN, "examples": ["19.99"]},
                {"type": "number", "minimum": 0, "maximum": float(MAX_MONEY), "multipleOf": 0.01},
            ],
            "description": "Decimal string (preferred) or JSON number, at most two decimal places.",
        }
    ),
]


def _json_integer(value: Any) -> Any:
    # JSON Schema's "integer" is any number without a fraction (5 and 5.0); never a string or bool.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Category = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
Description = Annotated[str, Field(max_length=4000, pattern=NO_NUL)]
# WithJsonSchema: Powertools' generator would print a BeforeValidator'd Field's bounds as ge/le.
Stock = Annotated[
    int,
    BeforeValidator(_json_integer),
    Field(ge=0, le=1_000_000),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 1_000_000}),
]
StockBuckets = Annotated[
    int,
    BeforeValidator(_json_integer),
    Field(
        ge=1,
        le=MAX_STOCK_BUCKETS,
        description="Operators only. How many rows hold this product's stock: 1 (the default) keeps it "
        "on the product; a hot product sells faster with more, as concurrent orders then rarely update "
        "the same row (docs/data-layer.md, 'Stock buckets'). May change while the shop runs; "
        "stock_quantity stays the total.",
    ),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_STOCK_BUCKETS}),
]
Quantity = Annotated[
    int,
    BeforeValidator(_json_integer),
    Field(ge=1, le=MAX_LINE_QUANTITY),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_LINE_QUANTITY}),
]
MoneyOut = Annotated[str, Field(pattern=r"^\d+\.\d{2}$", examples=["999.99"])]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    stock_buckets: StockBuckets = DEFAULT_STOCK_BUCKETS


def _omit_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


Omittable = Field(json_schema_extra=_omit_default)


class ProductPatch(_In):
    """Fields to change; omit a field to keep it. null is not a value (it is refused)."""

    # Typed without None: an explicit null fails validation, an omitted field stays None (unchanged).
    name: Annotated[Name, Omittable] = None  # type: ignore[assignment]
    description: Annotated[Description, Omittable] = None  # type: ignore[assignment]
    price: Annotated[Money, Omittable] = None  # type: ignore[assignment]
    stock_quantity: Annotated[Stock, Omittable] = None  # type: ignore[assignment]
    category: Annotated[Category, Omittable] = None  # type: ignore[assignment]
    stock_buckets: Annotated[StockBuckets, Omittable] = None  # type: ignore[assignment]


class CustomerCreate(_In):
    email: Annotated[
        str,
        Field(
            min_length=3,
            max_length=MAX_EMAIL,
            pattern=EMAIL_PATTERN,
            description=f"Stored lower-case; at most {MAX_STORED_EMAIL} characters once lower-cased.",
        ),
    ]
    first_name: Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
    last_name: Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]

    @field_validator("email")
    @classmethod
    def _stored_email_fits(cls, value: str) -> str:
        if len(normalize_email(value)) > MAX_STORED_EMAIL:
            raise ValueError(f"at most {MAX_STORED_EMAIL} characters once lower-cased")
        return value


class OrderItemIn(_In):
    product_id: Uuid
    quantity: Quantity


class OrderCreate(_In):
    # Optional: the order is always the caller's; a different customer_id is refused (403).
    customer_id: Uuid | None = None
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


class ProductAdminOut(ProductOut):
    """A product as its operators see it (the answer to catalog writes): with its stock layout."""

    stock_buckets: StockBuckets

    @classmethod
    def of(cls, product: Product) -> ProductAdminOut:
        return cls(**ProductOut.of(product).model_dump(), stock_buckets=product.stock_buckets)


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
