"""API Gateway REST as the handlers meet it: routing by the contract's resources, proxy events
(payload format 1.0) and the Lambda context. Shared by the local runtime, the tests and the bench,
so all three hand the handlers exactly what the deployed stage would."""

from __future__ import annotations

import base64
import functools
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from handlers import contract

if TYPE_CHECKING:
    from ecommerce_dev.identity import LocalIdentity

HOST = "127.0.0.1"
STAGE = "prod"
FUNCTION_TIMEOUT_SECONDS = 10  # the deployed default (config lambda.timeout_seconds)


@dataclass(frozen=True)
class Match:
    """What API Gateway found for a request: the resource, and the route if the method exists."""

    resource: str
    path_parameters: dict[str, str] | None
    methods: tuple[str, ...]
    route: contract.Route | None

    @property
    def function(self) -> str | None:
        return self.route.function if self.route is not None else None


@functools.cache
def _resources() -> tuple[tuple[re.Pattern[str], str], ...]:
    compiled = []
    # Like API Gateway, a literal segment wins over a path parameter (/customers/me before {customer_id}).
    for path in sorted(contract.methods_by_path(), key=lambda p: p.count("{")):
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        compiled.append((re.compile(f"^{pattern}$"), path))
    return tuple(compiled)


def match(method: str, path: str) -> Match | None:
    """The resource API Gateway would select for ``path``; None when no resource matches."""
    methods_of = contract.methods_by_path()
    for pattern, resource in _resources():
        found = pattern.match(path)
        if found is None:
            continue
        route = contract.find(method, resource)
        return Match(resource, found.groupdict() or None, methods_of[resource], route)
    return None


def _problem_result(status: int, body: str, region: str, headers: Mapping[str, str] = {}) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": contract.PROBLEM_MEDIA_TYPE, contract.REGION_HEADER: region, **headers},
        "body": body,
        "isBase64Encoded": False,
    }


def missing_route_result(region: str) -> dict[str, Any]:
    """What the deployed API answers itself when no resource matches (a gateway response)."""
    return _problem_result(404, contract.NO_ROUTE_BODY, region)


def method_not_allowed_result(found: Match, region: str) -> dict[str, Any]:
    """What the deployed API answers itself for a method the resource lacks (a MOCK method)."""
    return _problem_result(
        405,
        contract.method_not_allowed_body(found.resource),
        region,
        {"Allow": contract.allow_header(found.resource)},
    )


def authorize(
    route: contract.Route, headers: Sequence[tuple[str, str]], identity: LocalIdentity
) -> dict[str, str] | None:
    """What the deployed stage does before a function runs: anonymous routes have no authorizer
    (no claims, whatever the headers say); every other route has the Cognito authorizer, which
    verifies the ``Authorization`` header and hands the token's claims on.

    Raises ``ecommerce_dev.identity.Unauthorized`` where API Gateway answers 401 itself.
    """
    if route.access == contract.ANONYMOUS:
        return None
    values = [value for name, value in headers if name.lower() == "authorization"]
    return identity.verify(values[-1] if values else None)


def unauthorized_result(message: str, region: str) -> dict[str, Any]:
    """API Gateway's UNAUTHORIZED gateway response (``message``: the authorizer's)."""
    return _problem_result(
        401, contract.unauthenticated_body(message), region, {"WWW-Authenticate": "Bearer"}
    )


def _single(multi: Mapping[str, list[str]]) -> dict[str, str] | None:
    # API Gateway's single-value maps hold the last value of each name; null when empty.
    return {key: values[-1] for key, values in multi.items()} or None


def encode_body(body: bytes) -> tuple[str | None, bool]:
    """(body, isBase64Encoded): UTF-8 text as is, anything else base64 (a binary media type)."""
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def build_event(
    *,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    query: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str = HOST,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    host: str = HOST,
    claims: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload format 1.0) as the deployed stage would send it.

    ``resource`` and ``path_parameters`` default to what :func:`match` finds for the path;
    ``claims`` are what the Cognito authorizer verified (see :func:`authorize`).
    """
    if resource is None:
        found = match(method, path)
        resource = found.resource if found else "/{proxy+}"
        path_parameters = found.path_parameters if found else None
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    text, is_base64 = encode_body(body)
    now = time.time()
    event: dict[str, Any] = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": _single(multi_headers),
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": _single(multi_query),
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": source_ip, "userAgent": (multi_headers.get("user-agent") or [""])[-1]},
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": dict(claims)}
    return event


def decode_result(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a proxy result; headers and multiValueHeaders merge as in API Gateway."""
    headers: dict[str, list[str]] = {k: list(v) for k, v in (result.get("multiValueHeaders") or {}).items()}
    for name, value in (result.get("headers") or {}).items():
        headers.setdefault(name, [str(value)])
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    pairs = [(name, str(value)) for name, values in headers.items() for value in values]
    return int(result.get("statusCode", 502)), pairs, body


@dataclass
class LambdaContext:
    """The parts of Lambda's context object the handlers and Powertools read."""

    function_name: str = "local"
    timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))
