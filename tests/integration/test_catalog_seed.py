"""The bulk catalog loader: deterministic rows, COPY locally, <= 3,000 rows per transaction otherwise."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from api_support import Client
from ecommerce_dev import catalog_seed
from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.guarded import GuardedConnection
from handlers.db.migrate import apply_migrations


@pytest.fixture
def catalog_dsn(local_engine: LocalEngine, fresh_dsn: str) -> str:
    apply_migrations(lambda: local_engine.connect(dsn=fresh_dsn, autocommit=True), poll_interval=0.01)
    return fresh_dsn


def count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM products").fetchone()
    assert row is not None
    return int(row[0])


def test_rows_are_deterministic_and_shaped_like_the_api_expects() -> None:
    assert catalog_seed.row(42) == catalog_seed.row(42)
    assert catalog_seed.product_id(7) == uuid.UUID(str(catalog_seed.product_id(7)))
    assert catalog_seed.product_id(7).version == 4
    ids = {catalog_seed.product_id(n) for n in range(10_000)}
    assert len(ids) == 10_000
    assert catalog_seed.created_at(1) > catalog_seed.created_at(0)
    assert catalog_seed.name(42) == "Seed product 0000042"
    prices = {catalog_seed.price(n) for n in range(1000)}
    assert all(1.0 <= float(p) <= 999.99 for p in prices)


def test_copy_loads_then_resumes_without_duplicates(catalog_dsn: str) -> None:
    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(catalog_dsn)

    first = catalog_seed.seed_products(connect, 500)
    assert (first.method, first.present_before, first.loaded) == ("copy", 0, 500)
    again = catalog_seed.seed_products(connect, 500)
    assert (again.present_before, again.loaded) == (500, 0)
    more = catalog_seed.seed_products(connect, 800)
    assert (more.present_before, more.loaded) == (500, 300)
    assert count(catalog_dsn) == 800
    with psycopg.connect(catalog_dsn) as conn:
        row = conn.execute(
            "SELECT name, price::text, category, created_at FROM products WHERE product_id = %s",
            (catalog_seed.product_id(799),),
        ).fetchone()
    expected = catalog_seed.row(799)
    assert row == (expected[1], expected[2], expected[5], expected[6])


def test_batches_through_the_dsql_guard_stay_within_3000_rows_per_transaction(
    local_engine: LocalEngine, catalog_dsn: str
) -> None:
    seen: list[int] = []

    def connect() -> psycopg.Connection[Any]:
        return local_engine.connect(dsn=catalog_dsn, autocommit=True)

    # The guard rejects a transaction that modifies more than 3,000 rows (54000): a run that
    # completes proves every batch stayed within DSQL's limit.
    result = catalog_seed.seed_products(
        connect, 6_500, batch_size=3_000, progress=lambda done, total: seen.append(done)
    )
    assert (result.method, result.loaded) == ("batches", 6_500)
    assert seen == [3_000, 6_000, 6_500]
    assert count(catalog_dsn) == 6_500
    with pytest.raises(ValueError, match="3,000"):
        catalog_seed.seed_products(connect, 10, batch_size=3_001)


def test_copy_is_refused_by_the_guard_so_auto_chooses_batches(
    local_engine: LocalEngine, catalog_dsn: str
) -> None:
    with local_engine.connect(dsn=catalog_dsn, autocommit=True) as guarded:
        assert isinstance(guarded, GuardedConnection)
        assert catalog_seed._choose(guarded, "auto") == "batches"
    with psycopg.connect(catalog_dsn) as plain:
        assert catalog_seed._choose(plain, "auto") == "copy"
    with pytest.raises(psycopg.errors.ProgramLimitExceeded):
        catalog_seed.seed_products(
            lambda: local_engine.connect(dsn=catalog_dsn, autocommit=True), 3_500, method="copy"
        )


def test_seeded_prefix_finds_a_partial_load(catalog_dsn: str) -> None:
    catalog_seed.seed_products(lambda: psycopg.connect(catalog_dsn), 137, method="batches", batch_size=50)
    with psycopg.connect(catalog_dsn) as conn:
        assert catalog_seed.seeded_prefix(conn, 1_000) == 137
        assert catalog_seed.seeded_prefix(conn, 137) == 137
        assert catalog_seed.seeded_prefix(conn, 100) == 100
        assert catalog_seed.seeded_prefix(conn, 0) == 0


def test_catalog_order_is_known_without_reading_it(catalog_dsn: str) -> None:
    catalog_seed.seed_products(lambda: psycopg.connect(catalog_dsn), 300)
    client = Client(catalog_dsn, who=None)
    try:
        page = client.get("/products", query={"limit": "3"})
    finally:
        client.close()
    assert page.status == 200
    newest = [catalog_seed.position_of(p, 300) for p in range(3)]
    assert [p["product_id"] for p in page.body["products"]] == [
        str(catalog_seed.product_id(n)) for n in newest
    ]


def test_the_seed_command_loads_products_through_the_guard_in_batches(catalog_dsn: str) -> None:
    from click.testing import CliRunner

    from ecommerce_ops.cli import main

    result = CliRunner().invoke(main, ["seed", "--dsn", catalog_dsn, "--products", "2500"])
    assert result.exit_code == 0, result.output
    assert "2,500 products loaded" in result.output
    assert count(catalog_dsn) == 2500 + 5  # and the five sample products
    again = CliRunner().invoke(main, ["seed", "--dsn", catalog_dsn, "--products", "2500"])
    assert "0 products loaded (2,500 already there" in again.output
