"""Who may call what: the route x caller matrix, generated from ``handlers.contract.ROUTES``.

The access column of that table is also what the OpenAPI security (tests/unit/test_openapi.py) and
the API Gateway authorizers (tests/infra/test_stacks.py) are checked against, so the three cannot
drift apart. A case is one request by one caller against a fresh little world: customers A and B,
each with a profile and an order, an operator with a profile, a product.

Besides those: a customer whose token says ``cognito:groups: operators`` (a group in the customers'
pool grants nothing: operators are the operators' pool's users), and a customer whose email the
pool has not verified (may not create a profile, so has none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from handlers import contract

ANONYMOUS, CUSTOMER_A, CUSTOMER_B, OPERATOR = "anonymous", "customer A", "customer B", "operator"
GROUPED = "customer in an operators group"
UNVERIFIED = "customer with an unverified email"
CALLERS = (ANONYMOUS, CUSTOMER_A, CUSTOMER_B, OPERATOR, GROUPED, UNVERIFIED)
# Email prefixes the test token issuers read (tests/api_support.py issue_for).
PREFIX = {OPERATOR: "operator-", GROUPED: "grouped-", UNVERIFIED: "unverified-"}

# Operations on a resource that belongs to customer A (the world's A): B must not learn it exists.
OWNED_BY_A = frozenset({"get_customer", "list_customer_orders", "get_order", "cancel_order"})
# Operations that act on the caller's own identity, whoever that is: each caller gets a fresh one.
OWN_IDENTITY = frozenset({"create_customer", "get_my_customer", "place_order"})
SUCCESS = {"POST": 201, "DELETE": 204}


@dataclass(frozen=True)
class World:
    """Emails are identities (the same email, the same subject); their prefix says the kind
    (operators' pool, a grouped or an unverified customer)."""

    a: str
    b: str
    operator: str
    grouped: str
    unverified: str
    a_customer: str
    a_order: str
    product: str

    def who(self, caller: str, *, fresh: bool = False) -> str | None:
        if caller == ANONYMOUS:
            return None
        if fresh:  # an identity with no profile yet, of the same kind
            return f"{PREFIX.get(caller, '')}{uuid4().hex[:12]}@example.com"
        return {
            CUSTOMER_A: self.a,
            CUSTOMER_B: self.b,
            OPERATOR: self.operator,
            GROUPED: self.grouped,
            UNVERIFIED: self.unverified,
        }[caller]


@dataclass(frozen=True)
class Case:
    operation: str
    method: str  # HEAD for the HEAD twin of a GET route
    caller: str

    @property
    def route(self) -> contract.Route:
        return contract.route(self.operation)

    @property
    def id(self) -> str:
        return f"{self.method} {self.operation} as {self.caller}"

    def expected(self) -> int:
        """The status this caller gets: what the access column and ownership say."""
        access = self.route.access
        success = (
            200
            if self.method == "HEAD" or self.operation == "cancel_order"
            else SUCCESS.get(self.method, 200)
        )
        if access == contract.ANONYMOUS:
            return success
        if self.caller == ANONYMOUS:
            return 401  # API Gateway's authorizer, or the handler if the gateway were bypassed
        if access == contract.OPERATOR:
            return success if self.caller == OPERATOR else 403
        if self.operation in OWNED_BY_A and self.caller in (CUSTOMER_B, GROUPED, UNVERIFIED):
            return 404  # another customer's: not found, whether or not it exists
        if self.caller == UNVERIFIED:
            # No profile, and no way to make one: the email is not verified.
            return {"create_customer": 403, "get_my_customer": 404, "place_order": 422}.get(
                self.operation, success
            )
        return success

    def request(self, world: World) -> tuple[str, str, Any, dict[str, str], str | None]:
        """(method, path, body, headers, who)."""
        fresh = self.operation in OWN_IDENTITY and self.operation != "get_my_customer"
        who = world.who(self.caller, fresh=fresh)
        if self.operation == "get_my_customer":
            who = world.who(self.caller)
        path = self.route.path.format(
            product_id=world.product, customer_id=world.a_customer, order_id=world.a_order
        )
        body: Any = None
        headers: dict[str, str] = {}
        if self.operation == "create_product":
            body = {"name": "Matrix", "price": "1.00", "stock_quantity": 5, "category": "authz"}
        elif self.operation == "update_product":
            body = {"stock_quantity": 7}
        elif self.operation == "create_customer":
            body = {"email": who or "nobody@example.com", "first_name": "M", "last_name": "X"}
        elif self.operation == "place_order":
            body = {"items": [{"product_id": world.product, "quantity": 1}]}
            headers = {"Idempotency-Key": str(uuid4())}
        return self.method, path, body, headers, who


def cases() -> list[Case]:
    found = []
    for route in contract.ROUTES:
        for method in (route.method, "HEAD") if route.method == "GET" else (route.method,):
            found += [Case(route.operation, method, caller) for caller in CALLERS]
    return found


def needs_profile_first(case: Case) -> bool:
    """place_order by a fresh identity needs its profile first (created before the request); an
    unverified one cannot have one."""
    return case.operation == "place_order" and case.caller not in (ANONYMOUS, UNVERIFIED)


Send = Callable[[str, str, Any, dict[str, str], "str | None"], tuple[int, Any]]


def build_world(send: Send) -> World:
    """Through the API itself: profiles for A, B, the operator and the grouped customer, a product,
    one order of A's; the unverified customer has no profile."""
    stamp = uuid4().hex[:10]
    a, b, operator = f"a-{stamp}@example.com", f"b-{stamp}@example.com", f"operator-{stamp}@example.com"
    grouped, unverified = f"grouped-{stamp}@example.com", f"unverified-{stamp}@example.com"
    profiles = {}
    for email in (a, b, operator, grouped):
        status, body = send(
            "POST", "/customers", {"email": email, "first_name": "W", "last_name": "X"}, {}, email
        )
        assert status == 201, body
        profiles[email] = body["customer_id"]
    product = {"name": "World", "price": "2.50", "stock_quantity": 100, "category": "authz"}
    status, body = send("POST", "/products", product, {}, operator)
    assert status == 201, body
    product_id = body["product_id"]
    order = {"items": [{"product_id": product_id, "quantity": 1}]}
    status, body = send("POST", "/orders", order, {"Idempotency-Key": str(uuid4())}, a)
    assert status == 201, body
    return World(a, b, operator, grouped, unverified, profiles[a], body["order_id"], product_id)


def run_case(case: Case, send: Send) -> tuple[int, Any]:
    world = build_world(send)
    method, path, body, headers, who = case.request(world)
    if needs_profile_first(case):
        status, created = send(
            "POST", "/customers", {"email": who, "first_name": "F", "last_name": "P"}, {}, who
        )
        assert status == 201, created
    return send(method, path, body, headers, who)
