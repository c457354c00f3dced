"""RFC 9457 problem documents: the status of every domain error, the titles of the HTTP layer's
own problems, and the responses that carry them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from handlers import contract
from handlers.shop.domain import ShopError, Unavailable

from .models import FieldError, Problem

PROBLEM_JSON = contract.PROBLEM_MEDIA_TYPE


#: An OpenAPI error response: a problem document.
PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "Problem details (RFC 9457)",
    "content": {PROBLEM_JSON: {"model": Problem}},
}


PROBLEM_BASE = contract.PROBLEM_TYPE_BASE


# HTTP status of every domain error code: the API layer's only knowledge of the domain's errors
# (tests/integration/test_api.py checks that every ShopError subclass is listed).
STATUS_OF: dict[str, int] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "profile-exists": 409,
    "not-found": 404,
    "invalid-order": 422,
    "invalid-cursor": 400,
    "invalid-value": 422,
    "unknown-customer": 422,
    "unknown-products": 422,
    "insufficient-stock": 409,
    "duplicate-email": 409,
    "invalid-status-transition": 409,
    "idempotency-key-reused": 422,
    "database-unavailable": 503,
    "busy": 503,
}


# Problems the HTTP layer itself raises.
TITLES: dict[str, str] = {
    "idempotency-key-missing": "Idempotency-Key header required",
    "validation-error": "Request validation failed",
    "malformed-json": "Malformed JSON body",
    "malformed-body": "Malformed request body",
    "unsupported-media-type": "Unsupported media type",
    "payload-too-large": "Request body too large",
    "route-not-found": "No such route",
    "internal-error": "Internal error",
}


def problem(
    code: str,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] = {},
) -> Response[str]:
    body = Problem(
        type=PROBLEM_BASE + code, title=title or TITLES[code], status=status, detail=detail, errors=errors
    )
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=body.model_dump_json(exclude_none=True),
        headers=dict(headers),
    )


def shop_problem(error: ShopError) -> Response[str]:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Unavailable) else {}
    errors = [FieldError(field=error.field, message=error.detail)] if error.field else None
    return problem(
        error.code, STATUS_OF[error.code], error.detail, title=error.title, errors=errors, headers=headers
    )


def json_response(status: int, model: BaseModel | None, headers: Mapping[str, str] = {}) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=model.model_dump_json() if model is not None else "",
        headers=dict(headers),
    )


def field_name(location: tuple[Any, ...]) -> str:
    # Powertools prefixes where the value came from ("body", "query", "path", "header").
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"
