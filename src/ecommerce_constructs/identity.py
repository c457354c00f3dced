"""``ShopIdentity``: who may call the shop API — a Cognito user pool for customers and operators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from ._references import produce_weakly
from .bundling import contract


@runtime_checkable
class IShopIdentity(Protocol):
    """What ``EcommerceApi`` needs of an identity provider: the user pool its authorizer trusts."""

    @property
    def user_pool(self) -> cognito.IUserPool: ...


class _ImportedIdentity(Construct):
    def __init__(self, scope: Construct, construct_id: str, user_pool_arn: str) -> None:
        super().__init__(scope, construct_id)
        self._pool = cognito.UserPool.from_user_pool_arn(self, "UserPool", user_pool_arn)

    @property
    def user_pool(self) -> cognito.IUserPool:
        return self._pool


class ShopIdentity(Construct):
    """A Cognito user pool for a storefront: customers sign up with their email; operators are the
    members of the ``operators`` group (catalog writes, any customer's data).

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
    ``tools_client`` (admin sign-in for operators' tooling such as ``ecommerce smoke``: callable only
    with AWS credentials allowed ``cognito-idp:AdminInitiateAuth``), ``operators_group``.

    Creates: one user pool (retained and deletion-protected: it outlives the stack), two app
    clients, one group. Costs while kept: per monthly active user at the plan's rate; an idle pool
    costs nothing (https://aws.amazon.com/cognito/pricing/).
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
        self.operators_group = cognito.UserPoolGroup(
            self,
            "Operators",
            user_pool=self.user_pool,
            group_name=contract().OPERATORS_GROUP,
            description="Shop operators: catalog writes, every customer's profile and orders",
        )
        acknowledgments = [
            Acknowledgment(
                id="AwsSolutions-COG2",
                reason="MFA is optional so that customers can check out without a second factor; "
                "operators are told to enable TOTP (docs/security.md).",
            )
        ]
        if not threat_protection:
            acknowledgments.append(
                Acknowledgment(
                    id="AwsSolutions-COG8",
                    reason="identity.threat_protection is off in this configuration (Plus is billed per "
                    "active user).",
                )
            )
        Validations.of(self.user_pool).acknowledge(*acknowledgments)
        produce_weakly(self)  # references to these resources never become exports

    @staticmethod
    def from_user_pool_arn(scope: Construct, construct_id: str, user_pool_arn: str) -> IShopIdentity:
        """Trust an existing user pool (any region); its ``operators`` group grants operator rights."""
        return _ImportedIdentity(scope, construct_id, user_pool_arn)

    @property
    def region(self) -> str:
        return Stack.of(self).region
