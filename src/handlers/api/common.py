"""What both Lambda entry points share: the resolver, problem+json errors, the serving region.

One :class:`ApiHandler` is one Lambda execution environment: its own Powertools resolver (which
keeps per-request state) and its own database connection. Lambda runs one per environment; tests
and the local runtime create one per concurrent worker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import psycopg
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from pydantic import BaseModel

from handlers import __version__
from handlers.db import CommitOutcomeUnknownError, Database, DataLayerError
from handlers.shop.domain import Busy, ShopError
from handlers.shop.repository import ShopRepository
from handlers.shop.services import Shop

from .models import FieldError, Problem

PROBLEM_JSON = "application/problem+json"
REGION_HEADER = "X-Serving-Region"
PROBLEM_BASE = "urn:ecommerce:problem:"
MAX_BODY_BYTES = 256 * 1024
# Leave time to answer before API Gateway's 29 s limit or the function timeout.
DEADLINE_MARGIN_SECONDS = 1.0

# HTTP status of each domain error code; the API layer's only knowledge of the domain's errors.
STATUS_OF: dict[str, int] = {
    "not-found": 404,
    "invalid-order": 422,
    "invalid-cursor": 400,
    "unknown-customer": 422,
    "unknown-products": 422,
    "insufficient-stock": 409,
    "duplicate-email": 409,
    "invalid-status-transition": 409,
    "idempotency-key-reused": 422,
    "busy": 503,
}
TITLES: dict[str, str] = {
    "not-found": "Resource not found",
    "invalid-order": "Invalid order",
    "invalid-cursor": "Invalid cursor",
    "unknown-customer": "Unknown customer",
    "unknown-products": "Unknown or retired products",
    "insufficient-stock": "Insufficient stock",
    "duplicate-email": "Email already registered",
    "invalid-status-transition": "Invalid status transition",
    "idempotency-key-reused": "Idempotency-Key reused with a different request",
    "idempotency-key-missing": "Idempotency-Key header required",
    "busy": "Service busy",
    "validation-error": "Request validation failed",
    "invalid-value": "Value not accepted",
    "malformed-json": "Malformed JSON body",
    "payload-too-large": "Request body too large",
    "route-not-found": "No such route",
    "internal-error": "Internal error",
    "database-unavailable": "Database unavailable",
}

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "ecommerce"))
logging.getLogger("psycopg").setLevel(logging.ERROR)

RouteRegistrar = Callable[["ApiHandler"], None]
T = TypeVar("T")

# Powertools keeps the current event on the BaseRouter *class*: two resolvers resolving at once in
# one process (the local runtime's worker threads, the concurrency tests) would read each other's
# requests. On Lambda a process serves one request at a time and this lock is never contended.
# It is released while a use case talks to the database (ApiHandler.run), so requests still run
# their transactions concurrently.
_POWERTOOLS_LOCK = threading.Lock()


def problem(
    code: str,
    status: int,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] = {},
) -> Response[str]:
    body = Problem(type=PROBLEM_BASE + code, title=TITLES[code], status=status, detail=detail, errors=errors)
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=body.model_dump_json(exclude_none=True),
        headers=dict(headers),
    )


def json_response(status: int, model: BaseModel | None, headers: Mapping[str, str] = {}) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=model.model_dump_json() if model is not None else "",
        headers=dict(headers),
    )


def _field_name(location: tuple[Any, ...]) -> str:
    # Powertools prefixes where the value came from ("body", "query", "path", "header").
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


class ApiHandler:
    """A Lambda entry point: ``handler(event, context) -> API Gateway proxy response``."""

    def __init__(
        self,
        registrars: tuple[RouteRegistrar, ...],
        *,
        database: Database | None = None,
        region: str | None = None,
    ) -> None:
        self.region = region or os.environ.get("DSQL_REGION") or os.environ.get("AWS_REGION", "local")
        self._database = database
        origins = [o for o in os.environ.get("CORS_ORIGINS", "").split(",") if o]
        cors = (
            CORSConfig(allow_origin=origins[0], extra_origins=origins[1:], allow_headers=["Idempotency-Key"])
            if origins
            else None
        )
        self.app = APIGatewayRestResolver(enable_validation=True, cors=cors)
        # Ephemeral: no state shared between handler instances (the shared Metrics class would mix
        # the metrics of concurrent workers locally). Flushed as CloudWatch EMF log lines.
        self.metrics = EphemeralMetrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Ecommerce"))
        self.shop: Shop | None = None
        for register in registrars:
            register(self)
        self._register_errors()

    @property
    def database(self) -> Database:
        # Opened lazily: a cold start that only fails validation never connects.
        if self._database is None:
            self._database = Database()
        return self._database

    def run(self, use_case: Callable[[Shop], T]) -> T:
        """Run a use case outside the Powertools lock, then restore this request's event."""
        assert self.shop is not None, "routes run inside __call__"
        saved = (BaseRouter.current_event, BaseRouter.lambda_context)
        _POWERTOOLS_LOCK.release()
        try:
            return use_case(self.shop)
        finally:
            _POWERTOOLS_LOCK.acquire()
            BaseRouter.current_event, BaseRouter.lambda_context = saved

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        deadline = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            remaining = context.get_remaining_time_in_millis() / 1000.0
            deadline = time.monotonic() + max(0.0, remaining - DEADLINE_MARGIN_SECONDS)
        self.shop = Shop(ShopRepository(lambda: self.database, deadline=deadline))
        retries_before = self._database.stats.retries if self._database is not None else 0
        body = event.get("body") or ""
        if len(body.encode() if isinstance(body, str) else body) > MAX_BODY_BYTES:
            result = self._oversized(event)
        else:
            with _POWERTOOLS_LOCK:
                result = self.app.resolve(event, context)
        headers = (
            result.setdefault("headers", {})
            if "headers" in result or "multiValueHeaders" not in result
            else None
        )
        if headers is not None:
            headers[REGION_HEADER] = self.region
        else:
            result["multiValueHeaders"][REGION_HEADER] = [self.region]
        retries = (self._database.stats.retries if self._database is not None else 0) - retries_before
        self._record_metrics(event, result, retries)
        return result

    def _record_metrics(self, event: dict[str, Any], result: dict[str, Any], retries: int) -> None:
        if retries:
            # Conflict retries are the health signal of an optimistic database: log and count them
            # (all units of work of this request, not just the last).
            logger.info("database retries", extra={"retries": retries, "path": event.get("path")})
            self.metrics.add_metric(name="DatabaseRetries", unit=MetricUnit.Count, value=retries)
        if int(result.get("statusCode", 500)) >= 500:
            self.metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        if self.metrics.metric_set:
            self.metrics.flush_metrics()

    def _oversized(self, event: dict[str, Any]) -> dict[str, Any]:
        response = problem("payload-too-large", 413, f"request bodies are limited to {MAX_BODY_BYTES} bytes")
        return {
            "statusCode": 413,
            "headers": {"Content-Type": PROBLEM_JSON},
            "body": response.body,
            "isBase64Encoded": False,
        }

    # ---- errors -> problem+json ----------------------------------------------------------------

    def _register_errors(self) -> None:
        app = self.app

        @app.exception_handler(RequestValidationError)
        def _validation(error: RequestValidationError) -> Response[str]:
            errors = error.errors()
            if any(e.get("type") == "json_invalid" for e in errors):
                return problem("malformed-json", 400, "the request body is not valid JSON")
            fields = [
                FieldError(field=_field_name(tuple(e.get("loc", ()))), message=str(e.get("msg")))
                for e in errors
            ]
            listed = ", ".join(sorted({f.field for f in fields}))
            return problem("validation-error", 422, f"invalid input: {listed}", errors=fields)

        @app.exception_handler(ShopError)
        def _shop(error: ShopError) -> Response[str]:
            headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Busy) else {}
            errors = [FieldError(field=error.field, message=error.detail)] if error.field else None
            return problem(error.code, STATUS_OF[error.code], error.detail, errors=errors, headers=headers)

        @app.exception_handler(CommitOutcomeUnknownError)
        def _unknown_outcome(error: CommitOutcomeUnknownError) -> Response[str]:
            logger.warning("commit outcome unknown", extra={"error": type(error).__name__})
            return problem(
                "database-unavailable",
                503,
                "the connection broke while committing; retry with the same Idempotency-Key to learn "
                "the outcome",
                headers={"Retry-After": "1"},
            )

        @app.not_found
        def _not_found(_: NotFoundError) -> Response[str]:
            event = app.current_event
            return problem("route-not-found", 404, f"no route for {event.http_method} {event.path}")

        @app.exception_handler(psycopg.errors.DataError)
        def _bad_value(error: psycopg.errors.DataError) -> Response[str]:
            # A value the model let through but the database refuses (class 22): the client's to fix,
            # and retrying would fail the same way, so never a 5xx.
            logger.warning("database rejected a value", extra={"sqlstate": error.sqlstate})
            return problem(
                "invalid-value", 422, "a value is out of range or not representable; check the input"
            )

        @app.exception_handler(Exception)
        def _internal(error: Exception) -> Response[str]:
            # Internal exception text never reaches a client; it goes to the log with the stack.
            logger.exception("unhandled error")
            if isinstance(error, DataLayerError | psycopg.OperationalError):
                return problem(
                    "database-unavailable",
                    503,
                    "the database is unavailable; retry shortly",
                    headers={"Retry-After": "1"},
                )
            return problem("internal-error", 500, "an internal error occurred; it has been logged")


def health_body(handler: ApiHandler) -> tuple[int, dict[str, str]]:
    try:
        handler.run(lambda shop: shop.health())
        database = "reachable"
    except Exception:
        logger.exception("health check failed")
        database = "unreachable"
    status = "ok" if database == "reachable" else "degraded"
    return (200 if status == "ok" else 503), {
        "status": status,
        "region": handler.region,
        "version": __version__,
        "database": database,
    }
