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
            problem = responses["422"]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}


def test_money_is_documented_as_decimal_string() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["ProductOut"]["properties"]["price"]["type"] == "string"
    assert schemas["OrderOut"]["properties"]["total_amount"]["pattern"] == r"^\d+\.\d{2}$"
    assert json.dumps(schemas).count('"format": "float"') == 0
