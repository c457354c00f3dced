"""The runtime's life: lock, sockets, database, migrations, servers, and an orderly stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ecommerce_dev.apigw import HOST
from ecommerce_dev.identity import LocalIdentity

from .app import MAX_HEAD_BYTES, create_app, log, protocol_class
from .banner import banner
from .lock import DevLock
from .options import LOG_FILE, PGDATA, DevError, DevOptions
from .regions import RegionRuntime
from .signals import sigterm_as_interrupt, stop_servers_on_signal

if TYPE_CHECKING:
    from ecommerce_dev.engine import LocalEngine


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
    from ecommerce_dev.guarded import guarded_connector
    from handlers.db.migrate import apply_migrations

    result = apply_migrations(
        guarded_connector(dsn, application_name="ecommerce-migrate"),
        include_sample_data=sample_data,
        poll_interval=0.05,
        log=lambda _: None,
    )
    loaded = ", sample data loaded" if result.sample_data_loaded else ""
    echo(f"migrations: applied {len(result.applied)}, already applied {len(result.skipped)}{loaded}")


def run(options: DevOptions, echo: Callable[[str], None] = print) -> int:
    """Start everything, serve until SIGINT/SIGTERM, stop everything; returns the exit status."""
    if len(options.ports) != len(options.regions):
        raise DevError("give one port per region")
    data_dir = options.data_dir.expanduser().resolve()
    with DevLock(data_dir), sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        sockets = [bind(port) for port in options.ports]
        for sock in sockets:
            stack.callback(sock.close)
        _configure_logging(data_dir)
        echo(f"starting PostgreSQL with the DSQL guard in {data_dir / PGDATA} ...")
        engine = _start_engine(data_dir, options.durable)
        stack.callback(_stop_engine, engine, echo)
        migrate(engine.dsn, sample_data=options.sample_data, echo=echo)
        _start_events_relay(engine.dsn, data_dir, options.regions[0], stack, echo)
        identity = LocalIdentity.open(data_dir)
        runtimes = [
            RegionRuntime(region, port, engine.dsn, identity)
            for region, port in zip(options.regions, options.ports, strict=True)
        ]
        for runtime in runtimes:
            stack.callback(runtime.close)
        edge_url = _start_edge(options, runtimes, data_dir, stack, echo)
        ready = partial(
            echo,
            banner(
                runtimes,
                data_dir,
                engine.dsn,
                engine.pgdata / "log",
                edge_url=edge_url,
                checker_interval=options.checker_interval if edge_url else 0,
            ),
        )
        with contextlib.suppress(KeyboardInterrupt):  # a signal before the loop took over
            asyncio.run(_serve(runtimes, sockets, ready))
        echo("stopping ...")
    echo("stopped")
    return 0


def _start_edge(
    options: DevOptions,
    runtimes: Sequence[RegionRuntime],
    data_dir: Path,
    stack: contextlib.ExitStack,
    echo: Callable[[str], None],
) -> str | None:
    """The local edge, or a warning and None: the regions work without it (Node may be missing)."""
    if options.edge_port is None:
        return None
    from .edge import KVS_FILE, LocalEdgeError, start_local_edge

    try:
        edge = start_local_edge(
            port=options.edge_port,
            origins={runtime.region: runtime.url for runtime in runtimes},
            primary=runtimes[0].region,
            kvs_file=data_dir / KVS_FILE,
            log=data_dir / "edge.log",
        )
    except LocalEdgeError as exc:  # Node missing, the port taken
        echo(f"warning: local edge disabled: {exc}")
        return None
    stack.callback(edge.stop)  # LIFO: the edge stops before the regions and the database
    if options.checker_interval > 0:
        from .checker import local_checker

        checker = local_checker(
            origins={runtime.region: runtime.url for runtime in runtimes},
            kvs_file=data_dir / KVS_FILE,
            interval=options.checker_interval,
            on_change=echo,
        ).start()  # its first run is one interval away: the servers are up by then
        stack.callback(checker.stop)  # stops before the edge and the regions
    return edge.url


def _start_engine(data_dir: Path, durable: bool) -> LocalEngine:
    from ecommerce_dev.engine import LocalEngine

    # wal_level = logical: the events relay reads the outbox's inserts by logical decoding.
    return LocalEngine.start(data_dir, durable=durable, logical=True)


def _start_events_relay(
    dsn: str, data_dir: Path, region: str, stack: contextlib.ExitStack, echo: Callable[[str], None]
) -> None:
    """Outbox inserts to the local bus (``ecommerce dev events``), as DSQL's stream and the
    publisher do in AWS; stops before the database."""
    from ecommerce_dev.events_relay import RelayThread

    relay = RelayThread(dsn, data_dir, region=region, on_error=echo).start()
    stack.callback(relay.stop)


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
            yield  # stop_servers_on_signal stops every region's server together

    servers = [
        Server(
            uvicorn.Config(
                create_app(runtime),
                http=protocol_class(runtime.region),
                h11_max_incomplete_event_size=4 * MAX_HEAD_BYTES,
                lifespan="off",
                access_log=False,
                log_level="warning",
                server_header=False,
                timeout_graceful_shutdown=5,
            )
        )
        for runtime in runtimes
    ]
    with stop_servers_on_signal(servers) as stop:
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
