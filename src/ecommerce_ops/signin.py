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

from collections.abc import Callable
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
                ChallengeResponses={
                    # The pool signs in by email; Cognito names the user it chose in USER_ID_FOR_SRP.
                    "USERNAME": result.get("ChallengeParameters", {}).get("USER_ID_FOR_SRP", username),
                    "SOFTWARE_TOKEN_MFA_CODE": totp_code,
                },
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
    if challenge in ("NEW_PASSWORD_REQUIRED", "MFA_SETUP"):
        raise SignInError(
            f"{username} must first set a password and enroll an authenticator app ({challenge}): "
            'run `ecommerce operator-enroll` once (docs/security.md, "Making someone an operator")'
        )
    if challenge == "SOFTWARE_TOKEN_MFA":
        raise SignInError(
            f"{username} must answer an MFA code (SOFTWARE_TOKEN_MFA): give the current code from "
            "the authenticator app with --operator-totp CODE (or ECOMMERCE_OPERATOR_TOTP)"
        )
    if challenge:
        raise SignInError(f"{username} must first answer Cognito's {challenge} challenge")
    token: str = result["AuthenticationResult"]["IdToken"]
    return token


def enroll_operator(
    *,
    region: str,
    user_pool_id: str,
    client_id: str,
    username: str,
    temporary_password: str,
    new_password: str,
    show_secret: Callable[[str, str], None],
    read_code: Callable[[], str],
    client: Any = None,
) -> str:
    """An operator's first sign-in, which the operators' pool (MFA required, no hosted UI) allows
    only through the API: answer ``NEW_PASSWORD_REQUIRED`` with ``new_password``, then
    ``MFA_SETUP`` by associating a TOTP authenticator (``show_secret(secret, otpauth_uri)``),
    verifying its first code (``read_code()``) and answering ``MFA_SETUP`` with the verified
    session (Cognito API reference: AdminRespondToAuthChallenge, AssociateSoftwareToken,
    VerifySoftwareToken). Returns the ID token of the completed sign-in."""
    import urllib.parse

    import boto3
    import botocore.exceptions

    cognito = client or boto3.client("cognito-idp", region_name=region)

    def respond(name: str, session: str, answers: dict[str, str]) -> dict[str, Any]:
        reply: dict[str, Any] = cognito.admin_respond_to_auth_challenge(
            UserPoolId=user_pool_id, ClientId=client_id, ChallengeName=name,
            ChallengeResponses=answers, Session=session,
        )  # fmt: skip
        return reply

    try:
        result = cognito.admin_initiate_auth(
            UserPoolId=user_pool_id,
            ClientId=client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": temporary_password},
        )
        user = result.get("ChallengeParameters", {}).get("USER_ID_FOR_SRP", username)
        if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            result = respond(
                "NEW_PASSWORD_REQUIRED", result["Session"], {"USERNAME": user, "NEW_PASSWORD": new_password}
            )
        if result.get("ChallengeName") != "MFA_SETUP":
            raise SignInError(
                f"{username} is already enrolled (Cognito answered "
                f"{result.get('ChallengeName') or 'with tokens'}): sign in with a code instead"
            )
        associated = cognito.associate_software_token(Session=result["Session"])
        secret = associated["SecretCode"]
        label = urllib.parse.quote(f"ecommerce operators:{username}")
        show_secret(secret, f"otpauth://totp/{label}?secret={secret}&issuer=ecommerce")
        verified = cognito.verify_software_token(
            Session=associated["Session"], UserCode=read_code(), FriendlyDeviceName="authenticator"
        )
        if verified.get("Status") != "SUCCESS":
            raise SignInError("the authenticator's code was not accepted: run operator-enroll again")
        result = respond("MFA_SETUP", verified["Session"], {"USERNAME": user})
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise SignInError(
            f"enrolling {username} in {user_pool_id} failed: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        raise SignInError(f"cannot reach Cognito in {region}: {exc}") from None
    token: str = result["AuthenticationResult"]["IdToken"]
    return token
