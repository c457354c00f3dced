"""Drive the real Lambda entry points with API Gateway REST proxy events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import psycopg

from ecommerce_dev.apigw import (
    LambdaContext,
    build_event,
    match,
    method_not_allowed_result,
    missing_route_result,
)
from ecommerce_dev.guarded import guarded_database
from handlers.api import catalog, orders
from handlers.api.common import ApiHandler
from handlers.db import Database
from handlers.db.sample import JOHN, LAPTOP, MOUSE  # noqa: F401 - re-exported for the tests


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The event API Gateway would send: the dev server's translation, so tests and `make dev` agree."""
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    return build_event(
        method=method,
        path=path,
        headers=[("Content-Type", "application/json"), *(headers or {}).items()],
        query=list((query or {}).items()),
        body=(raw or "").encode(),
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def problem_type(self) -> str:
        return str(self.body["type"]).rsplit(":", 1)[-1]


class Client:
    """One simulated execution environment per API function (own resolver, own connection), the
    way Lambda scales: concurrency means more environments, never shared ones."""

    def __init__(self, dsn: str, *, region: str = "us-east-1", database: Database | None = None) -> None:
        def db() -> Database:
            return database or guarded_database(dsn)

        self.region = region
        self.handlers: dict[str, ApiHandler] = {
            "catalog": catalog.build(database=db(), region=region),
            "orders": orders.build(database=db(), region=region),
        }

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        found = match(method, path)
        if found is None:
            result = missing_route_result(self.region)  # API Gateway answers; no function runs
        elif found.function is None:
            result = method_not_allowed_result(found, self.region)
        else:
            event = api_event(method, path, body, **kwargs)
            result = self.handlers[found.function](event, LambdaContext(function_name=found.function))
        headers = {
            k: v[-1] if isinstance(v, list) else v for k, v in (result.get("multiValueHeaders") or {}).items()
        }
        headers.update(result.get("headers") or {})
        text = result.get("body") or ""
        return Reply(result["statusCode"], headers, json.loads(text) if text else None)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def order(self, items: list[tuple[str, int]], *, customer: str = JOHN, key: str | None = None) -> Reply:
        body = {"customer_id": customer, "items": [{"product_id": p, "quantity": q} for p, q in items]}
        return self.post("/orders", body, headers={"Idempotency-Key": key or str(uuid4())})

    def new_product(self, stock: int, price: str = "10.00", category: str = "Test") -> str:
        reply = self.post(
            "/products", {"name": "P", "price": price, "stock_quantity": stock, "category": category}
        )
        assert reply.status == 201, reply.body
        return str(reply.body["product_id"])

    def close(self) -> None:
        for handler in self.handlers.values():
            handler.database.close()


def stock(admin: psycopg.Connection, product_id: str) -> int:
    row = admin.execute("SELECT stock_quantity FROM products WHERE product_id = %s", (product_id,)).fetchone()
    assert row is not None
    return int(row[0])
