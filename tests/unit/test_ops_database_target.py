"""`ecommerce migrate|stock-buckets --dsn`: the DSQL guard by default where it exists (a checkout),
a direct connection in an operator's install (which has no laptop runtime)."""

from __future__ import annotations

import sys

import click
import pytest

from ecommerce_ops._database import connector

DSN = "host=/nonexistent dbname=shop"


def guarded_marker(dsn: str, **kwargs: object) -> object:
    return ("guarded", dsn)


def test_a_checkout_guards_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import ecommerce_dev.guarded

    monkeypatch.setattr(ecommerce_dev.guarded, "guarded_connector", guarded_marker)
    assert connector(dsn=DSN, guard=None, endpoint=None, region=None) == ("guarded", DSN)
    assert connector(dsn=DSN, guard=False, endpoint=None, region=None) != ("guarded", DSN)


def test_an_operators_install_connects_directly_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ecommerce_dev.guarded", None)  # import raises ImportError
    connect = connector(dsn=DSN, guard=None, endpoint=None, region=None)
    assert callable(connect) and connect != ("guarded", DSN)
    with pytest.raises(click.UsageError, match="leave out --guard"):
        connector(dsn=DSN, guard=True, endpoint=None, region=None)
