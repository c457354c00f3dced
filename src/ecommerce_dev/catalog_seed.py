"""Bulk-load a large, reproducible catalog: ``ecommerce seed --products N`` and the benchmarks.

Product ``n`` (0-based) is always the same row: its id is a version-4-shaped UUID made from the MD5 of
``ecommerce-seed-product/<n>``, its name ``Seed product 0000042``, its price, category and stock follow
from ``n``, and it was "created" ``n`` seconds after :data:`EPOCH` (so product ``N-1`` is the newest
and the catalog's keyset order is known without reading it: see :func:`position_of`).

Two ways in, both resumable (products already present are skipped, so ``--products 1000000`` after
``--products 1000`` loads the 999,000 missing ones):

* ``copy``: PostgreSQL ``COPY FROM STDIN`` in chunks of :data:`COPY_CHUNK` rows, then ``ANALYZE``.
  Local engine only, without the DSQL guard (a COPY of more than 3,000 rows is one transaction,
  which DSQL and the guard refuse).
* ``batches``: multi-row ``INSERT … ON CONFLICT (product_id) DO NOTHING`` of at most
  :data:`MAX_ROWS_PER_TRANSACTION` rows (default 1,000), each its own transaction, through the data
  layer's :class:`~handlers.db.Database` (retries on ``40001``/``XX000``/lost connections; the
  statement is idempotent, so a commit whose outcome is unknown is simply replayed). Aurora DSQL
  allows 3,000 modified rows per transaction (docs/dsql.md, "Limits": user guide
  ``CHAP_quotas.html``): this is the path for a cluster and for the guarded local engine.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import psycopg

#: Aurora DSQL: at most 3,000 modified rows per transaction (SQLSTATE 54000 beyond).
MAX_ROWS_PER_TRANSACTION: Final = 3_000
DEFAULT_BATCH: Final = 1_000
#: Rows per COPY statement (each its own transaction) on the local engine.
COPY_CHUNK: Final = 100_000
EPOCH: Final = datetime(2025, 1, 1, tzinfo=UTC)
DEFAULT_STOCK: Final = 1_000
CATEGORIES: Final = (
    "Books",
    "Electronics",
    "Garden",
    "Home",
    "Kitchen",
    "Music",
    "Office",
    "Outdoors",
    "Sports",
    "Tools",
    "Toys",
    "Travel",
)
COLUMNS: Final = "product_id, name, price, currency, stock_quantity, category, created_at, updated_at"
_ID_NAMESPACE: Final = "ecommerce-seed-product/"

Method = Literal["auto", "copy", "batches"]
Connect = Callable[[], psycopg.Connection[Any]]
Progress = Callable[[int, int], None]


def product_id(n: int) -> uuid.UUID:
    """The id of seeded product ``n``: deterministic, shaped like a random (version 4) UUID."""
    digest = hashlib.md5(f"{_ID_NAMESPACE}{n}".encode(), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest, version=4)


def created_at(n: int) -> datetime:
    return EPOCH + timedelta(seconds=n)


def price(n: int) -> str:
    cents = 100 + (n * 7919) % 99_900  # 1.00 ... 999.99
    return f"{cents // 100}.{cents % 100:02d}"


def category(n: int) -> str:
    return CATEGORIES[n % len(CATEGORIES)]


def name(n: int) -> str:
    return f"Seed product {n:07d}"


def position_of(n: int, count: int) -> int:
    """0-based position of product ``n`` in the catalog's newest-first order, when only the ``count``
    seeded products exist (ties on created_at are impossible: one second apart)."""
    return count - 1 - n


def row(n: int, stock: int = DEFAULT_STOCK) -> tuple[str, str, str, str, int, str, datetime, datetime]:
    when = created_at(n)
    return (str(product_id(n)), name(n), price(n), "USD", stock, category(n), when, when)


@dataclass(frozen=True)
class SeedResult:
    requested: int
    present_before: int
    loaded: int
    method: str
    seconds: float


def seed_products(
    connect: Connect,
    count: int,
    *,
    method: Method = "auto",
    batch_size: int = DEFAULT_BATCH,
    stock: int = DEFAULT_STOCK,
    progress: Progress | None = None,
) -> SeedResult:
    """Make seeded products ``0 … count-1`` exist (the ones already there are kept as they are).

    ``connect`` opens a connection (a guarded one, a plain local one, or DSQL's: the CLI's target).
    ``auto`` chooses COPY for a plain local connection and batches otherwise.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if not 1 <= batch_size <= MAX_ROWS_PER_TRANSACTION:
        raise ValueError(
            f"batch_size must be 1..{MAX_ROWS_PER_TRANSACTION} "
            "(Aurora DSQL: 3,000 modified rows per transaction)"
        )
    started = time.monotonic()
    with connect() as conn:
        conn.autocommit = True
        chosen = _choose(conn, method)
        present = seeded_prefix(conn, count)
    if present < count:
        if chosen == "copy":
            _copy(connect, present, count, stock, progress)
        else:
            _batches(connect, present, count, batch_size, stock, progress)
    return SeedResult(count, present, count - present, chosen, time.monotonic() - started)


def seeded_prefix(conn: psycopg.Connection[Any], count: int) -> int:
    """How many of products ``0 … count-1`` exist, assuming they were loaded in order (both methods
    commit ascending chunks): a binary search of primary-key lookups, ~20 reads for a million."""

    def exists(n: int) -> bool:
        found = conn.execute("SELECT 1 FROM products WHERE product_id = %s", (product_id(n),)).fetchone()
        return found is not None

    low, high = 0, count  # products [0, low) exist; [high, count) do not
    if count == 0 or not exists(0):
        return 0
    if exists(count - 1):
        return count
    low, high = 1, count - 1
    while low < high:
        middle = (low + high) // 2
        if exists(middle):
            low = middle + 1
        else:
            high = middle
    return low


def _choose(conn: psycopg.Connection[Any], method: Method) -> str:
    if method != "auto":
        return method
    from ecommerce_dev.guarded import GuardedConnection

    dsql = str(conn.info.host or "").endswith(".on.aws")
    return "batches" if dsql or isinstance(conn, GuardedConnection) else "copy"


def _copy_lines(start: int, stop: int, stock: int) -> Iterator[str]:
    """COPY text rows, built without datetime objects (a million rows in a few seconds)."""
    epoch = int(EPOCH.timestamp())
    for n in range(start, stop):
        when = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(epoch + n))
        yield f"{product_id(n)}\t{name(n)}\t{price(n)}\tUSD\t{stock}\t{category(n)}\t{when}\t{when}\n"


def _copy(connect: Connect, start: int, count: int, stock: int, progress: Progress | None) -> None:
    with connect() as conn:
        conn.autocommit = True
        for chunk in range(start, count, COPY_CHUNK):
            stop = min(chunk + COPY_CHUNK, count)
            with conn.cursor() as cur, cur.copy(f"COPY products ({COLUMNS}) FROM STDIN") as copy:
                buffer: list[str] = []
                for line in _copy_lines(chunk, stop, stock):
                    buffer.append(line)
                    if len(buffer) == 5_000:
                        copy.write("".join(buffer))
                        buffer.clear()
                if buffer:
                    copy.write("".join(buffer))
            if progress is not None:
                progress(stop, count)
        conn.execute("ANALYZE products")


def insert_statement(rows: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * rows)
    return f"INSERT INTO products ({COLUMNS}) VALUES {values} ON CONFLICT (product_id) DO NOTHING"


def _insert(statement: str, params: list[Any], conn: psycopg.Connection[Any]) -> None:
    conn.execute(statement, params)


def _batches(
    connect: Connect, start: int, count: int, batch_size: int, stock: int, progress: Progress | None
) -> None:
    from handlers.db import Database

    db = Database(connector=connect)
    try:
        for first in range(start, count, batch_size):
            stop = min(first + batch_size, count)
            params = [value for n in range(first, stop) for value in row(n, stock)]
            statement = insert_statement(stop - first)
            # One statement, one transaction: at most batch_size (<= 3,000) rows; idempotent.
            db.run_transaction(functools.partial(_insert, statement, params), idempotent=True)
            if progress is not None:
                progress(stop, count)
    finally:
        db.close()
