"""``EdgeHealthChecker``: drains a region at the edge when its API stops answering, and restores it.

A scheduled Lambda function rather than Route 53 health checks: the drain state lives in the
edge's KeyValueStore, which only an API call can change, so Route 53 would still need a function
(behind an alarm) to act. The function probes each region's ``/health`` directly (with the origin
secret, which the regional web ACLs demand) three times ten seconds apart, once a minute: a region
whose probes all fail is drained within two minutes, one whose probes all pass is restored, mixed
results change nothing, and the last serving region is never drained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Unpack

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._lambda_parts import acknowledge_runtime, logged_role
from ._metrics import MetricOptions
from ._references import produce_weakly
from .bundling import CRT_REQUIREMENTS, LAMBDA_RUNTIME, handler_code
from .origin_secret import HEADER_NAME

HANDLER = "handlers.infra.edge_health.handler"
KVS_ACTIONS = (
    "cloudfront-keyvaluestore:DescribeKeyValueStore",
    "cloudfront-keyvaluestore:GetKey",
    "cloudfront-keyvaluestore:ListKeys",
    "cloudfront-keyvaluestore:PutKey",
    "cloudfront-keyvaluestore:DeleteKey",
    "cloudfront-keyvaluestore:UpdateKeys",
)


class EdgeHealthChecker(Construct):
    """Keyword-only props (defaults in brackets):

    - ``key_value_store``: the edge's drain state [required].
    - ``regions``: ``(region, health URL)`` of each regional API, nearest-first order irrelevant
      [required].
    - ``secret_name``: the ``OriginSecret`` (readable in this region) whose value the probes send.
    - ``schedule``: how often it runs [1 minute].
    - ``architecture``: [ARM_64]. ``code``: [this distribution's handlers plus the AWS CRT, which
      the KeyValueStore API's SigV4A signatures need].
    - ``log_retention``: [ONE_MONTH].

    Attributes: ``function``, ``rule``; ``metric_errors()``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key_value_store: cloudfront.IKeyValueStore,
        regions: Sequence[tuple[str, str]],
        secret_name: str,
        schedule: Duration = Duration.minutes(1),  # noqa: B008 - immutable value
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        code: lambda_.Code | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if code is None:
            code, _ = handler_code(
                architecture.name,
                requirements=CRT_REQUIREMENTS,
                aws_services=("cloudfront-keyvaluestore", "secretsmanager"),
            )
        log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        role = logged_role(
            self,
            "Role",
            log_group,
            "Edge health checker: probes the regional APIs, drains and restores regions",
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=list(KVS_ACTIONS), resources=[key_value_store.key_value_store_arn])
        )
        # Secrets Manager appends six random characters to a secret's name in its ARN.
        secret_arn = stack.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{secret_name}-??????",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret_arn])
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            architecture=architecture,
            handler=HANDLER,
            code=code,
            memory_size=256,
            # Three probes ten seconds apart, each with a 3 s timeout, per region, run in turn.
            timeout=Duration.seconds(40 + 15 * len(regions)),
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "KVS_ARN": key_value_store.key_value_store_arn,
                "REGIONS": json.dumps([{"region": r, "health_url": url} for r, url in regions]),
                "ORIGIN_SECRET_ARN": secret_name,
                "ORIGIN_SECRET_HEADER": HEADER_NAME,
                "POWERTOOLS_SERVICE_NAME": "ecommerce-edge-health",
            },
            description="Drains a region at the edge when its /health fails; restores it when it recovers",
        )
        acknowledge_runtime(self.function)
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(schedule),
            description="Runs the edge health checker",
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        produce_weakly(self)  # references to these resources never become exports

    def metric_errors(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Failed runs of the checker [Sum over 5 minutes]."""
        merged: MetricOptions = {"period": Duration.minutes(5), "statistic": "Sum", **options}
        return self.function.metric_errors(**merged)
