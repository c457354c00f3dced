"""Deploy-time database setup, for real on the embedded engine with the DSQL guard: migrations,
one role per function with only its routes' privileges, AWS IAM GRANT, convergent re-runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.guarded import GuardedConnection, guarded_connector, guarded_database
from ecommerce_ops.cli import main
from handlers.db.roles import FUNCTION_PRIVILEGES, function_roles, setup_roles
from handlers.infra import database_setup

BROWSE_ARNS = [
    "arn:aws:iam::123456789012:role/shop-us-east-1-Browse",
    "arn:aws:iam::123456789012:role/shop-us-east-2-Browse",
]
CATALOG_ARNS = [
    "arn:aws:iam::123456789012:role/shop-us-east-1-Catalog",
    "arn:aws:iam::123456789012:role/shop-us-east-2-Catalog",
]
ORDERS_ARNS = [
    "arn:aws:iam::123456789012:role/shop-us-east-1-Orders",
    "arn:aws:iam::123456789012:role/shop-us-east-2-Orders",
]


def setup_event(dsn: str, catalog: list[str], orders: list[str], kind: str = "Create") -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResourceProperties": {
            "Endpoint": dsn,
            "Region": "us-east-2",
            "PeerEndpoints": [{"Endpoint": dsn, "Region": "us-east-1"}],
            "FunctionRoleArns": {"browse": BROWSE_ARNS, "catalog": catalog, "orders": orders},
            "Fingerprint": "x",
        },
    }


@pytest.fixture
def engine_setup(monkeypatch: pytest.MonkeyPatch, local_engine: LocalEngine) -> None:
    """The Lambda's admin connector, pointed at the embedded engine (guard on) instead of DSQL."""
    monkeypatch.setattr(
        database_setup, "connector_factory", lambda endpoint, region: guarded_connector(endpoint)
    )


def role_dsn(dsn: str, role: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["user"] = role
    return psycopg.conninfo.make_conninfo(**params)


def login_as(local_engine: LocalEngine, dsn: str, role: str) -> Callable[[], psycopg.Connection[Any]]:
    """A connection as ``role`` through the DSQL guard (what DSQL would refuse, it refuses too)."""
    return lambda: GuardedConnection.connect(role_dsn(dsn, role), autocommit=True)


def test_setup_migrates_creates_roles_and_maps_them(
    engine_setup: None, local_engine: LocalEngine, fresh_dsn: str
) -> None:
    first = database_setup.on_event(setup_event(fresh_dsn, CATALOG_ARNS, ORDERS_ARNS))
    assert first["PendingIndexes"] == [] and int(first["Data"]["RoleStatements"]) > 0
    mappings = local_engine.iam_role_mappings(fresh_dsn)
    assert sorted(mappings) == sorted(
        [("ecommerce_browse", arn) for arn in BROWSE_ARNS]
        + [("ecommerce_catalog", arn) for arn in CATALOG_ARNS]
        + [("ecommerce_orders", arn) for arn in ORDERS_ARNS]
    )
    again = database_setup.on_event(setup_event(fresh_dsn, CATALOG_ARNS, ORDERS_ARNS, kind="Update"))
    assert again["Data"] == {"RoleStatements": "0", "SchemaVersion": "latest"}  # a re-run changes nothing


def test_a_replaced_function_role_is_remapped(
    engine_setup: None, local_engine: LocalEngine, fresh_dsn: str
) -> None:
    """The stale-grant failure (SQLSTATE 28000 on every query) of a setup that did not re-run."""
    database_setup.on_event(setup_event(fresh_dsn, CATALOG_ARNS, ORDERS_ARNS))
    replaced = [ORDERS_ARNS[0], "arn:aws:iam::123456789012:role/shop-us-east-2-Orders-NEW"]
    database_setup.on_event(setup_event(fresh_dsn, CATALOG_ARNS, replaced, kind="Update"))
    orders = sorted(
        arn for role, arn in local_engine.iam_role_mappings(fresh_dsn) if role == "ecommerce_orders"
    )
    assert orders == sorted(replaced)


def test_delete_leaves_everything(engine_setup: None, local_engine: LocalEngine, fresh_dsn: str) -> None:
    database_setup.on_event(setup_event(fresh_dsn, CATALOG_ARNS, ORDERS_ARNS))
    event = {**setup_event(fresh_dsn, CATALOG_ARNS, ORDERS_ARNS, kind="Delete"), "PhysicalResourceId": "p"}
    assert database_setup.on_event(event) == {"PhysicalResourceId": "p"}
    assert local_engine.iam_role_mappings(fresh_dsn)


@pytest.fixture
def roles_dsn(local_engine: LocalEngine, fresh_dsn: str, engine_setup: None) -> str:
    database_setup.on_event(setup_event(fresh_dsn, CATALOG_ARNS, ORDERS_ARNS))
    return fresh_dsn


PROBES = {
    "read products": "SELECT count(*) FROM products",
    "read customers": "SELECT count(*) FROM customers",
    "read order items": "SELECT count(*) FROM order_items",
    "read idempotency": "SELECT count(*) FROM idempotency_records",
    "create product": "INSERT INTO products (name, price, category) VALUES ('p', 1, 'c')",
    "write stock": "UPDATE products SET stock_quantity = stock_quantity WHERE false",
    "create customer": "INSERT INTO customers (email, first_name, last_name) VALUES ('x@y.io', 'a', 'b')",
    "read orders": "SELECT count(*) FROM orders",
    "write orders": "UPDATE orders SET status = status WHERE false",
    "insert order items": "INSERT INTO order_items SELECT * FROM order_items WHERE false",
    "write idempotency": "INSERT INTO idempotency_records SELECT * FROM idempotency_records WHERE false",
    "delete products": "DELETE FROM products WHERE false",
    "read migrations": "SELECT count(*) FROM schema_migrations",
    "write outbox": "INSERT INTO outbox (event_id, event_type, event_version, entity_id, payload, region) "
    "SELECT gen_random_uuid(), 't', 1, gen_random_uuid(), '{}', 'r' WHERE false",
    "read outbox": "SELECT count(*) FROM outbox",
    "run DDL": "CREATE TABLE sneaky (id int PRIMARY KEY)",
}
ALLOWED = {
    # Anonymous catalog reads: the catalog, nothing else (no customer, no order).
    "ecommerce_browse": {"read products"},
    "ecommerce_catalog": {"read products", "create product", "write stock", "create customer",
                          "read customers", "read orders", "write outbox"},
    "ecommerce_orders": {"read products", "write stock", "read customers", "read orders", "write orders",
                         "insert order items", "read order items", "write idempotency", "read idempotency",
                         "write outbox"},
}  # fmt: skip


@pytest.mark.parametrize("role", sorted(ALLOWED))
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_each_function_role_can_do_only_what_its_routes_need(
    local_engine: LocalEngine, roles_dsn: str, role: str, probe: str
) -> None:
    with login_as(local_engine, roles_dsn, role)() as conn:
        try:
            conn.execute(PROBES[probe])
            allowed = True
        except psycopg.errors.InsufficientPrivilege:
            allowed = False
    assert allowed == (probe in ALLOWED[role]), f"{role} {'can' if allowed else 'cannot'} {probe}"


def test_the_privilege_table_names_only_real_tables_and_functions() -> None:
    from handlers.contract import FUNCTIONS

    assert set(FUNCTION_PRIVILEGES) == set(FUNCTIONS) == {"browse", "catalog", "orders"}
    with pytest.raises(ValueError, match="no privileges declared"):
        function_roles({"billing": ["arn:aws:iam::123456789012:role/x"]})


def test_bad_arn_is_refused(local_engine: LocalEngine, fresh_dsn: str) -> None:
    with pytest.raises(ValueError, match="not IAM role ARNs"):
        setup_roles(guarded_connector(fresh_dsn), function_roles({"catalog": ["arn:aws:iam::1:user/x"]}))


def test_migrate_cli_sets_up_roles(local_engine: LocalEngine, fresh_dsn: str) -> None:
    args = [
        "migrate",
        "--dsn",
        fresh_dsn,
        f"--role=catalog={CATALOG_ARNS[0]}",
        f"--role=orders={ORDERS_ARNS[0]}",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "AWS IAM GRANT" in result.output
    bad = CliRunner().invoke(main, ["migrate", "--dsn", fresh_dsn, "--role", "catalog=nope"])
    assert bad.exit_code == 2


def test_the_browse_role_serves_every_anonymous_route_and_nothing_else(
    local_engine: LocalEngine, roles_dsn: str
) -> None:
    """The anonymous routes' function, logged in as its own role (guard on), answers them all; the
    catalog function's routes under that role fail on privileges (500, logged), not on routing."""
    from api_support import api_event, reply_of
    from ecommerce_dev.apigw import LambdaContext
    from handlers import contract
    from handlers.api import browse, catalog

    with GuardedConnection.connect(roles_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO products (name, price, category) VALUES ('Browsed', 1, 'c')")
    browse_dsn = role_dsn(roles_dsn, "ecommerce_browse")
    handler = browse.build(database=guarded_database(browse_dsn), region="us-east-1")
    context = LambdaContext(function_name="browse")
    listed = reply_of(handler(api_event("GET", "/products"), context))
    assert listed.status == 200 and listed.body["products"], listed.body
    product = listed.body["products"][0]["product_id"]
    assert reply_of(handler(api_event("GET", f"/products/{product}"), context)).status == 200
    health = reply_of(handler(api_event("GET", "/health"), context))
    assert (health.status, health.body["database"]) == (200, "reachable")
    assert {r.operation for r in contract.ROUTES if r.function == "browse"} == {
        r.operation for r in contract.ROUTES if r.access == contract.ANONYMOUS
    }
    # The same role cannot read a customer, whoever asks.
    wrong = catalog.build(database=guarded_database(browse_dsn), region="us-east-1")
    claims = {"sub": "s", "iss": contract.LOCAL_OPERATOR_ISSUER, "email": "o@example.com"}
    event = api_event("GET", "/customers/c1000000-0000-4000-8000-000000000001", claims=claims)
    assert reply_of(wrong(event, LambdaContext(function_name="catalog"))).status == 500


def test_the_function_roles_write_their_events_through_the_real_statements(
    local_engine: LocalEngine, roles_dsn: str
) -> None:
    """Each function's own role runs the statements that write outbox rows (an order, a cancel, a
    product's whole life): the privilege table covers the events, not only the probes."""
    from api_support import OPERATOR, Client

    catalog = Client(roles_dsn, database=guarded_database(role_dsn(roles_dsn, "ecommerce_catalog")))
    orders = Client(roles_dsn, database=guarded_database(role_dsn(roles_dsn, "ecommerce_orders")))
    with GuardedConnection.connect(roles_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO customers (email, first_name, last_name, identity_subject) "
            "SELECT 'roles@example.com', 'R', 'S', %s",
            ((orders.claims("roles@example.com") or {})["sub"],),
        )
    product = catalog.new_product(5)
    assert catalog.request("PATCH", f"/products/{product}", {"price": "11.00"}, who=OPERATOR).status == 200
    placed = orders.as_("roles@example.com").order([(product, 1)])
    assert placed.status == 201, placed.body
    cancelled = orders.as_("roles@example.com").post(f"/orders/{placed.body['order_id']}/cancel")
    assert cancelled.status == 200, cancelled.body
    assert catalog.request("DELETE", f"/products/{product}", who=OPERATOR).status == 204
    with GuardedConnection.connect(roles_dsn, autocommit=True) as conn:
        types = [
            r[0]
            for r in conn.execute(
                "SELECT event_type FROM outbox WHERE entity_id IN (%s, %s) ORDER BY created_at, event_type",
                (product, placed.body["order_id"]),
            ).fetchall()
        ]
    assert sorted(types) == sorted(
        ["ProductCreated", "ProductChanged", "OrderPlaced", "OrderCancelled", "ProductRetired"]
    )
