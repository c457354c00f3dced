"""``ecommerce smoke``: the recipe's "Testing the Deployment" flow against any deployment, as an
anonymous visitor, a customer and (optionally) an operator.

Standard library only (urllib), so it runs wherever Python does: local ``ecommerce dev``, a regional
invoke URL (``…/prod``) or the CloudFront domain. Every step prints ✓/✗ with status and latency; a
failure says what to check instead of showing a traceback.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "ecommerce-smoke/1"


class StepFailed(Exception):
    """A step did not get the answer it needs; the message is the report line's detail."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    ms: float

    @property
    def region(self) -> str:
        return self.headers.get("x-serving-region", "?")


@dataclass
class Client:
    base_url: str
    timeout: float = 10.0
    opener: Callable[..., Any] = field(default=urllib.request.urlopen)
    #: Sent with every request (a regional API behind the edge wants the origin secret header).
    headers: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        url = self.base_url.rstrip("/") + path
        if not url.startswith(("http://", "https://")):
            raise StepFailed(f"{self.base_url!r} is not an http(s) URL")
        data = None if body is None else json.dumps(body).encode()
        sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **self.headers, **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=sent)  # noqa: S310 - checked above
        started = time.perf_counter()
        try:
            with self.opener(request, timeout=self.timeout) as response:
                status, raw, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), error.headers
        except (urllib.error.URLError, OSError) as error:
            raise StepFailed(describe_network_error(url, error, self.timeout)) from None
        ms = (time.perf_counter() - started) * 1000
        return Reply(status, {k.lower(): v for k, v in got.items()}, _parse(raw), ms)


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:200]


def describe_network_error(url: str, error: BaseException, timeout: float) -> str:
    """One line saying what went wrong on the way to ``url`` and what to check."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    host = urlsplit(url).netloc
    if isinstance(reason, ConnectionRefusedError):
        return (
            f"connection refused by {host}: nothing listens there (is `ecommerce dev` running? right port?)"
        )
    if isinstance(reason, socket.gaierror):
        name = host.split(":")[0]
        return f"cannot resolve {name} (DNS): check the URL (`ecommerce outputs` lists the deployed ones)"
    if isinstance(reason, TimeoutError | socket.timeout) or "timed out" in str(reason):
        return f"no answer from {host} within {timeout:g}s (timeout): check the URL and your network"
    if isinstance(reason, ssl.SSLError):
        return f"TLS handshake with {host} failed: {reason}"
    return f"cannot reach {host}: {reason}"


def describe_unexpected(reply: Reply, expected: int) -> str:
    """Why a status is wrong: problem+json title/detail, API Gateway's message, or a hint for 403."""
    body = reply.body
    if isinstance(body, dict) and "title" in body:
        text = f"{body['title']}: {body.get('detail', '')}".rstrip(": ")
    elif isinstance(body, dict) and "message" in body:
        text = str(body["message"])
    else:
        text = str(body or "(empty body)")[:200]
    hint = ""
    if reply.status == 403:
        hint = (
            " (403 from API Gateway/CloudFront: a wrong path or missing stage /prod in the URL, or a WAF or "
            "credentials rule rejected the request)"
        )
    return f"expected {expected}, got {reply.status}: {text}{hint}"


def expect(reply: Reply, status: int, *keys: str) -> Any:
    if reply.status != status:
        raise StepFailed(describe_unexpected(reply, status))
    body = reply.body
    missing = [key for key in keys if not isinstance(body, dict) or key not in body]
    if missing:
        raise StepFailed(f"status {reply.status} but the body lacks {', '.join(missing)}: {str(body)[:200]}")
    return body


class Report:
    """Prints one line per step and remembers whether every step passed."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.ok = True

    def step(self, name: str, action: Callable[[], tuple[Reply, str]]) -> bool:
        try:
            reply, note = action()
        except StepFailed as failure:
            self.ok = False
            self.echo(f"✗ {name:<38} {failure}")
            return False
        self.echo(f"✓ {name:<38} {reply.status}  {reply.ms:7.1f} ms  [{reply.region}] {note}".rstrip())
        return True


def token_email(token: str) -> str | None:
    """The email claim of an ID token, read without verifying it (the API verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return email if isinstance(email, str) else None


def run_smoke(
    base_url: str,
    second_url: str | None = None,
    *,
    token: str | None = None,
    operator_token: str | None = None,
    timeout: float = 10.0,
    echo: Callable[[str], None] = print,
    opener: Callable[..., Any] = urllib.request.urlopen,
    second_headers: dict[str, str] | None = None,
) -> bool:
    """The shop's flow, as each kind of caller meets it; True when every step passed.

    Anonymous: health, list products, and a catalog write that must be refused (401). With
    ``operator_token``: create a product (retired at the end). With ``token`` (a customer's ID
    token): the customer's profile (created if missing), a refused catalog write (403), an order
    (with replay), fetched in both regions, cancelled. Without a token the protected flow is
    reported as skipped and the run fails: a smoke test that cannot order proves little.
    ``second_headers`` go with every request to ``second_url`` (the origin secret, when that is a
    regional API behind the edge).
    """
    first = Client(base_url, timeout, opener)
    second = Client(second_url, timeout, opener, dict(second_headers or {})) if second_url else None
    report = Report(echo)
    state: dict[str, Any] = {}
    key = str(uuid.uuid4())
    suffix = uuid.uuid4().hex[:10]
    customer = {"Authorization": f"Bearer {token}"} if token else {}
    operator = {"Authorization": f"Bearer {operator_token}"} if operator_token else {}
    product = {"name": f"Smoke {suffix}", "price": "9.99", "stock_quantity": 5, "category": "Smoke"}

    def order() -> dict[str, Any]:
        return {"items": [{"product_id": state["product_id"], "quantity": 2}]}

    def health(client: Client) -> tuple[Reply, str]:
        reply = client.request("GET", "/health")
        body = expect(reply, 200, "status")
        return reply, f"database {body.get('database', '?')}"

    def list_products() -> tuple[Reply, str]:
        reply = first.request("GET", "/products?limit=20")
        products = expect(reply, 200, "products")["products"]
        # Without an operator, the customer orders an existing product that has stock for it.
        stocked = [p for p in products if p.get("stock_quantity", 0) >= 2]
        if stocked:
            state.setdefault("product_id", stocked[0]["product_id"])
        return reply, f"{len(products)} product(s)"

    def refused(headers: dict[str, str], status: int, why: str) -> tuple[Reply, str]:
        reply = first.request("POST", "/products", product, headers)
        expect(reply, status)
        return reply, why

    def create_product() -> tuple[Reply, str]:
        reply = first.request("POST", "/products", product, operator)
        state["product_id"] = state["own_product"] = expect(reply, 201, "product_id")["product_id"]
        return reply, state["product_id"]

    def profile() -> tuple[Reply, str]:
        reply = first.request("GET", "/customers/me", headers=customer)
        if reply.status == 404:
            email = token_email(token or "")
            if email is None:
                raise StepFailed("the token has no email claim: give an ID token, not an access token")
            body = {"email": email, "first_name": "Smoke", "last_name": "Test"}
            reply = first.request("POST", "/customers", body, customer)
            return reply, f"created {expect(reply, 201, 'customer_id')['customer_id']}"
        return reply, f"existing {expect(reply, 200, 'customer_id')['customer_id']}"

    def place_order() -> tuple[Reply, str]:
        if "product_id" not in state:
            raise StepFailed("no product with stock to order: give --operator-token to create one")
        reply = first.request("POST", "/orders", order(), {"Idempotency-Key": key, **customer})
        body = expect(reply, 201, "order_id", "status")
        state["order_id"] = body["order_id"]
        return reply, f"{body['order_id']} {body['status']} total {body.get('total_amount', '?')}"

    def replay_order() -> tuple[Reply, str]:
        reply = first.request("POST", "/orders", order(), {"Idempotency-Key": key, **customer})
        body = expect(reply, 201, "order_id")
        if body["order_id"] != state["order_id"]:
            raise StepFailed(
                f"a retry with the same Idempotency-Key created another order {body['order_id']}"
            )
        return reply, "same order (Idempotent-Replayed)"

    def fetch(client: Client) -> tuple[Reply, str]:
        reply = client.request("GET", f"/orders/{state['order_id']}", headers=customer)
        if reply.status == 404:
            raise StepFailed(
                f"order {state['order_id']} not found via {client.base_url}: not the same database?"
            )
        return reply, f"status {expect(reply, 200, 'status')['status']}"

    def cancel() -> tuple[Reply, str]:
        reply = first.request("POST", f"/orders/{state['order_id']}/cancel", headers=customer)
        body = expect(reply, 200, "status")
        if body["status"] != "cancelled":
            raise StepFailed(f"status {body['status']!r} after cancel")
        return reply, "cancelled, stock returned"

    def retire() -> tuple[Reply, str]:
        reply = first.request("DELETE", f"/products/{state['own_product']}", headers=operator)
        expect(reply, 204)
        return reply, "the smoke product is retired"

    echo(f"smoke test of {base_url}" + (f" and {second_url}" if second_url else ""))
    ready = report.step("health", lambda: health(first))
    if second is not None:
        ready = report.step("health (second)", lambda: health(second)) and ready
    if not ready:
        echo("smoke test FAILED: the API is not answering /health; later steps skipped")
        return False
    report.step("anonymous catalog write refused", lambda: refused({}, 401, "401 as it must be"))
    if operator_token:
        report.step("create product (operator)", create_product)
    report.step("list products", list_products)
    if token:
        report.step("customer catalog write refused", lambda: refused(customer, 403, "403 as it must be"))
        if report.step("customer profile", profile) and report.step("place order", place_order):
            report.step("replay order (same Idempotency-Key)", replay_order)
            report.step("fetch order", lambda: fetch(first))
            if second is not None:
                report.step("fetch order via second URL", lambda: fetch(second))
            report.step("cancel order", cancel)
    else:
        report.ok = False
        echo("✗ customer flow                          skipped: give --token (a customer's ID token)")
    if "own_product" in state:
        report.step("retire product (operator)", retire)
    echo("all steps passed" if report.ok else "smoke test FAILED")
    return report.ok
