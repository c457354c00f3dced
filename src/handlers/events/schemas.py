"""JSON Schemas (draft 2020-12) of the shop's events, generated from handlers/events/models.py: one file
per event type and version, ``docs/events/<Type>.v<version>.schema.json``, describing the EventBridge
event's ``detail`` (the envelope with the type's ``data``). tests/unit/test_event_schemas.py fails when
the files and the models differ; regenerate with ``python -m handlers.events.schemas docs/events``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import create_model

from .models import EVENT_TYPES, EVENT_VERSION, SOURCE, Detail


def schema_of(event_type: str) -> dict[str, Any]:
    model = EVENT_TYPES[event_type]
    detail = create_model(f"{event_type}Detail", __base__=Detail, data=(model, ...))
    schema = detail.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:ecommerce:events:{event_type}:v{EVENT_VERSION}",
        "title": f"{event_type} v{EVENT_VERSION}",
        "description": (
            f"The detail of an EventBridge event with source {SOURCE!r} and detail-type {event_type!r}. "
            f"{(model.__doc__ or '').strip()} Consumers ignore fields they do not know."
        ).strip(),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def files() -> dict[str, str]:
    """File name -> content, for every event type."""
    return {
        f"{name}.v{EVENT_VERSION}.schema.json": json.dumps(schema_of(name), indent=2, sort_keys=True) + "\n"
        for name in sorted(EVENT_TYPES)
    }


def main(argv: list[str] | None = None) -> int:
    target = Path((argv if argv is not None else sys.argv[1:] or ["docs/events"])[0])
    target.mkdir(parents=True, exist_ok=True)
    for name, content in files().items():
        (target / name).write_text(content, encoding="utf-8")
        print(target / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
