"""All SQL of the shop. Each public method is one unit of work and states its round trips."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import psycopg
from psycopg import sql

from handlers.contract import DEFAULT_ORDER_STRATEGY, ORDER_STRATEGIES
from handlers.db import (
    CommitOutcomeUnknownError,
    Database,
    DataLayerError,
    RetriesExhaustedError,
    is_serialization_failure,
)

from .domain import (
    CURRENCY,
    IDEMPOTENCY_TTL_HOURS,
    Busy,
    Caller,
    Customer,
    DuplicateEmail,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrder,
    InvalidValue,
    NotFound,
    Order,
    OrderLine,
    OrderRequest,
    OutcomeUnknown,
    Page,
    PlacedOrder,
    Product,
    ProductChanges,
    ProfileExists,
    Shortage,
    Unavailable,
    UnknownCustomer,
    UnknownProducts,
    encode_cursor,
)

Connection = psycopg.Connection[Any]
P = ParamSpec("P")
R = TypeVar("R")

PRODUCT_COLUMNS = (
    "product_id, name, description, price, currency, stock_quantity, category, active, created_at, updated_at"
)
ORDER_COLUMNS = "order_id, customer_id, status, total_amount, currency, created_at, updated_at"
CUSTOMER_COLUMNS = "customer_id, email, first_name, last_name, created_at"
# Idempotency keys are the caller's own: two customers may pick the same key without meeting.
ORDER_SCOPE = "POST /orders {subject}"

# The caller's own profile, or NULL: no profile yet, or a body naming another customer (the NOT NULL
# of orders.customer_id then aborts the order, and _explain_rejection says which).
CALLER_CUSTOMER = """(SELECT c.customer_id FROM customers AS c
            WHERE c.identity_subject = %(subject)s
              AND (%(claimed)s::uuid IS NULL OR c.customer_id = %(claimed)s::uuid))"""
# An order the caller may see or change: an operator any, a customer their own.
VISIBLE_ORDER = """(%(operator)s
       OR {alias}customer_id IN (SELECT c.customer_id FROM customers AS c
                                  WHERE c.identity_subject = %(subject)s))"""

# One statement places an order: merged lines -> conditional-free stock decrement (the CHECK
# stock_quantity >= 0 aborts an oversell), the order (NULL customer_id when the customer is unknown
# aborts on NOT NULL), its items (NULL unit_price for an unknown/retired product aborts likewise) and
# the idempotency record (a reused key aborts on the primary key). Any failure aborts everything, so
# no half order can exist. Sent as BEGIN + this + COMMIT in one pipeline: one round trip.
PLACE_ORDER = """
WITH req (product_id, quantity) AS (VALUES {values}),
decremented AS (
    UPDATE products AS p
       SET stock_quantity = p.stock_quantity - req.quantity, updated_at = now()
      FROM req
     WHERE p.product_id = req.product_id AND p.active AND p.currency = %(currency)s
 RETURNING p.product_id, p.price, req.quantity
),
new_order AS (
    INSERT INTO orders (order_id, customer_id, status, total_amount, currency)
    SELECT %(order_id)s,
           {caller_customer},
           'confirmed',
           (SELECT COALESCE(sum(d.price * d.quantity), 0) FROM decremented AS d),
           %(currency)s
 RETURNING customer_id, created_at
),
items AS (
    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT %(order_id)s, req.product_id, req.quantity, d.price
      FROM req LEFT JOIN decremented AS d ON d.product_id = req.product_id
),
idempotency AS (
    INSERT INTO idempotency_records
           (scope, idempotency_key, request_hash, status, response_status, response_body, expires_at)
    VALUES (%(scope)s, %(key)s, %(request_hash)s, 'completed', 201, %(response_body)s,
            now() + make_interval(hours => %(ttl_hours)s))
)
SELECT d.product_id, d.price, d.quantity, o.created_at, o.customer_id
  FROM decremented AS d CROSS JOIN new_order AS o
"""

# Conditional transition plus restock in one statement: only the caller whose UPDATE matched a
# 'confirmed' row restocks, so concurrent cancels restock exactly once.
CANCEL_ORDER = f"""
WITH cancelled AS (
    UPDATE orders SET status = 'cancelled', updated_at = now()
     WHERE order_id = %(order_id)s AND status = 'confirmed' AND {VISIBLE_ORDER.format(alias="")}
 RETURNING {ORDER_COLUMNS}
),
restocked AS (
    UPDATE products AS p
       SET stock_quantity = p.stock_quantity + i.quantity, updated_at = now()
      FROM order_items AS i JOIN cancelled AS c ON c.order_id = i.order_id
     WHERE p.product_id = i.product_id
)
SELECT c.order_id, c.customer_id, c.status, c.total_amount, c.currency, c.created_at, c.updated_at,
       i.product_id, i.quantity, i.unit_price
  FROM cancelled AS c JOIN order_items AS i ON i.order_id = c.order_id
 ORDER BY i.product_id
"""

# The second strategy: the same work as separate statements, still BEGIN + statements + COMMIT in
# one pipeline, so one round trip. DSQL's documentation does not mention data-modifying CTEs; if a
# cluster ever answers the CTE with 0A000, `database.order_strategy: pipelined` switches every
# function to these statements (docs/data-layer.md). Both strategies pass the same tests.
TAKE_STOCK = """
UPDATE products AS p
   SET stock_quantity = p.stock_quantity - req.quantity, updated_at = now()
  FROM (VALUES {values}) AS req (product_id, quantity)
 WHERE p.product_id = req.product_id AND p.active AND p.currency = %(currency)s
RETURNING p.product_id, p.price, req.quantity
"""
INSERT_ORDER = """
INSERT INTO orders (order_id, customer_id, status, total_amount, currency)
SELECT %(order_id)s,
       {caller_customer},
       'confirmed',
       (SELECT COALESCE(sum(p.price * req.quantity), 0)
          FROM products AS p JOIN (VALUES {values}) AS req (product_id, quantity)
            ON p.product_id = req.product_id
         WHERE p.active AND p.currency = %(currency)s),
       %(currency)s
RETURNING customer_id, created_at
"""
INSERT_ITEMS = """
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT %(order_id)s, req.product_id, req.quantity,
       (SELECT p.price FROM products AS p
         WHERE p.product_id = req.product_id AND p.active AND p.currency = %(currency)s)
  FROM (VALUES {values}) AS req (product_id, quantity)
"""
INSERT_IDEMPOTENCY = """
INSERT INTO idempotency_records
       (scope, idempotency_key, request_hash, status, response_status, response_body, expires_at)
VALUES (%(scope)s, %(key)s, %(request_hash)s, 'completed', 201, %(response_body)s,
        now() + make_interval(hours => %(ttl_hours)s))
"""
# Cancel in the same snapshot: restock only while the order is still confirmed, then cancel it.
# Two cancels both see 'confirmed' and both write the order row, so one of them conflicts and
# retries, and then sees 'cancelled': the stock comes back exactly once.
RESTOCK = f"""
UPDATE products AS p
   SET stock_quantity = p.stock_quantity + i.quantity, updated_at = now()
  FROM order_items AS i JOIN orders AS o ON o.order_id = i.order_id
 WHERE i.order_id = %(order_id)s AND o.status = 'confirmed' AND p.product_id = i.product_id
   AND {VISIBLE_ORDER.format(alias="o.")}
"""
MARK_CANCELLED = f"""
UPDATE orders SET status = 'cancelled', updated_at = now()
 WHERE order_id = %(order_id)s AND status = 'confirmed' AND {VISIBLE_ORDER.format(alias="")}
RETURNING {ORDER_COLUMNS}
"""

ORDER_WITH_ITEMS = f"""
SELECT o.order_id, o.customer_id, o.status, o.total_amount, o.currency, o.created_at, o.updated_at,
       i.product_id, i.quantity, i.unit_price
  FROM orders AS o JOIN order_items AS i ON i.order_id = o.order_id
 WHERE o.order_id = %(order_id)s AND {VISIBLE_ORDER.format(alias="o.")}
 ORDER BY i.product_id
"""


def _domain_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Driver and data-layer failures leave the repository as domain errors, never as psycopg's."""

    @functools.wraps(method)
    def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except RetriesExhaustedError as exc:
            # Busy: conflicts kept winning. Anything else that outlasted the retries (the database
            # unreachable, connections refused) is unavailability, not contention.
            conflicts = exc.last_error is not None and is_serialization_failure(exc.last_error)
            # Chained, so the log of the 503 names the last error (the client sees only the problem).
            raise (Busy() if conflicts else Unavailable()) from exc
        except CommitOutcomeUnknownError:
            raise OutcomeUnknown() from None
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError):
            # Class 22/23: a value the input rules let through but the table refuses. The client's to
            # fix, and a retry would fail the same way.
            raise InvalidValue() from None
        except (psycopg.OperationalError, DataLayerError) as exc:
            raise Unavailable() from exc

    return translated


class ShopRepository:
    """``database`` is the Database or a function returning it, so that the connection (and its
    settings) are needed only when a query actually runs. ``order_strategy`` chooses how orders
    are placed and cancelled: one data-modifying statement ("cte") or the same work as separate
    statements ("pipelined"); both are one round trip with the same guarantees."""

    def __init__(
        self,
        database: Database | Callable[[], Database],
        *,
        deadline: float | None = None,
        order_strategy: str = DEFAULT_ORDER_STRATEGY,
    ) -> None:
        if order_strategy not in ORDER_STRATEGIES:
            raise ValueError(f"order_strategy must be one of {ORDER_STRATEGIES}, not {order_strategy!r}")
        self._database = database
        self.deadline = deadline
        self.order_strategy = order_strategy

    @property
    def db(self) -> Database:
        return self._database if isinstance(self._database, Database) else self._database()

    # ---- catalog ------------------------------------------------------------------------------

    @_domain_errors
    def list_products(
        self, *, limit: int, after: tuple[Any, UUID] | None, category: str | None
    ) -> Page[Product]:
        """One round trip (autocommit SELECT); cost independent of catalog size via the indexes."""
        conditions: list[sql.Composable] = [sql.SQL("active")]
        params: list[Any] = []
        if category is not None:
            conditions.append(sql.SQL("category = %s"))
            params.append(category)
        if after is not None:
            conditions.append(sql.SQL("(created_at, product_id) < (%s, %s)"))
            params.extend(after)
        query = sql.SQL(
            "SELECT {columns} FROM products WHERE {where} ORDER BY created_at DESC, product_id DESC LIMIT %s"
        ).format(columns=sql.SQL(PRODUCT_COLUMNS), where=sql.SQL(" AND ").join(conditions))
        params.append(limit + 1)
        # Never prepared: a generic plan cannot see the cursor values and may abandon the keyset
        # index scan (measured: deep pages 6x slower once psycopg auto-prepared the query).
        rows = self._read(lambda conn: conn.execute(query, params, prepare=False).fetchall())
        products = [Product(*row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = products[-1]
            next_cursor = encode_cursor(last.created_at, last.product_id, category)
        return Page(products, next_cursor)

    @_domain_errors
    def get_product(self, product_id: UUID) -> Product:
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = %s AND active", (product_id,)
            ).fetchone()
        )
        if row is None:
            raise NotFound("product", product_id)
        return Product(*row)

    @_domain_errors
    def create_product(
        self, *, name: str, description: str, price: Decimal, stock_quantity: int, category: str
    ) -> Product:
        row = self._write_one(
            f"INSERT INTO products (name, description, price, currency, stock_quantity, category) "
            f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {PRODUCT_COLUMNS}",
            (name, description, price, CURRENCY, stock_quantity, category),
        )
        assert row is not None
        return Product(*row)

    @_domain_errors
    def update_product(self, product_id: UUID, changes: ProductChanges) -> Product:
        fields = changes.as_dict()
        assignments: list[sql.Composable] = [sql.SQL("{} = %s").format(sql.Identifier(n)) for n in fields]
        assignments.append(sql.SQL("updated_at = now()"))
        query = sql.SQL("UPDATE products SET {} WHERE product_id = %s AND active RETURNING {}").format(
            sql.SQL(", ").join(assignments), sql.SQL(PRODUCT_COLUMNS)
        )
        row = self._write_one(query, (*fields.values(), product_id))
        if row is None:
            raise NotFound("product", product_id)
        return Product(*row)

    @_domain_errors
    def retire_product(self, product_id: UUID) -> None:
        """Soft delete: orders keep referring to the row; it leaves the catalog and cannot be ordered."""
        row = self._write_one(
            "UPDATE products SET active = false, updated_at = now() WHERE product_id = %s AND active "
            "RETURNING product_id",
            (product_id,),
        )
        if row is None:
            raise NotFound("product", product_id)

    # ---- customers ------------------------------------------------------------------------------

    @_domain_errors
    def create_customer(self, *, subject: str, email: str, first_name: str, last_name: str) -> Customer:
        """The caller's own profile; one per identity (a second is 409, as is an email in use)."""
        try:
            row = self._write_one(
                "INSERT INTO customers (email, first_name, last_name, identity_subject) "
                f"VALUES (%s, %s, %s, %s) RETURNING {CUSTOMER_COLUMNS}",
                (email, first_name, last_name, subject),
            )
        except psycopg.errors.UniqueViolation:
            # Either unique index may be the one reported: whether this identity has a profile decides.
            mine = self._read(
                lambda conn: conn.execute(
                    "SELECT 1 FROM customers WHERE identity_subject = %s", (subject,)
                ).fetchone()
            )
            raise (ProfileExists() if mine else DuplicateEmail(email)) from None
        assert row is not None
        return Customer(*row)

    @_domain_errors
    def get_customer(self, customer_id: UUID, caller: Caller) -> Customer:
        """Another customer's profile is not found, whether or not it exists (operators see all)."""
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_id = %(customer_id)s "
                "AND (%(operator)s OR identity_subject = %(subject)s)",
                {"customer_id": customer_id, **_who(caller)},
            ).fetchone()
        )
        if row is None:
            raise NotFound("customer", customer_id)
        return Customer(*row)

    @_domain_errors
    def get_my_customer(self, caller: Caller) -> Customer:
        row = self._read(
            lambda conn: conn.execute(
                f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE identity_subject = %s", (caller.subject,)
            ).fetchone()
        )
        if row is None:
            raise NotFound("customer profile of", "this identity (create it with POST /customers)")
        return Customer(*row)

    @_domain_errors
    def list_customer_orders(
        self, customer_id: UUID, caller: Caller, *, limit: int, after: tuple[Any, UUID] | None
    ) -> Page[Order]:
        """One round trip; a second only to tell an unknown (or another's) customer from one
        without orders."""
        params: dict[str, Any] = {"customer_id": customer_id, "limit": limit + 1, **_who(caller)}
        keyset = ""
        if after is not None:
            keyset = "AND (o.created_at, o.order_id) < (%(after_time)s, %(after_id)s)"
            params["after_time"], params["after_id"] = after
        columns = ", ".join(f"o.{column.strip()}" for column in ORDER_COLUMNS.split(","))
        query = (
            f"SELECT {columns} FROM orders AS o WHERE o.customer_id = %(customer_id)s "
            f"AND {VISIBLE_ORDER.format(alias='o.')} {keyset} "
            "ORDER BY o.created_at DESC, o.order_id DESC LIMIT %(limit)s"
        )
        rows = self._read(
            lambda conn: conn.execute(query, params, prepare=False).fetchall()
        )  # see list_products
        if not rows and after is None:
            self.get_customer(customer_id, caller)
        orders = [Order(*row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(orders[-1].created_at, orders[-1].order_id, str(customer_id))
        return Page(orders, next_cursor)

    # ---- orders ---------------------------------------------------------------------------------

    @_domain_errors
    def place_order(self, request: OrderRequest, *, order_id: UUID, idempotency_key: str) -> PlacedOrder:
        """For the caller's own profile. Happy path: one round trip. Replays and failures add one
        read to explain themselves."""
        values = ", ".join(f"(%(p{i})s::uuid, %(q{i})s::int)" for i in range(len(request.lines)))
        response_body = json.dumps({"order_id": str(order_id), "status": "confirmed"})
        params: dict[str, Any] = {
            "order_id": order_id,
            "subject": request.subject,
            "claimed": request.claimed_customer_id,
            "currency": CURRENCY,
            "scope": ORDER_SCOPE.format(subject=request.subject),
            "key": idempotency_key,
            "request_hash": request.request_hash,
            "response_body": response_body,
            "ttl_hours": IDEMPOTENCY_TTL_HOURS,
        }
        for i, (product_id, quantity) in enumerate(request.lines):
            params[f"p{i}"], params[f"q{i}"] = product_id, quantity
        try:
            # Safe to re-run even if the connection broke after COMMIT left: the idempotency key makes
            # a second attempt either create the order or hit the first one's record and replay it.
            if self.order_strategy == "cte":
                query = PLACE_ORDER.format(values=values, caller_customer=CALLER_CUSTOMER)
                cursor = self._transaction(
                    lambda conn: conn.cursor().execute(query, params), pipeline=True, idempotent=True
                )
                rows = cursor.fetchall()
            else:
                rows = self._place_order_statements(values, params)
        except psycopg.errors.UniqueViolation:
            return self._replay(idempotency_key, request)
        except psycopg.errors.NumericValueOutOfRange:
            raise InvalidOrder(
                "the order total would exceed 99,999,999.99; split the order", field="items"
            ) from None
        except (
            psycopg.errors.CheckViolation,
            psycopg.errors.NotNullViolation,
            psycopg.errors.ForeignKeyViolation,
        ):
            # The key may already hold a committed order (a retry, or a concurrent duplicate that
            # lost): then the stock that order took is why this attempt failed, and the answer is
            # the replay, not "insufficient stock".
            outcome = self._explain_rejection(request, idempotency_key)
            if isinstance(outcome, PlacedOrder):
                return outcome
            raise outcome from None
        created_at, customer_id = rows[0][3], rows[0][4]
        lines = tuple(OrderLine(product_id, quantity, price) for product_id, price, quantity, *_ in rows)
        lines = tuple(sorted(lines, key=lambda line: str(line.product_id)))
        total = sum((line.line_total for line in lines), Decimal("0"))
        order = Order(order_id, customer_id, "confirmed", total, CURRENCY, created_at, created_at, lines)
        return PlacedOrder(order, replayed=False)

    def _place_order_statements(self, values: str, params: dict[str, Any]) -> list[Any]:
        """The pipelined strategy: four statements, one round trip; rows shaped like PLACE_ORDER's."""
        statements = [
            s.format(values=values, caller_customer=CALLER_CUSTOMER)
            for s in (TAKE_STOCK, INSERT_ORDER, INSERT_ITEMS)
        ]
        statements.append(INSERT_IDEMPOTENCY)

        def work(conn: Connection) -> list[psycopg.Cursor[Any]]:
            return [conn.cursor().execute(statement, params) for statement in statements]

        taken, order, _, _ = self._transaction(work, pipeline=True, idempotent=True)
        customer_id, created_at = order.fetchone()
        return [
            (product_id, price, quantity, created_at, customer_id) for product_id, price, quantity in taken
        ]

    @_domain_errors
    def get_order(self, order_id: UUID, caller: Caller) -> Order:
        """Another customer's order is not found, whether or not it exists (operators see all)."""
        params = {"order_id": order_id, **_who(caller)}
        rows = self._read(lambda conn: conn.execute(ORDER_WITH_ITEMS, params).fetchall())
        if not rows:
            raise NotFound("order", order_id)
        return _order_from_rows(rows)

    @_domain_errors
    def cancel_order(self, order_id: UUID, caller: Caller) -> Order | None:
        """One round trip; None when no confirmed order of the caller's matched (the caller explains why)."""
        params = {"order_id": order_id, **_who(caller)}
        if self.order_strategy == "cte":
            cursor = self._transaction(
                lambda conn: conn.cursor().execute(CANCEL_ORDER, params), pipeline=True
            )
            rows = cursor.fetchall()
            return _order_from_rows(rows) if rows else None

        def work(conn: Connection) -> list[psycopg.Cursor[Any]]:
            return [
                conn.cursor().execute(statement, params)
                for statement in (RESTOCK, MARK_CANCELLED, ORDER_WITH_ITEMS)
            ]

        _, cancelled, order = self._transaction(work, pipeline=True)
        return _order_from_rows(order.fetchall()) if cancelled.fetchall() else None

    @_domain_errors
    def ping(self) -> None:
        self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    # ---- helpers ----------------------------------------------------------------------------

    def _replay(self, key: str, request: OrderRequest) -> PlacedOrder:
        row = self._read(
            lambda conn: conn.execute(
                "SELECT request_hash, response_body FROM idempotency_records "
                "WHERE scope = %s AND idempotency_key = %s",
                (ORDER_SCOPE.format(subject=request.subject), key),
            ).fetchone()
        )
        if row is None:  # the unique violation was not the key (cannot happen with merged lines)
            raise Busy()
        request_hash, response_body = row
        if request_hash != request.request_hash:
            raise IdempotencyKeyReused()
        stored = json.loads(response_body)
        order = self.get_order(UUID(stored["order_id"]), Caller(subject=request.subject))
        # Items, prices, total and creation time never change; the status may have (a later cancel).
        # A replay answers what the original request answered.
        original = Order(**{**order.__dict__, "status": stored["status"], "updated_at": order.created_at})
        return PlacedOrder(original, replayed=True)

    def _explain_rejection(self, request: OrderRequest, key: str) -> PlacedOrder | Exception:
        """The statement aborted on a constraint; one read says which rule, naming the fields."""
        ids = [product_id for product_id, _ in request.lines]
        placeholders = ", ".join(["%s"] * len(ids))
        rows = self._read(
            lambda conn: conn.execute(
                f"SELECT 'product', product_id, stock_quantity FROM products "
                f"WHERE product_id IN ({placeholders}) AND active AND currency = %s "
                "UNION ALL SELECT 'customer', customer_id, NULL FROM customers WHERE identity_subject = %s "
                "UNION ALL SELECT 'key', NULL, NULL FROM idempotency_records "
                "WHERE scope = %s AND idempotency_key = %s",
                (*ids, CURRENCY, request.subject, ORDER_SCOPE.format(subject=request.subject), key),
            ).fetchall()
        )
        if any(row[0] == "key" for row in rows):
            return self._replay(key, request)
        stock = {row[1]: row[2] for row in rows if row[0] == "product"}
        own = [row[1] for row in rows if row[0] == "customer"]
        if not own:
            return UnknownCustomer()
        if request.claimed_customer_id is not None and request.claimed_customer_id != own[0]:
            return Forbidden("customer_id must be your own profile's (or omitted)", field="customer_id")
        unknown = [product_id for product_id in ids if product_id not in stock]
        if unknown:
            return UnknownProducts(unknown)
        shortages = [Shortage(p, q, stock[p]) for p, q in request.lines if stock[p] < q]
        # Stock may have been replenished since; then the honest answer is "try again".
        return InsufficientStock(shortages) if shortages else Busy()

    def _read(self, work: Any) -> Any:
        return self.db.run_autocommit(work, deadline=self.deadline)

    def _transaction(self, work: Any, *, pipeline: bool = False, idempotent: bool = False) -> Any:
        return self.db.run_transaction(work, deadline=self.deadline, pipeline=pipeline, idempotent=idempotent)

    def _write_one(self, query: Any, params: Sequence[Any]) -> Any:
        """INSERT/UPDATE … RETURNING as BEGIN + statement + COMMIT in one round trip."""
        cursor = self._transaction(lambda conn: conn.cursor().execute(query, params), pipeline=True)
        return cursor.fetchone()


def _who(caller: Caller) -> dict[str, Any]:
    return {"operator": caller.operator, "subject": caller.subject}


def _order_from_rows(rows: list[Any]) -> Order:
    order_id, customer_id, status, total, currency, created_at, updated_at = rows[0][:7]
    items = tuple(OrderLine(row[7], row[8], row[9]) for row in rows)
    return Order(order_id, customer_id, status, total, currency, created_at, updated_at, items)


def statements_for_lint() -> dict[str, str]:
    """Every statement this module sends, rendered with sample parameters (named for reports):
    `make test` runs them through AWS's dsql-lint and our guard."""
    sample = {
        "%(order_id)s": "'7d3f1e5c-6a0b-4c55-9a51-5d2f9b1e0a11'",
        "%(customer_id)s": "'c1000000-0000-4000-8000-000000000001'",
        "%(subject)s": "'3f1c7b7e-6b4e-5f3a-9d77-0c4f1f1a2b3c'",
        "%(claimed)s": "NULL",
        "%(operator)s": "false",
        "%(currency)s": "'USD'",
        "%(scope)s": "'POST /orders'",
        "%(key)s": "'key-1'",
        "%(request_hash)s": "'hash'",
        "%(response_body)s": "'{}'",
        "%(ttl_hours)s": "24",
        "%(p0)s": "'a1000000-0000-4000-8000-000000000001'",
        "%(q0)s": "1",
        "%s": "'a1000000-0000-4000-8000-000000000001'",
    }

    def render(statement: str) -> str:
        for placeholder, value in sample.items():
            statement = statement.replace(placeholder, value)
        return statement

    values = "(%(p0)s::uuid, %(q0)s::int)"
    caller = CALLER_CUSTOMER
    return {
        "place_order": render(PLACE_ORDER.format(values=values, caller_customer=caller)),
        "cancel_order": render(CANCEL_ORDER),
        "order_with_items": render(ORDER_WITH_ITEMS),
        "pipelined/take_stock": render(TAKE_STOCK.format(values=values)),
        "pipelined/insert_order": render(INSERT_ORDER.format(values=values, caller_customer=caller)),
        "pipelined/insert_items": render(INSERT_ITEMS.format(values=values)),
        "pipelined/insert_idempotency": render(INSERT_IDEMPOTENCY),
        "pipelined/restock": render(RESTOCK),
        "pipelined/mark_cancelled": render(MARK_CANCELLED),
    }
