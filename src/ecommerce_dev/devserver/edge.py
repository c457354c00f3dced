"""The local edge: CloudFront's routing in front of the simulated regions, as a Node.js subprocess.

``start_local_edge`` runs ``ecommerce_dev/edge_local/server.mjs``, which evaluates the deployed
viewer-request function (``ecommerce_constructs/edge/router.js``) per request and proxies to the region
it picks, failing reads over like an origin group. Drain state comes from ``<data dir>/edge/kvs.json``
(CloudFront's KeyValueStore import format), read on every request.

Node.js is optional for ``make dev``: without it ``start_local_edge`` raises ``NodeNotFoundError`` and
the regions still serve directly.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO

from ecommerce_constructs.edge_routing import REGION_COORDINATES  # what the deployed router.js is given

HOST = "127.0.0.1"
DEFAULT_EDGE_PORT = 8090
KVS_FILE = Path("edge") / "kvs.json"  # under the data dir (ecommerce_ops.edge.LOCAL_STORE writes it)
READY_MARKER = "edge listening on "  # server.mjs prints this line once it accepts connections
STARTUP_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
OUTPUT_TAIL_LINES = 20


class LocalEdgeError(RuntimeError):
    """The local edge could not start; the message says why and what to do."""


class NodeNotFoundError(LocalEdgeError):
    """No ``node`` executable: the caller may carry on without the local edge."""


@dataclass
class LocalEdge:
    """A running local edge. ``stop()`` ends it (also on leaving a ``with`` block)."""

    url: str
    port: int
    kvs_file: Path
    process: subprocess.Popen[str]
    _pump: threading.Thread
    _resources: contextlib.ExitStack
    _tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=OUTPUT_TAIL_LINES))

    def running(self) -> bool:
        return self.process.poll() is None

    def output_tail(self) -> str:
        """The last lines the server printed (requests, warnings, errors)."""
        return "\n".join(self._tail)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code. Safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        self._pump.join(timeout)
        self._resources.close()
        return self.process.returncode

    def __enter__(self) -> LocalEdge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def node_executable() -> str:
    """The ``node`` on PATH; ``NodeNotFoundError`` if there is none."""
    node = shutil.which("node")
    if node is None:
        raise NodeNotFoundError(
            "Node.js not found: the local edge (CloudFront routing on one port) needs `node` (18 or newer) "
            "on PATH; install it from https://nodejs.org or your package manager"
        )
    return node


def region_points(
    regions: list[str], coordinates: Mapping[str, tuple[float, float]] | None = None
) -> list[dict[str, object]]:
    """The router's REGIONS literal for these regions, in this order (coordinates as deployed)."""
    table = {**REGION_COORDINATES, **(coordinates or {})}
    points: list[dict[str, object]] = []
    for region in regions:
        if region not in table:
            raise LocalEdgeError(
                f"no coordinates for region {region}: pass coordinates={{'{region}': (lat, lon)}} "
                "to start_local_edge"
            )
        lat, lon = table[region]
        points.append({"id": region, "lat": lat, "lon": lon})
    return points


def start_local_edge(
    *,
    port: int,
    origins: dict[str, str],
    primary: str,
    kvs_file: Path,
    log: Path | None,
    coordinates: Mapping[str, tuple[float, float]] | None = None,
    host: str = HOST,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> LocalEdge:
    """Start the local edge on ``host:port`` and return once it accepts connections.

    ``origins`` maps each region (= origin id) to its base URL, e.g. ``{"us-east-1":
    "http://127.0.0.1:8080"}``, in the order the router lists them. ``log``: append the server's
    output (one line per request) to this file; ``None`` prints it to this process's stdout.
    Raises ``NodeNotFoundError`` without Node.js and ``LocalEdgeError`` if the server does not start
    (port taken, bad configuration, timeout); the message includes the server's last output.
    """
    if not origins:
        raise LocalEdgeError("the local edge needs at least one origin")
    if primary not in origins:
        raise LocalEdgeError(f"primary region {primary} is not one of the origins ({', '.join(origins)})")
    node = node_executable()
    regions = region_points(list(origins), coordinates)

    stack = contextlib.ExitStack()
    try:
        # Real files even if the package is zipped (as_file extracts until the stack closes).
        server = stack.enter_context(
            resources.as_file(resources.files("ecommerce_dev.edge_local") / "server.mjs")
        )
        router = stack.enter_context(
            resources.as_file(resources.files("ecommerce_constructs.edge") / "router.js")
        )
        for script in (server, router):
            if not script.is_file():
                raise LocalEdgeError(
                    f"{script} is missing: reinstall ecommerce-constructs (the wheel ships it)"
                )
        sink: IO[str] | None = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            sink = stack.enter_context(log.open("a", encoding="utf-8"))
        command = [
            node,
            str(server),
            "--host", host,
            "--port", str(port),
            "--origins", json.dumps(origins),
            "--regions", json.dumps(regions),
            "--primary", primary,
            "--kvs-file", str(kvs_file.expanduser().resolve()),
            "--router", str(router),
            "--watch-stdin",
        ]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            stdin=subprocess.PIPE,  # closed when this process dies, so the server never outlives it
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            # Its own session: Ctrl-C reaches only the dev process, which stops the edge in order.
            start_new_session=True,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
    except BaseException:
        stack.close()
        raise

    listening = threading.Event()
    finished = threading.Event()
    tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)

    def pump() -> None:
        """Copy the server's output to the log and notice the ready line."""
        assert process.stdout is not None
        try:
            for line in process.stdout:
                _write(sink, line)  # first, so a line in output_tail() is in the log too
                tail.append(line.rstrip("\n"))
                if line.startswith(READY_MARKER):
                    listening.set()
        finally:
            finished.set()

    thread = threading.Thread(target=pump, name=f"local-edge-{port}", daemon=True)
    thread.start()
    edge = LocalEdge(
        url=f"http://{host}:{port}",
        port=port,
        kvs_file=kvs_file,
        process=process,
        _pump=thread,
        _resources=stack,
        _tail=tail,
    )

    deadline = time.monotonic() + startup_timeout
    while not listening.is_set():
        if finished.is_set() or process.poll() is not None:
            thread.join(1.0)
            code = process.wait()
            edge.stop()
            raise LocalEdgeError(
                f"the local edge exited with code {code} before listening:\n{edge.output_tail()}"
            )
        if time.monotonic() > deadline:
            edge.stop()
            raise LocalEdgeError(
                f"the local edge did not listen on {host}:{port} within {startup_timeout:.0f} s:\n"
                f"{edge.output_tail()}"
            )
        listening.wait(0.02)
    if port == 0:  # an ephemeral port: take the real one from the ready line
        edge.url, edge.port = _listening_url(tail, edge.url)
    return edge


def _listening_url(tail: collections.deque[str], fallback: str) -> tuple[str, int]:
    for line in tail:
        if line.startswith(READY_MARKER):
            url = line[len(READY_MARKER) :].split(" ", 1)[0]
            return url, int(url.rsplit(":", 1)[1])
    return fallback, int(fallback.rsplit(":", 1)[1])


def _write(sink: IO[str] | None, line: str) -> None:
    # Resolve stdout per line: tests and the dev server may swap sys.stdout while the edge runs.
    target = sink if sink is not None else sys.stdout
    with contextlib.suppress(ValueError, OSError):  # closed at shutdown
        target.write(line)
        target.flush()
