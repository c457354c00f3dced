"""The local runtime behind ``ecommerce dev``: the Lambda entry points served over HTTP per region.

One process: the embedded PostgreSQL (through the DSQL guard), then one uvicorn server per
simulated region on 127.0.0.1, all in one asyncio loop. Each HTTP request becomes an API Gateway
REST proxy event and goes to the same ``ApiHandler`` code Lambda runs, chosen with
``handlers.api.ROUTES`` the way API Gateway's resources choose the function. Handlers are not
thread-safe, so every worker thread owns its own handlers (one simulated execution environment
per thread and region), exactly as Lambda scales out with more environments, never shared ones.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handlers.db.sample import JOHN, LAPTOP

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from handlers.api.common import ApiHandler
    from handlers.tools.engine import LocalEngine

HOST = "127.0.0.1"
STAGE = "prod"
DEFAULT_REGIONS = ("us-east-1", "us-east-2")
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = Path(".local")
LOCK_FILE = "dev.lock"
LOG_FILE = "dev.log"
PGDATA = "pgdata"
FUNCTION_TIMEOUT_SECONDS = 10  # the deployed default (config lambda.timeout_seconds)
WORKERS_PER_REGION = 8  # concurrent simulated execution environments per region
# What API Gateway REST answers for a path or method no resource defines.
MISSING_ROUTE = {"message": "Missing Authentication Token"}

log = logging.getLogger("ecommerce.dev")


class DevError(Exception):
    """A problem the user can fix; the message says how."""


# ---- lock ---------------------------------------------------------------------------------------


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DevLock:
    """``<data dir>/dev.lock``: an exclusive flock plus our pid, so two runtimes never share a data dir.

    The kernel drops the flock when its holder dies (even on SIGKILL), so a stale file never blocks;
    the pid is only there to tell the user which process holds it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def holder(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.holder()
            who = f"pid {pid}" if pid and _process_alive(pid) else "another process"
            raise DevError(
                f"ecommerce dev is already running on {self.path.parent} ({who}); "
                "stop it (Ctrl-C) or pick another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DevLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def reset(data_dir: Path) -> list[Path]:
    """Delete the local database and log (refusing while a runtime uses them); returns what went."""
    data_dir = data_dir.resolve()
    removed: list[Path] = []
    if not data_dir.exists():
        return removed
    with DevLock(data_dir):
        _stop_orphan_postgres(data_dir / PGDATA)
        for name in (PGDATA, LOG_FILE):
            target = data_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            else:
                continue
            removed.append(target)
    return removed


def _stop_orphan_postgres(pgdata: Path, timeout: float = 10.0) -> None:
    """A server left behind by a killed runtime must stop before its files are deleted."""
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    if not _process_alive(pid):
        return
    os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    deadline = time.monotonic() + timeout
    while _process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _process_alive(pid):
        raise DevError(f"PostgreSQL (pid {pid}) on {pgdata} did not stop; stop it and retry")


# ---- API Gateway REST proxy events -------------------------------------------------------------


def function_for(method: str, path: str) -> tuple[str, str, dict[str, str] | None] | None:
    """(function, resource, pathParameters) API Gateway would pick, or None (it answers 403).

    Mirrors EcommerceApi's resources: ``/<top>`` and ``/<top>/{proxy+}`` with ANY for each
    ``ROUTES`` key, except ``/health`` which is a single GET resource.
    """
    from handlers.api import ROUTES

    top, _, rest = path.strip("/").partition("/")
    function = ROUTES.get(top)
    if function is None:
        return None
    if top == "health":
        # The deployed API defines GET only on /health; HEAD gets API Gateway's 403 there too.
        return (function, "/health", None) if not rest and method == "GET" else None
    if not rest:
        return function, f"/{top}", None
    return function, f"/{top}/{{proxy+}}", {"proxy": rest}


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
    resource: str = "/{proxy+}",
    path_parameters: dict[str, str] | None = None,
    host: str = HOST,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload format 1.0) as the deployed stage would send it."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    text, is_base64 = encode_body(body)
    now = time.time()
    return {
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
    """The parts of Lambda's context object the handlers read (the remaining-time deadline)."""

    function_name: str
    timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


# ---- one simulated region ------------------------------------------------------------------------


class RegionRuntime:
    """The API of one region: worker threads, each with its own catalog and orders handlers."""

    def __init__(self, region: str, port: int, dsn: str) -> None:
        self.region = region
        self.port = port
        self.dsn = dsn
        self.executor = ThreadPoolExecutor(WORKERS_PER_REGION, thread_name_prefix=f"lambda-{region}")
        self._local = threading.local()
        self._created: list[ApiHandler] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _handlers(self) -> dict[str, ApiHandler]:
        handlers: dict[str, ApiHandler] | None = getattr(self._local, "handlers", None)
        if handlers is None:
            from handlers.api import catalog, orders
            from handlers.db import Database, DatabaseSettings

            def database() -> Database:
                return Database(
                    DatabaseSettings(local_dsn=self.dsn, application_name=f"ecommerce-{self.region}")
                )

            handlers = {
                "catalog": catalog.build(database=database(), region=self.region),
                "orders": orders.build(database=database(), region=self.region),
            }
            self._local.handlers = handlers
            with self._lock:
                self._created.extend(handlers.values())
        return handlers

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Runs on a worker thread: one invocation of the named function's entry point."""
        return self._handlers()[function](event, LambdaContext(function_name=f"{self.region}-{function}"))

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        for handler in self._created:
            with contextlib.suppress(Exception):
                handler.database.close()
        self._created.clear()


# ---- the ASGI app --------------------------------------------------------------------------------


def _openapi(base_url: str) -> dict[str, Any]:
    from handlers.api.openapi import openapi_document

    document = dict(openapi_document())
    document["servers"] = [{"url": base_url, "description": "ecommerce dev (local)"}]
    return document


SWAGGER_ASSETS = {
    "swagger-ui-bundle.min.js": "application/javascript",
    "swagger-ui.min.css": "text/css",
}


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
    """Starlette app: /openapi.json, /docs (Swagger UI, offline) and everything else to the handlers."""
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
    target = function_for(request.method, path)
    if target is None:
        body = json.dumps(MISSING_ROUTE).encode()
        return (
            403,
            [
                ("Content-Type", "application/json"),
                ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
            ],
            body,
        )
    function, resource, path_parameters = target
    event = build_event(
        method=request.method,
        path=path,
        headers=[(name, value) for name, value in request.headers.items()],
        query=list(request.query_params.multi_items()),
        body=await request.body(),
        source_ip=request.client.host if request.client else HOST,
        resource=resource,
        path_parameters=path_parameters,
        host=request.headers.get("host", HOST),
    )
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(runtime.executor, runtime.invoke, function, event)
    return decode_result(result)


# ---- the runtime ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevOptions:
    data_dir: Path = DEFAULT_DATA_DIR
    regions: tuple[str, ...] = DEFAULT_REGIONS
    ports: tuple[int, ...] = (DEFAULT_PORT, DEFAULT_PORT + 1)
    sample_data: bool = True
    durable: bool = True


def bind(port: int) -> socket.socket:
    """Bind and listen before the slow start-up, so a taken port fails in milliseconds."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise DevError(
            f"cannot listen on {HOST}:{port}: {exc.strerror}; choose another port (--port)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def curl_commands(first: str, second: str, idempotency_key: str) -> list[str]:
    """The recipe's "Testing the Deployment" steps as commands that run as printed (bash/zsh)."""
    json_header = "-H 'Content-Type: application/json'"
    curl = "curl -sS -w '\\n'"  # -w: end each response with a newline
    product = json.dumps(
        {"name": "Desk Lamp", "price": "39.99", "stock_quantity": 25, "category": "Home"},
        separators=(",", ":"),
    )
    order = json.dumps(
        {"customer_id": JOHN, "items": [{"product_id": LAPTOP, "quantity": 1}]}, separators=(",", ":")
    )
    order_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"order_id\"])'"
    return [
        f"{curl} '{first}/products?limit=5'",
        f"{curl} -X POST {first}/products {json_header} -d '{product}'",
        f"ORDER_ID=$({curl} -X POST {first}/orders {json_header} -H 'Idempotency-Key: {idempotency_key}'"
        f" -d '{order}' | {order_id}); echo \"$ORDER_ID\"",
        f"{curl} {second}/orders/$ORDER_ID",
        f"{curl} -X POST {first}/orders/$ORDER_ID/cancel",
    ]


CURL_COMMENTS = (
    "list products",
    "create a product",
    "place an order for John's laptop (retrying with the same Idempotency-Key never orders twice)",
    "fetch it through the other region (one logical database)",
    "cancel it (the stock goes back)",
)
TRY_IT_HEADER = "Try it (paste into bash or zsh):"


def banner(runtimes: Sequence[RegionRuntime], data_dir: Path, dsn: str, engine_log: Path) -> str:
    first = runtimes[0].url
    second = runtimes[-1].url
    lines = ["", "ecommerce dev is ready", ""]
    for runtime in runtimes:
        lines.append(
            f"  {runtime.region:<10} {runtime.url}   docs {runtime.url}/docs   {runtime.url}/openapi.json"
        )
    lines += [
        "",
        f"  data dir   {data_dir}   (kept across restarts; wipe with: ecommerce dev --reset-only)",
        f"  database   {dsn}",
        f'             psql "{dsn}"   (admin, unguarded; the API connects through the DSQL guard)',
        f"  logs       {data_dir / LOG_FILE} (requests), {engine_log} (PostgreSQL)",
        "",
        TRY_IT_HEADER,
    ]
    for comment, command in zip(CURL_COMMENTS, curl_commands(first, second, str(uuid.uuid4())), strict=True):
        lines += [f"# {comment}", command]
    lines += ["", "Ctrl-C stops the servers and the database.", ""]
    return "\n".join(lines)


def _configure_logging(data_dir: Path) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logfile = logging.FileHandler(data_dir / LOG_FILE, encoding="utf-8")
    logfile.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(console)
    log.addHandler(logfile)


def migrate(dsn: str, *, sample_data: bool, echo: Callable[[str], None]) -> None:
    from handlers.db import DatabaseSettings, apply_migrations, make_connector

    connect = make_connector(DatabaseSettings(local_dsn=dsn, application_name="ecommerce-migrate"))
    result = apply_migrations(
        connect, include_sample_data=sample_data, poll_interval=0.05, log=lambda _: None
    )
    loaded = ", sample data loaded" if result.sample_data_loaded else ""
    echo(f"migrations: applied {len(result.applied)}, already applied {len(result.skipped)}{loaded}")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Until the servers take over, SIGTERM unwinds like Ctrl-C so the database is still stopped."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(options: DevOptions, echo: Callable[[str], None] = print) -> int:
    """Start everything, serve until SIGINT/SIGTERM, stop everything; returns the exit status."""
    if len(options.ports) != len(options.regions):
        raise DevError("give one port per region")
    data_dir = options.data_dir.expanduser().resolve()
    with DevLock(data_dir), _sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        sockets = [bind(port) for port in options.ports]
        for sock in sockets:
            stack.callback(sock.close)
        _configure_logging(data_dir)
        echo(f"starting PostgreSQL with the DSQL guard in {data_dir / PGDATA} ...")
        engine = _start_engine(data_dir, options.durable)
        stack.callback(_stop_engine, engine, echo)
        migrate(engine.dsn, sample_data=options.sample_data, echo=echo)
        runtimes = [
            RegionRuntime(region, port, engine.dsn)
            for region, port in zip(options.regions, options.ports, strict=True)
        ]
        for runtime in runtimes:
            stack.callback(runtime.close)
        ready = partial(echo, banner(runtimes, data_dir, engine.dsn, engine.pgdata / "log"))
        with contextlib.suppress(KeyboardInterrupt):  # a signal before the loop took over
            asyncio.run(_serve(runtimes, sockets, ready))
        echo("stopping ...")
    echo("stopped")
    return 0


def _start_engine(data_dir: Path, durable: bool) -> LocalEngine:
    from handlers.tools.engine import LocalEngine

    return LocalEngine.start(data_dir, durable=durable)


def _stop_engine(engine: LocalEngine, echo: Callable[[str], None]) -> None:
    engine.stop()
    echo("PostgreSQL stopped")


async def _serve(
    runtimes: Sequence[RegionRuntime], sockets: Sequence[socket.socket], ready: Callable[[], None]
) -> None:
    import uvicorn

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # one handler below stops every region's server together

    servers = [
        Server(
            uvicorn.Config(
                create_app(runtime),
                lifespan="off",
                access_log=False,
                log_level="warning",
                server_header=False,
                timeout_graceful_shutdown=5,
            )
        )
        for runtime in runtimes
    ]

    def stop() -> None:
        for server in servers:
            server.force_exit = server.should_exit  # a second Ctrl-C skips waiting for open connections
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock]))
            for server, sock in zip(servers, sockets, strict=True)
        ]
        while not all(server.started for server in servers) and not any(task.done() for task in tasks):
            await asyncio.sleep(0.01)
        if all(server.started for server in servers):
            ready()
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()  # one region's server ended: end the others too
        await asyncio.gather(*tasks)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
