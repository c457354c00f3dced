"""Hostile input answers 4xx, never 5xx, with a specific problem type (each case was a 500 or an
accepted request once). Through the Lambda entry points, exactly as API Gateway hands them over."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import uuid4

import pytest

from api_support import JOHN, JOHN_EMAIL, LAPTOP, OPERATOR, Client, api_event
from ecommerce_dev.apigw import LambdaContext
from handlers import contract

BODY_ROUTES = [(r.method, r.path) for r in contract.ROUTES if r.body]
PRODUCT = {"name": "Lamp", "price": "12.50", "stock_quantity": 3, "category": "Home"}
VALID = {
    "/products": PRODUCT,
    "/products/{product_id}": {"price": "11.00"},
    "/customers": {"email": "new@example.com", "first_name": "A", "last_name": "B"},
    "/orders": {"customer_id": JOHN, "items": [{"product_id": LAPTOP, "quantity": 1}]},
}


CALLERS = {"/customers": "new@example.com"}


def concrete(path: str) -> str:
    return path.replace("{product_id}", LAPTOP)


def raw(
    client: Client, method: str, path: str, body: str | bytes, content_type: str | None
) -> dict[str, Any]:
    """Send exactly these bytes with this Content-Type (or none), as API Gateway would."""
    headers = [("Idempotency-Key", str(uuid4()))] + ([("Content-Type", content_type)] if content_type else [])
    event = api_event(method, path)
    event["headers"] = dict(headers)
    event["multiValueHeaders"] = {k: [v] for k, v in headers}
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body, False
    # Signed in as someone each route lets through, so the body is what is judged.
    who = OPERATOR if path.startswith("/products") else CALLERS.get(path, JOHN_EMAIL)
    event["requestContext"]["authorizer"] = {"claims": client.claims(who)}
    function = "orders" if path.startswith("/orders") else "catalog"
    result = client.handlers[function](event, LambdaContext(function_name=function))
    result["json"] = json.loads(result["body"]) if result.get("body") else None
    return result


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data", "application/x-www-form-urlencoded", None],
)
def test_bodies_that_are_not_json_are_415(
    client: Client, method: str, path: str, content_type: str | None
) -> None:
    result = raw(client, method, concrete(path), json.dumps(VALID[path]), content_type)
    assert result["statusCode"] == 415, result["body"]
    assert result["json"]["type"].endswith(":unsupported-media-type")
    assert result["headers"]["Content-Type"] == "application/problem+json"


def test_a_multipart_form_creates_nothing(client: Client, admin: Any) -> None:
    before = admin.execute("SELECT count(*) FROM products").fetchone()[0]
    form = b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nSneaky\r\n--x--\r\n'
    result = raw(client, "POST", "/products", form, "multipart/form-data; boundary=x")
    assert result["statusCode"] == 415
    assert admin.execute("SELECT count(*) FROM products").fetchone()[0] == before


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "application/json; charset=utf-8", "Application/Json"]
)
def test_json_media_types_compare_case_insensitively(client: Client, content_type: str) -> None:
    result = raw(client, "POST", "/products", json.dumps(PRODUCT), content_type)
    assert result["statusCode"] == 201, result["body"]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_invalid_utf8_is_400(client: Client, method: str, path: str) -> None:
    result = raw(client, method, concrete(path), b'{"name": "\xff"}', "application/json")
    assert result["statusCode"] == 400, result["body"]
    assert result["json"]["type"].endswith(":malformed-body")


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize(
    "body", ["[" * 20_000, '{"a":' * 20_000, "[" * 40 + "]" * 40, "NaN", '{"price": Infinity}']
)
def test_absurd_json_is_400(client: Client, method: str, path: str, body: str) -> None:
    result = raw(client, method, concrete(path), body, "application/json")
    assert result["statusCode"] == 400, result["body"]
    assert result["json"]["type"].endswith(":malformed-json")


def test_an_email_that_grows_when_lower_cased_is_422_not_500(client: Client) -> None:
    email = "İ" * 160 + "@a.io"  # 165 characters; lower-cased 325, over the column's 320
    reply = client.post("/customers", {"email": email, "first_name": "A", "last_name": "B"})
    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.body["errors"]] == ["email"]


@pytest.mark.parametrize("email", [" a@b.io", "a@b.io ", "a b@c.io", "a\x00@b.io"])
def test_emails_are_taken_as_written_or_refused(client: Client, email: str) -> None:
    reply = client.post("/customers", {"email": email, "first_name": "A", "last_name": "B"})
    assert reply.status == 422
    assert [e["field"] for e in reply.body["errors"]] == ["email"]


@pytest.mark.parametrize(
    "identifier",
    [f"urn:uuid:{LAPTOP}", "{" + LAPTOP + "}", LAPTOP.replace("-", ""), LAPTOP + " ", "0x1"],
)
def test_only_canonical_uuids_name_resources(client: Client, identifier: str) -> None:
    reply = client.get(f"/products/{identifier}")
    assert reply.status == 422
    assert [e["field"] for e in reply.body["errors"]] == ["product_id"]


@pytest.mark.parametrize("limit", ["5.0", " 5", "05", "1e1", "-1", "0", "101", ""])
def test_page_sizes_are_plain_integers(client: Client, limit: str) -> None:
    reply = client.get("/products", query={"limit": limit})
    assert reply.status == 422
    assert [e["field"] for e in reply.body["errors"]] == ["limit"]


def test_integers_may_be_written_with_a_zero_fraction_but_never_as_strings(client: Client) -> None:
    """JSON Schema's integer includes 5.0; a string "5" is not an integer."""
    assert client.post("/products", {**PRODUCT, "stock_quantity": 5.0}, who=OPERATOR).status == 201
    assert client.post("/products", {**PRODUCT, "stock_quantity": "5"}, who=OPERATOR).status == 422
    assert client.post("/products", {**PRODUCT, "stock_quantity": 5.5}, who=OPERATOR).status == 422
    assert client.post("/products", {**PRODUCT, "stock_quantity": True}, who=OPERATOR).status == 422


@pytest.mark.parametrize(
    ("price", "status", "stored"),
    [
        ("19.99", 201, "19.99"),
        (19.99, 201, "19.99"),
        (0.5700000000000001, 422, None),  # 57 * 0.01 in binary floating point: not a multiple of 0.01
        (-2.6e-33, 422, None),  # found by schemathesis: rounding it would have made it 0.00
        (1.005, 422, None),
        ("1.005", 422, None),
        ("1e2", 422, None),
        (" 1.00", 422, None),
        ("99999999.99", 201, "99999999.99"),
        ("100000000.00", 422, None),
        (-1, 422, None),
        (True, 422, None),
    ],
)
def test_prices(client: Client, price: object, status: int, stored: str | None) -> None:
    reply = client.post("/products", {**PRODUCT, "price": price}, who=OPERATOR)
    assert reply.status == status, reply.body
    if stored is not None:
        assert reply.body["price"] == stored


def test_head_answers_like_get_without_a_body(client: Client) -> None:
    for path in ("/products", f"/products/{LAPTOP}", "/health", f"/customers/{JOHN}"):
        get, head = client.get(path), client.request("HEAD", path)
        assert head.status == get.status == 200
        assert head.body is None
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert client.request("HEAD", f"/products/{uuid4()}").status == 404


# Fixed, so that every xdist worker collects the same test ids.
UNKNOWN_ORDER = "5f0c2b8e-1d4a-4c57-9a3e-7b2f6d1e0a94"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/products", "GET, HEAD, POST"),
        ("DELETE", "/orders", "POST"),
        ("GET", "/orders", "POST"),
        ("PATCH", f"/orders/{UNKNOWN_ORDER}", "GET, HEAD"),
        ("OPTIONS", "/health", "GET, HEAD"),
        ("GET", f"/orders/{UNKNOWN_ORDER}/cancel", "POST"),
    ],
)
def test_wrong_methods_are_405_with_allow(client: Client, method: str, path: str, allow: str) -> None:
    reply = client.request(method, path)
    assert reply.status == 405
    assert reply.headers["Allow"] == allow
    assert reply.problem_type == "method-not-allowed"
    assert reply.headers["X-Serving-Region"] == "us-east-1"


@pytest.mark.parametrize("path", ["/", "/nope", "/products/a/b", "//products", "/products/", "/health/x"])
def test_unknown_paths_are_404_problems(client: Client, path: str) -> None:
    reply = client.get(path)
    assert (reply.status, reply.problem_type) == (404, "route-not-found")
    assert reply.headers["Content-Type"] == "application/problem+json"
