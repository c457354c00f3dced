"""The ASGI app of one region: /openapi.json, /docs (Swagger UI, offline) and the API itself."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecommerce_dev import apigw

from .regions import RegionRuntime

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger("ecommerce.dev")

SWAGGER_ASSETS = {
    "swagger-ui-bundle.min.js": "application/javascript",
    "swagger-ui.min.css": "text/css",
}


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
    """Starlette app: /openapi.json, /docs and everything else to the handlers."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(_openapi(runtime.url))

    async def docs(request: Request) -> Response:
        return HTMLResponse(_swagger_page(_openapi(runtime.url)))

    async def docs_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in SWAGGER_ASSETS:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return FileResponse(_swagger_dir() / name, media_type=SWAGGER_ASSETS[name])

    async def proxy(request: Request) -> Response:
        started = time.perf_counter()
        status, headers, body = await _dispatch(runtime, request)
        response = Response(content=body, status_code=status)
        for name, value in headers:
            if name.lower() != "content-length":
                response.headers.append(name, value)
        elapsed = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1fms %s", request.method, request.url.path, status, elapsed, runtime.region)
        return response

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            Route("/docs/{name}", docs_asset, methods=["GET"]),
            Route("/{path:path}", proxy, methods=methods),
        ]
    )


async def _dispatch(runtime: RegionRuntime, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
    path = request.url.path
    found = apigw.match(request.method, path)
    if found is None or found.route is None:
        return apigw.decode_result(apigw.missing_route_result())
    event = apigw.build_event(
        method=request.method,
        path=path,
        headers=list(request.headers.items()),
        query=list(request.query_params.multi_items()),
        body=await request.body(),
        source_ip=request.client.host if request.client else apigw.HOST,
        resource=found.resource,
        path_parameters=found.path_parameters,
        host=request.headers.get("host", apigw.HOST),
    )
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(runtime.executor, runtime.invoke, found.route.function, event)
    return apigw.decode_result(result)
