"""``OrderEvents``: the shop's domain events on an EventBridge bus, relayed from the outbox.

The statements that change orders and the catalog write outbox rows in the same transaction
(docs/events.md); a ``DsqlChangeStream`` carries every committed row change to Kinesis; the
publisher (handlers/events/aws.py) turns the outbox's inserts into events on the bus, once each in
normal operation (a dedupe table), and sends records it can never publish to a failure queue.
"""

from __future__ import annotations

from typing import Unpack

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ._lambda_parts import acknowledge_runtime, logged_role
from ._metrics import MetricOptions
from .bundling import LAMBDA_RUNTIME, handler_code
from .dsql_change_stream import DsqlChangeStream

HANDLER = "handlers.events.aws.handler"
#: botocore models the publisher calls (handlers/events/aws.py SERVICES).
PUBLISHER_SERVICES = ("events", "dynamodb", "sqs")
EVENT_SOURCE = "ecommerce.shop"  # handlers/events/models.py SOURCE
#: Alarm thresholds: a stream or publisher more than a minute behind is worth a look.
LAG_ALARM_MS = 60_000


class OrderEvents(Construct):
    """The bus, its archive, the publisher and its event source mapping, the dedupe table, the
    failure queue and the alarms, for one ``DsqlChangeStream``.

    Keyword-only props (defaults in brackets):

    - ``change_stream``: the DSQL change stream whose Kinesis stream feeds the publisher [required].
    - ``event_bus``: where events go [None: a new bus, ``<stack name>-shop-events``].
    - ``archive_retention``: of the bus's archive of the shop's events (replay) [30 days;
      ``Duration.days(0)`` keeps them forever].
    - ``batch_size`` [100] / ``max_batching_window`` [1 second] of the event source mapping.
    - ``max_record_age``: a record older than this goes to the failure queue [7 days, Lambda's
      maximum for Kinesis and DSQL's own retention of undelivered changes].
    - ``code``: the Lambda asset [None: the bundled handlers]; ``architecture`` [ARM_64];
      ``log_retention`` [ONE_MONTH].

    Attributes: ``event_bus``, ``archive``, ``publisher`` (the function), ``dedupe_table``,
    ``failure_queue``, ``event_source``, ``alarms`` (every alarm, for a monitoring topic).

    Creates: an EventBridge bus (unless given) and its archive, the publisher function with its role,
    log group and Kinesis event source mapping, a DynamoDB table (on-demand, TTL), an SQS queue
    (SQS-managed encryption) and five alarms.

    Costs while kept: idle, the archive's storage and the alarms; per event, one PutEvents entry, a
    few DynamoDB writes and the publisher's invocations (batched); docs/events.md, "Cost", has an
    estimate per million orders.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        change_stream: DsqlChangeStream,
        event_bus: events.IEventBus | None = None,
        archive_retention: Duration = Duration.days(30),  # noqa: B008 - immutable value
        batch_size: int = 100,
        max_batching_window: Duration = Duration.seconds(1),  # noqa: B008
        max_record_age: Duration = Duration.days(7),  # noqa: B008
        code: lambda_.Code | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.change_stream = change_stream
        self.event_bus = event_bus or events.EventBus(
            self, "Bus", event_bus_name=f"{stack.stack_name}-shop-events"
        )
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.event_bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=archive_retention,
            description="Every shop event, for replay (docs/events.md)",
        )
        # Published event ids, kept past every redelivery (handlers/events/publisher.py); a cache,
        # so it goes with the stack.
        self.dedupe_table = dynamodb.Table(
            self,
            "Dedupe",
            partition_key=dynamodb.Attribute(name="event_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.failure_queue = sqs.Queue(
            self,
            "Failures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.failure_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the failure destination itself (records the publisher can never "
                "publish, batches that outlived their retries); nothing consumes it automatically.",
            )
        )
        if code is None:
            code, _ = handler_code(architecture.name, aws_services=PUBLISHER_SERVICES)
        log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        role = logged_role(self, "PublisherRole", log_group, "Order events publisher")
        self.publisher = lambda_.Function(
            self,
            "Publisher",
            runtime=LAMBDA_RUNTIME,
            architecture=architecture,
            handler=HANDLER,
            code=code,
            memory_size=256,
            timeout=Duration.seconds(60),
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "EVENT_BUS_NAME": self.event_bus.event_bus_name,
                "DEDUPE_TABLE": self.dedupe_table.table_name,
                "FAILURE_QUEUE_URL": self.failure_queue.queue_url,
                "POWERTOOLS_SERVICE_NAME": "ecommerce-events",
            },
            description="Outbox inserts from the DSQL change stream become EventBridge events",
        )
        acknowledge_runtime(self.publisher)
        # Exactly what the publisher calls.
        role.add_to_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.event_bus.event_bus_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[self.dedupe_table.table_arn],
            )
        )
        self.failure_queue.grant_send_messages(self.publisher)
        self.event_source = sources.KinesisEventSource(
            change_stream.kinesis_stream,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            # A failing record is retried alone (bisect), the ones before it are checkpointed
            # (partial batch responses). Poison records never come back as failures (the
            # publisher sends them to the failure queue itself), so what is retried is transient:
            # another invocation's lease on the event (up to LEASE_SECONDS), EventBridge
            # throttling. Those are retried until ``max_record_age`` (no attempt limit: ten fast
            # retries could end inside one lease and shed a live event), then go to the queue.
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=-1,
            max_record_age=max_record_age,
            parallelization_factor=1,
            on_failure=sources.SqsDlq(self.failure_queue),
        )
        self.publisher.add_event_source(self.event_source)
        self.alarms = self._alarms()

    def _alarms(self) -> list[cloudwatch.Alarm]:
        five = Duration.minutes(5)
        stream = self.change_stream
        definitions = [
            (
                "StreamImpaired",
                stream.metric_is_impaired(period=five),
                1,
                "The DSQL change stream is IMPAIRED (or FAILED: it stops reporting); `aws dsql get-stream` "
                "says why (docs/events.md, runbook)",
                cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            (
                "StreamBehind",
                stream.metric_behind_source_lag(period=five),
                LAG_ALARM_MS,
                "The DSQL change stream is more than a minute behind the commits",
                cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            (
                "IteratorAge",
                self.metric_iterator_age(period=five),
                LAG_ALARM_MS,
                "The publisher is more than a minute behind the Kinesis stream",
                cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            (
                "PublisherErrors",
                self.publisher.metric_errors(period=five, statistic="Sum"),
                1,
                "The events publisher failed (its batches are retried, then go to the failure queue)",
                cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            (
                "FailureQueueDepth",
                self.failure_queue.metric_approximate_number_of_messages_visible(
                    period=five, statistic="Maximum"
                ),
                1,
                "Events the publisher could not publish are waiting in the failure queue (docs/events.md)",
                cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        return [
            cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description=description,
                treat_missing_data=missing,
            )
            for name, metric, threshold, description, missing in definitions
        ]

    def metric_iterator_age(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """How old (ms) the last record the publisher read was when it read it [Maximum over 5
        minutes]: Lambda's ``IteratorAge`` for stream event sources."""
        merged: MetricOptions = {"statistic": "Maximum", "period": Duration.minutes(5), **options}
        return self.publisher.metric("IteratorAge", **merged)
