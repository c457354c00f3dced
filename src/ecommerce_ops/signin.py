"""Sign in to a deployed user pool from a terminal: an ID token for ``ecommerce smoke``.

Customers sign in through the customers' pool's Tools app client, operators through the
operators' pool's client (both allow ``ADMIN_USER_PASSWORD_AUTH``, which only callers with AWS
credentials allowed ``cognito-idp:AdminInitiateAuth`` on the pool can use; the storefront's own
client signs in with SRP in the browser and has no password flow). The operators' pool requires
a TOTP second factor, answered with ``AdminRespondToAuthChallenge`` (Cognito API reference,
"AdminRespondToAuthChallenge": ``SOFTWARE_TOKEN_MFA`` takes ``USERNAME`` and
``SOFTWARE_TOKEN_MFA_CODE``, with the ``Session`` of the first call).
"""

from __future__ import annotations

from typing import Any


class SignInError(Exception):
    """Signing in failed; the message says why and what to do."""


def id_token(
    *,
    region: str,
    user_pool_id: str,
    client_id: str,
    username: str,
    password: str,
    totp_code: str | None = None,
    client: Any = None,
) -> str:
    """The ID token of ``username``; ``totp_code`` answers a ``SOFTWARE_TOKEN_MFA`` challenge."""
    import boto3
    import botocore.exceptions

    cognito = client or boto3.client("cognito-idp", region_name=region)
    try:
        result = cognito.admin_initiate_auth(
            UserPoolId=user_pool_id,
            ClientId=client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        if result.get("ChallengeName") == "SOFTWARE_TOKEN_MFA" and totp_code:
            result = cognito.admin_respond_to_auth_challenge(
                UserPoolId=user_pool_id,
                ClientId=client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp_code},
                Session=result["Session"],
            )
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise SignInError(
            f"signing in {username} to {user_pool_id} failed: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        raise SignInError(f"cannot reach Cognito in {region}: {exc}") from None
    challenge = result.get("ChallengeName")
    if challenge == "SOFTWARE_TOKEN_MFA":
        raise SignInError(
            f"{username} must answer an MFA code (SOFTWARE_TOKEN_MFA): give the current code from "
            "the authenticator app with --operator-totp CODE (or ECOMMERCE_OPERATOR_TOTP)"
        )
    if challenge:
        raise SignInError(
            f"{username} must first answer Cognito's {challenge} challenge (a new password, or "
            "enrolling an authenticator app): sign in once in the browser, then run this again"
        )
    token: str = result["AuthenticationResult"]["IdToken"]
    return token
