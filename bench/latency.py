"""A TCP proxy between the handlers and PostgreSQL that adds network latency, counts round trips and
injects network faults (a benchmarking and chaos-testing aid; never shipped to Lambda).

Every chunk of bytes is delivered ``one_way_delay`` seconds after it arrived, in both directions and in
order, so a round trip costs ``2 * one_way_delay`` (the RTT) on top of loopback, whatever the number of
protocol messages in it. Round trips are counted as in :mod:`bench.roundtrips`: one each time
the server answers after the client spoke, counted before the answer is forwarded.

A new connection on AWS also pays handshakes that the local unix socket does not have (TCP, TLS,
the IAM-token password exchange): ``connect_round_trips`` charges that many extra RTTs (and round
trips) to each new connection, before its first message reaches the server.

The commit-cost model (opt-in, ``commit_delay``; for the benchmark and ``make chaos``): on a
multi-region DSQL cluster a COMMIT takes about one inter-region round trip, and the rows the
transaction wrote stay contended for that long. The proxy holds each COMMIT message a client sends
for ``commit_delay`` seconds more before the server sees it, so the local engine keeps the
transaction's row locks for that time, as a hot row is unavailable on DSQL while its writer commits.
What it does not model: PostgreSQL makes a second writer of the row wait and then fail with 40001,
where DSQL lets both run and aborts the loser at COMMIT; both serialize the row, and both end in a
conflict retry (docs/performance.md, "A hot product"). A COMMIT is recognised as psycopg sends it, a
simple ``Query`` or an unnamed ``Parse`` of exactly ``COMMIT``; everything before it in the same
chunk (BEGIN and the statements of a pipeline) goes on at once.

Faults, for ``make chaos``: cut every or a random connection (a network failure, not a server one),
cut a connection right after forwarding a pattern (a COMMIT that reached the server but whose answer
is lost), hold the next responses for longer than the client waits (``stall``), and re-point the proxy
after the database restarted (``set_target``).

The proxy runs its event loop in a thread (:class:`LatencyProxy`) or, so that its timing does not
compete with the handlers for the GIL, in a child process (:class:`ProxyProcess`, what the benchmarks
use). Both have the same methods. Stdlib only.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
import queue
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from types import TracebackType
from typing import Any, Self

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_CHUNK = 65536
_IDLE_POLL = 0.05
_DRAIN_GRACE = 5.0  # seconds a stopping proxy waits for the answers of links cut after a write
# COMMIT as psycopg sends it (frontend messages, PostgreSQL protocol "Message Formats"): a simple
# Query, or a Parse of an unnamed statement with no parameter types. Lengths include themselves.
_COMMIT_MESSAGES = (
    b"Q\x00\x00\x00\x0bCOMMIT\x00",
    b"P\x00\x00\x00\x0e\x00COMMIT\x00\x00\x00",
)


def commit_offset(data: bytes) -> int:
    """Where the first COMMIT message starts in a chunk of frontend messages, or -1."""
    found = [index for index in (data.find(m) for m in _COMMIT_MESSAGES) if index >= 0]
    return min(found, default=-1)


@dataclass
class _Direction:
    """Bytes travelling one way: waiting for their delivery time, then waiting to be written."""

    pending: collections.deque[tuple[float, bytes, bool]] = field(default_factory=collections.deque)
    out: bytearray = field(default_factory=bytearray)
    last_due: float = 0.0
    cut_after_write: bool = False


@dataclass
class _Link:
    ident: int
    client: socket.socket
    server: socket.socket
    hold_until: float
    to_server: _Direction = field(default_factory=_Direction)
    to_client: _Direction = field(default_factory=_Direction)
    client_spoke: bool = False
    ready: bool = False  # the server answered the startup: later answers are query results
    draining: bool = False  # the client is gone; the server's answer is awaited, then dropped


class _Loop:
    """The proxy's state and event loop; every method runs on the loop's own thread."""

    def __init__(
        self, target_dsn: str, one_way_delay: float, connect_round_trips: int, commit_delay: float = 0.0
    ) -> None:
        self.target_dsn = target_dsn
        self.target = _server_address(target_dsn)
        self.one_way_delay = float(one_way_delay)
        self.commit_delay = float(commit_delay)
        self.commits_held = 0
        self.connect_round_trips = int(connect_round_trips)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        # select(2) takes microseconds; epoll and poll round sub-millisecond timeouts up to 1 ms.
        self.selector = selectors.SelectSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.links: dict[int, _Link] = {}
        self.ids = itertools.count(1)
        self.round_trips = 0
        self.accepted = 0
        self.refused = 0
        self.faults: collections.Counter[str] = collections.Counter()
        self.stalls: list[float] = []  # seconds to hold each of the next responses
        self.cut_patterns: list[tuple[bytes, bool]] = []  # (pattern, after forwarding)
        self.stopped = False
        self.stop_deadline = 0.0

    # -- commands (called by name through the control channel) -----------------------------------

    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def get_round_trips(self) -> int:
        return self.round_trips

    def reset(self) -> None:
        self.round_trips = 0

    def set_delay(self, one_way_delay: float) -> None:
        self.one_way_delay = float(one_way_delay)

    def get_delay(self) -> float:
        return self.one_way_delay

    def set_commit_delay(self, seconds: float) -> None:
        self.commit_delay = float(seconds)

    def get_commit_delay(self) -> float:
        return self.commit_delay

    def set_target(self, target_dsn: str) -> None:
        self.target_dsn = target_dsn
        self.target = _server_address(target_dsn)

    def kill_all(self) -> int:
        killed = len(self.links)
        for link in list(self.links.values()):
            self._close(link)
        self.faults["killed"] += killed
        return killed

    def kill_random(self, seed: int) -> bool:
        if not self.links:
            return False
        link = random.Random(seed).choice(  # noqa: S311 - a fault schedule, not a secret
            sorted(self.links.values(), key=lambda x: x.ident)
        )
        self._close(link)
        self.faults["killed"] += 1
        return True

    def stall(self, seconds: float, count: int = 1) -> None:
        self.stalls.extend([float(seconds)] * count)

    def cut_on(self, pattern: bytes, after: bool) -> None:
        self.cut_patterns.append((bytes(pattern), after))

    def clear_faults(self) -> None:
        self.stalls.clear()
        self.cut_patterns.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "round_trips": self.round_trips,
            "accepted": self.accepted,
            "refused": self.refused,
            "open": len(self.links),
            "faults": dict(self.faults),
            "pending_stalls": len(self.stalls),
            "commits_held": self.commits_held,
        }

    def stop(self) -> None:
        self.stopped = True
        self.stop_deadline = time.monotonic() + _DRAIN_GRACE

    def _serving(self) -> bool:
        """Until stopped, then while a cut link still waits for the server's answer (closing it
        earlier could reset the connection before the server read what it was sent)."""
        if not self.stopped:
            return True
        draining = any(link.draining for link in self.links.values())
        return draining and time.monotonic() < self.stop_deadline

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, control: Callable[[float], None] | None = None) -> None:
        """Serve until stopped; ``control`` is called with the time budget of each idle wait."""
        try:
            while self._serving():
                now = time.monotonic()
                self._deliver_due(now)
                wait = self._next_due(now)
                for key, events in self.selector.select(timeout=wait):
                    kind, link = key.data
                    if kind == "accept":
                        self._accept()
                    elif kind == "control":
                        if control is not None:
                            control(0.0)
                    elif link.ident in self.links:
                        if events & selectors.EVENT_WRITE:
                            self._flush(link, to_server=kind == "server")
                        if events & selectors.EVENT_READ and link.ident in self.links:
                            self._read(link, from_client=kind == "client")
        finally:
            for link in list(self.links.values()):
                self._close(link)
            self.selector.close()
            self.listener.close()

    def _next_due(self, now: float) -> float:
        due = [
            d.pending[0][0]
            for link in self.links.values()
            for d in (link.to_server, link.to_client)
            if d.pending
        ]
        return max(0.0, min([*due, now + _IDLE_POLL]) - now)

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        family = socket.AF_UNIX if isinstance(self.target, str) else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        try:
            server.settimeout(2.0)
            server.connect(self.target)
        except OSError:
            # The database is down: the client sees its connection closed, as with a refused connect.
            self.refused += 1
            server.close()
            client.close()
            return
        for sock in (client, server):
            sock.setblocking(False)
        if family == socket.AF_INET:
            server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        now = time.monotonic()
        hold = now + self.connect_round_trips * 2 * self.one_way_delay
        link = _Link(next(self.ids), client, server, hold_until=hold)
        self.round_trips += self.connect_round_trips
        self.accepted += 1
        self.links[link.ident] = link
        self.selector.register(client, selectors.EVENT_READ, ("client", link))
        self.selector.register(server, selectors.EVENT_READ, ("server", link))

    def _read(self, link: _Link, *, from_client: bool) -> None:
        sock = link.client if from_client else link.server
        try:
            data = sock.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data or link.draining:
            self._close(link)  # a draining link's answer arrived: the server has processed the bytes
            return
        now = time.monotonic()
        cut_after = False
        if from_client:
            for index, (pattern, after) in enumerate(self.cut_patterns):
                if pattern in data:
                    del self.cut_patterns[index]
                    self.faults["cut_after_forward" if after else "cut_before_forward"] += 1
                    if not after:
                        self._close(link)
                        return
                    cut_after = True
                    break
            link.client_spoke = True
            direction = link.to_server
            due = max(now + self.one_way_delay, link.hold_until)
            at = commit_offset(data) if self.commit_delay > 0 and link.ready else -1
            if at >= 0:
                # What precedes the COMMIT goes on now; the COMMIT (and what follows) waits the
                # commit's cost, while the server holds the transaction's locks.
                self.commits_held += 1
                if at > 0:
                    due = max(due, direction.last_due)
                    direction.last_due = due
                    direction.pending.append((due, data[:at], False))
                data = data[at:]
                due += self.commit_delay
        else:
            direction = link.to_client
            due = now + self.one_way_delay
            if link.client_spoke:
                # The server answers after the client spoke: one full turn, counted before forwarding.
                link.client_spoke = False
                self.round_trips += 1
                if self.stalls and link.ready:
                    due += self.stalls.pop(0)
                    self.faults["stalled"] += 1
            link.ready = True
        due = max(due, direction.last_due)  # never overtake earlier bytes
        direction.last_due = due
        direction.pending.append((due, data, cut_after))

    def _deliver_due(self, now: float) -> None:
        for link in list(self.links.values()):
            for to_server, direction in ((True, link.to_server), (False, link.to_client)):
                moved = False
                while direction.pending and direction.pending[0][0] <= now:
                    _, data, cut_after = direction.pending.popleft()
                    direction.out += data
                    direction.cut_after_write |= cut_after
                    moved = True
                if moved and link.ident in self.links:
                    self._flush(link, to_server=to_server)

    def _flush(self, link: _Link, *, to_server: bool) -> None:
        direction = link.to_server if to_server else link.to_client
        sock = link.server if to_server else link.client
        try:
            while direction.out:
                sent = sock.send(direction.out)
                del direction.out[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._close(link)
            return
        if not direction.out and direction.cut_after_write:
            # The bytes reached the server; its answer never reaches the client. The server side
            # stays open until it answers: closing it at once could reset the connection before
            # the server read them (a COMMIT that then never happened).
            self._drop_client(link)
            return
        self._watch(link)

    def _drop_client(self, link: _Link) -> None:
        link.draining = True
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(link.client)
        with contextlib.suppress(OSError):
            link.client.close()

    def _watch(self, link: _Link) -> None:
        for sock, kind, direction in (
            (link.client, "client", link.to_client),
            (link.server, "server", link.to_server),
        ):
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if direction.out else 0)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.modify(sock, events, (kind, link))

    def _close(self, link: _Link) -> None:
        if self.links.pop(link.ident, None) is None:
            return
        for sock in (link.client, link.server):
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.close()


class _Commands:
    """The proxy's methods, each forwarded by name to the loop (thread or process)."""

    def call(self, name: str, *args: Any) -> Any:
        raise NotImplementedError

    @property
    def port(self) -> int:
        return int(self.call("port"))

    @property
    def dsn(self) -> str:
        """The target conninfo with host and port pointing at the proxy."""
        return make_conninfo(self.target_dsn, host="127.0.0.1", port=str(self.port), sslmode="disable")

    target_dsn: str

    @property
    def round_trips(self) -> int:
        return int(self.call("get_round_trips"))

    def reset(self) -> None:
        self.call("reset")

    @property
    def one_way_delay(self) -> float:
        return float(self.call("get_delay"))

    @one_way_delay.setter
    def one_way_delay(self, seconds: float) -> None:
        self.call("set_delay", float(seconds))

    def set_rtt_ms(self, rtt_ms: float) -> None:
        """Round-trip time in milliseconds: half of it each way."""
        self.one_way_delay = rtt_ms / 2000.0

    @property
    def commit_delay(self) -> float:
        """Seconds each COMMIT is held before the server sees it (0: the model is off)."""
        return float(self.call("get_commit_delay"))

    def set_commit_ms(self, commit_ms: float) -> None:
        """The commit-cost model: hold every COMMIT ``commit_ms`` milliseconds (0 turns it off)."""
        self.call("set_commit_delay", commit_ms / 1000.0)

    def set_target(self, target_dsn: str) -> None:
        self.target_dsn = target_dsn
        self.call("set_target", target_dsn)

    def kill_all(self) -> int:
        """Cut every open connection (both sides), as a network failure would."""
        return int(self.call("kill_all"))

    def kill_random(self, seed: int) -> bool:
        """Cut one open connection chosen by ``seed``; False when none is open."""
        return bool(self.call("kill_random", seed))

    def stall(self, seconds: float, count: int = 1) -> None:
        """Hold each of the next ``count`` query results (on whichever established connections answer
        next) for ``seconds`` more: longer than the client's deadline, it looks like a hung server."""
        self.call("stall", seconds, count)

    def cut_on(self, pattern: bytes, *, after: bool) -> None:
        """Cut the next connection whose client sends ``pattern`` (once): before forwarding it, or just
        after it reached the server (whose answer is then lost)."""
        self.call("cut_on", pattern, after)

    def clear_faults(self) -> None:
        """Forget stalls and cuts not yet applied."""
        self.call("clear_faults")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("stats")
        return result

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class LatencyProxy(_Commands):
    """The proxy with its loop on a daemon thread of this process."""

    def __init__(
        self,
        target_dsn: str,
        *,
        one_way_delay: float = 0.0,
        connect_round_trips: int = 0,
        commit_delay: float = 0.0,
    ) -> None:
        self.target_dsn = target_dsn
        self._loop = _Loop(target_dsn, one_way_delay, connect_round_trips, commit_delay)
        self._inbox: queue.SimpleQueue[tuple[str, tuple[Any, ...], Future[Any]]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._loop.selector.register(self._wake_r, selectors.EVENT_READ, ("control", None))
        self._thread = threading.Thread(
            target=self._loop.run, args=(self._drain,), name="latency-proxy", daemon=True
        )
        self._thread.start()

    def _drain(self, _: float) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_r.recv(4096)
        while True:
            try:
                name, args, future = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(getattr(self._loop, name)(*args))
            except Exception as exc:  # returned to the caller
                future.set_exception(exc)

    def call(self, name: str, *args: Any) -> Any:
        future: Future[Any] = Future()
        self._inbox.put((name, args, future))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        return future.result(timeout=10)

    def close(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.call("stop")
            self._thread.join(timeout=5)
        self._wake_r.close()
        self._wake_w.close()


def _serve_process(
    target_dsn: str, one_way_delay: float, connect_round_trips: int, commit_delay: float, pipe: Pipe
) -> None:
    loop = _Loop(target_dsn, one_way_delay, connect_round_trips, commit_delay)
    loop.selector.register(pipe.fileno(), selectors.EVENT_READ, ("control", None))

    def control(_: float) -> None:
        while pipe.poll():
            try:
                name, args = pipe.recv()
            except EOFError:
                loop.stop()
                return
            try:
                pipe.send(("ok", getattr(loop, name)(*args)))
            except Exception as exc:
                pipe.send(("error", repr(exc)))

    pipe.send(("ok", loop.port()))
    loop.run(control)


class ProxyProcess(_Commands):
    """The proxy in a child process (spawned, so it shares neither the GIL nor the parent's threads)."""

    def __init__(
        self,
        target_dsn: str,
        *,
        one_way_delay: float = 0.0,
        connect_round_trips: int = 0,
        commit_delay: float = 0.0,
    ) -> None:
        self.target_dsn = target_dsn
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._lock = threading.Lock()
        self._process = context.Process(
            target=_serve_process,
            args=(target_dsn, one_way_delay, connect_round_trips, commit_delay, child),
            name="latency-proxy",
            daemon=True,
        )
        self._process.start()
        child.close()
        if not self._pipe.poll(60):
            self._process.kill()
            raise RuntimeError("the latency proxy process did not start")
        self._port = int(self._pipe.recv()[1])

    @property
    def port(self) -> int:
        return self._port

    def call(self, name: str, *args: Any) -> Any:
        with self._lock:
            self._pipe.send((name, args))
            if not self._pipe.poll(30):
                raise RuntimeError(f"the latency proxy did not answer {name}")
            status, value = self._pipe.recv()
        if status != "ok":
            raise RuntimeError(f"latency proxy {name}: {value}")
        return value

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(Exception):
                self.call("stop")
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
        self._pipe.close()


def _server_address(dsn: str) -> str | tuple[str, int]:
    """Unix socket path or (host, port) of the server a conninfo points at."""
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "/tmp").split(",")[0]  # noqa: S108 - libpq's default socket dir
    port = int(str(params.get("port") or 5432).split(",")[0])
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}"
    return (host, port)
