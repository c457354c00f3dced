"""``PruneJob``: a schedule that runs the pruning function (handlers/maintenance/prune.py) in one
region, so ``idempotency_records`` (and the outbox) do not grow without bound."""

from __future__ import annotations

from typing import Unpack

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._lambda_parts import account_unique_role_name, acknowledge_runtime, logged_role
from ._metrics import MetricOptions, metric_of
from .bundling import LAMBDA_RUNTIME, contract, handler_code
from .dsql_cluster import IClusterAttributes

HANDLER = "handlers.maintenance.prune.handler"
#: What the function reads (handlers/maintenance/prune.py).
BATCH_SIZE_ENV = "PRUNE_BATCH_SIZE"
BUDGET_ENV = "PRUNE_BUDGET_SECONDS"
OUTBOX_RETENTION_ENV = "PRUNE_OUTBOX_RETENTION_DAYS"
#: Room after the budget for the batch that started just before it ended and the counts.
TIMEOUT_MARGIN_SECONDS = 60


class PruneJob(Construct):
    """Removes expired idempotency records and old outbox rows on a schedule.

    Keyword-only props (defaults in brackets):

    - ``cluster``: the database (one cluster of a peered pair is enough: one logical database)
      [required].
    - ``database_role``: the database role the function logs in as; the deploy-time setup creates
      it with ``SELECT, DELETE`` on the pruned tables only (``handlers.db.roles.JOB_PRIVILEGES``)
      [``<prefix>_prune``, prefix ``ecommerce``].
    - ``schedule``: [every hour].
    - ``batch_size``: rows per transaction, 1-2,000 (DSQL allows 3,000) [500].
    - ``budget``: time a run spends deleting [1 minute]; the function's timeout adds a minute.
    - ``outbox_retention_days``: outbox rows older than this go; more than the week DSQL keeps
      undelivered change-stream records [14].
    - ``code`` [the bundled handlers], ``architecture`` [ARM_64], ``log_retention`` [ONE_MONTH].

    Attributes: ``function``, ``rule``, ``role_arn`` (for the database setup's IAM mapping).
    Metrics: ``metric_rows_removed()``, ``metric_rows_still_due()`` (bounded count per table).
    Creates: the function, its role (which may write only its own log group and connect to the
    cluster as a custom database role) and log group, and the EventBridge schedule.

    Costs while kept: one short Lambda invocation per schedule tick and the DSQL DPUs of the reads
    and deletes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: IClusterAttributes,
        database_role: str | None = None,
        schedule: events.Schedule | None = None,
        batch_size: int = 500,
        budget: Duration = Duration.minutes(1),  # noqa: B008 - immutable value
        outbox_retention_days: int = 14,
        code: lambda_.Code | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= batch_size <= 2_000:
            raise ValueError(
                "PruneJob: batch_size must be 1-2000 (DSQL allows 3,000 modified rows per transaction), "
                f"not {batch_size}"
            )
        if outbox_retention_days < 8:
            raise ValueError(
                "PruneJob: outbox_retention_days must exceed the week DSQL keeps undelivered change-stream "
                f"records (cdc-monitoring.html), not {outbox_retention_days}"
            )
        terms = contract()
        env = terms.Env
        self.database_role = database_role or terms.db_role("prune")
        if code is None:
            code, _ = handler_code(architecture.name)
        log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        role = logged_role(
            self,
            "Role",
            log_group,
            "Pruning job of the e-commerce database",
            # The database setup (possibly another region's stack) maps it by ARN.
            role_name=account_unique_role_name(self, "Prune"),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            architecture=architecture,
            handler=HANDLER,
            code=code,
            memory_size=256,
            timeout=Duration.seconds(budget.to_seconds() + TIMEOUT_MARGIN_SECONDS),
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                env.DSQL_ENDPOINT: cluster.cluster_endpoint,
                env.DSQL_REGION: Stack.of(self).region,
                env.DB_USER: self.database_role,
                env.SERVICE_NAME: terms.SERVICE_NAME,
                env.METRICS_NAMESPACE: terms.METRICS_NAMESPACE,
                BATCH_SIZE_ENV: str(batch_size),
                BUDGET_ENV: str(int(budget.to_seconds())),
                OUTBOX_RETENTION_ENV: str(outbox_retention_days),
            },
            description="E-commerce: prune expired idempotency records and old outbox rows",
        )
        acknowledge_runtime(self.function)
        cluster.grant_connect(self.function)
        self.role_arn = role.role_arn
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=schedule or events.Schedule.rate(Duration.hours(1)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
            description="Runs the e-commerce pruning job",
        )
        self._namespace = terms.METRICS_NAMESPACE
        self._service = terms.SERVICE_NAME

    def _metric(self, name: str, table: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        return metric_of(
            self._namespace,
            name,
            {"service": self._service, "Table": table},
            {"statistic": "Sum", "period": Duration.hours(1), **options},
        )

    def metric_rows_removed(
        self, table: str = "idempotency_records", **options: Unpack[MetricOptions]
    ) -> cloudwatch.Metric:
        """Rows the job deleted from ``table`` [Sum over 1 hour]."""
        return self._metric("PrunedRows", table, **options)

    def metric_rows_still_due(
        self, table: str = "idempotency_records", **options: Unpack[MetricOptions]
    ) -> cloudwatch.Metric:
        """Rows of ``table`` due after the last run, counted up to 10,000 [Maximum over 1 hour]."""
        merged: MetricOptions = {"statistic": "Maximum", **options}
        return self._metric("PruneRowsStillDue", table, **merged)
