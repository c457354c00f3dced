"""``OriginSecret``: the value CloudFront adds to every origin request so the regional APIs can
refuse everything that did not come through the edge."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ._references import produce_weakly
from .bundling import contract


def secret_reference(secret_name: str, version_stage: str = "AWSCURRENT") -> str:
    """A CloudFormation dynamic reference to the header value: resolved by CloudFormation at
    deploy time, so the value appears in no template, cloud assembly or CDK output."""
    key = contract().ORIGIN_SECRET_JSON_KEY
    return f"{{{{resolve:secretsmanager:{secret_name}:SecretString:{key}:{version_stage}}}}}"


class OriginSecret(Construct):
    """A generated secret (48 letters and digits), created in this stack's region and replicated to
    every region that reads it by name: the other regional stacks (their web ACLs) and us-east-1
    (CloudFront's origin headers).

    Keyword-only props (defaults in brackets):

    - ``secret_name``: the name every region refers to [required; the app uses ``<app>-origin-verify``].
    - ``replica_regions``: where else the value is read (this stack's region is skipped) [()].
    - ``removal_policy``: [DESTROY: a new deployment generates a new value; nothing else depends on it].

    Rotation keeps both values valid while CloudFront switches over: ``ecommerce edge
    rotate-origin-secret`` (docs/operations.md); the template's references then resolve to what is
    live, so a later deploy keeps it.

    Creates: one Secrets Manager secret and its replicas. Costs while kept: each secret and each
    replica bills monthly, plus per API call (https://aws.amazon.com/secrets-manager/pricing/).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret_name: str,
        replica_regions: Sequence[str] = (),
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, construct_id)
        here = Stack.of(self).region
        self.secret_name = secret_name
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=secret_name,
            description=f"Value of the {contract().ORIGIN_HEADER} header CloudFront sends to the "
            "regional shop APIs",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",  # noqa: S106 - an empty JSON object, not a password
                generate_string_key=contract().ORIGIN_SECRET_JSON_KEY,
                exclude_punctuation=True,  # a header value, and a WAF byte-match string
                password_length=48,
            ),
            replica_regions=[
                secretsmanager.ReplicaRegion(region=region)
                for region in dict.fromkeys(replica_regions)
                if region != here
            ],
            removal_policy=removal_policy,
        )
        Validations.of(self.secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason="Rotating this value means changing CloudFront and every regional web ACL in a "
                "fixed order while both values stay valid; `ecommerce edge rotate-origin-secret` does "
                "that (docs/operations.md). A single-function Secrets Manager rotation cannot.",
            )
        )
        produce_weakly(self)  # references to these resources never become exports

    @property
    def secret_arn(self) -> str:
        return self.secret.secret_arn

    def reference(self, version_stage: str = "AWSCURRENT") -> str:
        """The header value as a dynamic reference (by name: it resolves in any replica region)."""
        return secret_reference(self.secret_name, version_stage)
