"""The shop's domain: values, rules and errors. Knows nothing of HTTP or SQL."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar
from uuid import UUID

from handlers.contract import ANONYMOUS, CUSTOMER, OPERATOR

T = TypeVar("T")

CURRENCY = "USD"  # one currency per shop: totals across currencies would be meaningless
# Each order line modifies two rows (stock, item) plus the order and the idempotency record;
# DSQL allows 3,000 modified rows per transaction, so 1,499 lines would fit. 100 keeps the single
# statement small (DSQL also caps a transaction at 10 MiB) and is generous for a shopping cart.
MAX_ORDER_LINES = 100
MAX_LINE_QUANTITY = 1_000
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
IDEMPOTENCY_TTL_HOURS = 24
# Stock buckets of a hot product (docs/data-layer.md, "Stock buckets"). 1 = the stock is on the
# product's row, as for every product by default. At most 16: an order line that no single bucket
# covers takes from several, and 100 lines x 16 buckets + 102 rows, plus at most 101 outbox rows
# (OrderPlaced and a StockDepleted per line: docs/events.md), 1,803, stays under DSQL's 3,000
# modified rows per transaction (migration 0007 cites the page).
DEFAULT_STOCK_BUCKETS = 1
MAX_STOCK_BUCKETS = 16

ORDER_STATUSES = ("confirmed", "cancelled")
# The lifecycle: orders are created confirmed (stock taken in the same transaction); a confirmed
# order may be cancelled once (stock returned). Nothing leaves 'cancelled'.
TRANSITIONS: dict[str, frozenset[str]] = {"confirmed": frozenset({"cancelled"}), "cancelled": frozenset()}


# ---- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who asks: the identity of a verified token (``subject``), or nobody. Operators (tokens of the
    operators' user pool) may act on any customer's data; customers only on their own.
    ``email_verified``: the pool has verified ``email`` (a customer may claim only such an email)."""

    subject: str | None = None
    email: str | None = None
    operator: bool = False
    email_verified: bool = False

    @property
    def anonymous(self) -> bool:
        return self.subject is None


@dataclass(frozen=True)
class Product:
    product_id: UUID
    name: str
    description: str
    price: Decimal
    currency: str
    stock_quantity: int
    category: str
    active: bool
    created_at: datetime
    updated_at: datetime
    #: How many rows hold the stock (an operator's setting for hot products); ``stock_quantity`` is
    #: always the total over them.
    stock_buckets: int = DEFAULT_STOCK_BUCKETS


@dataclass(frozen=True)
class Customer:
    customer_id: UUID
    email: str
    first_name: str
    last_name: str
    created_at: datetime


@dataclass(frozen=True)
class OrderLine:
    product_id: UUID
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Order:
    order_id: UUID
    customer_id: UUID
    status: str
    total_amount: Decimal
    currency: str
    created_at: datetime
    updated_at: datetime
    items: tuple[OrderLine, ...] = ()


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    replayed: bool


@dataclass(frozen=True)
class ProductChanges:
    """Fields a PATCH may change; None means unchanged."""

    name: str | None = None
    description: str | None = None
    price: Decimal | None = None
    stock_quantity: int | None = None
    category: str | None = None
    stock_buckets: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if value is not None}

    @property
    def stock_layout(self) -> bool:
        """Whether the change moves stock (a new total or bucket count), not just the row's fields."""
        return self.stock_quantity is not None or self.stock_buckets is not None


@dataclass(frozen=True)
class OrderRequest:
    """A validated order for the caller's own profile (``subject``): duplicate product lines
    merged, in a canonical order. ``claimed_customer_id`` is what the body said, if anything: it
    must be the caller's own profile."""

    subject: str
    lines: tuple[tuple[UUID, int], ...]
    claimed_customer_id: UUID | None = None
    request_hash: str = field(default="")

    @classmethod
    def build(
        cls, subject: str, lines: Iterable[tuple[UUID, int]], claimed_customer_id: UUID | None = None
    ) -> OrderRequest:
        merged = merge_lines(lines)
        canonical = json.dumps(
            {"customer": subject, "items": [[str(p), q] for p, q in merged]}, separators=(",", ":")
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        return cls(subject, merged, claimed_customer_id, digest)


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively; they are stored lower-case (DSQL has no citext)."""
    return email.lower()


def merge_lines(lines: Iterable[tuple[UUID, int]]) -> tuple[tuple[UUID, int], ...]:
    """Sum quantities per product. Never skip this: ``UPDATE … FROM (VALUES …)`` with a repeated
    key applies only one of the decrements in PostgreSQL — a silent oversell."""
    totals: dict[UUID, int] = {}
    for product_id, quantity in lines:
        totals[product_id] = totals.get(product_id, 0) + quantity
    merged = tuple(sorted(totals.items(), key=lambda line: str(line[0])))
    if not merged:
        raise InvalidOrder("an order needs at least one item", field="items")
    if len(merged) > MAX_ORDER_LINES:
        raise InvalidOrder(f"an order may list at most {MAX_ORDER_LINES} distinct products", field="items")
    for index, (_, quantity) in enumerate(merged):
        if quantity > MAX_LINE_QUANTITY:
            raise InvalidOrder(
                f"at most {MAX_LINE_QUANTITY} units of one product per order (after merging lines)",
                field=f"items.{index}.quantity",
            )
    return merged


def check_transition(order: Order, target: str) -> None:
    if target not in TRANSITIONS.get(order.status, frozenset()):
        raise InvalidTransition(order.order_id, order.status, target)


# ---- keyset cursors -----------------------------------------------------------------------------


def encode_cursor(created_at: datetime, row_id: UUID, scope: str | None) -> str:
    """Opaque to clients: base64url of the last row's sort key and the filter it belongs to."""
    raw = json.dumps([created_at.isoformat(), str(row_id), scope], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str | None) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id, cursor_scope = json.loads(base64.urlsafe_b64decode(padded.encode()))
        decoded = (datetime.fromisoformat(created_at), UUID(row_id))
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidCursor("cursor is not one this API issued; start again without it") from None
    if cursor_scope != scope:
        raise InvalidCursor("cursor belongs to a different filter; keep the same query parameters")
    if decoded[0].tzinfo is None:
        raise InvalidCursor("cursor is not one this API issued; start again without it")
    return decoded


# ---- errors (the API layer maps each code to a status; tests/integration/test_api.py checks every class) ---


class ShopError(Exception):
    """A failure the client can act on: ``code`` names it for machines, ``title`` for people."""

    code = "shop-error"
    title = "Request failed"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class Unauthenticated(ShopError):
    """No verified identity on a route that needs one (API Gateway normally refuses it first)."""

    code = "unauthenticated"
    title = "Sign-in required"

    def __init__(self) -> None:
        super().__init__("this operation needs a valid ID token in the Authorization header")


class Forbidden(ShopError):
    code = "forbidden"
    title = "Not allowed"


# ---- who may do what: the one place the shop decides it -----------------------------------------


def refusal(access: str, caller: Caller) -> ShopError | None:
    """Why ``caller`` may not use an operation of this access level, or None. The HTTP layer asks
    before reading a body, the use cases before acting: both ask this function, nothing else
    decides. Ownership is applied by the repository as a filter from the same ``Caller`` (an
    operator sees everyone's rows, a customer only rows of their own ``subject``)."""
    if access == ANONYMOUS:
        return None
    if caller.subject is None:
        return Unauthenticated()
    if access == OPERATOR and not caller.operator:
        return Forbidden("only operators (signed in to the operators' user pool, with MFA) may do this")
    if access not in (CUSTOMER, OPERATOR):
        return Forbidden(f"unknown access level {access!r}")
    return None


def claimed_profile_refusal(claimed: UUID | None, own: UUID) -> Forbidden | None:
    """An order is placed for the caller's own profile: a body naming another customer is refused.
    (The repository learns ``own`` in the order's single statement; the rule is decided here.)"""
    if claimed is not None and claimed != own:
        return Forbidden("customer_id must be your own profile's (or omitted)", field="customer_id")
    return None


def require(access: str, caller: Caller) -> str:
    """The caller's subject, or the refusal raised."""
    refused = refusal(access, caller)
    if refused is not None:
        raise refused
    assert caller.subject is not None
    return caller.subject


def claimable_email(caller: Caller, email: str) -> str:
    """The email a customer profile may take: the caller's own, verified by the user pool. A token
    without an email, or with one the pool has not verified (``email_verified`` is not true), claims
    nothing: else anyone could take an address they do not own."""
    wanted = normalize_email(email)
    if caller.email is None:
        raise Forbidden("your token carries no email: sign in with a verified email address", field="email")
    if not caller.email_verified:
        raise Forbidden(
            "your email address is not verified: confirm it with the code the shop sent, then sign in again",
            field="email",
        )
    if normalize_email(caller.email) != wanted:
        raise Forbidden("email must be the one you signed in with", field="email")
    return wanted


class NotFound(ShopError):
    code = "not-found"
    title = "Resource not found"

    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(f"{resource} {identifier} does not exist")
        self.resource = resource


class InvalidOrder(ShopError):
    code = "invalid-order"
    title = "Invalid order"


class InvalidCursor(ShopError):
    code = "invalid-cursor"
    title = "Invalid cursor"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="cursor")


class InvalidValue(ShopError):
    """A value the input rules let through but the data's own rules refuse (range, NUL, length)."""

    code = "invalid-value"
    title = "Value not accepted"

    def __init__(self) -> None:
        super().__init__("a value is out of range or not representable; check the input")


class UnknownCustomer(ShopError):
    code = "unknown-customer"
    title = "No customer profile"

    def __init__(self) -> None:
        super().__init__(
            "your identity has no customer profile yet; create it with POST /customers", field="customer_id"
        )


class UnknownProducts(ShopError):
    code = "unknown-products"
    title = "Unknown or retired products"

    def __init__(self, product_ids: list[UUID]) -> None:
        listed = ", ".join(map(str, product_ids))
        super().__init__(f"these products do not exist or are retired: {listed}", field="items")
        self.product_ids = product_ids


@dataclass(frozen=True)
class Shortage:
    product_id: UUID
    requested: int
    available: int


class InsufficientStock(ShopError):
    code = "insufficient-stock"
    title = "Insufficient stock"

    def __init__(self, shortages: list[Shortage]) -> None:
        listed = ", ".join(
            f"{s.product_id} (requested {s.requested}, available {s.available})" for s in shortages
        )
        super().__init__(f"not enough stock for: {listed}", field="items")
        self.shortages = shortages


class ProfileExists(ShopError):
    code = "profile-exists"
    title = "Customer profile already exists"

    def __init__(self) -> None:
        super().__init__("your identity already has a customer profile (GET /customers/me)")


class DuplicateEmail(ShopError):
    code = "duplicate-email"
    title = "Email already registered"

    def __init__(self, email: str) -> None:
        super().__init__(f"a customer with email {email} already exists", field="email")


class InvalidTransition(ShopError):
    code = "invalid-status-transition"
    title = "Invalid status transition"

    def __init__(self, order_id: UUID, status: str, target: str) -> None:
        super().__init__(f"order {order_id} is {status}; it cannot become {target}", field="status")


class IdempotencyKeyReused(ShopError):
    code = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"

    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was already used with a different request body; use a new key for a "
            "new order",
            field="Idempotency-Key",
        )


class Unavailable(ShopError):
    """The database could not be reached or answered; the same request may well work shortly."""

    code = "database-unavailable"
    title = "Database unavailable"

    def __init__(
        self, detail: str = "the database is unavailable; retry shortly", retry_after: int = 1
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class OutcomeUnknown(Unavailable):
    """The connection broke after COMMIT was sent: the write may or may not have happened."""

    def __init__(self) -> None:
        super().__init__(
            "the connection broke while committing; retry with the same Idempotency-Key to learn the outcome"
        )


class Busy(Unavailable):
    """Conflicts kept winning until the retry budget or deadline ran out."""

    code = "busy"
    title = "Service busy"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("the shop is busy with conflicting updates; retry shortly", retry_after)
