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

from ecommerce_ops.cli import main
from ecommerce_ops.smoke import run_smoke


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


# ---- signing in to a deployed pool (botocore's Stubber checks requests and replies against the
# cognito-idp service model) ------------------------------------------------------------------------

POOL = "us-east-1_AbCdEf123"


def cognito() -> Any:
    import boto3

    return boto3.client(
        "cognito-idp", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_sign_in_uses_the_admin_password_flow_of_the_tools_client() -> None:
    from botocore.stub import Stubber

    from ecommerce_ops.signin import id_token

    client = cognito()
    with Stubber(client) as stub:
        stub.add_response(
            "admin_initiate_auth",
            {"AuthenticationResult": {"IdToken": "id.token.x", "AccessToken": "a", "ExpiresIn": 3600}},
            {
                "UserPoolId": POOL,
                "ClientId": "toolsclient",
                "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                "AuthParameters": {"USERNAME": "smoke@example.com", "PASSWORD": "pw"},
            },
        )
        token = id_token(
            region="us-east-1", user_pool_id=POOL, client_id="toolsclient",
            username="smoke@example.com", password="pw", client=client,
        )  # fmt: skip
        stub.assert_no_pending_responses()
    assert token == "id.token.x"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "s" * 20}, "NEW_PASSWORD_REQUIRED challenge"),
        ({"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s" * 20}, "an MFA code"),
    ],
)
def test_sign_in_challenges_are_explained(reply: dict[str, Any], message: str) -> None:
    from botocore.stub import Stubber

    from ecommerce_ops.signin import SignInError, id_token

    client = cognito()
    with Stubber(client) as stub:
        stub.add_response("admin_initiate_auth", reply)
        with pytest.raises(SignInError, match=message):
            id_token(
                region="us-east-1",
                user_pool_id=POOL,
                client_id="c",
                username="u",
                password="p",
                client=client,
            )


def test_wrong_password_is_one_line() -> None:
    from botocore.stub import Stubber

    from ecommerce_ops.signin import SignInError, id_token

    client = cognito()
    with Stubber(client) as stub:
        stub.add_client_error(
            "admin_initiate_auth", "NotAuthorizedException", "Incorrect username or password."
        )
        with pytest.raises(SignInError, match="NotAuthorizedException: Incorrect username or password"):
            id_token(
                region="us-east-1",
                user_pool_id=POOL,
                client_id="c",
                username="u",
                password="p",
                client=client,
            )


def test_credentials_need_a_deployment_and_a_password_variable() -> None:
    result = CliRunner().invoke(main, ["smoke", "--base-url", "http://h", "--username", "u@example.com"])
    assert result.exit_code == 2 and "add --deployed" in result.output


def test_the_token_email_is_read_for_the_profile() -> None:
    import base64

    from ecommerce_ops.smoke import token_email

    payload = base64.urlsafe_b64encode(json.dumps({"email": "a@b.io"}).encode()).decode().rstrip("=")
    assert token_email(f"h.{payload}.s") == "a@b.io"
    assert token_email("garbage") is None


# ---- operators: their own pool, and a TOTP second factor ---------------------------------------

OPERATOR_POOL = "us-east-1_Operators9"


def test_operator_sign_in_answers_the_totp_challenge() -> None:
    from botocore.stub import Stubber

    from ecommerce_ops.signin import id_token

    client = cognito()
    session = "s" * 20
    with Stubber(client) as stub:
        stub.add_response(
            "admin_initiate_auth",
            {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": session},
            {
                "UserPoolId": OPERATOR_POOL,
                "ClientId": "operatorclient",
                "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                "AuthParameters": {"USERNAME": "ops@example.com", "PASSWORD": "pw"},
            },
        )
        stub.add_response(
            "admin_respond_to_auth_challenge",
            {"AuthenticationResult": {"IdToken": "operator.id.token", "AccessToken": "a", "ExpiresIn": 3600}},
            {
                "UserPoolId": OPERATOR_POOL,
                "ClientId": "operatorclient",
                "ChallengeName": "SOFTWARE_TOKEN_MFA",
                "ChallengeResponses": {"USERNAME": "ops@example.com", "SOFTWARE_TOKEN_MFA_CODE": "123456"},
                "Session": session,
            },
        )
        token = id_token(
            region="us-east-1", user_pool_id=OPERATOR_POOL, client_id="operatorclient",
            username="ops@example.com", password="pw", totp_code="123456", client=client,
        )  # fmt: skip
        stub.assert_no_pending_responses()
    assert token == "operator.id.token"


def test_operator_username_signs_in_to_the_operators_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """`smoke --deployed --operator-username` must use OperatorPoolId/OperatorClientId: the APIs
    know operators by that pool's issuer, so a customers'-pool token would never be an operator."""
    import ecommerce_ops.cli as cli
    import ecommerce_ops.signin as signin
    import ecommerce_ops.smoke as smoke
    from ecommerce_constructs.config import load_config
    from ecommerce_ops.deployment import Deployment

    config = load_config()
    primary = config.stack_name(config.primary)
    outputs = {
        name: {"EcommerceApiEndpoint": f"https://{name}.example/prod/"}
        for name in (config.stack_name(r) for r in config.regions)
    }
    outputs[primary] |= {
        "UserPoolId": "us-east-1_Customers1",
        "ToolsClientId": "toolsclient",
        "OperatorPoolId": OPERATOR_POOL,
        "OperatorClientId": "operatorclient",
    }
    deployment = Deployment(config, outputs)
    signed_in: list[dict[str, Any]] = []

    def fake_id_token(**kwargs: Any) -> str:
        signed_in.append(kwargs)
        return "tok"

    monkeypatch.setattr(cli, "_deployment", lambda: deployment)
    monkeypatch.setattr(signin, "id_token", fake_id_token)
    monkeypatch.setattr(Deployment, "public_url", lambda self: "https://shop.example")
    monkeypatch.setattr(Deployment, "origin_headers", lambda self: {})
    monkeypatch.setattr(smoke, "run_smoke", lambda *a, **k: True)
    monkeypatch.setenv("ECOMMERCE_OPERATOR_PASSWORD", "pw")
    result = CliRunner().invoke(
        main, ["smoke", "--deployed", "--operator-username", "ops@example.com", "--operator-totp", "654321"]
    )
    assert result.exit_code == 0, result.output
    assert [(c["user_pool_id"], c["client_id"], c["totp_code"]) for c in signed_in] == [
        (OPERATOR_POOL, "operatorclient", "654321")
    ]
