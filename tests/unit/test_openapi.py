"""docs/openapi.json is generated from the code and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from handlers.api.openapi import openapi_document, render

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "docs/openapi.json is stale: run `python -m handlers.api.openapi > docs/openapi.json`"
    )


def test_every_operation_documents_success_and_problems() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, f"{method} {path} documents no success"
            assert "200" not in responses or method != "post" or path.endswith("/cancel"), f"{method} {path}"
            if method == "head":
                assert all("content" not in r for r in responses.values()), f"HEAD {path} has a body"
                continue
            problem = responses["422"]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}


def test_the_document_states_the_real_rules() -> None:
    document = openapi_document()
    paths, schemas = document["paths"], document["components"]["schemas"]
    key = next(p for p in paths["/orders"]["post"]["parameters"] if p["name"].lower() == "idempotency-key")
    assert key["required"] is True
    for path, method in (("/products", "post"), ("/customers", "post"), ("/orders", "post"),
                         ("/products/{product_id}", "patch")):  # fmt: skip
        assert {"400", "413", "415", "422"} <= set(paths[path][method]["responses"]), (method, path)
    retired = paths["/products/{product_id}"]["delete"]["responses"]["204"]
    assert "content" not in retired
    for name, field in schemas["ProductPatch"]["properties"].items():
        assert "null" not in json.dumps(field), f"PATCH {name} is documented as nullable"
    price = schemas["ProductCreate"]["properties"]["price"]["anyOf"]
    assert {
        "type": "string",
        "pattern": r"^(0|[1-9][0-9]{0,7})(\.[0-9]{1,2})?$",
        "examples": ["19.99"],
    } in price
    assert any(branch.get("multipleOf") == 0.01 and branch.get("maximum") == 99999999.99 for branch in price)
    assert r"\x00" in schemas["CustomerCreate"]["properties"]["email"]["pattern"]
    product_id = paths["/products/{product_id}"]["get"]["parameters"][0]["schema"]
    assert product_id["pattern"].startswith("^[0-9a-fA-F]{8}-")
    assert set(paths["/products"]) == {"get", "head", "post"}


def test_money_is_documented_as_decimal_string() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["ProductOut"]["properties"]["price"]["type"] == "string"
    assert schemas["OrderOut"]["properties"]["total_amount"]["pattern"] == r"^\d+\.\d{2}$"
    assert json.dumps(schemas).count('"format": "float"') == 0


def test_security_follows_the_access_table() -> None:
    """Per-operation security from handlers.contract.ROUTES, the table the authorizers and the
    route x caller matrix use too; /docs can then authorize with a bearer token."""
    from handlers import contract

    document = openapi_document()
    scheme = document["components"]["securitySchemes"][contract.SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert "security" not in document  # no global default: each operation says what it needs
    for route in contract.ROUTES:
        operations = [document["paths"][route.path][route.method.lower()]]
        if route.method == "GET":
            operations.append(document["paths"][route.path]["head"])
        for operation in operations:
            responses = operation["responses"]
            if route.access == contract.ANONYMOUS:
                assert operation["security"] == [], route.operation
                assert "401" not in responses
            else:
                assert operation["security"] == [{contract.SECURITY_SCHEME: []}], route.operation
                assert "401" in responses
                assert ("403" in responses) >= (route.access == contract.OPERATOR)
