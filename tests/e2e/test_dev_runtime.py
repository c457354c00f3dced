"""`ecommerce dev`: event translation (unit) and the whole runtime as a subprocess (integration)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

import authz
from api_support import issue_for
from ecommerce_dev import apigw, devserver
from ecommerce_dev.identity import OPERATOR_ISSUER, LocalIdentity
from handlers.db.sample import JOHN

AUTHZ_CASES = authz.cases()
CHECKER_INTERVAL = 0.5  # seconds between the local edge health checker's runs (default 5)

# ---- unit: API Gateway REST proxy events ---------------------------------------------------------


def event(**overrides: object) -> dict[str, object]:
    args: dict[str, object] = {"method": "GET", "path": "/products", "headers": [], "query": [], "body": b""}
    args.update(overrides)
    return apigw.build_event(**args)  # type: ignore[arg-type]


def test_query_strings_keep_every_value_and_the_last_one_in_the_single_map() -> None:
    built = event(query=[("limit", "5"), ("tag", "a"), ("tag", "b")])
    assert built["queryStringParameters"] == {"limit": "5", "tag": "b"}
    assert built["multiValueQueryStringParameters"] == {"limit": ["5"], "tag": ["a", "b"]}
    assert event()["queryStringParameters"] is None
    assert event()["multiValueQueryStringParameters"] is None


def test_multi_value_headers() -> None:
    built = event(headers=[("accept", "a/b"), ("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2")])
    assert built["headers"] == {"accept": "a/b", "x-forwarded-for": "2.2.2.2"}
    assert built["multiValueHeaders"] == {"accept": ["a/b"], "x-forwarded-for": ["1.1.1.1", "2.2.2.2"]}


def test_text_body_passes_as_is_and_binary_body_as_base64() -> None:
    text = event(method="POST", body=b'{"name":"Lampe"}')
    assert (text["body"], text["isBase64Encoded"]) == ('{"name":"Lampe"}', False)
    raw = bytes([0xFF, 0x00, 0x10])
    binary = event(method="POST", body=raw)
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(str(binary["body"])) == raw
    assert event()["body"] is None


def test_request_context_is_the_prod_stage_and_the_resource_is_found() -> None:
    built = event(path="/orders/42")
    context = built["requestContext"]
    assert isinstance(context, dict)
    assert context["stage"] == "prod"
    assert context["path"] == "/prod/orders/42"
    assert built["pathParameters"] == {"order_id": "42"}
    assert built["resource"] == context["resourcePath"] == "/orders/{order_id}"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/products", ("browse", "/products", None)),
        ("PATCH", "/products/abc", ("catalog", "/products/{product_id}", {"product_id": "abc"})),
        ("GET", "/customers/1/orders", ("catalog", "/customers/{customer_id}/orders", {"customer_id": "1"})),
        ("POST", "/orders", ("orders", "/orders", None)),
        ("POST", "/orders/9/cancel", ("orders", "/orders/{order_id}/cancel", {"order_id": "9"})),
        ("GET", "/health", ("browse", "/health", None)),
        ("POST", "/health", (None, "/health", None)),
        ("POST", "/products/abc/x", None),
        ("GET", "/health/deep", None),
        ("GET", "/", None),
        ("GET", "/admin", None),
    ],
)
def test_function_choice_follows_the_contract_like_api_gateway(
    method: str, path: str, expected: object
) -> None:
    found = apigw.match(method, path)
    assert (None if found is None else (found.function, found.resource, found.path_parameters)) == expected


def test_results_merge_headers_and_decode_base64() -> None:
    status, headers, body = apigw.decode_result(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert status == 201
    assert headers == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "application/json")]
    assert body == b"\x00\x01"


def test_lock_refuses_a_second_holder() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="dev-lock-"))
    try:
        held = f"already running.*pid {os.getpid()}"
        with devserver.DevLock(data_dir), pytest.raises(devserver.DevError, match=held):
            devserver.DevLock(data_dir).acquire()
        devserver.DevLock(data_dir).acquire()  # released: free again
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_taken_port_fails_fast_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(devserver.DevError, match="--port"):
            devserver.bind(taken.getsockname()[1])


# ---- integration: `ecommerce dev` as a subprocess ------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecommerce_ops.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


@dataclass
class Dev:
    process: subprocess.Popen[str]
    data_dir: Path
    ports: tuple[int, int]
    output: Path
    edge_port: int | None = None

    def url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def text(self) -> str:
        return self.output.read_text()


def wait_ready(dev: Dev, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dev.process.poll() is not None:
            pytest.fail(f"ecommerce dev exited with {dev.process.returncode}:\n{dev.text()}")
        try:
            if all(get(f"{dev.url(i)}/health")[0] == 200 for i in (0, 1)) and "Ctrl-C stops" in dev.text():
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"ecommerce dev not ready within {timeout}s:\n{dev.text()}")


def launch(data_dir: Path, output: Path, *extra: str) -> Dev:
    """``ecommerce dev`` on free ports, ready. A port found free can be taken by another test worker
    before the server binds it: then start again on new ports."""
    for _ in range(3):
        ports, edge_port = (free_port(), free_port()), free_port()
        with output.open("w") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "ecommerce_ops.cli", "dev", "--fast", "--data-dir", str(data_dir),
                 "--port", str(ports[0]), "--second-port", str(ports[1]), "--edge-port", str(edge_port),
                 *extra],
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        running = Dev(process, data_dir, ports, output, edge_port)
        try:
            process.wait(0.5)
        except subprocess.TimeoutExpired:
            wait_ready(running)
            return running
        if "cannot listen on" not in running.text():
            wait_ready(running)  # fails with the output
    pytest.fail(f"ecommerce dev found no free ports:\n{output.read_text()}")


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    # Not pytest's tmp_path: the unprivileged PostgreSQL user must reach it (see tests/conftest.py).
    data_dir = Path(tempfile.mkdtemp(prefix="dev-runtime-"))
    output = Path(tempfile.mkdtemp(prefix="dev-output-")) / "out.txt"
    running = launch(data_dir, output, "--checker-interval", str(CHECKER_INTERVAL))
    process = running.process
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(output.parent, ignore_errors=True)


def test_each_port_is_its_own_region(dev: Dev) -> None:
    regions = [get(f"{dev.url(i)}/health")[1]["x-serving-region"] for i in (0, 1)]
    assert regions == ["us-east-1", "us-east-2"]


def test_smoke_passes_across_both_regions(dev: Dev) -> None:
    identity = LocalIdentity.open(dev.data_dir)
    customer = identity.issue(email="smoke@example.com")
    operator = identity.issue(email="operator@example.com", operator=True)
    result = cli(
        "smoke", "--base-url", dev.url(0), "--second-url", dev.url(1),
        "--token", customer, "--operator-token", operator,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("anonymous catalog write refused", "customer catalog write refused", "retire product"):
        assert f"✓ {step}" in result.stdout, result.stdout
    assert re.search(r"✓ fetch order via second URL\s+200 .*\[us-east-2\]", result.stdout), result.stdout


def test_smoke_without_a_token_fails_and_says_why(dev: Dev) -> None:
    result = cli("smoke", "--base-url", dev.url(0))
    assert result.returncode == 1
    assert "✓ anonymous catalog write refused" in result.stdout
    assert "skipped: give --token" in result.stdout


def test_openapi_and_offline_docs(dev: Dev) -> None:
    status, headers, body = get(f"{dev.url(1)}/openapi.json")
    spec = json.loads(body)
    assert status == 200
    assert "/orders" in spec["paths"]
    assert spec["servers"] == [{"url": dev.url(1), "description": "ecommerce dev (local)"}]
    # Swagger UI's "Authorize" takes a token of `ecommerce dev token`.
    assert spec["components"]["securitySchemes"]["cognitoIdToken"]["scheme"] == "bearer"
    status, _, page = get(f"{dev.url(0)}/docs")
    assert status == 200
    assert b"/docs/swagger-ui-bundle.min.js" in page
    assert b"cdn" not in page.lower()
    status, headers, _ = get(f"{dev.url(0)}/docs/swagger-ui-bundle.min.js")
    assert (status, headers["content-type"].split(";")[0]) == (200, "application/javascript")


def test_request_log_has_one_line_per_request(dev: Dev) -> None:
    get(f"{dev.url(1)}/products?limit=1")
    time.sleep(0.2)
    assert re.search(r"GET /products 200 \d+\.\dms us-east-2", dev.text()), dev.text()
    assert (dev.data_dir / "dev.log").read_text().count("GET /products") >= 1


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("bash")), reason="needs curl and bash")
def test_printed_curl_commands_work_as_printed(dev: Dev) -> None:
    text = dev.text()
    section = text.split(devserver.TRY_IT_HEADER, 1)[1].split("\n\n", 1)[0]
    commands = [line for line in section.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 8  # the recipe's flow, then one through the local edge
    assert commands[0].startswith("CUSTOMER=$(") and commands[1].startswith("OPERATOR=$(")
    assert re.search(r"Idempotency-Key: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-", commands[4])
    assert all("Authorization: Bearer $" in command for command in commands[3:7])
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    outputs = result.stdout.splitlines()
    assert "products" in json.loads(outputs[0])
    assert json.loads(outputs[1])["name"] == "Desk Lamp"
    order_id = outputs[2]
    assert json.loads(outputs[3])["order_id"] == order_id
    assert json.loads(outputs[4])["status"] == "cancelled"
    assert outputs[5].lower().strip() == "x-edge-region: us-east-2"  # Chicago is nearer Ohio


def test_the_banners_events_command_shows_a_catalog_change_within_2_seconds(dev: Dev) -> None:
    """make dev's relay: the banner's `ecommerce dev events` command, as printed, prints the event of a
    product created through the API (EventBridge's shape), with and without --follow."""
    [line] = [line for line in dev.text().splitlines() if line.strip().startswith("events ")]
    command = line.strip().removeprefix("events").split("   (", 1)[0].strip()
    assert command.endswith(" events --follow")
    token = LocalIdentity.open(dev.data_dir).issue(email="operator@example.com", operator=True)
    body = json.dumps({"name": "Relayed", "price": "1.00", "stock_quantity": 1, "category": "Events"})
    request = urllib.request.Request(
        f"{dev.url(1)}/products",
        data=body.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        product = json.loads(response.read())["product_id"]
    once = command.removesuffix(" --follow")
    deadline = time.monotonic() + 2.0
    while True:
        printed = subprocess.run(["bash", "-c", once], capture_output=True, text=True, timeout=30)
        assert printed.returncode == 0, printed.stderr
        mine = [json.loads(out) for out in printed.stdout.splitlines() if product in out]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(e["source"], e["detail-type"], e["detail"]["entityId"]) for e in mine] == [
        ("ecommerce.shop", "ProductCreated", product)
    ]
    assert mine[0]["detail"]["region"] == "us-east-2" and {"id", "time", "detail"} <= set(mine[0])
    follow = subprocess.Popen(["bash", "-c", f"exec {command}"], stdout=subprocess.PIPE, text=True)
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        assert json.loads(first)["source"] == "ecommerce.shop"
        assert follow.poll() is None  # still following
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(10)


def raw_http(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send these bytes as they are (no client library to tidy them up) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "problem"),
    [
        (b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, "route-not-found"),
        (b"TRACE /products HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, "method-not-allowed"),
        (
            b"PUT /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            405,
            "method-not-allowed",
        ),
        (
            b"GET /products HTTP/1.1\r\nHost: x\r\nX-Big: "
            + b"x" * 20_000
            + b"\r\nConnection: close\r\n\r\n",
            400,
            "malformed-request",
        ),
        (
            b"GET /products HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 100_000 + b"\r\n\r\n",
            400,
            "malformed-request",
        ),
        (b"GARBAGE\r\n\r\n", 400, "malformed-request"),
        (  # the authorizer runs before anything looks at the body, as in API Gateway
            b"POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nhi",
            401,
            "unauthenticated",
        ),
    ],
)
def test_the_servers_own_answers_are_problems_with_the_region(
    dev: Dev, request_bytes: bytes, status: int, problem: str
) -> None:
    got, headers, body = raw_http(dev.ports[1], request_bytes)
    assert got == status, body
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-serving-region"] == "us-east-2"
    assert json.loads(body)["type"] == f"urn:ecommerce:problem:{problem}"


def test_an_operators_text_body_is_415(dev: Dev) -> None:
    token = LocalIdentity.open(dev.data_dir).issue(email="operator@example.com", operator=True)
    request = (
        b"POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nConnection: close\r\n\r\nhi"
    )
    got, _, body = raw_http(dev.ports[0], request)
    assert (got, json.loads(body)["type"]) == (415, "urn:ecommerce:problem:unsupported-media-type")


# ---- identity: the local user pool and the authorizer in front of the functions -----------------


def call(
    dev: Dev, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{dev.url()}{path}",
        data=data,
        method=method,
        headers={**({"Content-Type": "application/json"} if data else {}), **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer, raw = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in answer.items()}, json.loads(raw) if raw else None


@pytest.mark.parametrize("case", AUTHZ_CASES, ids=[case.id for case in AUTHZ_CASES])
def test_route_caller_matrix_over_http(dev: Dev, case: authz.Case) -> None:
    """The matrix of tests/integration/test_authorization.py, over HTTP with real tokens of the local pool."""
    identity = LocalIdentity.open(dev.data_dir)

    def send(
        method: str, path: str, body: object, headers: dict[str, str], who: str | None
    ) -> tuple[int, object]:
        if who is not None:
            headers = {**headers, "Authorization": f"Bearer {issue_for(identity, who)}"}
        status, _, answer = call(dev, method, path, body, headers)
        return status, answer

    status, body = authz.run_case(case, send)
    assert status == case.expected(), (case.id, body)


def forged(identity: LocalIdentity, kind: str) -> str | None:
    """A token API Gateway's Cognito authorizer refuses, of the given kind."""
    email = "john.doe@example.com"
    if kind == "missing":
        return None
    if kind == "expired":
        return identity.issue(email=email, now=time.time() - 7200)
    if kind == "wrong issuer":
        return identity.issue(email=email, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other")
    if kind == "wrong client":
        return identity.issue(email=email, aud="someotherclient")
    if kind == "access token":
        return identity.issue(email=email, token_use="access", aud=None, client_id="localdevclient")
    if kind == "missing sub":
        return identity.issue(email=email, sub=None)
    if kind == "another pool":
        other = LocalIdentity.open(Path(tempfile.mkdtemp(prefix="other-pool-")))
        return other.issue(email=email)
    header, payload, signature = identity.issue(email=email).split(".")
    if kind == "tampered signature":
        return f"{header}.{payload}.{signature[:-4]}AAAA"
    if kind == "tampered payload":
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["iss"] = OPERATOR_ISSUER
        raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{header}.{raw}.{signature}"
    if kind == "alg none":
        none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        return f"{none}.{payload}."
    if kind == "alg confusion":
        # HS256 keyed with the pool's public key: accepted by verifiers that trust the header's alg.
        public = identity.key_path.read_bytes()
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(public, None).public_key()
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        hs = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
        mac = hmac.new(pem, f"{hs}.{payload}".encode(), hashlib.sha256).digest()
        return f"{hs}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    raise AssertionError(kind)


FORGERIES = [
    "missing", "expired", "wrong issuer", "wrong client", "access token", "missing sub", "another pool",
    "tampered signature", "tampered payload", "alg none", "alg confusion",
]  # fmt: skip


@pytest.mark.parametrize("kind", FORGERIES)
def test_tokens_the_authorizer_refuses_are_401_before_any_function_runs(dev: Dev, kind: str) -> None:
    token = forged(LocalIdentity.open(dev.data_dir), kind)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    before = dev.text().count("orders")
    status, answer, body = call(dev, "GET", "/customers/me", headers=headers)
    assert status == 401, body
    assert answer["content-type"] == "application/problem+json"
    assert answer["www-authenticate"] == "Bearer"
    assert isinstance(body, dict) and body["type"] == "urn:ecommerce:problem:unauthenticated"
    # API Gateway's two messages: only expiry is told apart.
    assert body["detail"] == ("The incoming token has expired" if kind == "expired" else "Unauthorized")
    assert dev.text().count("orders") == before


def test_a_valid_token_is_its_customer_in_either_region(dev: Dev) -> None:
    token = LocalIdentity.open(dev.data_dir).issue(email="john.doe@example.com")
    for index in (0, 1):
        request = urllib.request.Request(
            f"{dev.url(index)}/customers/me", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["customer_id"] == JOHN


def test_dev_token_prints_the_token_last_and_the_same_email_is_the_same_identity(dev: Dev) -> None:
    printed = cli("dev", "token", "--customer", "john.doe@example.com", "--data-dir", str(dev.data_dir))
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.split()[-1]
    status, _, body = call(dev, "GET", "/customers/me", headers={"Authorization": f"Bearer {token}"})
    assert (status, body["customer_id"]) == (200, JOHN)  # type: ignore[index]
    newcomer = cli("dev", "--data-dir", str(dev.data_dir), "token", "--customer", "New.Comer@example.com")
    token = newcomer.stdout.split()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    assert call(dev, "GET", "/customers/me", headers=auth)[0] == 404
    profile = {"email": "new.comer@example.com", "first_name": "N", "last_name": "C"}
    status, _, created = call(dev, "POST", "/customers", profile, auth)
    assert status == 201, created
    again = cli("dev", "token", "--customer", "new.comer@example.com", "--data-dir", str(dev.data_dir))
    status, _, mine = call(
        dev, "GET", "/customers/me", headers={"Authorization": f"Bearer {again.stdout.split()[-1]}"}
    )
    assert (status, mine) == (200, created)
    operator = cli("dev", "token", "--operator", "--data-dir", str(dev.data_dir)).stdout.split()[-1]
    product = {"name": "Token Lamp", "price": "3.00", "stock_quantity": 1, "category": "Home"}
    assert call(dev, "POST", "/products", product, {"Authorization": f"Bearer {operator}"})[0] == 201
    assert call(dev, "POST", "/products", product, auth)[0] == 403


def edge_region(dev: Dev, latitude: str, longitude: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{dev.edge_port}/products?limit=1",
        headers={"CloudFront-Viewer-Latitude": latitude, "CloudFront-Viewer-Longitude": longitude},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return str(response.headers["x-edge-region"])


def test_the_local_edge_routes_to_the_nearest_region_and_honours_a_local_drain(dev: Dev) -> None:
    chicago, new_york = ("41.88", "-87.63"), ("40.71", "-74.01")
    assert (edge_region(dev, *chicago), edge_region(dev, *new_york)) == ("us-east-2", "us-east-1")
    drained = cli("edge", "drain", "us-east-2", "--local", "--data-dir", str(dev.data_dir))
    assert drained.returncode == 0, drained.stderr
    try:
        assert edge_region(dev, *chicago) == "us-east-1"
        refused = cli("edge", "drain", "us-east-1", "--local", "--data-dir", str(dev.data_dir))
        assert refused.returncode == 1 and "last serving region" in refused.stderr
    finally:
        restored = cli("edge", "restore", "us-east-2", "--local", "--data-dir", str(dev.data_dir))
    assert restored.returncode == 0, restored.stderr
    assert edge_region(dev, *chicago) == "us-east-2"


@pytest.mark.parametrize(
    ("request_bytes", "statuses"),
    [
        (b"GET /products HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 100_000 + b"\r\n\r\n", range(400, 500)),
        (b"GARBAGE\r\n\r\n", range(400, 500)),
        (  # invalid UTF-8, the wrong media type, no token: the gateway refuses before the body matters
            b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\n\xff\xfe\xfd",
            (401,),
        ),
        (
            b"POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000000\r\nConnection: close\r\n\r\n" + b"[" * 2_000_000,
            range(400, 500),
        ),
        (b"TRACE /products HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (405,)),
    ],
)
def test_hostile_requests_through_the_local_edge_are_4xx(
    dev: Dev, request_bytes: bytes, statuses: Any
) -> None:
    assert dev.edge_port is not None
    got, _, body = raw_http(dev.edge_port, request_bytes)
    assert got in statuses, (got, body[:300])


def test_second_runtime_on_the_same_data_dir_refuses(dev: Dev) -> None:
    result = cli("dev", "--data-dir", str(dev.data_dir), "--port", str(free_port()), timeout=30)
    assert result.returncode != 0
    assert f"already running on {dev.data_dir} (pid {dev.process.pid})" in result.stderr


def test_reset_refuses_while_running(dev: Dev) -> None:
    result = cli("dev", "--data-dir", str(dev.data_dir), "--reset-only", timeout=30)
    assert result.returncode != 0
    assert "already running" in result.stderr
    assert (dev.data_dir / "pgdata").is_dir()


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "postgres" in cmdline and str(data_dir) in cmdline:
            found.append(process)
    return found


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_local_edge_health_checker_runs_against_the_regions(dev: Dev) -> None:
    """The deployed checker's code probes both regions' /health on the schedule and records its runs
    in the local edge's store (draining and restoring: tests/e2e/test_local_edge.py)."""
    assert f"health checker every {CHECKER_INTERVAL:g} s" in dev.text()
    from ecommerce_ops.edge import read_local
    from handlers.infra import edge_state

    store = dev.data_dir / "edge" / "kvs.json"
    # Generous: on a loaded CI machine a probe can time out, and a run that sees no region healthy
    # records no vote (the counts start over), so healthy runs are collected over the window.
    deadline = time.monotonic() + 60
    healthy: set[str] = set()
    while time.monotonic() < deadline and len(healthy) < 2:
        items = read_local(store)
        for region in ("us-east-1", "us-east-2"):
            seen = edge_state.Observation.decode(items.get(edge_state.health_key(region, "local")))
            if seen is not None and seen.ok >= 1:
                healthy.add(region)
        time.sleep(0.1)
    if len(healthy) < 2:
        tail = "\n".join(dev.text().splitlines()[-40:])
        pytest.fail(f"the checker recorded no healthy run for some region: {read_local(store)}\n{tail}")
    assert not any(key.startswith("drained:") for key in items)


# The tests below stop the shared dev server: keep them last in this module.
def test_sigint_stops_servers_and_database_then_reset_wipes(dev: Dev) -> None:
    """Runs last in this module: it stops the shared runtime."""
    assert postgres_processes(dev.data_dir)
    dev.process.send_signal(signal.SIGINT)
    assert dev.process.wait(30) == 0, dev.text()
    assert "PostgreSQL stopped" in dev.text()
    assert not any(port_open(port) for port in dev.ports)
    assert not postgres_processes(dev.data_dir)
    result = cli("dev", "--data-dir", str(dev.data_dir), "--reset-only", timeout=30)
    assert result.returncode == 0, result.stderr
    assert not (dev.data_dir / "pgdata").exists()


def test_sigterm_stops_cleanly_and_a_restart_keeps_the_data() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="dev-restart-"))
    output = data_dir / "out.txt"  # beside pgdata, not inside it
    try:
        for round_ in range(2):
            dev = launch(data_dir, output, "--no-sample-data")
            process, edge_port = dev.process, dev.edge_port
            assert edge_port is not None
            if round_ == 0:
                token = LocalIdentity.open(data_dir).issue(email="operator@example.com", operator=True)
                body = {"name": "Kept", "price": "1.00", "stock_quantity": 1, "category": "Restart"}
                status, _, created = call(
                    dev, "POST", "/products", body, {"Authorization": f"Bearer {token}"}
                )
                assert status == 201, created
                product_id = created["product_id"]  # type: ignore[index]
            else:
                assert get(f"{dev.url(1)}/products/{product_id}")[0] == 200
                # The signing key is kept too: tokens issued before the restart still work.
                patch = {"stock_quantity": 2}
                auth = {"Authorization": f"Bearer {token}"}
                assert call(dev, "PATCH", f"/products/{product_id}", patch, auth)[0] == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, dev.text()
            assert not postgres_processes(data_dir)
            assert not port_open(edge_port), "the local edge (Node) outlived the runtime"
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
