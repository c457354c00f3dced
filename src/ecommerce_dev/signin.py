"""Sign in to the deployed user pool from a terminal: an ID token for ``ecommerce smoke``.

Uses the pool's Tools app client (``ADMIN_USER_PASSWORD_AUTH``), which only callers with AWS
credentials allowed ``cognito-idp:AdminInitiateAuth`` on the pool can use; the storefront's own
client signs in with SRP in the browser and has no password flow.
"""

from __future__ import annotations

from typing import Any


class SignInError(Exception):
    """Signing in failed; the message says why and what to do."""


def id_token(
    *, region: str, user_pool_id: str, client_id: str, username: str, password: str, client: Any = None
) -> str:
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
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise SignInError(
            f"signing in {username} to {user_pool_id} failed: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        raise SignInError(f"cannot reach Cognito in {region}: {exc}") from None
    if "ChallengeName" in result:
        raise SignInError(
            f"{username} must first answer Cognito's {result['ChallengeName']} challenge (a new "
            "password or an MFA code): sign in once in the storefront, or use a smoke-test user "
            "without MFA"
        )
    token: str = result["AuthenticationResult"]["IdToken"]
    return token
