"""Shared fixtures (one embedded, DSQL-guarded PostgreSQL per worker) and the time budget.

Under pytest-xdist each worker is its own session: it starts its own server on a data directory of
its own (unix socket only, so no port to collide on). At the end, the controller prints the time
spent per area against its budget (tests/areas.py) and the slowest tests.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from areas import report_budget
from ecommerce_dev.engine import LocalEngine


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller reports
        return
    wall = time.monotonic() - config.stash.get(_STARTED, time.monotonic())
    report_budget(terminalreporter, wall)


_STARTED = pytest.StashKey[float]()


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
