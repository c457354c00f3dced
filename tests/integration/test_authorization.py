"""The route x caller matrix through the Lambda entry points, with and without API Gateway in front.

Through the gateway (routing plus the Cognito authorizer, as ``make dev`` and the deployed stage
have it) and straight into the functions with whatever claims a caller has (none for anonymous):
the handlers alone must still refuse, because the claims, not the gateway, decide ownership. The
same matrix runs through the dev server's HTTP path in tests/e2e/test_dev_runtime.py.
"""

from __future__ import annotations

from typing import Any

import pytest

import authz
from api_support import Client, reply_of
from authz import Case, cases, run_case

CASES = cases()


def through_gateway(client: Client) -> Any:
    def send(method: str, path: str, body: Any, headers: dict[str, str], who: str | None) -> tuple[int, Any]:
        reply = client.request(method, path, body, who=who, headers=headers)
        return reply.status, reply.body

    return send


def straight_to_the_function(client: Client) -> Any:
    from api_support import api_event
    from ecommerce_dev.apigw import match

    def send(method: str, path: str, body: Any, headers: dict[str, str], who: str | None) -> tuple[int, Any]:
        found = match(method, path)
        assert found is not None and found.route is not None
        event = api_event(method, path, body, headers=headers, claims=client.claims(who))
        reply = reply_of(client.invoke(found.route.function, event))
        return reply.status, reply.body

    return send


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("path", ["gateway", "function"])
def test_route_caller_matrix(client: Client, case: Case, path: str) -> None:
    send = through_gateway(client) if path == "gateway" else straight_to_the_function(client)
    status, body = run_case(case, send)
    assert status == case.expected(), (case.id, body)
    if status >= 400 and case.method != "HEAD":  # HEAD: the same status, no body
        assert body["type"].startswith("urn:ecommerce:problem:"), body
        if status == 401:
            assert body["type"].endswith(":unauthenticated")


def test_every_route_and_caller_is_in_the_matrix() -> None:
    from handlers import contract

    covered = {(c.operation, c.caller) for c in CASES}
    assert len(covered) == len(contract.ROUTES) * 6
    # Each access level meets every kind of answer it should: success, 401, 403, 404.
    assert {c.expected() for c in CASES} >= {200, 201, 204, 401, 403, 404}
    # Only the operators' pool writes the catalog; an unverified email claims no profile.
    writes = {c.caller for c in CASES if c.operation == "create_product" and c.expected() == 201}
    assert writes == {authz.OPERATOR}
    assert Case("create_customer", "POST", authz.UNVERIFIED).expected() == 403


def test_an_unverified_or_missing_email_claims_no_profile(client: Client) -> None:
    """POST /customers needs the pool's verified email: "false", absent, or no email at all is 403."""
    from api_support import api_event

    base = client.claims("someone-verified@example.com")
    assert base is not None and base["email_verified"] == "true"
    body = {"email": "someone-verified@example.com", "first_name": "E", "last_name": "V"}
    for change in ({"email_verified": "false"}, {"email_verified": None}, {"email": None}):
        claims = {k: v for k, v in {**base, **change}.items() if v is not None}
        event = api_event("POST", "/customers", body, claims=claims)
        reply = reply_of(client.invoke("catalog", event))
        assert reply.status == 403, (change, reply.body)
        assert reply.body["type"] == "urn:ecommerce:problem:forbidden"
        assert reply.body["errors"][0]["field"] == "email"


def test_a_group_named_operators_in_the_customers_pool_grants_nothing(client: Client) -> None:
    from api_support import api_event

    claims = client.claims("grouped-x@example.com")
    assert claims is not None and claims["cognito:groups"] == "operators"
    body = {"name": "Sneaky", "price": "1.00", "stock_quantity": 1, "category": "authz"}
    reply = reply_of(client.invoke("catalog", api_event("POST", "/products", body, claims=claims)))
    assert reply.status == 403, reply.body
    # The operators' pool is what counts: the same claims with its issuer are an operator's.
    operator = {**claims, "iss": client.claims("operator-x@example.com")["iss"]}  # type: ignore[index]
    reply = reply_of(client.invoke("catalog", api_event("POST", "/products", body, claims=operator)))
    assert reply.status == 201, reply.body


def test_the_dev_token_cli_models_both_rules_at_the_local_gateway(client: Client) -> None:
    """`ecommerce dev token --customer EMAIL --unverified-email` -> POST /customers is 403 problem+json
    through the local gateway; `--operator` writes the catalog."""
    from click.testing import CliRunner

    from ecommerce_ops.cli import main

    data_dir = str(client.identity.directory.parent)

    def token(*args: str) -> str:
        result = CliRunner().invoke(main, ["dev", "token", *args, "--data-dir", data_dir])
        assert result.exit_code == 0, result.output
        return result.output.split()[-1]

    unverified = token("--customer", "cli-unverified@example.com", "--unverified-email")
    body = {"email": "cli-unverified@example.com", "first_name": "C", "last_name": "U"}
    reply = client.request(
        "POST", "/customers", body, who=None, headers={"Authorization": f"Bearer {unverified}"}
    )
    assert reply.status == 403, reply.body
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert reply.body["errors"][0]["field"] == "email"
    operator = token("--operator")
    product = {"name": "CLI", "price": "1.00", "stock_quantity": 1, "category": "authz"}
    reply = client.request(
        "POST", "/products", product, who=None, headers={"Authorization": f"Bearer {operator}"}
    )
    assert reply.status == 201, reply.body
    bad = CliRunner().invoke(
        main, ["dev", "token", "--operator", "--unverified-email", "--data-dir", data_dir]
    )
    assert bad.exit_code == 2
