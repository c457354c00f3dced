"""``RegionalStack``: one region's database and API (stack ``<app>-<region>``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Stack, Tags, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._references import consume_weakly
from .bundling import contract
from .config import EcommerceConfig
from .database_setup import DatabaseSetup
from .dsql_change_stream import DsqlChangeStream
from .dsql_cluster import DsqlCluster, IDsqlCluster
from .ecommerce_api import EcommerceApi, FunctionSettings, OrderStrategy
from .identity import IShopIdentity, ShopIdentity
from .monitoring import ShopMonitoring, graph
from .order_events import OrderEvents
from .origin_guard import OriginGuard
from .origin_secret import OriginSecret
from .prune_job import PruneJob
from .regions import EDGE_REGION
from .shop_backup import CopyTarget, ShopBackup, VaultLock

#: OCC conflicts in 5 minutes that page someone: sustained contention, not the odd retried
#: transaction (docs/operations.md says what to look at).
OCC_CONFLICT_ALARM_THRESHOLD = 500


class RegionalStack(Stack):
    """A thin composition: ``Database`` (DsqlCluster), ``Api`` (EcommerceApi), ``Identity``,
    ``OriginGuard`` (only CloudFront may call the API; the primary stack also holds the
    ``OriginSecret``), ``Monitoring`` and, in the stack that completes the topology,
    ``DatabaseSetup``.

    ``peer`` is the first region's stack when this is the second: this stack's cluster then owns
    the peering (the first region's cluster is created with only the witness and waits for it).
    ``identity`` is the user pool another stack created (the primary region's); without it this
    stack creates the pool (``ShopIdentity``), unless the configuration names an existing one.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EcommerceConfig,
        peer: RegionalStack | None = None,
        identity: IShopIdentity | None = None,
        lambda_code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        consume_weakly(self)  # before any child: the setting is context the children read
        for key, value in config.tags.items():  # this stack and everything in it, nothing else
            Tags.of(self).add(key, value)
        region = self.region
        db = config.database
        adopted = db.existing_cluster_identifiers.get(region)
        self.database: IDsqlCluster
        if adopted is not None:
            # An adopted cluster keeps its own topology, encryption and lifecycle.
            self.database = DsqlCluster.from_cluster_identifier(self, "Database", adopted)
        else:
            key_arn = db.kms_key_arns.get(region)
            self.database = DsqlCluster(
                self,
                "Database",
                cluster_name=db.cluster_name,
                deletion_protection=db.deletion_protection,
                removal_policy=RemovalPolicy.RETAIN
                if db.removal_policy == "retain"
                else RemovalPolicy.DESTROY,
                encryption_key=kms.Key.from_key_arn(self, "DatabaseKey", key_arn) if key_arn else None,
                witness_region=config.witness_region if config.multi_region else None,
                peer=peer.database if peer is not None and not db.existing_cluster_identifiers else None,
                allow_unpeer=db.allow_unpeer,
                tag_conditions=db.lifecycle_tag_conditions,
                tags=config.tags,
                log_retention=_retention(config.monitoring.log_retention_days),
                architecture=architecture_of(config),
            )
        self._log_retention_days = config.monitoring.log_retention_days
        self._architecture = architecture_of(config)
        self.backup = self._backup(config) if config.backup.enabled else None
        self._prune_settings = config.prune
        self._lambda_code = lambda_code
        self.prune_job: PruneJob | None = None
        self.identity = self._identity(config, identity)
        fn = config.lambda_
        timeout = Duration.seconds(fn.timeout_seconds)
        self.api = EcommerceApi(
            self,
            "Api",
            cluster=self.database,
            database_role_prefix=db.role_prefix,
            order_strategy=OrderStrategy(db.order_strategy),
            identity=self.identity,
            catalog=FunctionSettings(
                memory_size=fn.memory.products,
                timeout=timeout,
                snap_start=fn.snap_start,
                reserved_concurrency=fn.reserved_concurrency.products,
            ),
            orders=FunctionSettings(
                memory_size=fn.memory.orders,
                timeout=timeout,
                snap_start=fn.snap_start,
                reserved_concurrency=fn.reserved_concurrency.orders,
            ),
            browse=FunctionSettings(
                memory_size=fn.memory.browse,
                timeout=timeout,
                snap_start=fn.snap_start,
                reserved_concurrency=fn.reserved_concurrency.browse,
            ),
            architecture=architecture_of(config),
            code=lambda_code,
            throttle_rate_limit=config.api.throttle_rate_limit,
            throttle_burst_limit=config.api.throttle_burst_limit,
            authenticated_throttle_rate_limit=config.api.authenticated_throttle_rate_limit,
            authenticated_throttle_burst_limit=config.api.authenticated_throttle_burst_limit,
            cors_origins=config.api.cors_origins,
            log_retention=_retention(config.monitoring.log_retention_days),
            tracing=config.monitoring.tracing,
            monitoring=config.monitoring.enabled,
            manage_account_logging_role=True,
        )
        self.origin_secret: OriginSecret | None = None
        self.origin_guard: OriginGuard | None = None
        if config.edge.enabled:
            secret_name = origin_secret_name(config)
            if region == config.primary:
                # Replicated where it is read by name: the other regions' web ACLs, CloudFront's
                # origin headers in us-east-1. The primary stack deploys first (the others peer with
                # it and trust its user pool), so the replicas exist before anything reads them.
                self.origin_secret = OriginSecret(
                    self,
                    "OriginSecret",
                    secret_name=secret_name,
                    # ... and the edge health checker in the witness region.
                    replica_regions=[*config.regions, EDGE_REGION, *edge_checker_only_regions(config)],
                )
                CfnOutput(
                    self,
                    contract().Output.ORIGIN_SECRET_ARN,
                    value=self.origin_secret.secret_arn,
                    description=f"Secret of the {contract().ORIGIN_HEADER} header "
                    "(rotate: ecommerce edge rotate-origin-secret)",
                )
            self.origin_guard = OriginGuard(
                self, "OriginGuard", stage=self.api.rest_api.deployment_stage, secret_name=secret_name
            )
            if self.origin_secret is not None:
                self.origin_guard.node.add_dependency(self.origin_secret)
            CfnOutput(
                self,
                contract().Output.ORIGIN_WEB_ACL_ARN,
                value=self.origin_guard.web_acl_arn,
                description="Web ACL that admits only CloudFront's requests",
            )
        else:
            Validations.of(self.api.rest_api.deployment_stage).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-APIG3",
                    reason="edge.enabled is false: this API is the entry point itself and has no edge "
                    "web ACL in front; stage and per-method throttling apply.",
                )
            )
        self.monitoring = self._monitoring(config) if config.monitoring.enabled else None
        CfnOutput(
            self,
            contract().Output.API_ENDPOINT,
            value=self.api.url,
            description="Regional API invoke URL: CloudFront's origin"
            + (" (refuses requests that do not come through the edge)" if config.edge.enabled else ""),
        )
        CfnOutput(
            self,
            contract().Output.CLUSTER_ENDPOINT,
            value=self.database.cluster_endpoint,
            description="DSQL endpoint",
        )
        CfnOutput(self, "ClusterArn", value=self.database.cluster_arn, description="DSQL cluster ARN")
        for name, function in self.api.functions.items():
            assert function.role is not None
            CfnOutput(
                self, f"{name}RoleArn", value=function.role.role_arn, description=f"{name} function role"
            )

    def _backup(self, config: EcommerceConfig) -> ShopBackup:
        """``Backup``: the cluster's vault, daily plan and copy to the peer region's vault."""
        settings = config.backup
        target = config.backup_copy_region(self.region)
        lock = settings.vault_lock
        shop_backup = ShopBackup(
            self,
            "Backup",
            cluster=self.database,
            vault_name=config.backup_vault_name(self.region),
            retention=Duration.days(settings.retention_days),
            schedule=settings.schedule,
            copy_to=CopyTarget(target, config.backup_vault_name(target)) if target else None,
            vault_lock=VaultLock(
                min_retention_days=lock.min_retention_days,
                max_retention_days=lock.max_retention_days,
                changeable_for_days=lock.changeable_for_days,
            )
            if lock is not None
            else None,
            opt_in=settings.opt_in,
            restore_key_arns=[k for k in (config.database.kms_key_arns.get(self.region),) if k],
            log_retention=_retention(config.monitoring.log_retention_days),
            architecture=architecture_of(config),
        )
        output = contract().Output
        CfnOutput(
            self, output.BACKUP_VAULT_NAME, value=shop_backup.vault_name, description="AWS Backup vault"
        )
        CfnOutput(
            self,
            output.BACKUP_RESTORE_ROLE_ARN,
            value=shop_backup.restore_role.role_arn,
            description="Role AWS Backup restores with (ecommerce backup restore)",
        )
        return shop_backup

    def _monitoring(self, config: EcommerceConfig) -> ShopMonitoring:
        monitoring = monitoring_for(self, config)
        monitoring.add_alarms(self.api.alarms)
        if self.backup is not None:
            self.backup.notify_failures(monitoring.topic)
            monitoring.add_alarm(self.backup.alarm_on_missing_backups())
        occ = cloudwatch.Alarm(
            monitoring,
            "OccConflictsAlarm",
            metric=self.database.metric_occ_conflicts(period=Duration.minutes(5), statistic="Sum"),
            threshold=OCC_CONFLICT_ALARM_THRESHOLD,
            evaluation_periods=2,
            alarm_description="Sustained optimistic-concurrency conflicts on the cluster (runbook: "
            "docs/operations.md, OCC conflict spikes)",
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        monitoring.add_alarm(occ)
        api, functions = self.api, list(self.api.functions.values())
        five = Duration.minutes(5)
        db = self.database
        monitoring.add_widgets(
            graph(
                "API requests and errors",
                api.rest_api.metric_count(period=five),
                api.metric_client_errors(),
                api.metric_server_errors(),
            ),
            graph("API latency p99 (ms)", api.metric_latency()),
            graph(
                "Function errors and throttles",
                *(f.metric_errors(period=five) for f in functions),
                *(f.metric_throttles(period=five) for f in functions),
            ),
        )
        monitoring.add_widgets(
            graph(
                "Function duration p99 (ms)",
                *(f.metric_duration(period=five, statistic="p99") for f in functions),
            ),
            graph(
                "DSQL OCC conflicts and transactions",
                db.metric_occ_conflicts(period=five, statistic="Sum"),
                db.metric_total_transactions(period=five, statistic="Sum"),
            ),
            graph("DSQL commit latency (ms)", db.metric_commit_latency(period=five)),
        )
        return monitoring

    def _identity(self, config: EcommerceConfig, shared: IShopIdentity | None) -> IShopIdentity:
        settings = config.identity
        if settings.user_pool_arn is not None:
            return ShopIdentity.from_user_pool_arn(
                self, "Identity", settings.user_pool_arn, operator_pool_arn=settings.operator_pool_arn
            )
        if shared is not None:
            return shared  # the authorizer reads its ARN through a weak cross-region reference
        created = ShopIdentity(
            self,
            "Identity",
            threat_protection=settings.threat_protection,
            callback_urls=settings.callback_urls,
            logout_urls=settings.logout_urls,
            token_validity=Duration.minutes(settings.token_validity_minutes),
        )
        output = contract().Output
        for key, value, description in (
            (output.USER_POOL_ID, created.user_pool.user_pool_id, "Cognito user pool of the shop"),
            (output.USER_POOL_ARN, created.user_pool.user_pool_arn, "Cognito user pool ARN"),
            (output.STOREFRONT_CLIENT_ID, created.client.user_pool_client_id, "App client of the storefront"),
            (
                output.TOOLS_CLIENT_ID,
                created.tools_client.user_pool_client_id,
                "App client of ecommerce smoke",
            ),
            (
                output.OPERATOR_POOL_ID,
                created.operator_pool.user_pool_id,
                "Cognito user pool of the operators",
            ),
            (
                output.OPERATOR_CLIENT_ID,
                created.operator_client.user_pool_client_id,
                "App client of operators",
            ),
        ):
            CfnOutput(self, key, value=value, description=description)
        return created

    def add_database_setup(
        self, apis: Sequence[EcommerceApi], peers: Sequence[IDsqlCluster]
    ) -> DatabaseSetup:
        """Schema and roles for every region's functions, run once through this stack's cluster (the
        one that completes the topology), checked through the ``peers``."""
        roles: dict[str, list[str]] = {}
        for api in apis:
            for name, function in api.functions.items():
                assert function.role is not None
                roles.setdefault(name.lower(), []).append(function.role.role_arn)
        prune = self._prune_settings
        if prune.enabled:
            # One region is enough (one logical database): the one that runs the setup.
            self.prune_job = PruneJob(
                self,
                "Prune",
                cluster=self.database,
                database_role=f"{self.api.database_role_prefix}_prune",
                schedule=events.Schedule.expression(prune.schedule),
                batch_size=prune.batch_size,
                budget=Duration.seconds(prune.budget_seconds),
                outbox_retention_days=prune.outbox_retention_days,
                code=self._lambda_code,
                architecture=self._architecture,
                log_retention=_retention(self._log_retention_days),
            )
            roles["prune"] = [self.prune_job.role_arn]
            if self.monitoring is not None:
                self.monitoring.add_alarm(
                    cloudwatch.Alarm(
                        self.monitoring,
                        "PruneBacklogAlarm",
                        metric=self.prune_job.metric_rows_still_due(),
                        threshold=10_000,
                        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                        evaluation_periods=3,
                        alarm_description="The pruning job leaves 10,000 or more expired idempotency "
                        "records behind three runs in a row (runbook: docs/operations.md, Pruning)",
                        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    )
                )
                # A job that fails every run writes no metric at all: its errors page someone.
                self.monitoring.add_alarm(
                    cloudwatch.Alarm(
                        self.monitoring,
                        "PruneErrorsAlarm",
                        metric=self.prune_job.function.metric_errors(
                            period=Duration.hours(1), statistic="Sum"
                        ),
                        threshold=1,
                        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                        evaluation_periods=3,
                        alarm_description="The pruning job failed three hours in a row (runbook: "
                        "docs/operations.md, Pruning)",
                        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    )
                )
        self.database_setup = DatabaseSetup(
            self,
            "DatabaseSetup",
            cluster=self.database,
            function_roles=roles,
            peers=peers,
            role_prefix=self.api.database_role_prefix,
            architecture=self._architecture,
            log_retention=_retention(self._log_retention_days),
        )
        return self.database_setup

    def add_order_events(self, config: EcommerceConfig) -> OrderEvents:
        """The DSQL change stream and the events pipeline (``events.enabled``), in the stack that
        completes the database pair: CreateStream needs an ACTIVE cluster, which the first region's
        is only once the second exists, and a stream on one peer captures every region's commits
        (docs/events.md). After ``DatabaseSetup``: the outbox table exists, and the cluster is awake."""
        retention = _retention(self._log_retention_days)
        self.change_stream = DsqlChangeStream(
            self,
            "ChangeStream",
            cluster=self.database,
            retention=Duration.hours(config.events.kinesis_retention_hours),
            tags=config.tags,
            generation=config.events.stream_generation,
            cluster_key_arn=config.database.kms_key_arns.get(self.region),
            log_retention=retention,
            architecture=self._architecture,
        )
        setup = getattr(self, "database_setup", None)
        if setup is not None:
            self.change_stream.node.add_dependency(setup)
        self.order_events = OrderEvents(
            self,
            "OrderEvents",
            change_stream=self.change_stream,
            archive_retention=Duration.days(config.events.archive_retention_days),
            code=self._lambda_code,
            architecture=self._architecture,
            log_retention=retention,
        )
        CfnOutput(
            self, "EventBusName", value=self.order_events.event_bus.event_bus_name, description="Shop events"
        )
        CfnOutput(
            self,
            "EventsFailureQueueUrl",
            value=self.order_events.failure_queue.queue_url,
            description="Records the events publisher could not publish",
        )
        if self.monitoring is not None:
            self.monitoring.add_alarms(self.order_events.alarms)
            self.monitoring.add_alarm(self.change_stream.alarm_not_delivering())
            five = Duration.minutes(5)
            self.monitoring.add_widgets(
                graph(
                    "Events: stream lag and publisher iterator age (ms)",
                    self.change_stream.metric_behind_source_lag(period=five),
                    self.order_events.metric_iterator_age(period=five),
                ),
                graph(
                    "Events: published records, publisher errors, failures waiting",
                    self.change_stream.metric_published_records(period=five),
                    self.order_events.publisher.metric_errors(period=five, statistic="Sum"),
                    self.order_events.failure_queue.metric_approximate_number_of_messages_visible(
                        period=five, statistic="Maximum"
                    ),
                ),
            )
        return self.order_events


def monitoring_for(stack: Stack, config: EcommerceConfig) -> ShopMonitoring:
    """A stack's alarm topic (``AlarmTopicArn`` output) and dashboard, as configured."""
    monitoring = ShopMonitoring(
        stack,
        "Monitoring",
        dashboard_name=f"{stack.stack_name}-shop",
        email=config.monitoring.alarm_email,
        topic_arn=config.monitoring.alarm_topic_arns.get(stack.region),
    )
    CfnOutput(stack, "AlarmTopicArn", value=monitoring.topic.topic_arn, description="Every alarm notifies it")
    return monitoring


def edge_checker_only_regions(config: EcommerceConfig) -> list[str]:
    """Regions that read the origin secret only for the edge health checker: the witness region."""
    return (
        [config.witness_region]
        if config.edge.enabled and config.multi_region and config.witness_region
        else []
    )


def origin_secret_name(config: EcommerceConfig) -> str:
    """The origin secret every region reads by name (the primary's, or its replica)."""
    return f"{config.app_name}-origin-verify"


def architecture_of(config: EcommerceConfig) -> lambda_.Architecture:
    """``lambda.architecture``: every function of the app, the custom resources' included."""
    return (
        lambda_.Architecture.ARM_64 if config.lambda_.architecture == "arm64" else lambda_.Architecture.X86_64
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
