"""Every endpoint's happy and error paths, through the Lambda entry points, on the guarded engine."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import psycopg
import pytest

from api_support import JANE, JOHN, LAPTOP, MOUSE, OPERATOR, Client, stock
from handlers.shop.domain import MAX_ORDER_LINES

# Every order, cancel, idempotency and concurrency test runs with both order strategies.
# Only what places or cancels orders runs once per order strategy (the strategies differ in
# nothing else); each such test is marked @orders.
orders = pytest.mark.usefixtures("order_strategy")

# ---- catalog ------------------------------------------------------------------------------------


def test_list_products_recipe_shape_and_region_header(client: Client) -> None:
    reply = client.get("/products")
    assert reply.status == 200
    assert reply.headers["X-Serving-Region"] == "us-east-1"
    # The sample laptop, wherever products other tests of this session added put it.
    reply = client.get("/products", query={"category": "Electronics", "limit": "100"})
    product = next(p for p in reply.body["products"] if p["product_id"] == LAPTOP)
    assert product["price"] == "999.99"
    assert product["currency"] == "USD"
    assert set(product) >= {"product_id", "name", "description", "price", "stock_quantity", "category"}


def test_keyset_paging_visits_every_product_once(client: Client) -> None:
    category = f"paging-{uuid4().hex[:8]}"
    created = {client.new_product(1, category=category) for _ in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "3", "category": category, **({"cursor": cursor} if cursor else {})}
        page = client.get("/products", query=query)
        assert page.status == 200, page.body
        seen += [p["product_id"] for p in page.body["products"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and set(seen) == created
    # Newest first: the last created product leads the first page.
    assert [len(seen[i : i + 3]) for i in (0, 3, 6)] == [3, 3, 1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "!!"}, "cursor"),
    ],
)
def test_bad_paging_parameters(client: Client, query: dict[str, str], field: str) -> None:
    reply = client.get("/products", query=query)
    assert reply.status in (400, 422)
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert field in {e["field"] for e in reply.body["errors"]}


def test_cursor_of_another_filter_is_rejected(client: Client) -> None:
    category = f"c-{uuid4().hex[:8]}"
    for _ in range(2):
        client.new_product(1, category=category)
    cursor = client.get("/products", query={"limit": "1", "category": category}).body["next_cursor"]
    reply = client.get("/products", query={"cursor": cursor})
    assert (reply.status, reply.problem_type) == (400, "invalid-cursor")


def test_product_crud_and_retirement(client: Client) -> None:
    # The recipe's body: price as a JSON number.
    created = client.post(
        "/products",
        {"name": "Desk", "description": "Oak", "price": 249.5, "stock_quantity": 3, "category": "Office"},
        who=OPERATOR,
    )
    assert created.status == 201
    assert created.body["price"] == "249.50"
    assert created.headers["Location"] == f"/products/{created.body['product_id']}"
    product_id = created.body["product_id"]
    patched = client.request(
        "PATCH", f"/products/{product_id}", {"price": "199.99", "stock_quantity": 5}, who=OPERATOR
    )
    assert (patched.status, patched.body["price"], patched.body["stock_quantity"]) == (200, "199.99", 5)
    assert client.get(f"/products/{product_id}").body["name"] == "Desk"
    assert client.request("DELETE", f"/products/{product_id}", who=OPERATOR).status == 204
    assert client.get(f"/products/{product_id}").status == 404
    assert client.request("DELETE", f"/products/{product_id}", who=OPERATOR).status == 404
    ordered = client.order([(product_id, 1)])
    assert (ordered.status, ordered.problem_type) == (422, "unknown-products")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "price": 1.005, "category": "c"}, "price"),  # three decimals
        ({"name": "x", "price": "", "category": "c"}, "price"),
        ({"name": "x", "price": -1, "category": "c"}, "price"),
        ({"name": "x", "price": 1e12, "category": "c"}, "price"),
        ({"name": "", "price": 1, "category": "c"}, "name"),
        ({"name": "x" * 201, "price": 1, "category": "c"}, "name"),
        ({"name": "x", "price": 1, "category": "c", "stock_quantity": "5"}, "stock_quantity"),
        ({"name": "x", "price": 1, "category": "c", "colour": "red"}, "colour"),
        ({"price": 1, "category": "c"}, "name"),
    ],
)
def test_product_validation_names_the_field(client: Client, body: dict[str, object], field: str) -> None:
    reply = client.post("/products", body, who=OPERATOR)
    assert reply.status == 422, reply.body
    assert reply.body["type"] == "urn:ecommerce:problem:validation-error"
    assert field in {e["field"] for e in reply.body["errors"]}


def test_malformed_json_and_huge_body(client: Client) -> None:
    reply = client.post("/products", '{"name": ', who=OPERATOR)
    assert (reply.status, reply.problem_type) == (400, "malformed-json")
    reply = client.post("/products", {"name": "x" * 300_000, "price": 1, "category": "c"}, who=OPERATOR)
    assert (reply.status, reply.problem_type) == (413, "payload-too-large")


def test_unknown_route_and_bad_ids(client: Client) -> None:
    assert client.get("/products/not-a-uuid").status == 422
    missing = client.get(f"/products/{uuid4()}")
    assert (missing.status, missing.problem_type) == (404, "not-found")
    assert client.get("/customers/x/y/z").status == 404  # API Gateway: no such resource


# ---- customers ----------------------------------------------------------------------------------


def test_customers(client: Client, admin: psycopg.Connection) -> None:
    email = f"Ada.{uuid4().hex[:8]}@Example.com"
    ada = client.as_(email)
    assert ada.get("/customers/me").status == 404  # signed in, no profile yet
    created = ada.post("/customers", {"email": email, "first_name": "Ada", "last_name": "Lovelace"})
    assert created.status == 201
    assert created.body["email"] == email.lower()
    customer_id = created.body["customer_id"]
    assert ada.get(f"/customers/{customer_id}").body["first_name"] == "Ada"
    assert ada.get("/customers/me").body == created.body
    second = ada.post("/customers", {"email": email.upper(), "first_name": "A", "last_name": "L"})
    assert (second.status, second.problem_type) == (409, "profile-exists")
    bad = ada.post("/customers", {"email": "nope", "first_name": "A", "last_name": "L"})
    assert bad.status == 422 and bad.body["errors"][0]["field"] == "email"
    assert ada.get(f"/customers/{uuid4()}").status == 404
    # A profile from before identities (no subject) keeps its email: a new identity cannot take it.
    legacy = f"legacy.{uuid4().hex[:8]}@example.com"
    admin.execute("INSERT INTO customers (email, first_name, last_name) VALUES (%s, 'L', 'P')", (legacy,))
    taken = client.as_(legacy).post("/customers", {"email": legacy, "first_name": "A", "last_name": "L"})
    assert (taken.status, taken.problem_type) == (409, "duplicate-email")
    assert taken.body["errors"][0]["field"] == "email"


@orders
def test_customer_orders_are_paged(client: Client) -> None:
    pager, customer = client.new_customer()
    product = client.new_product(10)
    placed = [pager.order([(product, 1)], customer=customer).body["order_id"] for _ in range(3)]
    first = pager.get(f"/customers/{customer}/orders", query={"limit": "2"})
    assert first.status == 200 and len(first.body["orders"]) == 2
    second = pager.get(
        f"/customers/{customer}/orders", query={"limit": "2", "cursor": first.body["next_cursor"]}
    )
    assert second.body["next_cursor"] is None
    listed = [o["order_id"] for o in first.body["orders"] + second.body["orders"]]
    assert listed == list(reversed(placed))
    assert pager.get(f"/customers/{uuid4()}/orders").status == 404
    assert pager.get(f"/customers/{JOHN}/orders").status == 404  # another customer's


# ---- orders -------------------------------------------------------------------------------------


@orders
def test_place_order_merges_lines_decrements_stock_and_totals(
    client: Client, admin: psycopg.Connection
) -> None:
    product = client.new_product(10, price="19.99")
    before_mouse = stock(admin, MOUSE)
    reply = client.order([(product, 2), (MOUSE, 1), (product, 3)])
    assert reply.status == 201, reply.body
    order = reply.body
    assert order["status"] == "confirmed"
    assert order["total_amount"] == str(Decimal("19.99") * 5 + Decimal("29.99"))
    assert {i["product_id"]: i["quantity"] for i in order["items"]} == {product: 5, MOUSE: 1}
    assert stock(admin, product) == 5
    assert stock(admin, MOUSE) == before_mouse - 1
    fetched = client.get(f"/orders/{order['order_id']}")
    assert fetched.status == 200 and fetched.body == order


@orders
def test_idempotency_key_required_and_replayed(client: Client, admin: psycopg.Connection) -> None:
    product = client.new_product(5)
    body = {"customer_id": JOHN, "items": [{"product_id": product, "quantity": 1}]}
    missing = client.post("/orders", body)
    assert (missing.status, missing.problem_type) == (400, "idempotency-key-missing")
    key = str(uuid4())
    first = client.post("/orders", body, headers={"Idempotency-Key": key})
    replay = client.post("/orders", body, headers={"Idempotency-Key": key})
    assert first.status == replay.status == 201
    assert replay.body == first.body
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert stock(admin, product) == 4
    # Replays answer what the original answered, even after the order changed.
    client.post(f"/orders/{first.body['order_id']}/cancel")
    assert client.post("/orders", body, headers={"Idempotency-Key": key}).body == first.body
    other = client.post(
        "/orders",
        {**body, "items": [{"product_id": product, "quantity": 2}]},
        headers={"Idempotency-Key": key},
    )
    assert (other.status, other.problem_type) == (422, "idempotency-key-reused")
    too_long = client.post("/orders", body, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status == 422


@orders
def test_insufficient_stock_names_products_and_changes_nothing(
    client: Client, admin: psycopg.Connection
) -> None:
    scarce, plenty = client.new_product(2), client.new_product(50)
    reply = client.order([(plenty, 5), (scarce, 3)])
    assert (reply.status, reply.problem_type) == (409, "insufficient-stock")
    assert scarce in reply.body["detail"] and plenty not in reply.body["detail"]
    assert (stock(admin, scarce), stock(admin, plenty)) == (2, 50)


@orders
def test_no_profile_someone_elses_profile_and_unknown_products(
    client: Client, admin: psycopg.Connection
) -> None:
    product = client.new_product(5)
    no_profile = client.as_(f"{uuid4().hex[:12]}@example.com").order([(product, 1)])
    assert (no_profile.status, no_profile.problem_type) == (422, "unknown-customer")
    assert no_profile.body["errors"][0]["field"] == "customer_id"
    for claimed in (str(uuid4()), JANE):
        not_mine = client.order([(product, 1)], customer=claimed)
        assert (not_mine.status, not_mine.problem_type) == (403, "forbidden")
        assert not_mine.body["errors"][0]["field"] == "customer_id"
    assert client.order([(product, 1)], customer=JOHN).status == 201  # one's own id is fine
    admin.execute("UPDATE products SET stock_quantity = 5 WHERE product_id = %s", (product,))
    ghost = str(uuid4())
    unknown_product = client.order([(product, 1), (ghost, 1)])
    assert (unknown_product.status, unknown_product.problem_type) == (422, "unknown-products")
    assert ghost in unknown_product.body["detail"]
    assert stock(admin, product) == 5


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([{"product_id": LAPTOP, "quantity": 0}], "items.0.quantity"),
        ([{"product_id": LAPTOP, "quantity": -3}], "items.0.quantity"),
        ([{"product_id": LAPTOP, "quantity": 10**9}], "items.0.quantity"),
        ([{"product_id": LAPTOP, "quantity": 1.5}], "items.0.quantity"),
        ([{"product_id": LAPTOP, "quantity": True}], "items.0.quantity"),
        ([{"product_id": LAPTOP}], "items.0.quantity"),
        ([{"product_id": "x", "quantity": 1}], "items.0.product_id"),
    ],
)
def test_order_validation(client: Client, items: list[object], field: str) -> None:
    reply = client.post(
        "/orders", {"customer_id": JOHN, "items": items}, headers={"Idempotency-Key": str(uuid4())}
    )
    assert reply.status == 422, reply.body
    assert field in {e["field"] for e in reply.body["errors"]}


def test_order_line_limits(client: Client) -> None:
    too_many = [(str(uuid4()), 1) for _ in range(MAX_ORDER_LINES + 1)]
    reply = client.order(too_many)
    assert (reply.status, reply.problem_type) == (422, "invalid-order")
    merged_too_large = client.order([(LAPTOP, 600), (LAPTOP, 600)])
    assert (merged_too_large.status, merged_too_large.problem_type) == (422, "invalid-order")


@orders
def test_cancel_restocks_once_and_lifecycle(client: Client, admin: psycopg.Connection) -> None:
    product = client.new_product(5)
    order = client.order([(product, 4)]).body
    assert stock(admin, product) == 1
    cancelled = client.post(f"/orders/{order['order_id']}/cancel")
    assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
    assert stock(admin, product) == 5
    again = client.post(f"/orders/{order['order_id']}/cancel")
    assert (again.status, again.problem_type) == (409, "invalid-status-transition")
    assert stock(admin, product) == 5
    assert client.post(f"/orders/{uuid4()}/cancel").status == 404


def test_health(client: Client) -> None:
    reply = client.get("/health")
    assert reply.status == 200
    assert reply.body == {
        "status": "ok",
        "region": "us-east-1",
        "version": reply.body["version"],
        "database": "reachable",
    }


def test_health_reports_unreachable_database(shop_dsn: str) -> None:
    down = Client("host=127.0.0.1 port=1 dbname=postgres connect_timeout=1")
    reply = down.get("/health")
    assert (reply.status, reply.body["database"]) == (503, "unreachable")
    products = down.get("/products")
    assert products.status == 503
    assert "Retry-After" in products.headers
    assert "connection" not in products.body["detail"].lower()  # no internal text leaks


@orders
def test_orders_and_retries_are_measured(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    product = client.new_product(3)
    capsys.readouterr()
    key = str(uuid4())
    client.order([(product, 1)], key=key)
    client.order([(product, 1)], key=key)
    emitted = capsys.readouterr().out
    assert '"OrdersPlaced"' in emitted and '"OrderReplays"' in emitted  # CloudWatch EMF lines


def test_repository_sql_passes_the_dsql_linter() -> None:
    """Everything the repository runs is DSQL-valid (the guard also enforces it at run time)."""
    from ecommerce_ops.dsql_rules import check
    from handlers.shop import repository

    for name, statement in repository.statements_for_lint().items():
        assert check(statement) == [], name


def test_the_lint_set_holds_the_catalog_statements_and_the_rejection_read() -> None:
    """Review S5: the statements built inside methods are linted too (by the guard above and by
    AWS's dsql-lint, test_aws_dsql_lint.py), each as the repository sends it."""
    from handlers.shop import repository

    linted = repository.statements_for_lint()
    assert repository.STOCK_TOTAL in linted["explain_rejection"]
    assert "UNION ALL" in linted["explain_rejection"]
    assert repository.STOCK_TOTAL in linted["list_products"]
    assert linted["create_product/insert"].lstrip().startswith("INSERT INTO products")
    assert all("%" not in statement for statement in linted.values())  # every parameter rendered


@orders
def test_replay_after_the_order_took_the_last_units(client: Client) -> None:
    """The stock check must not hide the replay: the original order is why stock is gone."""
    product = client.new_product(2)
    key = str(uuid4())
    first = client.order([(product, 2)], key=key)
    assert first.status == 201
    replay = client.order([(product, 2)], key=key)
    assert (replay.status, replay.body) == (201, first.body)
    other = client.order([(product, 1)], key=key)
    assert (other.status, other.problem_type) == (422, "idempotency-key-reused")


@orders  # the overflowing total comes from a different statement under each strategy
def test_values_the_database_would_refuse_are_4xx(client: Client) -> None:
    nul = client.post("/products", {"name": "a\x00b", "price": 1, "category": "c"}, who=OPERATOR)
    assert nul.status == 422
    assert nul.body["errors"][0]["field"] == "name"
    pricey = client.new_product(10_000, price="99999999.99")
    huge = client.order([(pricey, 1000)])
    assert (huge.status, huge.problem_type) == (422, "invalid-order")


def test_patch_refuses_explicit_null(client: Client) -> None:
    product = client.new_product(1)
    reply = client.request("PATCH", f"/products/{product}", {"name": None}, who=OPERATOR)
    assert reply.status == 422
    assert [e["field"] for e in reply.body["errors"]] == ["name"]


@pytest.mark.parametrize("key", ["   ", "tab\tkey", "ключ"])
def test_blank_or_invisible_idempotency_keys_are_refused(client: Client, key: str) -> None:
    body = {"customer_id": JOHN, "items": [{"product_id": MOUSE, "quantity": 1}]}
    reply = client.post("/orders", body, headers={"Idempotency-Key": key})
    assert reply.status in (400, 422), reply.body


@orders
def test_the_strategy_under_test_is_the_one_in_use(client: Client, order_strategy: str) -> None:
    assert client.handlers["orders"].settings.order_strategy == order_strategy
