"""The HTTP side of one simulated region: /openapi.json, /docs (Swagger UI, offline) and the API.

It answers like the deployed stage: what API Gateway answers itself (404 for a path no resource
has, 405 with ``Allow`` for a method a resource lacks, 401 where the Cognito authorizer refuses the
token, which the local user pool verifies) comes from ``ecommerce_dev.apigw``; so do the
server's own errors (malformed or oversized request heads, which uvicorn would answer in plain
text): problem+json with the serving-region header, like every other error of the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecommerce_dev import apigw
from ecommerce_dev.identity import Unauthorized
from handlers import contract
from handlers.infra.edge_health import USER_AGENT as CHECKER_AGENT

from .regions import RegionRuntime

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger("ecommerce.dev")

SWAGGER_ASSETS = {
    "swagger-ui-bundle.min.js": "application/javascript",
    "swagger-ui.min.css": "text/css",
}
# API Gateway REST refuses request lines plus headers over 10,240 bytes; so does the local runtime.
MAX_HEAD_BYTES = 10 * 1024


def _openapi(base_url: str) -> dict[str, Any]:
    from handlers.api.openapi import openapi_document

    document = dict(openapi_document())
    document["servers"] = [{"url": base_url, "description": "ecommerce dev (local)"}]
    return document


def _swagger_dir() -> Path:
    import aws_lambda_powertools.event_handler.openapi as openapi_pkg

    return Path(openapi_pkg.__file__).parent / "swagger_ui"


def _swagger_page(spec: dict[str, Any]) -> str:
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    return generate_swagger_html(
        json.dumps(spec),
        "/docs/swagger-ui-bundle.min.js",
        "/docs/swagger-ui.min.css",
        "/docs",  # non-empty: link the locally served assets instead of inlining 1.5 MB per page
        None,
    )


def create_app(runtime: RegionRuntime) -> Any:
    """An ASGI app: the tooling pages by exact path and method, everything else as API Gateway would."""
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

    async def tooling(request: Request) -> Response | None:
        path, method = request.url.path, request.method
        if method not in ("GET", "HEAD"):
            return None
        if path == "/openapi.json":
            return JSONResponse(_openapi(runtime.url))
        if path == "/docs":
            return HTMLResponse(_swagger_page(_openapi(runtime.url)))
        name = path.removeprefix("/docs/")
        if path.startswith("/docs/") and name in SWAGGER_ASSETS:
            return FileResponse(_swagger_dir() / name, media_type=SWAGGER_ASSETS[name])
        return None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        started = time.perf_counter()
        head = len(scope.get("raw_path") or b"") + sum(len(k) + len(v) for k, v in scope["headers"])
        response: Response | None
        if head > MAX_HEAD_BYTES:
            response = Response(
                contract.problem_body(
                    "malformed-request", "Malformed request", 400, f"request head over {MAX_HEAD_BYTES} bytes"
                ),
                status_code=400,
                media_type=contract.PROBLEM_MEDIA_TYPE,
                headers={contract.REGION_HEADER: runtime.region},
            )
        else:
            response = await tooling(request)
        if response is None:
            status, headers, body = await _dispatch(runtime, request)
            response = Response(content=body if request.method != "HEAD" else b"", status_code=status)
            for name, value in headers:
                if name.lower() != "content-length":
                    response.headers.append(name, value)
        elapsed = (time.perf_counter() - started) * 1000
        # The local edge health checker's passing probes (every few seconds) stay out of the log.
        quiet = response.status_code == 200 and request.headers.get("user-agent") == CHECKER_AGENT
        (log.debug if quiet else log.info)(
            "%s %s %d %.1fms %s",
            request.method,
            request.url.path,
            response.status_code,
            elapsed,
            runtime.region,
        )
        await response(scope, receive, send)

    return app


async def _dispatch(runtime: RegionRuntime, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
    path = request.url.path
    # Read the whole request first, as API Gateway does: answering (a 404, 405 or 401) while the
    # client is still sending makes the closing socket reset the connection, and the client (or the
    # local edge in front) loses the answer.
    body = await request.body()
    found = apigw.match(request.method, path)
    if found is None:
        return apigw.decode_result(apigw.missing_route_result(runtime.region))
    if found.route is None:
        return apigw.decode_result(apigw.method_not_allowed_result(found, runtime.region))
    headers = list(request.headers.items())
    try:
        claims = apigw.authorize(found.route, headers, runtime.identity)
    except Unauthorized as refused:
        log.info("401 %s %s: %s", request.method, path, refused.reason)  # API Gateway tells nobody why
        return apigw.decode_result(apigw.unauthorized_result(refused.message, runtime.region))
    event = apigw.build_event(
        method=request.method,
        path=path,
        headers=headers,
        query=list(request.query_params.multi_items()),
        body=body,
        source_ip=request.client.host if request.client else apigw.HOST,
        resource=found.resource,
        path_parameters=found.path_parameters,
        host=request.headers.get("host", apigw.HOST),
        claims=claims,
    )
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(runtime.executor, runtime.invoke, found.route.function, event)
    return apigw.decode_result(result)


def protocol_class(region: str) -> type[Any]:
    """uvicorn's h11 protocol, answering malformed or oversized request heads with problem+json."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class ProblemH11Protocol(H11Protocol):  # type: ignore[misc]
        def send_400_response(self, msg: str) -> None:
            body = contract.problem_body("malformed-request", "Malformed request", 400, msg).encode()
            headers = [
                (b"content-type", contract.PROBLEM_MEDIA_TYPE.encode()),
                (contract.REGION_HEADER.lower().encode(), region.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (
                h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    return ProblemH11Protocol
