"""docs/events/*.schema.json are exactly what the shared event models generate, and they accept the
publisher's details and refuse broken ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema_rs
import pytest

from handlers.events import schemas
from handlers.events.models import EVENT_TYPES
from handlers.events.publisher import OutboxEvent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"
ORDER = "7d3f1e5c-6a0b-4c55-9a51-5d2f9b1e0a11"
PRODUCT = "a1000000-0000-4000-8000-000000000001"
LINES = [{"productId": PRODUCT, "quantity": 2, "unitPrice": "19.99"}]
EXAMPLES = {
    "OrderPlaced": {"orderId": ORDER, "customerId": ORDER, "status": "confirmed", "currency": "USD",
                    "total": "39.98", "lines": LINES, "region": "us-east-1"},
    "OrderCancelled": {"orderId": ORDER, "customerId": ORDER, "status": "cancelled", "currency": "USD",
                       "total": "39.98", "lines": LINES, "region": "us-east-2"},
    "ProductCreated": {"productId": PRODUCT, "name": "Lamp", "description": "", "price": "39.99",
                       "currency": "USD", "category": "Home", "stockQuantity": 25, "stockBuckets": 1},
    "ProductChanged": {"productId": PRODUCT, "changes": {"price": {"old": "39.99", "new": "34.99"}}},
    "ProductRetired": {"productId": PRODUCT},
    "StockDepleted": {"productId": PRODUCT, "orderId": ORDER},
}  # fmt: skip


def test_the_schema_files_are_generated_from_the_models() -> None:
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in DOCS.glob("*.schema.json")}
    assert on_disk == schemas.files(), "regenerate: python -m handlers.events.schemas docs/events"
    assert set(EXAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_a_published_detail_validates_and_a_broken_one_does_not(event_type: str) -> None:
    validator = jsonschema_rs.validator_for(json.loads((DOCS / f"{event_type}.v1.schema.json").read_text()))
    event = OutboxEvent(ORDER, event_type, 1, ORDER, EXAMPLES[event_type], "us-east-1",
                        datetime(2026, 12, 7, tzinfo=UTC), 1_781_000_000_000_000_000)  # fmt: skip
    detail = event.bus_event().detail
    assert validator.is_valid(detail)
    assert validator.is_valid({**detail, "data": {**detail["data"], "newField": 1}})  # compatible
    broken = {
        **detail,
        "data": {k: v for k, v in detail["data"].items() if k != "productId" and k != "orderId"},
    }
    assert not validator.is_valid(broken)
    assert not validator.is_valid({k: v for k, v in detail.items() if k != "eventId"})
