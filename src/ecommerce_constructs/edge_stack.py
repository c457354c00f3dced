"""``EdgeStack``: the global CloudFront distribution (stack ``<app>-edge``, always us-east-1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ._references import consume_weakly
from .bundling import contract
from .config import EcommerceConfig
from .ecommerce_api import EcommerceApi
from .global_edge import EdgeOrigin, GlobalEdge
from .monitoring import ShopMonitoring, graph
from .regional_stack import _retention, monitoring_for, origin_secret_name

_PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}
#: Percentage of 5xx answers at the edge, over 5 minutes, that pages someone.
EDGE_5XX_ALARM_PERCENT = 5


class EdgeStack(Stack):
    """A thin composition: ``Edge`` (GlobalEdge) in front of every regional API and ``Monitoring``.
    The health checkers that drain a failing region run in their own stacks, one per serving region
    plus the witness region (``EdgeHealthStack``), not here: us-east-1 is often a serving region
    itself.

    The APIs' domains cross regions as weak references (``Fn::GetStackOutput``), so no export locks
    a regional stack. ``lambda_code`` is accepted for symmetry and unused.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EcommerceConfig,
        apis: Mapping[str, EcommerceApi],
        lambda_code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        consume_weakly(self)  # before any child: the setting is context the children read
        for key, value in config.tags.items():  # this stack and everything in it, nothing else
            Tags.of(self).add(key, value)
        edge = config.edge
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", edge.certificate_arn)
            if edge.certificate_arn
            else None
        )
        secret_name = origin_secret_name(config)
        self.edge = GlobalEdge(
            self,
            "Edge",
            origins=[
                EdgeOrigin(region=region, domain_name=api.domain_name, origin_path=api.origin_path)
                for region, api in apis.items()
            ],
            primary_region=config.primary,
            origin_secret_name=secret_name,
            price_class=_PRICE_CLASSES[edge.price_class],
            catalog_cache_ttl=Duration.seconds(edge.catalog_cache_ttl_seconds),
            domain_name=edge.domain_name,
            certificate=certificate,
            web_acl_arn=edge.web_acl_arn,
            waf=edge.waf,
            rate_limit=edge.rate_limit_per_5_minutes,
            waf_count_all=edge.waf_mode == "count",
            waf_count_rules=edge.waf_count_rules,
            waf_logging=edge.waf_logging,
            waf_log_retention=_retention(config.monitoring.log_retention_days),
            origin_connection_attempts=edge.origin_connection_attempts,
            origin_connection_timeout=Duration.seconds(edge.origin_connection_timeout_seconds),
            origin_response_timeout=Duration.seconds(edge.origin_response_timeout_seconds),
        )
        self.monitoring = self._monitoring(config) if config.monitoring.enabled else None
        output = contract().Output
        for key, value, description in (
            (output.DISTRIBUTION_DOMAIN_NAME, self.edge.distribution_domain_name, "CloudFront domain"),
            (output.DISTRIBUTION_ID, self.edge.distribution.distribution_id, "CloudFront distribution"),
            (
                output.EDGE_DRAIN_STORE_ARN,
                self.edge.key_value_store.key_value_store_arn,
                "Drain state (ecommerce edge drain/restore/status)",
            ),
        ):
            CfnOutput(self, key, value=value, description=description)

    def _monitoring(self, config: EcommerceConfig) -> ShopMonitoring:
        monitoring = monitoring_for(self, config)
        edge = self.edge
        alarms = [
            cloudwatch.Alarm(
                monitoring,
                "Edge5xxAlarm",
                metric=edge.metric_5xx_error_rate(),
                threshold=EDGE_5XX_ALARM_PERCENT,
                evaluation_periods=1,
                alarm_description=f"More than {EDGE_5XX_ALARM_PERCENT} % of answers at the edge are 5xx",
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                monitoring,
                "RouterErrorsAlarm",
                metric=edge.metric_router("FunctionExecutionErrors"),
                threshold=1,
                evaluation_periods=1,
                alarm_description="The routing function failed (requests then go to the primary region)",
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            # A bad origin-modification argument (e.g. cf.createRequestOriginGroup's) is a 502 counted
            # here, not under execution errors: switch groups off (ecommerce edge failover-groups off).
            cloudwatch.Alarm(
                monitoring,
                "RouterValidationErrorsAlarm",
                metric=edge.metric_router("FunctionValidationErrors"),
                threshold=1,
                evaluation_periods=1,
                alarm_description="The routing function returned something CloudFront refused (502s); "
                "run `ecommerce edge failover-groups off` and see docs/operations.md",
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        monitoring.add_alarms(alarms)
        monitoring.add_widgets(
            graph("Edge requests", edge.metric_requests()),
            graph("Edge error rates (%)", edge.metric_4xx_error_rate(), edge.metric_5xx_error_rate()),
            graph(
                "Router",
                edge.metric_router("FunctionInvocations"),
                edge.metric_router("FunctionExecutionErrors"),
                edge.metric_router("FunctionValidationErrors"),
                edge.metric_router("FunctionThrottles"),
            ),
        )
        return monitoring
