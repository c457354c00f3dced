"""The route x caller matrix through the Lambda entry points, with and without API Gateway in front.

Through the gateway (routing plus the Cognito authorizer, as ``make dev`` and the deployed stage
have it) and straight into the functions with whatever claims a caller has (none for anonymous):
the handlers alone must still refuse, because the claims, not the gateway, decide ownership. The
same matrix runs through the dev server's HTTP path in tests/e2e/test_dev_runtime.py.
"""

from __future__ import annotations

from typing import Any

import pytest

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
    assert len(covered) == len(contract.ROUTES) * 4
    # Each access level meets every kind of answer it should: success, 401, 403, 404.
    assert {c.expected() for c in CASES} >= {200, 201, 204, 401, 403, 404}
