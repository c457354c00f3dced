"""What every Lambda entry point shares: the resolver wiring, logging, tracing and metrics
(problem documents: ``problems``; the caller and route authorization: ``caller``).

One :class:`ApiHandler` is one Lambda execution environment: its own Powertools resolver (which
keeps per-request state) and its own database connection. Lambda runs one per environment; tests
and the local runtime create one per concurrent worker.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from handlers import __version__, contract
from handlers.contract import CUSTOMER
from handlers.db import Database
from handlers.settings import Settings
from handlers.shop.domain import Caller, ShopError, Unauthenticated, Unavailable, require
from handlers.shop.repository import ShopRepository, forget_bucket_homes
from handlers.shop.services import Shop

from .caller import caller_of, denied
from .models import FieldError
from .problems import PROBLEM_RESPONSE, field_name, problem, shop_problem
from .requests import check_body

REGION_HEADER = contract.REGION_HEADER
MAX_BODY_BYTES = 256 * 1024
# Leave time to answer before API Gateway's 29 s limit or the function timeout.
DEADLINE_MARGIN_SECONDS = 1.0


logger = Logger(service=contract.SERVICE_NAME)
logging.getLogger("psycopg").setLevel(logging.ERROR)

RouteRegistrar = Callable[["ApiHandler"], None]
T = TypeVar("T")

# Powertools keeps the current event on the BaseRouter *class*: two resolvers resolving at once in
# one process (the local runtime's worker threads, the concurrency tests) would read each other's
# requests. On Lambda a process serves one request at a time and this lock is never contended.
# It is released while a use case talks to the database (ApiHandler.run), so requests still run
# their transactions concurrently.
_POWERTOOLS_LOCK = threading.Lock()


def _result(response: Response[str]) -> dict[str, Any]:
    """A proxy result for an answer given before the resolver runs."""
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": str(response.content_type), **response.headers},
        "body": response.body,
        "isBase64Encoded": False,
    }


def _powertools_rule(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


class ApiHandler:
    """A Lambda entry point: ``handler(event, context) -> API Gateway proxy response``.

    ``function`` is the contract's function name; None registers any operation (the OpenAPI build).
    """

    def __init__(
        self,
        function: str | None,
        registrars: tuple[RouteRegistrar, ...],
        *,
        database: Database | None = None,
        region: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.function = function
        self.settings = settings or Settings.from_env()
        self.region = region or self.settings.region or "local"
        self._database = database
        origins = list(self.settings.cors_origins)
        cors = (
            CORSConfig(allow_origin=origins[0], extra_origins=origins[1:], allow_headers=["Idempotency-Key"])
            if origins
            else None
        )
        self.app = APIGatewayRestResolver(enable_validation=True, cors=cors)
        # Ephemeral: no state shared between handler instances (the shared Metrics class would mix
        # the metrics of concurrent workers locally). Flushed as CloudWatch EMF log lines.
        self.metrics = EphemeralMetrics(namespace=self.settings.metrics_namespace)
        self.shop: Shop | None = None
        self.caller = Caller()
        self.tracer = self._tracer()
        self.registered: set[str] = set()
        for register in registrars:
            register(self)
        self._register_errors()
        entry = logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)(
            self._handle
        )
        self._entry = self.tracer.capture_lambda_handler(entry) if self.tracer is not None else entry

    def _tracer(self) -> Any:
        if self.settings.trace_disabled:
            return None
        # Imported only when tracing is on: the X-Ray SDK costs ~180 ms of cold start.
        from aws_lambda_powertools import Tracer

        return Tracer(service=self.settings.service_name)

    def operation(self, name: str, **openapi: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the route of ``contract.ROUTES[name]`` (method and path come from the contract)."""
        spec = contract.route(name)
        if self.function is not None and spec.function != self.function:
            raise ValueError(f"{name} belongs to the {spec.function} function, not {self.function}")
        self.registered.add(name)
        if spec.access != contract.ANONYMOUS:
            # Documented from the same table API Gateway's authorizers are built from.
            openapi["security"] = [{contract.SECURITY_SCHEME: []}]
            refusals = (401, 403) if spec.access == contract.OPERATOR else (401,)
            openapi["responses"] = {
                **openapi.get("responses", {}),
                **dict.fromkeys(refusals, PROBLEM_RESPONSE),
            }
        return self.app.route(_powertools_rule(spec.path), method=spec.method, operation_id=name, **openapi)

    def signed_in(self) -> str:
        """The caller's subject; raises 401 when there is none."""
        return require(CUSTOMER, self.caller)

    @property
    def database(self) -> Database:
        # Opened lazily: a cold start that only fails validation never connects.
        if self._database is None:
            self._database = Database(self.settings.database())
        return self._database

    def run(self, use_case: Callable[[Shop], T]) -> T:
        """Run a use case outside the Powertools lock, then restore this request's event."""
        assert self.shop is not None, "routes run inside __call__"
        saved = (BaseRouter.current_event, BaseRouter.lambda_context)
        _POWERTOOLS_LOCK.release()
        try:
            if self.tracer is None:
                return use_case(self.shop)
            with self.tracer.provider.in_subsegment("## shop"):
                return use_case(self.shop)
        finally:
            _POWERTOOLS_LOCK.acquire()
            BaseRouter.current_event, BaseRouter.lambda_context = saved

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._entry(event, context)
        return result

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        remaining = context.get_remaining_time_in_millis() / 1000.0
        deadline = time.monotonic() + max(0.0, remaining - DEADLINE_MARGIN_SECONDS)
        self.shop = Shop(
            ShopRepository(
                lambda: self.database,
                deadline=deadline,
                order_strategy=self.settings.order_strategy,
                region=self.region,
            )
        )
        retries_before = self._database.stats.retries if self._database is not None else 0
        head = str(event.get("httpMethod", "")).upper() == "HEAD"
        if head:
            # HEAD is GET without the body (RFC 9110); API Gateway hands it over as HEAD.
            event = {**event, "httpMethod": "GET"}
        route = contract.find(str(event.get("httpMethod", "")), str(event.get("resource", "")))
        self.caller = caller_of(event, self.settings.operator_issuer)
        body = event.get("body") or ""
        rejection = None
        refused = denied(route, self.caller)
        if refused is not None:
            result = _result(shop_problem(refused))
            if isinstance(refused, Unauthenticated):
                result["headers"]["WWW-Authenticate"] = "Bearer"
        elif len(body.encode() if isinstance(body, str) else body) > MAX_BODY_BYTES:
            result = _result(
                problem("payload-too-large", 413, f"request bodies are limited to {MAX_BODY_BYTES} bytes")
            )
        elif route is not None and route.body and (rejection := check_body(event)) is not None:
            result = _result(problem(rejection.code, rejection.status, rejection.detail))
        else:
            with _POWERTOOLS_LOCK:
                result = self.app.resolve(event, context)
        if head:
            result["body"], result["isBase64Encoded"] = "", False
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

    # ---- errors -> problem+json ----------------------------------------------------------------

    def _register_errors(self) -> None:
        app = self.app

        @app.exception_handler(RequestValidationError)
        def _validation(error: RequestValidationError) -> Response[str]:
            errors = error.errors()
            if any(e.get("type") == "json_invalid" for e in errors):
                return problem("malformed-json", 400, "the request body is not valid JSON")
            if [tuple(e.get("loc", ())) for e in errors] == [("header", "idempotency-key")] and errors[0].get(
                "type"
            ) == "missing":
                return problem(
                    "idempotency-key-missing",
                    400,
                    "POST /orders needs an Idempotency-Key header (a new UUID per order) so retries never "
                    "double-order",
                )
            fields = [
                FieldError(field=field_name(tuple(e.get("loc", ()))), message=str(e.get("msg")))
                for e in errors
            ]
            listed = ", ".join(sorted({f.field for f in fields}))
            return problem("validation-error", 422, f"invalid input: {listed}", errors=fields)

        @app.exception_handler(ShopError)
        def _shop(error: ShopError) -> Response[str]:
            if isinstance(error, Unavailable):
                logger.warning(
                    "database unavailable", extra={"problem": error.code, "cause": repr(error.__cause__)}
                )
            return shop_problem(error)

        @app.not_found
        def _not_found(_: NotFoundError) -> Response[str]:
            event = app.current_event
            return problem("route-not-found", 404, f"no route for {event.http_method} {event.path}")

        @app.exception_handler(Exception)
        def _internal(error: Exception) -> Response[str]:
            # Internal exception text never reaches a client; it goes to the log with the stack.
            logger.exception("unhandled error")
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


def _after_restore() -> None:
    # A SnapStart restore resumes every environment from the same memory image: give each its own
    # random state (retry jitter must not move in lock step across environments) and its own home
    # among a hot product's stock buckets.
    import random

    random.seed()
    forget_bucket_homes()


try:  # the module exists only inside Lambda's runtime
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - outside Lambda
    pass
else:  # pragma: no cover
    register_after_restore(_after_restore)
