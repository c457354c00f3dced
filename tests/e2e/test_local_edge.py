"""The local edge of ``make dev``: the deployed router.js run by server.mjs in front of two fake regions.

Each fake region is a thread answering every request with its name and an echo of what it received;
it can be told to answer 503 (or any status), and a "down" region is a port nobody listens on. The edge
is started through the Python launcher on an ephemeral port, as ``make dev`` would.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ecommerce_dev.devserver.checker import LocalChecker, local_checker
from ecommerce_dev.devserver.edge import (
    KVS_FILE,
    LocalEdge,
    LocalEdgeError,
    NodeNotFoundError,
    region_points,
    start_local_edge,
)

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="`node` is not on PATH (the local edge runs in Node.js)"
)

# Simulated viewers (CloudFront-Viewer-* headers the local edge honours).
NEW_YORK = {"CloudFront-Viewer-Latitude": "40.71", "CloudFront-Viewer-Longitude": "-74.01"}
CHICAGO = {"CloudFront-Viewer-Latitude": "41.88", "CloudFront-Viewer-Longitude": "-87.63"}
UNREACHABLE_TYPE = "urn:ecommerce:problem:edge-origin-unreachable"


@dataclass
class FakeRegion:
    """A region's API: answers ``status`` (200 unless told otherwise) with its name and an echo."""

    name: str
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeRegion:
        region = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                body = self._body()
                seen = {
                    "region": region.name,
                    "method": self.command,
                    "path": self.requestline.split(" ")[1],  # raw: self.path collapses a leading //
                    "headers": [[k.lower(), v] for k, v in self.headers.items()],
                    "body": body.decode("latin-1"),
                }
                region.requests.append(seen)
                out = json.dumps(seen).encode()
                self.send_response(region.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("Set-Cookie", "a=1")
                self.send_header("Set-Cookie", "b=2")
                self.send_header("X-Region", region.name)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return data
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def region(self) -> str | None:
        return self.headers.get("x-edge-region")

    def received(self, name: str) -> list[str]:
        """Values of a request header as the region received it."""
        return [v for k, v in self.json()["headers"] if k == name]


def call(
    edge: LocalEdge,
    method: str = "GET",
    path: str = "/products",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for name, value in items:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def output_shows(edge: LocalEdge, text: str) -> bool:
    """Whether the edge's recent output has ``text`` (the pump thread copies it a moment later)."""
    for _ in range(500):
        if text in edge.output_tail():
            return True
        threading.Event().wait(0.01)
    return False


def dead_port() -> int:
    """A port nobody listens on (bound and released; connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def regions() -> Iterator[dict[str, FakeRegion]]:
    fakes = {name: FakeRegion(name).start() for name in ("us-east-1", "us-east-2")}
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture(scope="module")
def edge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge")


@pytest.fixture(scope="module")
def edge(regions: dict[str, FakeRegion], edge_dir: Path) -> Iterator[LocalEdge]:
    with start_local_edge(
        port=0,
        origins={name: fake.url for name, fake in regions.items()},
        primary="us-east-1",
        kvs_file=edge_dir / "kvs.json",
        log=edge_dir / "edge.log",
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(regions: dict[str, FakeRegion], edge_dir: Path) -> None:
    """Every test starts with both regions answering 200 and nothing drained."""
    for fake in regions.values():
        fake.status = 200
        fake.requests.clear()
    (edge_dir / "kvs.json").unlink(missing_ok=True)


def drain(kvs_file: Path, *regions: str) -> None:
    """What ``ecommerce edge drain REGION --local`` writes: the KVS import format, replaced atomically."""
    data = {"data": [{"key": f"drained:{r}", "value": "true"} for r in regions]}
    partial = kvs_file.with_suffix(".tmp")
    partial.write_text(json.dumps(data), encoding="utf-8")
    partial.replace(kvs_file)


# --- nearest region -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [(NEW_YORK, "us-east-1"), (CHICAGO, "us-east-2"), ({"CloudFront-Viewer-Country": "CA"}, "us-east-2")],
    ids=["new-york", "chicago", "country-only"],
)
def test_nearest_region_by_simulated_viewer(edge: LocalEdge, viewer: dict[str, str], expected: str) -> None:
    reply = call(edge, headers=viewer)
    assert reply.status == 200
    assert reply.json()["region"] == expected
    assert reply.region == expected  # response header, for debugging
    assert reply.received("x-edge-region") == [expected]  # request header set by router.js


def test_concurrent_viewers_keep_their_own_decisions(edge: LocalEdge) -> None:
    """router.js awaits KVS reads, so requests interleave; each must get its own origin decision."""
    viewers = [("us-east-1", NEW_YORK), ("us-east-2", CHICAGO)] * 10
    results: list[tuple[str, str | None]] = []
    threads = [
        threading.Thread(
            target=lambda e=expected, v=viewer: results.append((e, call(edge, headers=v).region))
        )
        for expected, viewer in viewers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(viewers)
    assert all(expected == got for expected, got in results), results


def test_default_viewer_is_near_us_east_1(edge: LocalEdge) -> None:
    reply = call(edge)
    assert reply.json()["region"] == "us-east-1"
    assert reply.received("cloudfront-viewer-country") == ["US"]


def test_viewer_geo_headers_reach_the_region(edge: LocalEdge) -> None:
    reply = call(edge, headers=CHICAGO)
    assert reply.received("cloudfront-viewer-latitude") == ["41.88"]
    assert reply.received("cloudfront-viewer-country") == []  # sent as given, nothing invented


# --- drain state from kvs.json ------------------------------------------------------------------------


def test_drained_region_is_skipped_and_undrained_again(edge: LocalEdge, edge_dir: Path) -> None:
    drain(edge_dir / "kvs.json", "us-east-2")
    assert call(edge, headers=CHICAGO).region == "us-east-1"
    assert call(edge, "POST", "/orders", CHICAGO, b"{}").region == "us-east-1"
    drain(edge_dir / "kvs.json")  # read on every request: no restart needed
    assert call(edge, headers=CHICAGO).region == "us-east-2"


def test_ecommerce_edge_drain_local_is_what_the_edge_reads(
    regions: dict[str, FakeRegion], tmp_path: Path
) -> None:
    """`ecommerce edge drain/restore --local --data-dir D` writes D/edge/kvs.json; the edge obeys it."""
    from ecommerce_ops.edge import local_target

    target = local_target(tmp_path)
    with start_local_edge(
        port=0,
        origins={name: fake.url for name, fake in regions.items()},
        primary=target.primary,
        kvs_file=tmp_path / KVS_FILE,
        log=tmp_path / "edge.log",
    ) as running:
        assert call(running, headers=CHICAGO).region == "us-east-2"
        target.drain("us-east-2", False)
        assert call(running, headers=CHICAGO).region == "us-east-1"
        target.restore("us-east-2")
        assert call(running, headers=CHICAGO).region == "us-east-2"


def test_last_region_is_never_skipped(edge: LocalEdge, edge_dir: Path) -> None:
    drain(edge_dir / "kvs.json", "us-east-1", "us-east-2")
    assert call(edge, headers=CHICAGO).region == "us-east-2"
    assert call(edge, headers=NEW_YORK).region == "us-east-1"


@pytest.mark.parametrize(
    "content",
    [
        '{"data": [{"key": "drained:us-east-2"',  # half written (a writer that is not atomic)
        '{"drained:us-east-2": "true"}',  # not the import format
        '{"data": [{"key": "drained:us-east-2", "value": true}]}',  # value not a string
        json.dumps({"data": [{"key": "drained:us-east-2", "value": "true"}] * 2}),
    ],
    ids=["truncated", "plain-map", "boolean-value", "duplicate-key"],
)
def test_unusable_kvs_file_fails_open_with_a_warning(edge: LocalEdge, edge_dir: Path, content: str) -> None:
    (edge_dir / "kvs.json").write_text(content, encoding="utf-8")
    reply = call(edge, headers=CHICAGO)
    assert (reply.status, reply.region) == (200, "us-east-2")
    assert output_shows(edge, "every region counts as serving until it is fixed")


# --- failover -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_fail_over_on_503(edge: LocalEdge, regions: dict[str, FakeRegion], method: str) -> None:
    regions["us-east-2"].status = 503
    reply = call(edge, method, headers=CHICAGO)
    assert reply.status == 200
    assert reply.region == "us-east-1"
    assert reply.headers["x-edge-failover"] == "us-east-2 (503)"
    assert [r["method"] for r in regions["us-east-2"].requests] == [method]  # tried first
    assert [r["method"] for r in regions["us-east-1"].requests] == [method]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_reads_fail_over_on_each_failover_status(
    edge: LocalEdge, regions: dict[str, FakeRegion], status: int
) -> None:
    regions["us-east-1"].status = status
    assert call(edge, headers=NEW_YORK).region == "us-east-2"


def test_other_errors_do_not_fail_over(edge: LocalEdge, regions: dict[str, FakeRegion]) -> None:
    regions["us-east-2"].status = 404
    reply = call(edge, headers=CHICAGO)
    assert (reply.status, reply.region) == (404, "us-east-2")
    assert regions["us-east-1"].requests == []


def test_secondary_answer_is_passed_on_when_both_fail(
    edge: LocalEdge, regions: dict[str, FakeRegion]
) -> None:
    regions["us-east-2"].status = 503
    regions["us-east-1"].status = 500
    reply = call(edge, headers=CHICAGO)
    assert (reply.status, reply.region) == (500, "us-east-1")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_do_not_fail_over(edge: LocalEdge, regions: dict[str, FakeRegion], method: str) -> None:
    regions["us-east-2"].status = 503
    reply = call(edge, method, "/orders", CHICAGO, b'{"items": []}')
    assert (reply.status, reply.region) == (503, "us-east-2")
    assert regions["us-east-1"].requests == []


def test_get_body_is_replayed_on_failover(edge: LocalEdge, regions: dict[str, FakeRegion]) -> None:
    regions["us-east-2"].status = 503
    reply = call(edge, "GET", "/search", CHICAGO, b"query-in-body")
    assert reply.json()["body"] == "query-in-body"
    assert regions["us-east-2"].requests[0]["body"] == "query-in-body"


# --- a region that is down ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def half_down(regions: dict[str, FakeRegion], edge_dir: Path) -> Iterator[LocalEdge]:
    """us-east-2 is down (connection refused); us-east-1 answers."""
    with start_local_edge(
        port=0,
        origins={"us-east-1": regions["us-east-1"].url, "us-east-2": f"http://127.0.0.1:{dead_port()}"},
        primary="us-east-1",
        kvs_file=edge_dir / "kvs.json",
        log=edge_dir / "half-down.log",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def all_down(edge_dir: Path) -> Iterator[LocalEdge]:
    with start_local_edge(
        port=0,
        origins={
            "us-east-1": f"http://127.0.0.1:{dead_port()}",
            "us-east-2": f"http://127.0.0.1:{dead_port()}",
        },
        primary="us-east-1",
        kvs_file=edge_dir / "kvs.json",
        log=edge_dir / "all-down.log",
    ) as running:
        yield running


def test_get_fails_over_when_the_region_is_down(half_down: LocalEdge) -> None:
    reply = call(half_down, headers=CHICAGO)
    assert (reply.status, reply.region) == (200, "us-east-1")
    assert "ECONNREFUSED" in reply.headers["x-edge-failover"]


def test_post_to_a_down_region_is_a_problem_502(half_down: LocalEdge, regions: dict[str, FakeRegion]) -> None:
    reply = call(half_down, "POST", "/orders", CHICAGO, b"{}")
    assert reply.status == 502
    assert reply.headers["Content-Type"] == "application/problem+json"
    problem = reply.json()
    assert problem["type"] == UNREACHABLE_TYPE
    assert problem["status"] == 502
    assert "us-east-2" in problem["detail"]
    assert regions["us-east-1"].requests == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_problem_502_when_every_region_is_down(all_down: LocalEdge, method: str) -> None:
    reply = call(all_down, method, "/products", CHICAGO, b"{}" if method == "POST" else None)
    assert reply.status == 502
    assert reply.headers["Content-Type"] == "application/problem+json"
    problem = reply.json()
    assert problem["type"] == UNREACHABLE_TYPE
    assert problem["status"] == 502
    assert problem["title"]
    assert "ECONNREFUSED" in problem["detail"]
    if method == "GET":
        assert "us-east-1" in problem["detail"]
        assert "us-east-2" in problem["detail"]


# --- what is forwarded --------------------------------------------------------------------------------


def test_authorization_query_and_body_are_forwarded(edge: LocalEdge) -> None:
    reply = call(
        edge,
        "POST",
        "/orders?limit=5&tag=a%20b&tag=c",
        {**NEW_YORK, "Authorization": "Bearer token-123", "Content-Type": "application/json"},
        b'{"items": [1]}',
    )
    seen = reply.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/orders?limit=5&tag=a%20b&tag=c"
    assert seen["body"] == '{"items": [1]}'
    assert reply.received("authorization") == ["Bearer token-123"]
    assert reply.received("content-type") == ["application/json"]


@pytest.mark.parametrize("target", ["//products", "/a/../b?q=%2F&q=&flag", "/caf%C3%A9?x=1;y=2"])
def test_request_target_is_forwarded_literally(edge: LocalEdge, target: str) -> None:
    assert call(edge, path=target, headers=NEW_YORK).json()["path"] == target


def test_oversized_failover_read_is_a_problem_413(edge: LocalEdge, regions: dict[str, FakeRegion]) -> None:
    reply = call(edge, "GET", "/search", NEW_YORK, b"x" * (1024 * 1024 + 1))
    assert reply.status == 413
    assert reply.json()["type"] == "urn:ecommerce:problem:edge-body-too-large"
    assert regions["us-east-1"].requests == []


def test_headers_host_cookies_and_hop_by_hop(edge: LocalEdge, regions: dict[str, FakeRegion]) -> None:
    reply = call(
        edge,
        headers=[
            *NEW_YORK.items(),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("Cookie", "session=abc; theme=dark"),
            ("Connection", "X-Hop"),
            ("X-Hop", "do-not-forward"),
            ("Proxy-Authorization", "Basic secret"),
        ],
    )
    assert reply.received("x-multi") == ["one", "two"]
    assert reply.received("cookie") == ["session=abc; theme=dark"]
    assert reply.received("host") == [regions["us-east-1"].url.removeprefix("http://")]
    assert reply.received("x-hop") == []
    assert reply.received("proxy-authorization") == []
    assert reply.received("x-forwarded-for") == ["127.0.0.1"]
    # The response keeps the region's headers, repeated ones included.
    assert reply.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert reply.headers["X-Region"] == "us-east-1"


def test_viewer_cannot_spoof_x_edge_region(edge: LocalEdge) -> None:
    reply = call(edge, headers={**NEW_YORK, "X-Edge-Region": "us-east-2"})
    assert reply.received("x-edge-region") == ["us-east-1"]


def test_large_write_body_streams_through(edge: LocalEdge) -> None:
    body = b"x" * (3 * 1024 * 1024)
    reply = call(edge, "PUT", "/blob", NEW_YORK, body)
    assert reply.status == 200
    assert len(reply.json()["body"]) == len(body)


def test_one_log_line_per_request(edge: LocalEdge, edge_dir: Path) -> None:
    call(edge, "GET", "/log-me?secret=1", CHICAGO)
    assert output_shows(edge, "/log-me")
    lines = [
        line for line in (edge_dir / "edge.log").read_text(encoding="utf-8").splitlines() if "/log-me" in line
    ]
    assert len(lines) == 1
    assert " GET /log-me us-east-2 200 " in lines[0]
    assert "secret" not in lines[0]  # the path is logged, not the query string


# --- the launcher -------------------------------------------------------------------------------------


def test_stop_is_clean_and_idempotent(regions: dict[str, FakeRegion], tmp_path: Path) -> None:
    running = start_local_edge(
        port=0,
        origins={"us-east-1": regions["us-east-1"].url},
        primary="us-east-1",
        kvs_file=tmp_path / "kvs.json",
        log=tmp_path / "edge.log",
    )
    assert call(running).region == "us-east-1"  # one region: a single origin
    assert running.stop() == 0
    assert running.stop() == 0
    assert not running.running()
    assert "stopped (SIGTERM)" in (tmp_path / "edge.log").read_text(encoding="utf-8")


def test_edge_exits_when_its_launcher_goes_away(regions: dict[str, FakeRegion], tmp_path: Path) -> None:
    """If the dev process dies without stop(), its end of stdin closes and the edge exits (no orphan)."""
    running = start_local_edge(
        port=0,
        origins={"us-east-1": regions["us-east-1"].url},
        primary="us-east-1",
        kvs_file=tmp_path / "kvs.json",
        log=tmp_path / "edge.log",
    )
    try:
        assert running.process.stdin is not None
        running.process.stdin.close()
        assert running.process.wait(timeout=5) == 0
    finally:
        running.stop()
    assert "stopped (launcher gone)" in (tmp_path / "edge.log").read_text(encoding="utf-8")


def test_port_in_use_is_a_clear_error(
    edge: LocalEdge, regions: dict[str, FakeRegion], tmp_path: Path
) -> None:
    with pytest.raises(LocalEdgeError, match=r"exited with code 2 before listening") as raised:
        start_local_edge(
            port=edge.port,
            origins={"us-east-1": regions["us-east-1"].url},
            primary="us-east-1",
            kvs_file=tmp_path / "kvs.json",
            log=None,
        )
    assert "address is in use; choose another port" in str(raised.value)


def test_node_missing_is_its_own_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NodeNotFoundError, match=r"Node\.js not found"):
        start_local_edge(
            port=0,
            origins={"us-east-1": "http://127.0.0.1:1"},
            primary="us-east-1",
            kvs_file=tmp_path / "kvs.json",
            log=None,
        )


def test_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(LocalEdgeError, match="primary region us-west-2 is not one of the origins"):
        start_local_edge(
            port=0, origins={"us-east-1": "http://x"}, primary="us-west-2", kvs_file=tmp_path, log=None
        )
    with pytest.raises(LocalEdgeError, match=r"no coordinates for region mars-1: pass coordinates="):
        region_points(["us-east-1", "mars-1"])
    assert region_points(["mars-1"], {"mars-1": (1.0, 2.0)}) == [{"id": "mars-1", "lat": 1.0, "lon": 2.0}]


# ---- the local edge health checker (make dev runs it every --checker-interval seconds) --------------


class HealthRegion:
    """A region that answers ``GET /health`` with the API's contract and everything else with its name;
    stopped and started again on the same port, like a region's server going away and coming back."""

    def __init__(self, name: str) -> None:
        self.name, self.port = name, 0
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HealthRegion:
        name = self.name

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"status": "ok"} if self.path == "/health" else {"region": name}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Region", name)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def actions(checker: LocalChecker, region: str) -> list[str]:
    """Per run, what the checker did about ``region`` ("none", "drained", "restored", ...)."""
    return [next(r["action"] for r in run["regions"] if r["region"] == region) for run in checker.history]


def test_the_local_checker_drains_a_stopped_region_and_restores_it_with_hysteresis(tmp_path: Path) -> None:
    from ecommerce_ops import edge as edge_cli

    regions = {name: HealthRegion(name).start() for name in ("us-east-1", "us-east-2")}
    kvs = tmp_path / "kvs.json"
    origins = {name: region.url for name, region in regions.items()}
    changes: list[str] = []
    with start_local_edge(
        port=0, origins=origins, primary="us-east-1", kvs_file=kvs, log=tmp_path / "edge.log"
    ) as running:
        checker = local_checker(origins=origins, kvs_file=kvs, interval=0.1, on_change=changes.append)
        checker.start()
        try:
            wait_for(lambda: checker.runs >= 2)
            assert call(running, headers=CHICAGO).region == "us-east-2"

            regions["us-east-2"].stop()  # the region's server goes away
            wait_for(lambda: "drained" in actions(checker, "us-east-2"))
            seen = actions(checker, "us-east-2")
            drained_at = seen.index("drained")
            failing = [
                next(r for r in run["regions"] if r["region"] == "us-east-2")["outcome"]
                for run in checker.history
            ]
            # Hysteresis: the first failing run only records; the second drains.
            assert failing[drained_at - 1 : drained_at + 1] == ["fail", "fail"]
            assert failing[drained_at - 2] == "pass"
            assert edge_cli.read_local(kvs)["drained:us-east-2"] == "true"
            assert call(running, headers=CHICAGO).region == "us-east-1"  # the edge skips it
            assert changes == ["edge health checker: drained us-east-2 (2 failing runs in a row)"]

            regions["us-east-2"].start()  # back on the same port
            wait_for(lambda: "restored" in actions(checker, "us-east-2"))
            seen = actions(checker, "us-east-2")
            restored_at = seen.index("restored")
            outcomes = [
                next(r for r in run["regions"] if r["region"] == "us-east-2")["outcome"]
                for run in checker.history
            ]
            # Three healthy runs in a row restore it; the two before only record.
            assert outcomes[restored_at - 2 : restored_at + 1] == ["pass", "pass", "pass"]
            assert outcomes[restored_at - 3] == "fail"
            assert "drained:us-east-2" not in edge_cli.read_local(kvs)
            assert call(running, headers=CHICAGO).region == "us-east-2"
            assert changes[-1] == "edge health checker: restored us-east-2 (3 healthy runs in a row)"
        finally:
            checker.stop()
            for region in regions.values():
                region.stop()


def test_an_operator_drain_holds_against_the_local_checker(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ecommerce_ops import edge as edge_cli

    regions = {name: HealthRegion(name).start() for name in ("us-east-1", "us-east-2")}
    data_dir = tmp_path
    kvs = data_dir / KVS_FILE
    checker = local_checker(origins={n: r.url for n, r in regions.items()}, kvs_file=kvs, interval=0.05)
    try:
        result = CliRunner().invoke(
            edge_cli.edge, ["drain", "us-east-2", "--local", "--data-dir", str(data_dir)]
        )
        assert result.exit_code == 0, result.output
        checker.start()
        wait_for(lambda: checker.runs >= 5)
        assert edge_cli.read_local(kvs)["drained:us-east-2"] == "true"  # healthy, but not the checker's drain
        assert "restored" not in actions(checker, "us-east-2")
    finally:
        checker.stop()
        for region in regions.values():
            region.stop()


def automatically_drained(tmp_path: Path) -> tuple[dict[str, HealthRegion], LocalChecker, Path]:
    """Two regions and a running local checker that has drained a stopped us-east-2."""
    from ecommerce_ops import edge as edge_cli

    regions = {name: HealthRegion(name).start() for name in ("us-east-1", "us-east-2")}
    kvs = tmp_path / KVS_FILE
    checker = local_checker(origins={n: r.url for n, r in regions.items()}, kvs_file=kvs, interval=0.05)
    checker.start()
    regions["us-east-2"].stop()
    wait_for(lambda: "drained" in actions(checker, "us-east-2"))
    assert edge_cli.read_local(kvs).get("auto-drained:us-east-2") == "true"
    return regions, checker, kvs


def edge_local(data_dir: Path, *args: str) -> str:
    from click.testing import CliRunner

    from ecommerce_ops import edge as edge_cli

    result = CliRunner().invoke(edge_cli.edge, [*args, "--local", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_local_operator_drain_takes_over_an_automatic_drain(tmp_path: Path) -> None:
    """docs/operations.md: draining a region the checker drained makes it the operator's; the
    checker no longer restores it when it recovers."""
    from ecommerce_ops import edge as edge_cli

    regions, checker, kvs = automatically_drained(tmp_path)
    try:
        assert edge_local(tmp_path, "drain", "us-east-2").splitlines()[0] == "drained us-east-2"
        assert "auto-drained:us-east-2" not in edge_cli.read_local(kvs)
        regions["us-east-2"].start()
        runs = checker.runs
        wait_for(lambda: checker.runs >= runs + 6)
        assert edge_cli.read_local(kvs)["drained:us-east-2"] == "true"
        assert "held-by-operator" in actions(checker, "us-east-2")
        assert "restored" not in actions(checker, "us-east-2")
    finally:
        checker.stop()
        for region in regions.values():
            region.stop()


def test_a_local_restore_clears_the_automatic_marker(tmp_path: Path) -> None:
    """A restore removes auto-drained: too; left behind, it would make a later operator drain look
    like the checker's, and the checker would undo it."""
    from ecommerce_ops import edge as edge_cli

    regions, checker, kvs = automatically_drained(tmp_path)
    checker.stop()
    try:
        assert edge_local(tmp_path, "restore", "us-east-2").splitlines()[0] == "restored us-east-2"
        items = edge_cli.read_local(kvs)
        assert "drained:us-east-2" not in items and "auto-drained:us-east-2" not in items
        regions["us-east-2"].start()
        edge_local(tmp_path, "drain", "us-east-2")  # now for maintenance
        assert edge_cli.read_local(kvs).get("auto-drained:us-east-2") is None
    finally:
        for region in regions.values():
            region.stop()
