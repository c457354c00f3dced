"""All SQL of the shop. Each public method is one unit of work and states its round trips."""

from __future__ import annotations

import functools
import json
import random
import uuid
import weakref
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
    DEFAULT_STOCK_BUCKETS,
    IDEMPOTENCY_TTL_HOURS,
    MAX_STOCK_BUCKETS,
    Busy,
    Caller,
    Customer,
    DuplicateEmail,
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
    claimed_profile_refusal,
    encode_cursor,
)

Connection = psycopg.Connection[Any]
P = ParamSpec("P")
R = TypeVar("R")

# A product's stock is on its row (one bucket) or spread over product_stock_buckets (migration 0007):
# reads show the total. The CASE keeps the bucket look-up off the rows of one-bucket products.
STOCK_TOTAL = """CASE WHEN coalesce(p.stock_buckets, 1) > 1
            THEN p.stock_quantity + coalesce((SELECT sum(b.quantity) FROM product_stock_buckets AS b
                                               WHERE b.product_id = p.product_id), 0)
            ELSE p.stock_quantity END"""
PRODUCT_COLUMNS = (
    "p.product_id, p.name, p.description, p.price, p.currency, "
    f"{STOCK_TOTAL}, p.category, p.active, p.created_at, p.updated_at, coalesce(p.stock_buckets, 1)"
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

# A repeated Idempotency-Key: the record and the order it created, read first in the same pipeline as
# the order statement, whose every write is conditional on FRESH. A replay of a completed order is
# then one round trip, like the original (records written before migration 0007 have no order_id and
# take the longer path, _replay).
FRESH = """NOT EXISTS (SELECT 1 FROM idempotency_records AS r
                  WHERE r.scope = %(scope)s AND r.idempotency_key = %(key)s)"""
REPLAY_LOOKUP = """
SELECT r.request_hash, r.response_body, r.order_id,
       o.order_id, o.customer_id, o.status, o.total_amount, o.currency, o.created_at, o.updated_at,
       i.product_id, i.quantity, i.unit_price
  FROM idempotency_records AS r
  LEFT JOIN orders AS o ON o.order_id = r.order_id
  LEFT JOIN order_items AS i ON i.order_id = o.order_id
 WHERE r.scope = %(scope)s AND r.idempotency_key = %(key)s
 ORDER BY i.product_id
"""

# Which bucket(s) of a sharded product a line takes (products with one bucket keep their stock on
# their row and are decremented there). Buckets that can cover the line come first: the execution
# environment's home bucket (`start` is its home, _home; start mod buckets is uniform), then the
# others in an order the same draw picks — (bucket * (1 + start mod 16) + start) mod 17 is
# one-to-one on buckets 0..16 (17 is prime, MAX_STOCK_BUCKETS < 17) — so environments whose home
# is empty fall through to different buckets instead of all to its neighbour. One bucket then takes
# the whole line. When no single bucket covers it, the line takes greedily from the buckets in the
# same order (not by size; empty ones are skipped) until it is covered: a multi-bucket take in the
# same statement (more rows written, so more chance of a conflict; only near sell-out). The last
# bucket in the order takes whatever is still missing, so a line the total cannot cover drives it
# below zero and the CHECK (quantity >= 0) aborts the order: "out of stock" is exact. (A bucket
# restocked after the snapshot is not in the plan: place_order then re-runs the order,
# docs/data-layer.md "Stock buckets".)
BUCKET_QUANTITY_CHECK = "product_stock_buckets_quantity_check"  # migration 0007
BUCKET_PLAN = """
SELECT ranked.product_id, ranked.bucket,
       CASE WHEN ranked.last OR ranked.quantity >= ranked.wanted THEN ranked.wanted
            ELSE ranked.quantity END AS take
  FROM (SELECT b.product_id, b.bucket, b.quantity,
               line.quantity - coalesce(sum(b.quantity) OVER before_it, 0) AS wanted,
               row_number() OVER turn = count(*) OVER (PARTITION BY b.product_id) AS last
          FROM {lines} AS line
          JOIN product_stock_buckets AS b ON b.product_id = line.product_id
         WHERE line.buckets > 1
        WINDOW turn AS (PARTITION BY b.product_id
                        ORDER BY b.quantity >= line.quantity DESC,
                                 b.bucket = mod(line.start, line.buckets) DESC,
                                 mod(b.bucket * (1 + mod(line.start, 16)) + line.start, 17)),
               before_it AS (turn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS ranked
 WHERE ranked.wanted > 0 AND (ranked.last OR ranked.quantity > 0)
"""

# A sharded product's line is covered by BUCKET_PLAN exactly when the product has bucket rows (the
# last one takes whatever is still missing). Without any (a restore or backfill that wrote the row's
# stock_buckets but not the buckets) the plan takes nothing: the line's unit_price is then NULL and
# the order aborts on its NOT NULL, like a line of an unknown product, instead of selling for free.
HAS_BUCKETS = "EXISTS (SELECT 1 FROM product_stock_buckets AS c WHERE c.product_id = {product})"

# The transactional outbox (migration 0008, docs/events.md): each statement that places or cancels an
# order or changes the catalog also inserts one row per domain event, computed in the statement, in the
# same transaction and round trip. The payloads are the models of handlers/events/models.py (money as
# decimal text, ids as UUID strings); tests/integration/test_outbox.py validates every row against them.
# json_build_object/json_agg are PostgreSQL built-ins evaluated at query time; the column is text.
OUTBOX_INSERT = (
    "INSERT INTO outbox (event_id, event_type, event_version, entity_id, payload, region, created_at)"
)
ORDER_EVENT = """json_build_object(
           'orderId', {o}.order_id, 'customerId', {o}.customer_id, 'status', {status},
           'currency', {o}.currency, 'total', {o}.total_amount::text,
           'lines', (SELECT json_agg(json_build_object('productId', l.product_id, 'quantity', l.quantity,
                                                       'unitPrice', l.{price}::text) ORDER BY l.product_id)
                       FROM {lines} AS l {lines_where}),
           'region', %(region)s::text)::text"""
STOCK_DEPLETED = "json_build_object('productId', {product}, 'orderId', {order})::text"
PRODUCT_CREATED = f"""json_build_object(
           'productId', p.product_id, 'name', p.name, 'description', p.description,
           'price', p.price::text, 'currency', p.currency, 'category', p.category,
           'stockQuantity', {STOCK_TOTAL}, 'stockBuckets', coalesce(p.stock_buckets, 1))::text"""

# One statement places an order: the lines (none when the key already holds an order: FRESH), priced
# from the products they name (active, in the shop's currency); the stock of one-bucket products
# decremented on their row and of sharded products in their buckets (BUCKET_PLAN) — conditional-free:
# the CHECKs (>= 0) abort an oversell; the order (NULL customer_id when the customer is unknown aborts
# on NOT NULL), its items (NULL unit_price for an unknown/retired product aborts likewise) and the
# idempotency record. Any failure aborts everything, so no half order can exist. Sent as BEGIN +
# REPLAY_LOOKUP + this + COMMIT in one pipeline: one round trip. More writes of the same order (issue
# 25's outbox: `events`) are further CTEs reading `priced` and `new_order`.
PLACE_ORDER = (
    """
WITH req (product_id, quantity, start) AS (
    SELECT v.product_id, v.quantity, v.start FROM (VALUES {values}) AS v (product_id, quantity, start)
     WHERE """
    + FRESH
    + """
),
priced AS (
    SELECT req.product_id, req.quantity, req.start, p.price, coalesce(p.stock_buckets, 1) AS buckets,
           """
    + STOCK_TOTAL
    + """ AS stock
      FROM req JOIN products AS p ON p.product_id = req.product_id
     WHERE p.active AND p.currency = %(currency)s
),
decremented AS (
    UPDATE products AS p
       SET stock_quantity = p.stock_quantity - priced.quantity, updated_at = now()
      FROM priced
     WHERE p.product_id = priced.product_id AND priced.buckets = 1
 RETURNING p.product_id
),
taken AS (
    UPDATE product_stock_buckets AS b
       SET quantity = b.quantity - plan.take
      FROM ("""
    + BUCKET_PLAN.format(lines="priced")
    + """) AS plan
     WHERE b.product_id = plan.product_id AND b.bucket = plan.bucket
 RETURNING b.product_id
),
new_order AS (
    INSERT INTO orders (order_id, customer_id, status, total_amount, currency)
    SELECT %(order_id)s,
           {caller_customer},
           'confirmed',
           (SELECT COALESCE(sum(d.price * d.quantity), 0) FROM priced AS d),
           %(currency)s
     WHERE EXISTS (SELECT 1 FROM req)
 RETURNING order_id, customer_id, status, total_amount, currency, created_at
),
items AS (
    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT %(order_id)s, req.product_id, req.quantity,
           CASE WHEN d.buckets = 1 OR """
    + HAS_BUCKETS.format(product="d.product_id")
    + """ THEN d.price END
      FROM req LEFT JOIN priced AS d ON d.product_id = req.product_id
),
idempotency AS (
    INSERT INTO idempotency_records
           (scope, idempotency_key, request_hash, status, response_status, response_body, expires_at,
            order_id)
    SELECT %(scope)s, %(key)s, %(request_hash)s, 'completed', 201, %(response_body)s,
           now() + make_interval(hours => %(ttl_hours)s), %(order_id)s
     WHERE EXISTS (SELECT 1 FROM req)
),
events AS (
    """
    + OUTBOX_INSERT
    + """
    SELECT gen_random_uuid(), 'OrderPlaced', 1, o.order_id, """
    + ORDER_EVENT.format(o="o", status="o.status", price="price", lines="priced", lines_where="")
    + """, %(region)s, now()
      FROM new_order AS o
    UNION ALL
    -- The snapshot's total minus this line: the order took the last units (exact for a one-bucket
    -- product, whose row every taker writes; docs/events.md on sharded products).
    SELECT gen_random_uuid(), 'StockDepleted', 1, d.product_id, """
    + STOCK_DEPLETED.format(product="d.product_id", order="o.order_id")
    + """, %(region)s, now()
      FROM priced AS d CROSS JOIN new_order AS o
     WHERE d.stock = d.quantity
)
SELECT d.product_id, d.price, d.quantity, o.created_at, o.customer_id
  FROM priced AS d CROSS JOIN new_order AS o
"""
)

# Conditional transition plus restock in one statement: only the caller whose UPDATE matched a
# 'confirmed' row restocks, so concurrent cancels restock exactly once. A sharded product gets the
# units back in one bucket, chosen by `start` (random per attempt), so cancels spread too.
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
     WHERE p.product_id = i.product_id AND coalesce(p.stock_buckets, 1) = 1
),
restocked_buckets AS (
    UPDATE product_stock_buckets AS b
       SET quantity = b.quantity + i.quantity
      FROM order_items AS i
      JOIN cancelled AS c ON c.order_id = i.order_id
      JOIN products AS p ON p.product_id = i.product_id
     WHERE b.product_id = i.product_id AND coalesce(p.stock_buckets, 1) > 1
       AND b.bucket = mod(%(start)s, p.stock_buckets)
),
events AS (
    {OUTBOX_INSERT}
    SELECT gen_random_uuid(), 'OrderCancelled', 1, c.order_id, {
    ORDER_EVENT.format(
        o="c",
        status="c.status",
        price="unit_price",
        lines="order_items",
        lines_where="WHERE l.order_id = c.order_id",
    )
}, %(region)s, now()
      FROM cancelled AS c
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
PRICED_LINES = (
    """(SELECT req.product_id, req.quantity, req.start, p.price, coalesce(p.stock_buckets, 1) AS buckets
          FROM (VALUES {values}) AS req (product_id, quantity, start)
          JOIN products AS p ON p.product_id = req.product_id
         WHERE p.active AND p.currency = %(currency)s AND """
    + FRESH
    + ")"
)
TAKE_STOCK = (
    """
UPDATE products AS p
   SET stock_quantity = p.stock_quantity - req.quantity, updated_at = now()
  FROM (VALUES {values}) AS req (product_id, quantity, start)
 WHERE p.product_id = req.product_id AND p.active AND p.currency = %(currency)s
   AND coalesce(p.stock_buckets, 1) = 1 AND """
    + FRESH
    + "\n"
)
TAKE_BUCKETS = (
    """
UPDATE product_stock_buckets AS b
   SET quantity = b.quantity - plan.take
  FROM ("""
    + BUCKET_PLAN.format(lines=PRICED_LINES)
    + """) AS plan
 WHERE b.product_id = plan.product_id AND b.bucket = plan.bucket
"""
)
INSERT_ORDER = (
    """
INSERT INTO orders (order_id, customer_id, status, total_amount, currency)
SELECT %(order_id)s,
       {caller_customer},
       'confirmed',
       (SELECT COALESCE(sum(p.price * req.quantity), 0)
          FROM products AS p JOIN (VALUES {values}) AS req (product_id, quantity, start)
            ON p.product_id = req.product_id
         WHERE p.active AND p.currency = %(currency)s),
       %(currency)s
 WHERE """
    + FRESH
    + """
RETURNING customer_id, created_at
"""
)
INSERT_ITEMS = (
    """
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT %(order_id)s, req.product_id, req.quantity,
       (SELECT p.price FROM products AS p
         WHERE p.product_id = req.product_id AND p.active AND p.currency = %(currency)s
           AND (coalesce(p.stock_buckets, 1) = 1 OR """
    + HAS_BUCKETS.format(product="p.product_id")
    + """))
  FROM (VALUES {values}) AS req (product_id, quantity, start)
 WHERE """
    + FRESH
    + """
RETURNING product_id, unit_price, quantity
"""
)
INSERT_IDEMPOTENCY = (
    """
INSERT INTO idempotency_records
       (scope, idempotency_key, request_hash, status, response_status, response_body, expires_at, order_id)
SELECT %(scope)s, %(key)s, %(request_hash)s, 'completed', 201, %(response_body)s,
       now() + make_interval(hours => %(ttl_hours)s), %(order_id)s
 WHERE """
    + FRESH
    + "\n"
)
# The order's events, after its order and items and before its idempotency record (FRESH then still
# tells this transaction's order from one a previous attempt committed under the same key and id).
# StockDepleted: the decrements above are visible, so a product of this order whose total is now 0.
ORDER_EVENTS = (
    OUTBOX_INSERT
    + """
SELECT gen_random_uuid(), 'OrderPlaced', 1, o.order_id, """
    + ORDER_EVENT.format(
        o="o",
        status="o.status",
        price="unit_price",
        lines="order_items",
        lines_where="WHERE l.order_id = o.order_id",
    )
    + """, %(region)s, now()
  FROM orders AS o
 WHERE o.order_id = %(order_id)s AND """
    + FRESH
    + """
UNION ALL
SELECT gen_random_uuid(), 'StockDepleted', 1, p.product_id, """
    + STOCK_DEPLETED.format(product="p.product_id", order="i.order_id")
    + """, %(region)s, now()
  FROM order_items AS i JOIN products AS p ON p.product_id = i.product_id
 WHERE i.order_id = %(order_id)s AND """
    + STOCK_TOTAL
    + """ = 0 AND """
    + FRESH
    + "\n"
)
# Cancel in the same snapshot: restock only while the order is still confirmed, then cancel it.
# Two cancels both see 'confirmed' and both write the order row, so one of them conflicts and
# retries, and then sees 'cancelled': the stock comes back exactly once.
RESTOCK = f"""
UPDATE products AS p
   SET stock_quantity = p.stock_quantity + i.quantity, updated_at = now()
  FROM order_items AS i JOIN orders AS o ON o.order_id = i.order_id
 WHERE i.order_id = %(order_id)s AND o.status = 'confirmed' AND p.product_id = i.product_id
   AND coalesce(p.stock_buckets, 1) = 1 AND {VISIBLE_ORDER.format(alias="o.")}
"""
RESTOCK_BUCKETS = f"""
UPDATE product_stock_buckets AS b
   SET quantity = b.quantity + i.quantity
  FROM order_items AS i
  JOIN orders AS o ON o.order_id = i.order_id
  JOIN products AS p ON p.product_id = i.product_id
 WHERE i.order_id = %(order_id)s AND o.status = 'confirmed' AND b.product_id = i.product_id
   AND coalesce(p.stock_buckets, 1) > 1 AND b.bucket = mod(%(start)s, p.stock_buckets)
   AND {VISIBLE_ORDER.format(alias="o.")}
"""
# Before MARK_CANCELLED, under the same condition as the restock: only the transaction that cancels writes it.
CANCEL_EVENT = f"""
{OUTBOX_INSERT}
SELECT gen_random_uuid(), 'OrderCancelled', 1, o.order_id, {
    ORDER_EVENT.format(
        o="o",
        status="'cancelled'::text",
        price="unit_price",
        lines="order_items",
        lines_where="WHERE l.order_id = o.order_id",
    )
}, %(region)s, now()
  FROM orders AS o
 WHERE o.order_id = %(order_id)s AND o.status = 'confirmed' AND {VISIBLE_ORDER.format(alias="o.")}
"""
MARK_CANCELLED = f"""
UPDATE orders SET status = 'cancelled', updated_at = now()
 WHERE order_id = %(order_id)s AND status = 'confirmed' AND {VISIBLE_ORDER.format(alias="")}
RETURNING {ORDER_COLUMNS}
"""

# Setting a product's stock layout (an operator's bucket count, a new total, or both), in one
# transaction whatever the strategy: gather every unit on the row (the new total, or row + buckets),
# drop the buckets, spread the total evenly over the new buckets and empty the row when there are
# two or more. It writes the row and every old bucket, so any order that took a unit from either
# since this transaction's snapshot conflicts with it (40001) and one of them retries: units are
# neither lost nor invented, and orders keep running. Only active products (a retired product's
# stock stays as it was).
GATHER_STOCK = f"""
UPDATE products AS p
   SET stock_quantity = coalesce(%(total)s, {STOCK_TOTAL}),
       stock_buckets = coalesce(%(buckets)s, p.stock_buckets, 1),
       updated_at = now()
 WHERE p.product_id = %(product_id)s AND p.active
"""
DROP_BUCKETS = """
DELETE FROM product_stock_buckets AS b
 WHERE b.product_id = %(product_id)s
   AND EXISTS (SELECT 1 FROM products AS p WHERE p.product_id = %(product_id)s AND p.active)
"""
SPREAD_STOCK = (
    """
INSERT INTO product_stock_buckets (product_id, bucket, quantity)
SELECT p.product_id, n.bucket,
       p.stock_quantity / p.stock_buckets + CASE WHEN n.bucket < mod(p.stock_quantity, p.stock_buckets)
                                                 THEN 1 ELSE 0 END
  FROM products AS p CROSS JOIN (VALUES """
    + ", ".join(f"({n})" for n in range(MAX_STOCK_BUCKETS))
    + """) AS n (bucket)
 WHERE p.product_id = %(product_id)s AND p.active AND p.stock_buckets > 1 AND n.bucket < p.stock_buckets
"""
)
EMPTY_ROW = """
UPDATE products SET stock_quantity = 0
 WHERE product_id = %(product_id)s AND active AND stock_buckets > 1
"""
_LAYOUT = (GATHER_STOCK, DROP_BUCKETS, SPREAD_STOCK, EMPTY_ROW)
LIST_PRODUCTS = (
    "SELECT {columns} FROM products AS p WHERE {where} ORDER BY p.created_at DESC, p.product_id DESC LIMIT %s"
)
INSERT_PRODUCT = """
INSERT INTO products (product_id, name, description, price, currency, stock_quantity, category, stock_buckets)
VALUES (%(product_id)s, %(name)s, %(description)s, %(price)s, %(currency)s, %(total)s, %(category)s,
        %(buckets)s)
"""
# Catalog events. ProductCreated after the row and its layout; ProductChanged and ProductRetired before
# the UPDATE, so the statement still reads the old values (and a product that is gone writes nothing).
PRODUCT_CREATED_EVENT = f"""
{OUTBOX_INSERT}
SELECT gen_random_uuid(), 'ProductCreated', 1, p.product_id, {PRODUCT_CREATED}, %(region)s, now()
  FROM products AS p
 WHERE p.product_id = %(product_id)s AND p.active
"""
PRODUCT_RETIRED_EVENT = f"""
{OUTBOX_INSERT}
SELECT gen_random_uuid(), 'ProductRetired', 1, p.product_id,
       json_build_object('productId', p.product_id)::text, %(region)s, now()
  FROM products AS p
 WHERE p.product_id = %(product_id)s AND p.active
"""
RETIRE_PRODUCT = """
UPDATE products SET active = false, updated_at = now() WHERE product_id = %(product_id)s AND active
RETURNING product_id
"""
# ProductChanged: (event field, old value, new value) of each field a PATCH may change. Only the fields
# the request names take part, and only those whose value differs make it into `changes`; a PATCH that
# changes nothing writes no event.
CHANGEABLE = {
    "name": ("name", "p.name", "%(f_name)s::text"),
    "description": ("description", "p.description", "%(f_description)s::text"),
    "price": ("price", "p.price::text", "%(f_price)s::numeric(10,2)::text"),
    "category": ("category", "p.category", "%(f_category)s::text"),
    "stock_quantity": ("stockQuantity", STOCK_TOTAL, "%(total)s::int"),
    "stock_buckets": ("stockBuckets", "coalesce(p.stock_buckets, 1)", "%(buckets)s::int"),
}


def product_changed_event(names: Sequence[str]) -> str:
    """The ProductChanged insert for a PATCH naming ``names`` (keys of CHANGEABLE)."""
    changes = ", ".join(
        f"'{field}', CASE WHEN {old} IS DISTINCT FROM {new} "
        f"THEN json_build_object('old', {old}, 'new', {new}) END"
        for field, old, new in (CHANGEABLE[name] for name in names)
    )
    differs = " OR ".join(f"{old} IS DISTINCT FROM {new}" for _, old, new in (CHANGEABLE[n] for n in names))
    return f"""
{OUTBOX_INSERT}
SELECT gen_random_uuid(), 'ProductChanged', 1, p.product_id,
       json_build_object('productId', p.product_id,
                         'changes', json_strip_nulls(json_build_object({changes})))::text,
       %(region)s, now()
  FROM products AS p
 WHERE p.product_id = %(product_id)s AND p.active AND ({differs})
"""


# Why an order aborted on a constraint: one read of the products' totals, the caller's profile and
# the key (_explain_rejection).
EXPLAIN_REJECTION = (
    f"SELECT 'product', p.product_id, {STOCK_TOTAL} FROM products AS p "
    "WHERE p.product_id IN ({placeholders}) AND p.active AND p.currency = %s "
    "UNION ALL SELECT 'customer', customer_id, NULL FROM customers WHERE identity_subject = %s "
    "UNION ALL SELECT 'key', NULL, NULL FROM idempotency_records "
    "WHERE scope = %s AND idempotency_key = %s"
)
READ_PRODUCT = f"SELECT {PRODUCT_COLUMNS} FROM products AS p WHERE p.product_id = %(product_id)s AND p.active"

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
    statements ("pipelined"); both are one round trip with the same guarantees. ``region`` is written
    on every outbox row (the region whose API made the change; default "local")."""

    def __init__(
        self,
        database: Database | Callable[[], Database],
        *,
        deadline: float | None = None,
        order_strategy: str = DEFAULT_ORDER_STRATEGY,
        region: str = "local",
    ) -> None:
        if order_strategy not in ORDER_STRATEGIES:
            raise ValueError(f"order_strategy must be one of {ORDER_STRATEGIES}, not {order_strategy!r}")
        self._database = database
        self.deadline = deadline
        self.order_strategy = order_strategy
        self.region = region

    @property
    def db(self) -> Database:
        return self._database if isinstance(self._database, Database) else self._database()

    # ---- catalog ------------------------------------------------------------------------------

    @_domain_errors
    def list_products(
        self, *, limit: int, after: tuple[Any, UUID] | None, category: str | None
    ) -> Page[Product]:
        """One round trip (autocommit SELECT); cost independent of catalog size via the indexes."""
        conditions: list[sql.Composable] = [sql.SQL("p.active")]
        params: list[Any] = []
        if category is not None:
            conditions.append(sql.SQL("p.category = %s"))
            params.append(category)
        if after is not None:
            conditions.append(sql.SQL("(p.created_at, p.product_id) < (%s, %s)"))
            params.extend(after)
        query = sql.SQL(LIST_PRODUCTS).format(
            columns=sql.SQL(PRODUCT_COLUMNS), where=sql.SQL(" AND ").join(conditions)
        )
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
                f"SELECT {PRODUCT_COLUMNS} FROM products AS p WHERE p.product_id = %s AND p.active",
                (product_id,),
            ).fetchone()
        )
        if row is None:
            raise NotFound("product", product_id)
        return Product(*row)

    @_domain_errors
    def create_product(
        self,
        *,
        name: str,
        description: str,
        price: Decimal,
        stock_quantity: int,
        category: str,
        stock_buckets: int = DEFAULT_STOCK_BUCKETS,
    ) -> Product:
        """One round trip: the row, its stock layout when it has buckets, and the product as read back."""
        product_id = uuid.uuid4()
        params = {
            "product_id": product_id,
            "name": name,
            "description": description,
            "price": price,
            "currency": CURRENCY,
            "total": stock_quantity,
            "category": category,
            "buckets": stock_buckets,
            "region": self.region,
        }
        statements = [
            INSERT_PRODUCT,
            *(_LAYOUT if stock_buckets > 1 else ()),
            PRODUCT_CREATED_EVENT,
            READ_PRODUCT,
        ]
        row = self._statements(statements, params)
        assert row is not None
        return Product(*row)

    @_domain_errors
    def update_product(self, product_id: UUID, changes: ProductChanges) -> Product:
        """One round trip. A new stock total or bucket count re-lays the stock out (GATHER_STOCK)."""
        fields = {k: v for k, v in changes.as_dict().items() if k not in ("stock_quantity", "stock_buckets")}
        statements: list[Any] = [product_changed_event(list(changes.as_dict()))]
        if fields:
            assignments: list[sql.Composable] = [
                sql.SQL("{} = {}").format(sql.Identifier(n), sql.Placeholder(f"f_{n}")) for n in fields
            ]
            assignments.append(sql.SQL("updated_at = now()"))
            statements.append(
                sql.SQL("UPDATE products SET {} WHERE product_id = %(product_id)s AND active").format(
                    sql.SQL(", ").join(assignments)
                )
            )
        if changes.stock_layout:
            statements += _LAYOUT
        statements.append(READ_PRODUCT)
        params = {
            "product_id": product_id,
            "total": changes.stock_quantity,
            "buckets": changes.stock_buckets,
            "region": self.region,
            **{f"f_{n}": v for n, v in fields.items()},
        }
        row = self._statements(statements, params)
        if row is None:
            raise NotFound("product", product_id)
        return Product(*row)

    @_domain_errors
    def retire_product(self, product_id: UUID) -> None:
        """Soft delete: orders keep referring to the row; it leaves the catalog and cannot be ordered."""
        row = self._statements(
            [PRODUCT_RETIRED_EVENT, RETIRE_PRODUCT], {"product_id": product_id, "region": self.region}
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
        """For the caller's own profile. One round trip, and so is the replay of a completed order
        (REPLAY_LOOKUP travels in the same pipeline). Failures, and the race of two first requests
        with one key, add one read to explain themselves."""
        lines = request.lines
        values = ", ".join(f"(%(p{i})s::uuid, %(q{i})s::int, %(r{i})s::int)" for i in range(len(lines)))
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
            "region": self.region,
        }
        for i, (product_id, quantity) in enumerate(lines):
            params[f"p{i}"], params[f"q{i}"] = product_id, quantity
        if self.order_strategy == "cte":
            statements = [REPLAY_LOOKUP, PLACE_ORDER.format(values=values, caller_customer=CALLER_CUSTOMER)]
        else:
            statements = [
                REPLAY_LOOKUP,
                *(s.format(values=values) for s in (TAKE_STOCK, TAKE_BUCKETS)),
                INSERT_ORDER.format(values=values, caller_customer=CALLER_CUSTOMER),
                INSERT_ITEMS.format(values=values),
                ORDER_EVENTS,
                INSERT_IDEMPOTENCY,
            ]

        # Only a pipeline whose statements after the first that can fail are never prepared: see
        # _statements. With the CTE that is the last statement, whose own Parse the server runs.
        prepare = None if self.order_strategy == "cte" else False

        db, attempts = self.db, [0]

        def work(conn: Connection) -> list[psycopg.Cursor[Any]]:
            # The environment's start (_home); a re-run — the attempt before it failed, most often on
            # a conflict — draws a new one, so a retry tries other buckets.
            attempts[0] += 1
            home = _home(db, redraw=attempts[0] > 1)
            attempt = {**params, **{f"r{i}": home + i for i in range(len(lines))}}
            return [conn.cursor().execute(statement, attempt, prepare=prepare) for statement in statements]

        rounds = 0
        while True:
            rounds += 1
            try:
                # Safe to re-run even if the connection broke after COMMIT left: the idempotency key
                # makes a second attempt either create the order or find the first one's record and
                # replay it.
                cursors = _forgetting_home_on_failure(db, self._transaction, work)
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
            ) as exc:
                # The key may already hold a committed order (a retry, or a concurrent duplicate that
                # lost): then the stock that order took is why this attempt failed, and the answer is
                # the replay, not "insufficient stock".
                outcome = self._explain_rejection(request, idempotency_key)
                if isinstance(outcome, PlacedOrder):
                    return outcome
                # A bucket went below zero although the total covers the order: the plan came from
                # the snapshot, and a bucket it did not touch was restocked since (a cancel). A newer
                # snapshot plans with it: re-run like a conflict, within the deadline.
                if (
                    isinstance(outcome, Busy)
                    and _constraint(exc) == BUCKET_QUANTITY_CHECK
                    and self.db.retry_as_conflict(rounds, deadline=self.deadline)
                ):
                    continue
                raise outcome from None
            break
        earlier = cursors[0].fetchall()
        if earlier:
            return self._replayed(earlier, idempotency_key, request)
        if self.order_strategy == "cte":
            rows = cursors[1].fetchall()
        else:
            customer_id, created_at = cursors[3].fetchone()
            rows = [(pid, price, qty, created_at, customer_id) for pid, price, qty in cursors[4].fetchall()]
        created_at, customer_id = rows[0][3], rows[0][4]
        placed = tuple(OrderLine(product_id, quantity, price) for product_id, price, quantity, *_ in rows)
        placed = tuple(sorted(placed, key=lambda line: str(line.product_id)))
        total = sum((line.line_total for line in placed), Decimal("0"))
        order = Order(order_id, customer_id, "confirmed", total, CURRENCY, created_at, created_at, placed)
        return PlacedOrder(order, replayed=False)

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
        params = {"order_id": order_id, "region": self.region, **_who(caller)}
        if self.order_strategy == "cte":
            cursor = self._transaction(
                lambda conn: conn.cursor().execute(CANCEL_ORDER, {**params, "start": _start()}),
                pipeline=True,
            )
            rows = cursor.fetchall()
            return _order_from_rows(rows) if rows else None

        def work(conn: Connection) -> list[psycopg.Cursor[Any]]:
            attempt = {**params, "start": _start()}
            return [
                conn.cursor().execute(statement, attempt, prepare=False)  # see _statements
                for statement in (RESTOCK, RESTOCK_BUCKETS, CANCEL_EVENT, MARK_CANCELLED, ORDER_WITH_ITEMS)
            ]

        *_, cancelled, order = self._transaction(work, pipeline=True)
        return _order_from_rows(order.fetchall()) if cancelled.fetchall() else None

    @_domain_errors
    def ping(self) -> None:
        self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    # ---- helpers ----------------------------------------------------------------------------

    def _replayed(self, rows: list[Any], key: str, request: OrderRequest) -> PlacedOrder:
        """The key already holds a record (REPLAY_LOOKUP's rows): the same request gets the original
        answer, another request 422. Records from before migration 0007 lack the order: _replay."""
        request_hash, response_body, recorded_order = rows[0][:3]
        if request_hash != request.request_hash:
            raise IdempotencyKeyReused()
        if recorded_order is None or rows[0][3] is None:
            return self._replay(key, request)
        return _as_original(_order_from_rows([row[3:] for row in rows]), response_body)

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
        return _as_original(order, response_body)

    def _explain_rejection(self, request: OrderRequest, key: str) -> PlacedOrder | Exception:
        """The statement aborted on a constraint; one read says which rule, naming the fields."""
        ids = [product_id for product_id, _ in request.lines]
        placeholders = ", ".join(["%s"] * len(ids))
        rows = self._read(
            lambda conn: conn.execute(
                EXPLAIN_REJECTION.format(placeholders=placeholders),
                (*ids, CURRENCY, request.subject, ORDER_SCOPE.format(subject=request.subject), key),
            ).fetchall()
        )
        if any(row[0] == "key" for row in rows):
            return self._replay(key, request)
        stock = {row[1]: row[2] for row in rows if row[0] == "product"}
        own = [row[1] for row in rows if row[0] == "customer"]
        if not own:
            return UnknownCustomer()
        refused = claimed_profile_refusal(request.claimed_customer_id, own[0])
        if refused is not None:
            return refused
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

    def _statements(self, statements: Sequence[Any], params: dict[str, Any]) -> Any:
        """Statements in one transaction, one round trip; the last one's first row. Never prepared:
        psycopg (3.3) records a statement as prepared once its Parse is queued, also in a pipeline that
        a conflict aborted before the server reached it, and the retry then names a statement that
        does not exist (InvalidSqlStatementName; seen with re-sharding under load,
        tests/integration/test_stock_buckets.py). Unprepared statements cost the server a parse, not
        a round trip."""

        def work(conn: Connection) -> list[psycopg.Cursor[Any]]:
            return [conn.cursor().execute(statement, params, prepare=False) for statement in statements]

        return self._transaction(work, pipeline=True)[-1].fetchone()

    def _write_one(self, query: Any, params: Sequence[Any]) -> Any:
        """INSERT/UPDATE … RETURNING as BEGIN + statement + COMMIT in one round trip."""
        cursor = self._transaction(lambda conn: conn.cursor().execute(query, params), pipeline=True)
        return cursor.fetchone()


def _constraint(exc: psycopg.Error) -> str | None:
    return exc.diag.constraint_name


def _who(caller: Caller) -> dict[str, Any]:
    return {"operator": caller.operator, "subject": caller.subject}


def _start() -> int:
    """Where a rotation over the buckets begins (BUCKET_PLAN, cancels): uniform."""
    return random.randrange(2**30)  # noqa: S311 - spreads load, not a secret


# Where an environment's orders start their rotation over a sharded product's buckets: drawn once,
# kept while its orders commit, drawn again after a failed attempt. A Lambda environment runs one
# request at a time, so concurrent buyers are concurrent environments: those that did not collide
# keep apart, those that did move. Fewer conflicts than a draw per order (docs/performance.md, "A
# hot product"). Keyed by the Database (one per environment; the bench runs many in one process).
_HOMES: weakref.WeakKeyDictionary[Database, int] = weakref.WeakKeyDictionary()


def _home(db: Database, *, redraw: bool) -> int:
    home = _HOMES.get(db)
    if home is None or redraw:
        home = _HOMES[db] = _start()
    return home


def forget_bucket_homes() -> None:
    """Every environment draws a new home (after a SnapStart restore, which copies one memory image)."""
    _HOMES.clear()


def _forgetting_home_on_failure(db: Database, transaction: Callable[..., R], work: Any) -> R:
    """An order that ran out of attempts (conflicts with no retry left) leaves its environment
    without a home: the next order draws one instead of going back where it collided. A rejection
    (409, 422) is no collision and keeps the home."""
    try:
        return transaction(work, pipeline=True, idempotent=True)
    except RetriesExhaustedError:
        _HOMES.pop(db, None)
        raise


def _as_original(order: Order, response_body: str) -> PlacedOrder:
    """Items, prices, total and creation time never change; the status may have (a later cancel).
    A replay answers what the original request answered."""
    stored = json.loads(response_body)
    original = Order(**{**order.__dict__, "status": stored["status"], "updated_at": order.created_at})
    return PlacedOrder(original, replayed=True)


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
        "%(r0)s": "123456",
        "%(start)s": "123456",
        "%(product_id)s": "'a1000000-0000-4000-8000-000000000001'",
        "%(total)s": "NULL",
        "%(buckets)s": "4",
        "%(name)s": "'P'",
        "%(description)s": "''",
        "%(price)s": "10.00",
        "%(category)s": "'Test'",
        "%(region)s": "'us-east-1'",
        "%(f_name)s": "'P2'",
        "%(f_description)s": "'d'",
        "%(f_price)s": "11.00",
        "%(f_category)s": "'Other'",
        "%s": "'a1000000-0000-4000-8000-000000000001'",
    }

    def render(statement: str) -> str:
        for placeholder, value in sample.items():
            statement = statement.replace(placeholder, value)
        return statement

    values = "(%(p0)s::uuid, %(q0)s::int, %(r0)s::int)"
    caller = CALLER_CUSTOMER
    return {
        "replay_lookup": render(REPLAY_LOOKUP),
        "place_order": render(PLACE_ORDER.format(values=values, caller_customer=caller)),
        "cancel_order": render(CANCEL_ORDER),
        "order_with_items": render(ORDER_WITH_ITEMS),
        "read_product": render(READ_PRODUCT),
        "list_products": render(
            LIST_PRODUCTS.format(
                columns=PRODUCT_COLUMNS,
                where="p.active AND p.category = %s AND (p.created_at, p.product_id) < (now(), %s)",
            ).replace("LIMIT %s", "LIMIT 21")
        ),
        "create_product/insert": render(INSERT_PRODUCT),
        "create_product/event": render(PRODUCT_CREATED_EVENT),
        "update_product/event": render(product_changed_event(list(CHANGEABLE))),
        "retire_product/event": render(PRODUCT_RETIRED_EVENT),
        "retire_product/update": render(RETIRE_PRODUCT),
        "explain_rejection": render(EXPLAIN_REJECTION.format(placeholders="%s, %s")),
        "layout/gather_stock": render(GATHER_STOCK),
        "layout/drop_buckets": render(DROP_BUCKETS),
        "layout/spread_stock": render(SPREAD_STOCK),
        "layout/empty_row": render(EMPTY_ROW),
        "pipelined/take_stock": render(TAKE_STOCK.format(values=values)),
        "pipelined/take_buckets": render(TAKE_BUCKETS.format(values=values)),
        "pipelined/insert_order": render(INSERT_ORDER.format(values=values, caller_customer=caller)),
        "pipelined/insert_items": render(INSERT_ITEMS.format(values=values)),
        "pipelined/insert_idempotency": render(INSERT_IDEMPOTENCY),
        "pipelined/order_events": render(ORDER_EVENTS),
        "pipelined/cancel_event": render(CANCEL_EVENT),
        "pipelined/restock": render(RESTOCK),
        "pipelined/restock_buckets": render(RESTOCK_BUCKETS),
        "pipelined/mark_cancelled": render(MARK_CANCELLED),
    }
