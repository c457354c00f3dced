"""REFERENCE: the recipe this project replaces, re-implemented faithfully so it can be measured beside
the shop on the same wire (the same latency proxy, the same database, the same instrumentation).

Per request the recipe opens a new connection with a new IAM token, and closes it afterwards. An
order is: BEGIN; select the customer; insert the order with total 0; for each line select price and
stock (``FOR UPDATE``, the recipe's concurrency control; it never retries), update the stock, insert
the item; update the order's total and status; COMMIT. Its catalog is one unpaginated
``SELECT … ORDER BY created_at DESC`` serialized to JSON.

Deliberately favourable to the recipe, so that every ratio is a lower bound: the boto3 client that
signs tokens is created once per process (a new session per token costs 30-85 ms, dsql.md
"Connecting"), there is no HTTP layer (no Powertools, no validation), and local connections skip
TLS (the latency proxy charges the handshakes as round trips, the same for both arms).

This is benchmark code, not an example: it is the behaviour docs/performance.md compares against.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import psycopg

REGION = "us-east-1"
ENDPOINT = "reference0000000000000000a.dsql.us-east-1.on.aws"
PRODUCT_COLUMNS = "product_id, name, description, price, currency, stock_quantity, category, created_at"


class OutOfStock(Exception):
    pass


class Reference:
    """The recipe's data access, against ``dsn`` (a latency proxy in the benchmarks)."""

    def __init__(self, dsn: str) -> None:
        import boto3  # type: ignore[import-untyped]

        self.dsn = dsn
        # Static fake credentials: SigV4 signing is local, nothing is sent anywhere.
        session = boto3.session.Session(
            aws_access_key_id="AKIDBENCHREFERENCE00",
            aws_secret_access_key="bench-secret",  # noqa: S106 - a fake: signing is local
            region_name=REGION,
        )
        self._dsql = session.client("dsql", region_name=REGION)

    def token(self) -> str:
        token: str = self._dsql.generate_db_connect_auth_token(
            Hostname=ENDPOINT, Region=REGION, ExpiresIn=900
        )
        return token

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection and a new token, as the recipe does for every request. psycopg would prepare
        a statement on its sixth execution (one more round trip each, on long orders): turned off, in
        the recipe's favour."""
        conn = psycopg.Connection.connect(
            self.dsn,
            password=self.token(),
            autocommit=True,
            options="-c default_transaction_isolation=repeatable\\ read",
        )
        conn.prepare_threshold = None
        return conn

    def place_order(self, customer_id: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
        order_id = str(uuid.uuid4())
        with self.connect() as conn:
            conn.execute("BEGIN")
            try:
                customer = conn.execute(
                    "SELECT customer_id FROM customers WHERE customer_id = %s", (customer_id,)
                ).fetchone()
                if customer is None:
                    raise LookupError(customer_id)
                conn.execute(
                    "INSERT INTO orders (order_id, customer_id, status, total_amount, currency) "
                    "VALUES (%s, %s, 'pending', 0, 'USD')",
                    (order_id, customer_id),
                )
                total = Decimal("0")
                for product_id, quantity in lines:
                    row = conn.execute(
                        "SELECT price, stock_quantity FROM products WHERE product_id = %s FOR UPDATE",
                        (product_id,),
                    ).fetchone()
                    if row is None or row[1] < quantity:
                        raise OutOfStock(product_id)
                    price = Decimal(row[0])
                    conn.execute(
                        "UPDATE products SET stock_quantity = stock_quantity - %s WHERE product_id = %s",
                        (quantity, product_id),
                    )
                    conn.execute(
                        "INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
                        "VALUES (%s, %s, %s, %s)",
                        (order_id, product_id, quantity, price),
                    )
                    total += price * quantity
                conn.execute(
                    "UPDATE orders SET total_amount = %s, status = 'confirmed' WHERE order_id = %s",
                    (total, order_id),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return {"order_id": order_id, "status": "confirmed", "total_amount": str(total)}

    def get_product(self, product_id: str) -> dict[str, Any] | None:
        with self.connect() as conn:
            cur = conn.execute(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = %s", (product_id,))
            row = cur.fetchone()
            if row is None:
                return None
            return _as_json_dict(cur, row)

    def catalog(self) -> str:
        """The whole catalog, newest first, as the JSON body the recipe's function returns."""
        with self.connect() as conn:
            cur = conn.execute(f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY created_at DESC")
            rows = cur.fetchall()
            names = [column.name for column in cur.description or ()]
        return json.dumps({"products": [dict(zip(names, row, strict=True)) for row in rows]}, default=str)


def _as_json_dict(cur: psycopg.Cursor[Any], row: Any) -> dict[str, Any]:
    names = [column.name for column in cur.description or ()]
    decoded: dict[str, Any] = json.loads(json.dumps(dict(zip(names, row, strict=True)), default=str))
    return decoded
