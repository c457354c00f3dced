"""Simulated Lambda execution environments for load: the real entry points, API Gateway events with
the Cognito authorizer's claims, and a Database wired to whatever connection path the caller chooses
(a latency proxy, a fault injector). Shared by the benchmarks (``bench/``) and ``make chaos``.

The authorizer runs once per identity (:func:`claims_for`): API Gateway caches its verdict, and its
cost is not the function's. Everything after it is what Lambda runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ecommerce_dev.apigw import LambdaContext, build_event, decode_result, match
from ecommerce_dev.identity import LocalIdentity
from handlers.contract import FUNCTIONS, SERVICE_NAME

Connector = Callable[[], psycopg.Connection[Any]]


def plain_connector(dsn: str, *, application_name: str = "ecommerce") -> Connector:
    """What the data layer opens on AWS, locally: plain psycopg (no DSQL guard), autocommit,
    REPEATABLE READ (DSQL's snapshot isolation), through the production ``make_connector``."""
    from handlers.db import DatabaseSettings, make_connector

    settings = DatabaseSettings(local_dsn=dsn, application_name=application_name)
    return make_connector(settings, connect_fn=psycopg.Connection.connect)


def claims_for(identity: LocalIdentity, email: str, *, operator: bool = False) -> dict[str, str]:
    """The claims API Gateway's Cognito authorizer hands the function for this identity's ID token."""
    token = identity.issue(email=email, operator=operator)
    return identity.verify(token)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    seconds: float

    @property
    def problem_type(self) -> str:
        if not isinstance(self.body, dict):
            return ""
        return str(self.body.get("type", "")).rsplit(":", 1)[-1]


@dataclass
class Environment:
    """One execution environment of each API function (own resolver, own reused connection)."""

    connector: Connector
    region: str = "us-east-1"
    database_options: Mapping[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        import importlib

        from handlers.db import Database

        self.handlers = {
            name: importlib.import_module(f"handlers.api.{name}").build(
                database=Database(connector=self.connector, **self.database_options), region=self.region
            )
            for name in FUNCTIONS
        }

    def databases(self) -> list[Any]:
        return [handler.database for handler in self.handlers.values()]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        claims: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Reply:
        """Invoke the function API Gateway would route to (the route must exist)."""
        found = match(method, path)
        if found is None or found.route is None:
            raise ValueError(f"no route for {method} {path}")
        raw = body if isinstance(body, str) or body is None else json.dumps(body)
        event = build_event(
            method=method,
            path=path,
            headers=[("Content-Type", "application/json"), *(headers or {}).items()],
            query=list((query or {}).items()),
            body=(raw or "").encode(),
            claims=claims,
        )
        context = LambdaContext(function_name=found.route.function, timeout_seconds=self.timeout_seconds)
        started = time.perf_counter()
        result = self.handlers[found.route.function](event, context)
        seconds = time.perf_counter() - started
        status, pairs, payload = decode_result(result)
        text = payload.decode()
        return Reply(status, dict(pairs), json.loads(text) if text else None, seconds)

    def close(self) -> None:
        for handler in self.handlers.values():
            handler.database.close()


def order_body(lines: list[tuple[str, int]]) -> dict[str, Any]:
    return {"items": [{"product_id": product, "quantity": quantity} for product, quantity in lines]}


class OutputSink(io.TextIOBase):
    """Swallows text, counting lines (Powertools' EMF metric lines and JSON logs end up here)."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def quiet_handlers() -> Iterator[OutputSink]:
    """Powertools prints metrics (EMF) and logs to stdout: keep both off the terminal while measuring
    or loading. The handlers still do the same work (serialize, write a line); only the destination
    changes. Progress and reports go to stderr or to the saved stdout."""
    sink = OutputSink()
    handlers = [h for h in logging.getLogger(SERVICE_NAME).handlers if isinstance(h, logging.StreamHandler)]
    saved_streams = [h.setStream(sink) for h in handlers]
    saved_stdout = sys.stdout
    sys.stdout = sink  # type: ignore[assignment]
    try:
        yield sink
    finally:
        sys.stdout = saved_stdout
        for handler, stream in zip(handlers, saved_streams, strict=True):
            handler.setStream(stream)
