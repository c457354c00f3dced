"""``RegionalStack``: one region's database and API (stack ``<app>-<region>``)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .config import EcommerceConfig
from .dsql_cluster import DsqlCluster
from .ecommerce_api import EcommerceApi, FunctionSettings


class RegionalStack(Stack):
    """A thin composition: ``Database`` (DsqlCluster) and ``Api`` (EcommerceApi)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EcommerceConfig,
        lambda_code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        region = self.region
        db = config.database
        adopted = db.existing_cluster_identifiers.get(region)
        self.database = DsqlCluster(
            self,
            "Database",
            cluster_name=db.cluster_name,
            deletion_protection=db.deletion_protection,
            removal_policy=RemovalPolicy.RETAIN if db.removal_policy == "retain" else RemovalPolicy.DESTROY,
            kms_key_arn=db.kms_key_arns.get(region),
            # An adopted cluster already has its topology; only new clusters get the witness.
            witness_region=config.witness_region if config.multi_region and not adopted else None,
            existing_cluster_identifier=adopted,
        )
        fn = config.lambda_
        timeout = Duration.seconds(fn.timeout_seconds)
        self.api = EcommerceApi(
            self,
            "Api",
            cluster=self.database,
            database_role=db.app_role,
            order_strategy=db.order_strategy,
            catalog=FunctionSettings(
                memory_size=fn.memory.products, timeout=timeout, snap_start=fn.snap_start
            ),
            orders=FunctionSettings(memory_size=fn.memory.orders, timeout=timeout, snap_start=fn.snap_start),
            architecture=lambda_.Architecture.ARM_64
            if fn.architecture == "arm64"
            else lambda_.Architecture.X86_64,
            code=lambda_code,
            throttle_rate_limit=config.api.throttle_rate_limit,
            throttle_burst_limit=config.api.throttle_burst_limit,
            cors_origins=config.api.cors_origins,
            log_retention=_retention(config.monitoring.log_retention_days),
            tracing=config.monitoring.tracing,
            monitoring=config.monitoring.enabled,
            manage_account_logging_role=True,
        )
        CfnOutput(self, "EcommerceApiEndpoint", value=self.api.url, description="Regional API invoke URL")
        CfnOutput(self, "ClusterEndpoint", value=self.database.endpoint, description="DSQL endpoint")
        CfnOutput(self, "ClusterArn", value=self.database.cluster_arn, description="DSQL cluster ARN")
        # `ecommerce migrate --app-role-arn` maps these IAM roles to the database role they log in as.
        for name, function in self.api.functions.items():
            assert function.role is not None
            CfnOutput(
                self, f"{name}RoleArn", value=function.role.role_arn, description=f"{name} function role"
            )


def _retention(days: int) -> logs.RetentionDays:
    return RETENTION[days]


# Every value config.LOG_RETENTION_DAYS allows (tests/unit/test_config.py checks both agree).
RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
