"""Shared fixtures: one embedded, DSQL-guarded PostgreSQL per test session."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecommerce_dev.engine import LocalEngine


@pytest.fixture(scope="session")
def local_engine() -> Iterator[LocalEngine]:
    """A started LocalEngine (durable=False: tests need speed, not crash safety).

    The data lives outside pytest's basetemp: a concurrent pytest run chmods /tmp/pytest-of-<user>
    to 0700, which would lock the unprivileged server user out of its own data directory.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="dsql-engine-"))
    try:
        engine = LocalEngine.start(data_dir, durable=False)
        yield engine
        engine.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def fresh_dsn(local_engine: LocalEngine) -> str:
    """Conninfo of a brand-new empty database (with the sys.jobs emulation) on the session server."""
    return local_engine.create_database(f"test_{secrets.token_hex(6)}")
