"""A DSQL-shaped endpoint in front of the embedded PostgreSQL: TLS only, DSQL's SQL dialect.

The embedded server listens on a unix socket without TLS. This proxy listens on loopback TCP and
accepts a connection the two ways libpq can open TLS - an SSLRequest answered ``S`` (libpq <= 16, or
``sslnegotiation=postgres``) and direct TLS whose ALPN is ``postgresql`` (``sslnegotiation=direct``,
which libpq refuses to complete without that ALPN) - and refuses plaintext, as DSQL does. It serves
a certificate from a test CA for ``*.dsql.<region>.on.aws`` and records the SNI name each client
sent (DSQL needs SNI).

Behind TLS it relays the PostgreSQL protocol to the embedded server, with two changes: the startup
message's database (always ``postgres`` on DSQL) becomes the test's database, and statements only
DSQL understands become their emulation (``CREATE INDEX ASYNC`` builds the index and answers a
``job_id`` row from ``sys.jobs``; ``AWS IAM GRANT/REVOKE`` edit ``sys.iam_pg_role_mappings``), the
same emulation the DSQL guard's connection performs in-process.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104
PROTOCOL_3 = 196608

#: Installed into the test database: the emulation CREATE INDEX ASYNC is rewritten to.
EMULATION_SQL = """
CREATE OR REPLACE FUNCTION sys.create_index_async(ddl text, index_name text, table_name text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    job text := substr(md5(random()::text || clock_timestamp()::text), 1, 26);
BEGIN
    EXECUTE ddl;
    INSERT INTO sys.jobs (job_id, status, object_name, table_name)
        VALUES (job, 'completed', index_name, table_name);
    RETURN job;
END $$;
"""

_INDEX = re.compile(
    r"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+ASYNC\s+(?P<rest>(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\w+)\s+ON\s+(?P<table>[\w.]+).*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_IAM = re.compile(
    r"^\s*AWS\s+IAM\s+(?P<action>GRANT|REVOKE)\s+(?P<role>\"?[\w]+\"?)\s+(?:TO|FROM)\s+'(?P<arn>[^']+)'\s*;?\s*$",
    re.IGNORECASE,
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def translate(sql: str) -> str:
    """DSQL-only statements as PostgreSQL runs them here; anything else unchanged."""
    if match := _INDEX.match(sql):
        ddl = f"CREATE {match['unique'] or ''}INDEX {match['rest']}"
        args = ", ".join(_literal(v) for v in (ddl, match["name"], match["table"]))
        return f"SELECT sys.create_index_async({args}) AS job_id"
    if match := _IAM.match(sql):
        role, arn = _literal(match["role"].strip('"')), _literal(match["arn"])
        if match["action"].upper() == "GRANT":
            return (
                "INSERT INTO sys.iam_pg_role_mappings (pg_role_name, arn) "
                f"SELECT rolname, {arn} FROM pg_roles WHERE rolname = {role} ON CONFLICT DO NOTHING"
            )
        return f"DELETE FROM sys.iam_pg_role_mappings WHERE pg_role_name = {role} AND arn = {arn}"
    return sql


@dataclass
class Seen:
    """What clients did: the SNI names, how TLS was negotiated, who logged in, what was rewritten."""

    sni: list[str | None] = field(default_factory=list)
    negotiation: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    connections: int = 0
    gss_requests: int = 0


class TlsPostgresProxy:
    """Listens on 127.0.0.1:<port>; each connection is relayed to ``backend`` (a unix socket path)."""

    def __init__(self, backend: Path, database: str, cert_file: Path, key_file: Path) -> None:
        self.backend = backend
        self.database = database
        self.seen = Seen()
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(cert_file, key_file)
        self._context.set_alpn_protocols(["postgresql"])
        self._context.sni_callback = self._on_sni
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sni = threading.local()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()

    def _on_sni(self, sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        self._sni.name = name

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        self.seen.connections += 1
        try:
            tls = self._negotiate(client)
            if tls is None:
                return
            self._relay(tls)
        except (OSError, ssl.SSLError, ConnectionError, struct.error):
            pass
        finally:
            client.close()

    def _negotiate(self, client: socket.socket) -> ssl.SSLSocket | None:
        while True:
            first = client.recv(1, socket.MSG_PEEK)
            if not first:
                return None
            if first == b"\x16":  # a TLS ClientHello: direct negotiation
                tls = self._wrap(client)
                if tls.selected_alpn_protocol() != "postgresql":
                    self.seen.refused.append("direct TLS without ALPN postgresql")
                    return None
                self.seen.negotiation.append("direct")
                return tls
            length, code = struct.unpack("!ii", _read(client, 8))
            if length == 8 and code == SSL_REQUEST:
                client.sendall(b"S")
                tls = self._wrap(client)
                self.seen.negotiation.append("sslrequest")
                return tls
            if length == 8 and code == GSS_REQUEST:
                self.seen.gss_requests += 1
                client.sendall(b"N")
                continue
            self.seen.refused.append("plaintext startup")
            _send_error(client, "28000", "TLS is required")
            return None

    def _wrap(self, client: socket.socket) -> ssl.SSLSocket:
        self._sni.name = None
        tls = self._context.wrap_socket(client, server_side=True)
        self.seen.sni.append(self._sni.name)
        return tls

    def _relay(self, tls: ssl.SSLSocket) -> None:
        (length,) = struct.unpack("!i", _read(tls, 4))
        startup = _read(tls, length - 4)
        (protocol,) = struct.unpack("!i", startup[:4])
        if protocol != PROTOCOL_3:
            _send_error(tls, "08P01", "unsupported protocol")
            return
        params = startup[4:].split(b"\0")
        pairs = dict(zip(params[0:-2:2], params[1:-2:2], strict=True))
        self.seen.users.append(pairs.get(b"user", b"").decode())
        pairs[b"database"] = self.database.encode()
        body = (
            struct.pack("!i", PROTOCOL_3) + b"".join(k + b"\0" + v + b"\0" for k, v in pairs.items()) + b"\0"
        )
        backend = socket.socket(socket.AF_UNIX)
        backend.connect(str(self.backend))
        try:
            backend.sendall(struct.pack("!i", len(body) + 4) + body)
            self._pump(tls, backend)
        finally:
            backend.close()

    def _pump(self, tls: ssl.SSLSocket, backend: socket.socket) -> None:
        """Relay both ways in one thread (an SSL socket must not be read and written concurrently),
        rewriting the SQL of the client's Query and Parse messages."""
        pending = b""
        while True:
            ready = [tls] if tls.pending() else select.select([tls, backend], [], [], 5.0)[0]
            if backend in ready:
                data = backend.recv(65536)
                if not data:
                    return
                tls.sendall(data)
            if tls in ready:
                data = tls.recv(65536)
                if not data:
                    return
                pending += data
                while len(pending) >= 5:
                    (length,) = struct.unpack("!i", pending[1:5])
                    if len(pending) < length + 1:
                        break
                    kind, body, pending = pending[:1], pending[5 : length + 1], pending[length + 1 :]
                    backend.sendall(kind + self._message(kind, body))
                    if kind == b"X":
                        return

    def _message(self, kind: bytes, body: bytes) -> bytes:
        if kind == b"Q":
            body = self._rewrite(body[:-1]) + b"\0"
        elif kind == b"P":
            name, rest = body.split(b"\0", 1)
            query, tail = rest.split(b"\0", 1)
            body = name + b"\0" + self._rewrite(query) + b"\0" + tail
        return struct.pack("!i", len(body) + 4) + body

    def _rewrite(self, query: bytes) -> bytes:
        text = query.decode()
        translated = translate(text)
        if translated != text:
            self.seen.rewritten.append(text.strip())
        return translated.encode()


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def _send_error(sock: socket.socket, code: str, message: str) -> None:
    fields = b"SFATAL\0" + b"C" + code.encode() + b"\0" + b"M" + message.encode() + b"\0\0"
    sock.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
