"""``EdgeHealthStack``: one edge health checker in its own region (stack
``<app>-edge-health-<region>``), one per serving region plus one in the witness region."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Environment, Stack, Tags
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ._references import consume_weakly
from .config import EcommerceConfig
from .ecommerce_api import EcommerceApi
from .edge_health import EdgeHealthChecker
from .monitoring import graph
from .regional_stack import _retention, architecture_of, monitoring_for, origin_secret_name


def checker_regions(config: EcommerceConfig) -> list[str]:
    """Where the edge's health checkers run: every serving region, then the witness region (with
    two regions; one region has nothing to fail over to, so no checker)."""
    if not config.edge.enabled or not config.multi_region or config.witness_region is None:
        return []
    return [*config.regions, config.witness_region]


def health_stack_name(config: EcommerceConfig, region: str) -> str:
    return f"{config.app_name}-edge-health-{region}"


class EdgeHealthStack(Stack):
    """``HealthChecker`` (an ``EdgeHealthChecker`` named after this stack's region) and, with
    monitoring on, ``Monitoring`` with an alarm on the checker's failed runs.

    The KeyValueStore ARN and the APIs' URLs arrive as weak cross-stack references
    (``Fn::GetStackOutput``), so no export locks the edge or a regional stack. The origin secret is
    read from this region's replica (the primary regional stack replicates it to every checker
    region).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EcommerceConfig,
        key_value_store: cloudfront.IKeyValueStore,
        apis: Mapping[str, EcommerceApi],
        checkers: Sequence[str],
        lambda_code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        consume_weakly(self)  # before any child: the setting is context the children read
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        health = config.edge.health
        self.health_checker = EdgeHealthChecker(
            self,
            "HealthChecker",
            key_value_store=key_value_store,
            regions=[(region, f"{api.url}health") for region, api in apis.items()],
            secret_name=origin_secret_name(config),
            checker=self.region,
            checkers=checkers,
            fail_threshold=health.fail_threshold,
            restore_threshold=health.restore_threshold,
            quorum=health.quorum,
            observation_ttl=Duration.seconds(health.observation_ttl_seconds),
            probes=health.probes,
            probe_interval=Duration.seconds(health.probe_interval_seconds),
            probe_timeout=Duration.seconds(health.probe_timeout_seconds),
            architecture=architecture_of(config),
            code=lambda_code,
            log_retention=_retention(config.monitoring.log_retention_days),
        )
        if config.monitoring.enabled:
            monitoring = monitoring_for(self, config)
            monitoring.add_alarms(
                [
                    cloudwatch.Alarm(
                        monitoring,
                        "HealthCheckerErrorsAlarm",
                        metric=self.health_checker.metric_errors(),
                        threshold=1,
                        evaluation_periods=2,
                        alarm_description=f"The edge health checker in {self.region} keeps failing: it has "
                        "no vote (the others still drain a failing region while a majority runs)",
                        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    )
                ]
            )
            function = self.health_checker.function
            monitoring.add_widgets(
                graph("Checker runs", function.metric_invocations(), function.metric_errors()),
                graph("Checker duration", function.metric_duration()),
            )
        CfnOutput(self, "HealthCheckerName", value=self.health_checker.function.function_name)


def add_health_stacks(
    scope: Construct,
    config: EcommerceConfig,
    *,
    key_value_store: cloudfront.IKeyValueStore,
    apis: Mapping[str, EcommerceApi],
    account: str | None,
    lambda_code: lambda_.Code | None = None,
) -> dict[str, EdgeHealthStack]:
    """One ``EdgeHealthStack`` per ``checker_regions(config)``; none for one region."""
    regions = checker_regions(config)
    return {
        region: EdgeHealthStack(
            scope,
            health_stack_name(config, region),
            config=config,
            key_value_store=key_value_store,
            apis=apis,
            checkers=regions,
            lambda_code=lambda_code,
            env=Environment(account=account, region=region),
            description=f"{config.app_name}: edge health checker in {region}",
        )
        for region in regions
    }
