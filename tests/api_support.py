"""Drive the real Lambda entry points with API Gateway REST proxy events."""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg

from ecommerce_dev.apigw import (
    LambdaContext,
    authorize,
    build_event,
    match,
    method_not_allowed_result,
    missing_route_result,
    unauthorized_result,
)
from ecommerce_dev.guarded import guarded_database
from ecommerce_dev.identity import LocalIdentity, Unauthorized
from handlers.api import browse, catalog, orders
from handlers.api.handler import ApiHandler
from handlers.db import Database
from handlers.db.sample import JANE, JOHN, LAPTOP, MOUSE  # noqa: F401 - re-exported for the tests

JOHN_EMAIL = "john.doe@example.com"
JANE_EMAIL = "jane.smith@example.com"
#: ``who`` of an operator; None is an anonymous caller.
OPERATOR = "operator@example.com"


def is_operator(email: str) -> bool:
    """Test identities whose email starts with "operator" sign in to the operators' pool."""
    return email.startswith("operator")


#: A customer-pool identity whose token says ``cognito:groups: operators`` (which grants nothing).
GROUPED_PREFIX = "grouped-"
#: A customer-pool identity whose email the pool has not verified.
UNVERIFIED_PREFIX = "unverified-"


def issue_for(identity: LocalIdentity, who: str) -> str:
    """The token of a test identity: its email's prefix says which pool and which claims."""
    return identity.issue(
        email=who,
        operator=is_operator(who),
        groups=("operators",) if who.startswith(GROUPED_PREFIX) else (),
        email_verified=not who.startswith(UNVERIFIED_PREFIX),
    )


_DEFAULT: Any = object()
_TOKENS: dict[tuple[Any, str], str] = {}


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    query: dict[str, str] | None = None,
    claims: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The event API Gateway would send: the dev server's translation, so tests and `make dev` agree."""
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    return build_event(
        method=method,
        path=path,
        headers=[("Content-Type", "application/json"), *(headers or {}).items()],
        query=list((query or {}).items()),
        body=(raw or "").encode(),
        claims=claims,
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def problem_type(self) -> str:
        return str(self.body["type"]).rsplit(":", 1)[-1]


@functools.cache
def test_identity() -> LocalIdentity:
    """The local user pool of this test session (a key of its own, outside the repository)."""
    return LocalIdentity.open(Path(tempfile.mkdtemp(prefix="ecommerce-identity-")))


class Client:
    """One simulated execution environment per API function (own resolver, own connection), the
    way Lambda scales: concurrency means more environments, never shared ones.

    Requests pass API Gateway's checks first, as deployed: routing, then the Cognito authorizer
    (tokens of the local user pool). ``who`` is the caller: an email (a customer; the sample
    customers' emails are those customers), ``OPERATOR``, or None (anonymous) [John].
    """

    def __init__(
        self,
        dsn: str,
        *,
        identity: LocalIdentity | None = None,
        region: str = "us-east-1",
        database: Database | None = None,
        who: str | None = JOHN_EMAIL,
    ) -> None:
        def db() -> Database:
            return database or guarded_database(dsn)

        self.region = region
        self.identity = identity or test_identity()
        self.who = who
        self.handlers: dict[str, ApiHandler] = {
            "browse": browse.build(database=db(), region=region),
            "catalog": catalog.build(database=db(), region=region),
            "orders": orders.build(database=db(), region=region),
        }

    def as_(self, who: str | None) -> Client:
        """The same environments, another caller."""
        other = copy.copy(self)
        other.who = who
        return other

    def token(self, who: str | None) -> str | None:
        if who is None:
            return None
        # Issued once per caller and pool (valid an hour): signing is the slow part.
        key = (self.identity.directory, who)
        if key not in _TOKENS:
            _TOKENS[key] = issue_for(self.identity, who)
        return _TOKENS[key]

    def claims(self, who: str | None) -> dict[str, str] | None:
        """What API Gateway's authorizer hands the function for this caller's token."""
        token = self.token(who)
        return None if token is None else self.identity.verify(token)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        who: str | None = _DEFAULT,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Reply:
        token = self.token(self.who if who is _DEFAULT else who)
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        found = match(method, path)
        if found is None:
            result = missing_route_result(self.region)  # API Gateway answers; no function runs
        elif found.route is None:
            result = method_not_allowed_result(found, self.region)
        else:
            try:
                claims = authorize(found.route, list(headers.items()), self.identity)
            except Unauthorized as refused:
                result = unauthorized_result(refused.message, self.region)
            else:
                event = api_event(method, path, body, headers=headers, claims=claims, **kwargs)
                result = self.invoke(found.route.function, event)
        return reply_of(result)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """The function alone, as if API Gateway had passed the event on (no authorizer)."""
        return self.handlers[function](event, LambdaContext(function_name=function))

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def order(
        self,
        items: list[tuple[str, int]],
        *,
        customer: str | None = None,
        key: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        """An order by the caller; ``customer`` puts a customer_id in the body (it must be theirs)."""
        body: dict[str, Any] = {"items": [{"product_id": p, "quantity": q} for p, q in items]}
        if customer is not None:
            body["customer_id"] = customer
        return self.post("/orders", body, headers={"Idempotency-Key": key or str(uuid4())}, **kwargs)

    def new_product(self, stock: int, price: str = "10.00", category: str = "Test", buckets: int = 1) -> str:
        body = {"name": "P", "price": price, "stock_quantity": stock, "category": category}
        if buckets != 1:
            body["stock_buckets"] = buckets
        reply = self.post("/products", body, who=OPERATOR)
        assert reply.status == 201, reply.body
        return str(reply.body["product_id"])

    def new_customer(self, email: str | None = None) -> tuple[Client, str]:
        """A new identity with its profile: (its client, its customer_id)."""
        email = email or f"{uuid4().hex[:12]}@example.com"
        customer = self.as_(email)
        created = customer.post("/customers", {"email": email, "first_name": "N", "last_name": "C"})
        assert created.status == 201, created.body
        return customer, str(created.body["customer_id"])

    def close(self) -> None:
        for handler in self.handlers.values():
            handler.database.close()


def reply_of(result: Mapping[str, Any]) -> Reply:
    headers = {
        k: v[-1] if isinstance(v, list) else v for k, v in (result.get("multiValueHeaders") or {}).items()
    }
    headers.update(result.get("headers") or {})
    text = result.get("body") or ""
    return Reply(result["statusCode"], headers, json.loads(text) if text else None)


def stock(admin: psycopg.Connection, product_id: str) -> int:
    """The product's total: its row plus its buckets (migration 0007)."""
    row = admin.execute(
        "SELECT p.stock_quantity + coalesce((SELECT sum(b.quantity) FROM product_stock_buckets AS b "
        "WHERE b.product_id = p.product_id), 0) FROM products AS p WHERE p.product_id = %s",
        (product_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])
