"""`ecommerce smoke` failure reporting: clear one-line reasons and exit status 1."""

from __future__ import annotations

import io
import json
import socket
import urllib.error
from email.message import Message
from typing import Any

import pytest
from click.testing import CliRunner

from ecommerce_dev.cli import main
from ecommerce_dev.smoke import run_smoke


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_url_exits_1_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(main, ["smoke", "--base-url", url, "--timeout", "2"])
    assert result.exit_code == 1
    assert "✗ health" in result.output
    assert "connection refused" in result.output
    assert "Traceback" not in result.output


def failing(error: BaseException) -> Any:
    def opener(request: Any, timeout: float) -> Any:
        raise error

    return opener


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (urllib.error.URLError(socket.gaierror(-2, "Name unknown")), "cannot resolve x.example (DNS)"),
        (urllib.error.URLError(TimeoutError("timed out")), "within 3s (timeout)"),
        (TimeoutError("The read operation timed out"), "within 3s (timeout)"),
    ],
)
def test_network_failures_are_named(error: BaseException, message: str) -> None:
    lines: list[str] = []
    assert not run_smoke("https://x.example/prod", timeout=3, echo=lines.append, opener=failing(error))
    assert message in "\n".join(lines)


def http_error(status: int, body: dict[str, Any]) -> urllib.error.HTTPError:
    headers = Message()
    headers["Content-Type"] = "application/json"
    payload = io.BytesIO(json.dumps(body).encode())
    return urllib.error.HTTPError("https://x", status, "error", headers, payload)


def test_forbidden_explains_stage_and_credentials() -> None:
    lines: list[str] = []
    error = http_error(403, {"message": "Missing Authentication Token"})
    assert not run_smoke("https://x.example", echo=lines.append, opener=failing(error))
    assert "expected 200, got 403: Missing Authentication Token" in lines[1]
    assert "/prod" in lines[1]


def test_unexpected_status_shows_problem_title_and_detail() -> None:
    problem = {"type": "urn:x", "title": "Database unavailable", "status": 503, "detail": "retry shortly"}
    lines: list[str] = []
    assert not run_smoke("http://h", echo=lines.append, opener=failing(http_error(503, problem)))
    assert "expected 200, got 503: Database unavailable: retry shortly" in lines[1]
    assert lines[-1].startswith("smoke test FAILED")


def test_non_http_url_is_rejected() -> None:
    lines: list[str] = []
    assert not run_smoke("ftp://h", echo=lines.append)
    assert "not an http(s) URL" in lines[1]
