"""The deployed app as the CLI finds it: stack names and regions from the configuration, values
from CloudFormation's stack outputs (so commands need no copied URLs or ARNs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecommerce_constructs.config import EcommerceConfig
from ecommerce_constructs.regions import EDGE_REGION
from handlers.contract import Output


class DeploymentError(Exception):
    """The deployment could not be read; the message says what to check."""


@dataclass(frozen=True)
class Deployment:
    """Outputs of every stack of the configured app: stack name -> output key -> value."""

    config: EcommerceConfig
    outputs: dict[str, dict[str, str]]

    def output(self, stack: str, key: str) -> str:
        try:
            return self.outputs[stack][key]
        except KeyError:
            raise DeploymentError(
                f"stack {stack} has no output {key}; is it deployed with this version?"
            ) from None

    def api_url(self, region: str) -> str:
        return self.output(self.config.stack_name(region), Output.API_ENDPOINT)

    def identity(self) -> tuple[str, str, str]:
        """(region, user pool id, Tools client id) of the pool the APIs trust (the primary stack's)."""
        stack = self.config.stack_name(self.config.primary)
        pool = self.output(stack, Output.USER_POOL_ID)
        return pool.split("_", 1)[0], pool, self.output(stack, Output.TOOLS_CLIENT_ID)

    def operator_identity(self) -> tuple[str, str, str]:
        """(region, user pool id, app client id) of the operators' pool (the primary stack's)."""
        stack = self.config.stack_name(self.config.primary)
        pool = self.output(stack, Output.OPERATOR_POOL_ID)
        return pool.split("_", 1)[0], pool, self.output(stack, Output.OPERATOR_CLIENT_ID)

    def origin_headers(self, client: Callable[[str], Any] | None = None) -> dict[str, str]:
        """The header CloudFront adds to origin requests, for calling a regional API directly
        (operators' tools only; read from Secrets Manager, never printed)."""
        if not self.config.edge.enabled:
            return {}
        import json

        import boto3

        from handlers.contract import ORIGIN_HEADER, ORIGIN_SECRET_JSON_KEY

        arn = self.output(self.config.stack_name(self.config.primary), Output.ORIGIN_SECRET_ARN)
        region = arn.split(":")[3]
        make = client or (lambda r: boto3.client("secretsmanager", region_name=r))
        value = json.loads(make(region).get_secret_value(SecretId=arn)["SecretString"])[
            ORIGIN_SECRET_JSON_KEY
        ]
        return {ORIGIN_HEADER: str(value)}

    def public_url(self) -> str:
        """The shop's entry point: the CloudFront domain, or the primary API without the edge."""
        if self.config.edge.enabled:
            return "https://" + self.output(self.config.edge_stack_name, Output.DISTRIBUTION_DOMAIN_NAME)
        return self.api_url(self.config.primary)


def stack_regions(config: EcommerceConfig) -> dict[str, str]:
    stacks = {config.stack_name(region): region for region in config.regions}
    if config.edge.enabled:
        stacks[config.edge_stack_name] = EDGE_REGION
    return stacks


def read_deployment(config: EcommerceConfig, client: Callable[[str], Any] | None = None) -> Deployment:
    """DescribeStacks for every stack of ``config`` in its own region."""
    import boto3
    import botocore.exceptions

    make_client = client or (lambda region: boto3.client("cloudformation", region_name=region))
    outputs: dict[str, dict[str, str]] = {}
    for stack, region in stack_regions(config).items():
        try:
            described = make_client(region).describe_stacks(StackName=stack)["Stacks"][0]
        except botocore.exceptions.ClientError as exc:
            raise DeploymentError(
                f"{stack} ({region}): {exc.response['Error'].get('Message', exc)}"
            ) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise DeploymentError(
                f"{stack} ({region}): {exc}; configure AWS credentials for the account the app is deployed to"
            ) from None
        outputs[stack] = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return Deployment(config, outputs)
