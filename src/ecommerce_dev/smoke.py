"""``ecommerce smoke``: the recipe's "Testing the Deployment" flow against any deployment.

Standard library only (urllib), so it runs wherever Python does: local ``ecommerce dev``, a regional
invoke URL (``…/prod``) or the CloudFront domain. Every step prints ✓/✗ with status and latency; a
failure says what to check instead of showing a traceback.
"""

from __future__ import annotations

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

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        url = self.base_url.rstrip("/") + path
        if not url.startswith(("http://", "https://")):
            raise StepFailed(f"{self.base_url!r} is not an http(s) URL")
        data = None if body is None else json.dumps(body).encode()
        sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
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


def run_smoke(
    base_url: str,
    second_url: str | None = None,
    *,
    timeout: float = 10.0,
    echo: Callable[[str], None] = print,
    opener: Callable[..., Any] = urllib.request.urlopen,
) -> bool:
    """Health, list, create product and customer, order (with replay), fetch (also via ``second_url``),
    cancel; True when every step passed. Creates a product, a customer and a cancelled order."""
    first = Client(base_url, timeout, opener)
    second = Client(second_url, timeout, opener) if second_url else None
    report = Report(echo)
    state: dict[str, Any] = {}
    key = str(uuid.uuid4())
    suffix = uuid.uuid4().hex[:10]

    def order() -> dict[str, Any]:
        return {
            "customer_id": state["customer_id"],
            "items": [{"product_id": state["product_id"], "quantity": 2}],
        }

    def health(client: Client) -> tuple[Reply, str]:
        reply = client.request("GET", "/health")
        body = expect(reply, 200, "status")
        return reply, f"database {body.get('database', '?')}"

    def list_products() -> tuple[Reply, str]:
        reply = first.request("GET", "/products?limit=5")
        return reply, f"{len(expect(reply, 200, 'products')['products'])} product(s)"

    def create_product() -> tuple[Reply, str]:
        product = {"name": f"Smoke {suffix}", "price": "9.99", "stock_quantity": 5, "category": "Smoke"}
        reply = first.request("POST", "/products", product)
        state["product_id"] = expect(reply, 201, "product_id")["product_id"]
        return reply, state["product_id"]

    def create_customer() -> tuple[Reply, str]:
        customer = {"email": f"smoke-{suffix}@example.com", "first_name": "Smoke", "last_name": "Test"}
        reply = first.request("POST", "/customers", customer)
        state["customer_id"] = expect(reply, 201, "customer_id")["customer_id"]
        return reply, state["customer_id"]

    def place_order() -> tuple[Reply, str]:
        reply = first.request("POST", "/orders", order(), {"Idempotency-Key": key})
        body = expect(reply, 201, "order_id", "status")
        state["order_id"] = body["order_id"]
        return reply, f"{body['order_id']} {body['status']} total {body.get('total_amount', '?')}"

    def replay_order() -> tuple[Reply, str]:
        reply = first.request("POST", "/orders", order(), {"Idempotency-Key": key})
        body = expect(reply, 201, "order_id")
        if body["order_id"] != state["order_id"]:
            raise StepFailed(
                f"a retry with the same Idempotency-Key created another order {body['order_id']}"
            )
        return reply, "same order (Idempotent-Replayed)"

    def fetch(client: Client) -> tuple[Reply, str]:
        reply = client.request("GET", f"/orders/{state['order_id']}")
        if reply.status == 404:
            raise StepFailed(
                f"order {state['order_id']} not found via {client.base_url}: not the same database?"
            )
        return reply, f"status {expect(reply, 200, 'status')['status']}"

    def cancel() -> tuple[Reply, str]:
        reply = first.request("POST", f"/orders/{state['order_id']}/cancel")
        body = expect(reply, 200, "status")
        if body["status"] != "cancelled":
            raise StepFailed(f"status {body['status']!r} after cancel")
        return reply, "cancelled, stock returned"

    echo(f"smoke test of {base_url}" + (f" and {second_url}" if second_url else ""))
    ready = report.step("health", lambda: health(first))
    if second is not None:
        ready = report.step("health (second)", lambda: health(second)) and ready
    if not ready:
        echo("smoke test FAILED: the API is not answering /health; later steps skipped")
        return False
    report.step("list products", list_products)
    flow = report.step("create product", create_product) and report.step("create customer", create_customer)
    if flow and report.step("place order", place_order):
        report.step("replay order (same Idempotency-Key)", replay_order)
        report.step("fetch order", lambda: fetch(first))
        if second is not None:
            report.step("fetch order via second URL", lambda: fetch(second))
        report.step("cancel order", cancel)
    echo("all steps passed" if report.ok else "smoke test FAILED")
    return report.ok
