"""Fixtures for API tests: one migrated database with the sample data per session."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from api_support import Client
from ecommerce_dev.engine import LocalEngine
from handlers.db.migrate import apply_migrations


def migrated_database(engine: LocalEngine, name: str) -> str:
    dsn = engine.create_database(name)
    apply_migrations(
        lambda: engine.connect(dsn=dsn, autocommit=True), include_sample_data=True, poll_interval=0.01
    )
    return dsn


@pytest.fixture(scope="session")
def shop_dsn(local_engine: LocalEngine) -> str:
    return migrated_database(local_engine, "shop_api")


@pytest.fixture
def client(shop_dsn: str) -> Iterator[Client]:
    api = Client(shop_dsn)
    yield api
    api.close()


@pytest.fixture
def admin(shop_dsn: str) -> Iterator[psycopg.Connection]:
    """An unguarded connection for assertions only (never used by the code under test)."""
    with psycopg.connect(shop_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(params=["cte", "pipelined"])
def order_strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per order strategy (the functions read it from the environment)."""
    monkeypatch.setenv("ORDER_STRATEGY", request.param)
    return str(request.param)
