"""``ShopIdentity``: who may call the shop API — a Cognito user pool for customers and a second one,
with MFA required, for operators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from ._references import produce_weakly


@runtime_checkable
class IShopIdentity(Protocol):
    """What ``EcommerceApi`` needs of an identity provider: the user pools its authorizer trusts.
    ``user_pool`` signs customers in; ``operator_pool`` operators (None: nobody is an operator).
    The functions tell them apart by the token's issuer, never by a group."""

    @property
    def user_pool(self) -> cognito.IUserPool: ...

    @property
    def operator_pool(self) -> cognito.IUserPool | None: ...


def issuer_of(pool: cognito.IUserPool) -> str:
    """The ``iss`` claim of the pool's tokens: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``
    (Cognito developer guide, "Verifying a JSON web token": amazon-cognito-user-pools-using-tokens-
    verifying-a-jwt.html). ``user_pool_provider_name`` is that URL without its scheme, and owned and
    imported (``UserPool.from_user_pool_arn``) pools both have it; ``user_pool_provider_url`` only
    exists on owned pools."""
    provider_name: str = pool.user_pool_provider_name
    return "https://" + provider_name


class _ImportedIdentity(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, user_pool_arn: str, operator_pool_arn: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        self._pool = cognito.UserPool.from_user_pool_arn(self, "UserPool", user_pool_arn)
        self._operators = (
            cognito.UserPool.from_user_pool_arn(self, "OperatorPool", operator_pool_arn)
            if operator_pool_arn is not None
            else None
        )

    @property
    def user_pool(self) -> cognito.IUserPool:
        return self._pool

    @property
    def operator_pool(self) -> cognito.IUserPool | None:
        return self._operators


class ShopIdentity(Construct):
    """Two Cognito user pools for a storefront: customers sign up with their email (MFA optional, so
    that checkout needs no second factor); operators (catalog writes, any customer's data) are the
    users of a second pool where an administrator creates them and TOTP MFA is required. The API
    functions call a caller an operator because the operators' pool issued the token (its ``iss``),
    so no group, attribute or setting of the customers' pool can make anyone an operator.

    Both pools keep a user's original email until a changed one is verified (Cognito's
    ``AttributesRequireVerificationBeforeUpdate``), so ``email`` with ``email_verified: true`` is
    always an address the user proved they own.

    Create it once per deployment (the app puts it in the primary region's stack): REST API Cognito
    authorizers accept a pool of another region, so both regional APIs trust the same pool.
    Already-issued ID tokens keep working if that region is down (API Gateway checks them against
    the pool's published keys, cached); signing in and refreshing need the pool's region.

    Keyword-only props (defaults in brackets):

    - ``threat_protection``: Cognito's Plus feature plan with threat protection in full-function
      mode (compromised credentials, adaptive authentication), billed per monthly active user
      [False: Essentials, Cognito's default plan for new pools, at a lower per-user rate with a free
      tier; https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-sign-in-feature-plans.html].
    - ``callback_urls`` / ``logout_urls``: the storefront's OAuth redirect URLs (authorization code
      grant only; https, or http for localhost) [``http://localhost:3000/callback`` /
      ``http://localhost:3000/``].
    - ``token_validity``: ID and access token lifetime [1 hour]; refresh tokens last 30 days.
    - ``removal_policy``: of the user pool [RETAIN: it holds every customer's sign-in]; deletion
      protection is always on.

    Attributes: ``user_pool``, ``client`` (the storefront app client: public, no secret, SRP sign-in),
    ``tools_client`` (admin sign-in for tooling such as ``ecommerce smoke``: callable only with AWS
    credentials allowed ``cognito-idp:AdminInitiateAuth``), ``operator_pool``, ``operator_client``
    (SRP and admin sign-in, no OAuth; either ends in the TOTP challenge).

    Creates: two user pools (retained and deletion-protected: they outlive the stack), three app
    clients. Costs while kept: per monthly active user at the plan's rate; an idle pool costs
    nothing (https://aws.amazon.com/cognito/pricing/).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        threat_protection: bool = False,
        callback_urls: Sequence[str] = ("http://localhost:3000/callback",),
        logout_urls: Sequence[str] = ("http://localhost:3000/",),
        token_validity: Duration = Duration.hours(1),  # noqa: B008 - immutable value
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            # A changed email stays unverified and inactive until confirmed; the token keeps the
            # verified original (cognito-user-pools-settings-attributes-verification.html).
            keep_original=cognito.KeepOriginalAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            feature_plan=cognito.FeaturePlan.PLUS if threat_protection else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION
            if threat_protection
            else None,
            removal_policy=removal_policy,
        )
        self.client = self.user_pool.add_client(
            "Storefront",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=list(callback_urls),
                logout_urls=list(logout_urls),
            ),
            prevent_user_existence_errors=True,
            id_token_validity=token_validity,
            access_token_validity=token_validity,
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
        )
        self.tools_client = self.user_pool.add_client(
            "Tools",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(admin_user_password=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            id_token_validity=token_validity,
            access_token_validity=token_validity,
            refresh_token_validity=Duration.hours(1),
        )
        self.operator_pool = cognito.UserPool(
            self,
            "OperatorPool",
            self_sign_up_enabled=False,  # an administrator creates operators (docs/security.md)
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(1),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            feature_plan=cognito.FeaturePlan.PLUS if threat_protection else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION
            if threat_protection
            else None,
            removal_policy=removal_policy,
        )
        self.operator_client = self.operator_pool.add_client(
            "OperatorTools",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            id_token_validity=token_validity,
            access_token_validity=token_validity,
            refresh_token_validity=Duration.hours(12),
            enable_token_revocation=True,
        )
        Validations.of(self.user_pool).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG2",
                reason="MFA is optional so that customers can check out without a second factor; "
                "operators sign in to the operators' pool, where TOTP MFA is required.",
            )
        )
        if not threat_protection:
            for pool in (self.user_pool, self.operator_pool):
                Validations.of(pool).acknowledge(
                    Acknowledgment(
                        id="AwsSolutions-COG8",
                        reason="identity.threat_protection is off in this configuration (Plus is billed "
                        "per active user).",
                    )
                )
        produce_weakly(self)  # references to these resources never become exports

    @staticmethod
    def from_user_pool_arn(
        scope: Construct, construct_id: str, user_pool_arn: str, *, operator_pool_arn: str | None = None
    ) -> IShopIdentity:
        """Trust existing user pools (any region): customers sign in to ``user_pool_arn``, operators
        to ``operator_pool_arn`` [None: nobody is an operator]. Require MFA in the operators' pool."""
        return _ImportedIdentity(scope, construct_id, user_pool_arn, operator_pool_arn)

    @property
    def region(self) -> str:
        return Stack.of(self).region
