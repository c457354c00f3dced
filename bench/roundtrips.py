"""Count network round trips between a client and PostgreSQL (a test and benchmarking aid).

`RoundTripCounter` is a tiny TCP proxy in front of a PostgreSQL server. A *round trip* is counted each
time the server answers after the client has sent something: a client that sends BEGIN, a statement and
COMMIT in one burst and then waits counts 1, whatever the number of protocol messages. Counting on the
wire (rather than trusting a driver's documentation) is what proves claims such as "the order path is
one round trip". Client bursts that the server answers piecemeal can only make the count higher, never
lower, so the number is an upper bound.

Usage::

    with RoundTripCounter(dsn) as counter:
        conn = psycopg.connect(counter.dsn)
        counter.reset()  # ignore the connection handshake
        ...
        assert counter.round_trips == 1

Stdlib only; lives in ecommerce_dev, which never ships to Lambda.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_CHUNK = 65536


class RoundTripCounter:
    """A counting TCP proxy to the server named by ``target_dsn``."""

    def __init__(self, target_dsn: str) -> None:
        self._target_dsn = target_dsn
        self._target = _server_address(target_dsn)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._round_trips = 0
        self._client_sent_last: dict[socket.socket, bool] = {}
        self._peer: dict[socket.socket, socket.socket] = {}
        self._stop = threading.Event()
        self._drop_pattern: bytes | None = None
        self._thread = threading.Thread(target=self._serve, name="round-trip-counter", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def dsn(self) -> str:
        """The target conninfo with host and port pointing at the proxy."""
        return make_conninfo(self._target_dsn, host="127.0.0.1", port=str(self.port), sslmode="disable")

    @property
    def round_trips(self) -> int:
        with self._lock:
            return self._round_trips

    def reset(self) -> None:
        with self._lock:
            self._round_trips = 0

    def drop_on(self, pattern: bytes) -> None:
        """Cut the next connection whose client sends ``pattern`` instead of forwarding it (once).

        Simulates a network failure at an exact protocol moment, e.g. while COMMIT is in flight.
        """
        with self._lock:
            self._drop_pattern = pattern

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in list(self._peer):
            sock.close()
        self._selector.close()
        self._listener.close()

    def __enter__(self) -> RoundTripCounter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                else:
                    self._forward(sock, from_client=bool(key.data))

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        family = socket.AF_UNIX if isinstance(self._target, str) else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.connect(self._target)
        for sock in (client, server):
            sock.setblocking(True)
        self._peer[client], self._peer[server] = server, client
        self._client_sent_last[client] = False
        self._selector.register(client, selectors.EVENT_READ, True)
        self._selector.register(server, selectors.EVENT_READ, False)

    def _forward(self, sock: socket.socket, *, from_client: bool) -> None:
        peer = self._peer[sock]
        client = sock if from_client else peer
        try:
            data = sock.recv(_CHUNK)
        except OSError:
            data = b""
        if not data:
            self._drop(sock, peer, client)
            return
        if from_client and self._should_drop(data):
            self._drop(sock, peer, client)
            return
        if from_client:
            self._client_sent_last[client] = True
        elif self._client_sent_last[client]:
            # The server answers after the client spoke: one full turn. Count before forwarding so the
            # client can never observe the answer before the counter does.
            self._client_sent_last[client] = False
            with self._lock:
                self._round_trips += 1
        try:
            peer.sendall(data)
        except OSError:
            self._drop(sock, peer, client)

    def _should_drop(self, data: bytes) -> bool:
        with self._lock:
            if self._drop_pattern is None or self._drop_pattern not in data:
                return False
            self._drop_pattern = None
            return True

    def _drop(self, sock: socket.socket, peer: socket.socket, client: socket.socket) -> None:
        for s in (sock, peer):
            self._selector.unregister(s)
            self._peer.pop(s, None)
            s.close()
        self._client_sent_last.pop(client, None)


def _server_address(dsn: str) -> str | tuple[str, int]:
    """Unix socket path or (host, port) of the server a conninfo points at."""
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "/tmp").split(",")[0]  # noqa: S108 - libpq's default socket dir
    port = int(str(params.get("port") or 5432).split(",")[0])
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}"
    return (host, port)
