"""Who is calling: the caller from the Cognito authorizer's claims, and whether a route admits them
(the one place authorization is decided; the domain trusts the caller it is given)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers import contract
from handlers.shop.domain import Caller, ShopError, refusal


def caller_of(event: Mapping[str, Any], operator_issuer: str) -> Caller:
    """The identity API Gateway's Cognito authorizer verified, from the claims it passes on in
    ``requestContext.authorizer.claims`` (never from the body). No claims: anonymous.

    The authorizer trusts two pools (customers', operators'); it has checked the token's signature
    against the issuing pool's keys, so ``iss`` names the pool that signed it. A caller is an
    operator only when that is the operators' pool (MFA required there): a group name, which a
    customer pool's admin could also hand out, grants nothing. API Gateway REST passes every claim
    as a string, so ``email_verified`` is ``"true"`` or ``"false"``.
    """
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") or {}
    subject = claims.get("sub") or None
    if subject is None:
        return Caller()
    verified = claims.get("email_verified")
    return Caller(
        subject=str(subject),
        email=claims.get("email") or None,
        operator=bool(operator_issuer) and claims.get("iss") == operator_issuer,
        email_verified=verified is True or verified == "true",
    )


def denied(route: contract.Route | None, caller: Caller) -> ShopError | None:
    """The route's access rule before the body is read (API Gateway already refused calls without a
    valid token): the domain's one decision, :func:`handlers.shop.domain.refusal`."""
    return None if route is None else refusal(route.access, caller)
