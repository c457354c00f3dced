"""``DsqlChangeStream``: an Aurora DSQL change data capture stream into a Kinesis data stream.

CloudFormation has no ``AWS::DSQL::Stream`` (docs/events.md), so a custom resource
(``Custom::DsqlStream``, handlers/infra/dsql_stream.py) owns it through the same provider pattern as
``DsqlCluster``. Facts (Aurora DSQL user guide, GA text of 2026-07-01): cdc-setup.html (same account
and region; ACTIVE cluster; recommended Kinesis settings ON_DEMAND and MaxRecordSizeInKiB 10240),
cdc-iam.html (the trust policy with aws:SourceAccount and aws:SourceArn ``cluster/<id>/stream/*``;
the role's Kinesis actions; the caller's ``dsql:*Stream*`` and ``iam:PassRole`` with
``iam:PassedToService``), cdc-monitoring.html (metrics in ``AWS/AuroraDSQL`` by ClusterId and StreamId).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

from aws_cdk import (
    Acknowledgment,
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._lambda_parts import acknowledge_runtime, logged_role
from ._metrics import MetricOptions, metric_of
from .bundling import LAMBDA_RUNTIME, contract, handler_code
from .dsql_cluster import METRIC_NAMESPACE, IClusterAttributes, cluster_region_of
from .provider import HandlerProvider

RESOURCE_TYPE = "Custom::DsqlStream"
#: DSQL splits records over 9 MiB into fragments that "can approach 10 MiB each" (cdc-setup.html):
#: the Kinesis stream must take records of up to 10,240 KiB.
MAX_RECORD_SIZE_KIB = 10240
DSQL_SERVICE = "dsql.amazonaws.com"


class DsqlChangeStream(Construct):
    """A DSQL CDC stream of ``cluster`` into a Kinesis data stream, in the stack's region.

    Keyword-only props (defaults in brackets):

    - ``cluster``: the DSQL cluster, in this stack's region; it must be ACTIVE when the stream is
      created (add a dependency on whatever wakes it, e.g. ``DatabaseSetup``) [required].
    - ``kinesis_stream``: the target [None: a new stream, on-demand, records up to 10,240 KiB,
      encrypted with the AWS managed key ``alias/aws/kinesis``, kept ``retention``].
    - ``retention``: of the new Kinesis stream [7 days: the publisher's retries (up to
      ``OrderEvents.max_record_age``) only reach records Kinesis still holds; Kinesis bills the
      retention beyond 24 hours].
    - ``removal_policy``: of the new Kinesis stream [DESTROY: it holds only copies of committed rows;
      the outbox is the source to replay, docs/events.md].
    - ``tags``: tags of the DSQL stream, applied when it is created [{}].
    - ``generation``: raising it replaces the stream, the way to recreate a FAILED one [1].
    - ``cluster_key_arn``: the cluster's customer managed KMS key, which CreateStream needs
      ``kms:Decrypt`` on [None: AWS owned key].
    - ``status_check_interval``: how often a function reads the stream's status into
      ``metric_delivering()`` (a FAILED stream stops publishing its own metrics) [5 minutes].
    - ``log_retention`` / ``architecture``: of the stream handler's functions (one provider per
      stack: the first stream of a stack sets them) [ONE_MONTH / ARM_64].

    Attributes: ``kinesis_stream``, ``role`` (the role DSQL assumes to write to it), ``resource``
    (the CustomResource), ``provider``, ``stream_arn``, ``stream_identifier``, ``status_function``
    (the scheduled status check behind ``metric_delivering()`` and ``alarm_not_delivering()``).

    Creates: the DSQL stream (``Custom::DsqlStream``; deleted with the resource), the Kinesis stream
    unless one is given, the role DSQL assumes, and once per stack the stream provider (two
    functions, their roles and log groups).

    Costs while kept: DSQL bills Stream DPUs by bytes streamed (billing-metering.html), Kinesis
    on-demand bills per stream-hour plus data (an idle on-demand stream still bills its hours):
    docs/events.md, "Cost".
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: IClusterAttributes,
        kinesis_stream: kinesis.IStream | None = None,
        retention: Duration = Duration.days(7),  # noqa: B008 - immutable value
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        tags: Mapping[str, str] | None = None,
        generation: int = 1,
        cluster_key_arn: str | None = None,
        status_check_interval: Duration = Duration.minutes(5),  # noqa: B008 - immutable value
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.cluster = cluster
        if kinesis_stream is None:
            created = kinesis.Stream(
                self,
                "Kinesis",
                stream_mode=kinesis.StreamMode.ON_DEMAND,
                encryption=kinesis.StreamEncryption.MANAGED,
                retention_period=retention,
                removal_policy=removal_policy,
            )
            cfn = created.node.default_child
            assert isinstance(cfn, kinesis.CfnStream)
            # The L2 Stream (aws-cdk-lib 2.275) has no prop for it; CfnStream has MaxRecordSizeInKiB.
            cfn.max_record_size_in_kib = MAX_RECORD_SIZE_KIB
            kinesis_stream = created
        self.kinesis_stream = kinesis_stream
        cluster_arn = cluster.cluster_arn
        self._streams_arn = f"{cluster_arn}/stream/*"
        # The role DSQL assumes to write (cdc-iam.html): confused-deputy conditions name this
        # account and this cluster's streams (the stream's own id does not exist yet: the wildcard
        # is required at creation).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(DSQL_SERVICE).with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": self._streams_arn},
                }
            ),
            description=f"Aurora DSQL writes the change stream of {cluster.node.path} to Kinesis",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "kinesis:PutRecord",
                    "kinesis:PutRecords",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                ],
                resources=[kinesis_stream.stream_arn],
            )
        )
        if kinesis_stream.encryption_key is not None:
            # A customer managed key: DSQL encrypts through Kinesis (cdc-iam.html).
            kinesis_stream.encryption_key.grant(self.role, "kms:GenerateDataKey")
        self.provider = _stream_provider(stack, log_retention, architecture)
        on_event = self.provider.on_event_function
        complete = self.provider.is_complete_function
        assert on_event.role is not None
        assert complete is not None
        assert complete.role is not None
        streams = [cluster_arn, self._streams_arn]
        # CreateStream with tags also checks dsql:TagResource (Service Authorization Reference,
        # "Actions defined by Amazon Aurora DSQL": CreateStream's dependent actions).
        create_actions = ["dsql:CreateStream", "dsql:DeleteStream", *(["dsql:TagResource"] if tags else [])]
        on_event.role.add_to_principal_policy(iam.PolicyStatement(actions=create_actions, resources=streams))
        if cluster_key_arn:
            # "kms:Decrypt … Required when the cluster uses a customer managed AWS KMS key"
            # (CreateStream, Aurora DSQL API reference).
            on_event.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[cluster_key_arn])
            )
        on_event.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": DSQL_SERVICE}},
            )
        )
        complete.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dsql:GetStream", "dsql:DeleteStream"], resources=streams)
        )
        prop = contract().DsqlStreamProperty
        properties: dict[str, object] = {
            prop.REGION: cluster_region_of(cluster),
            prop.CLUSTER_IDENTIFIER: cluster.cluster_identifier,
            prop.KINESIS_STREAM_ARN: kinesis_stream.stream_arn,
            prop.ROLE_ARN: self.role.role_arn,
        }
        if tags:
            properties[prop.TAGS] = dict(tags)
        if generation != 1:
            properties[prop.GENERATION] = str(generation)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # DSQL checks the role when the stream starts: its permissions exist first.
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.resource.node.add_dependency(policy)
        for function in (on_event, complete):
            assert function.role is not None
            role_policy = function.role.node.try_find_child("DefaultPolicy")
            if role_policy is not None:
                self.resource.node.add_dependency(role_policy)
        self.stream_arn = self.resource.get_att_string("Arn")
        self.stream_identifier = self.resource.get_att_string("StreamIdentifier")
        self.status_function = self._status_check(stack, status_check_interval, log_retention, architecture)
        for where in (self, self.provider):  # the trust policy here, the handler's rights there
            Validations.of(where).acknowledge(self._streams_acknowledgment(stack, cluster_arn))

    @staticmethod
    def _streams_acknowledgment(stack: Stack, cluster_arn: str) -> Acknowledgment:
        return Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::{_nag_streams(stack, cluster_arn)}]",
            reason="DSQL assigns stream identifiers at creation: the handler's and the trust "
            "policy's rights name this one cluster's streams (cluster/<id>/stream/*), as the DSQL "
            "user guide's CDC IAM page prescribes.",
        )

    def _status_check(
        self,
        stack: Stack,
        interval: Duration,
        log_retention: logs.RetentionDays,
        architecture: lambda_.Architecture,
    ) -> lambda_.Function:
        code, _ = handler_code(architecture.name)
        log_group = logs.LogGroup(
            self, "StatusLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        role = logged_role(self, "StatusRole", log_group, description="Reads the DSQL change stream's status")
        function = lambda_.Function(
            self,
            "StatusCheck",
            runtime=LAMBDA_RUNTIME,
            architecture=architecture,
            code=code,
            handler="handlers.infra.dsql_stream.check_status",
            memory_size=256,
            timeout=Duration.seconds(30),
            role=role,
            log_group=log_group,
            environment={"STREAM_ARN": self.stream_arn},
            description="Publishes whether the DSQL change stream delivers (a FAILED one goes silent)",
        )
        acknowledge_runtime(function)
        role.add_to_policy(iam.PolicyStatement(actions=["dsql:GetStream"], resources=[self.stream_arn]))
        events.Rule(
            self,
            "StatusSchedule",
            schedule=events.Schedule.rate(interval),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )
        return function

    def metric_delivering(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """1 while the stream is ACTIVE or IMPAIRED (it still delivers), 0 when FAILED or gone, from
        the status check [Minimum over 15 minutes]."""
        terms = contract()
        return metric_of(
            terms.METRICS_NAMESPACE,
            terms.STREAM_DELIVERING_METRIC,
            {"StreamId": self.stream_identifier},
            {"statistic": "Minimum", "period": Duration.minutes(15), **options},
        )

    def alarm_not_delivering(self) -> cloudwatch.Alarm:
        """Fires when the stream stops delivering (FAILED: it "can't recover", cdc-monitoring.html)
        or its status check stops reporting: missing data counts as failing."""
        return cloudwatch.Alarm(
            self,
            "NotDeliveringAlarm",
            metric=self.metric_delivering(),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description="The DSQL change stream is not delivering order events (runbook: "
            "docs/events.md, Recreating a failed stream)",
        )

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """A metric of this stream in ``AWS/AuroraDSQL`` (dimensions ClusterId, StreamId) [Maximum
        over 5 minutes]."""
        return metric_of(
            METRIC_NAMESPACE,
            metric_name,
            {"ClusterId": self.cluster.cluster_identifier, "StreamId": self.stream_identifier},
            {"statistic": "Maximum", "period": Duration.minutes(5), **options},
        )

    def metric_is_impaired(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """1 while the stream is IMPAIRED (it retries a failing record; docs: cdc-monitoring.html)."""
        return self.metric("IsImpaired", **options)

    def metric_behind_source_lag(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """How far (ms) the stream is behind the commits [Maximum]."""
        return self.metric("BehindSourceLag", **options)

    def metric_published_records(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Records written to Kinesis [Sum over 5 minutes]."""
        merged: MetricOptions = {"statistic": "Sum", **options}
        return self.metric("PublishedRecords", **merged)


def _nag_streams(stack: Stack, cluster_arn: str) -> str:
    resolved = stack.resolve(f"{cluster_arn}/stream/*")
    if isinstance(resolved, str):
        return resolved
    out = []
    for part in resolved.get("Fn::Join", ["", []])[1]:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and "Ref" in part:
            out.append(f"<{part['Ref']}>")
        elif isinstance(part, dict) and "Fn::GetAtt" in part:
            out.append(f"<{'.'.join(part['Fn::GetAtt'])}>")
    return "".join(out)


def _stream_provider(
    stack: Stack, log_retention: logs.RetentionDays, architecture: lambda_.Architecture
) -> HandlerProvider:
    """One stream provider per stack, shared by its streams."""
    existing = stack.node.try_find_child("DsqlStreamProvider")
    if isinstance(existing, HandlerProvider):
        return existing
    code, _ = handler_code(architecture.name)
    return HandlerProvider(
        stack,
        "DsqlStreamProvider",
        code=code,
        on_event="handlers.infra.dsql_stream.on_event",
        is_complete="handlers.infra.dsql_stream.is_complete",
        architecture=architecture,
        log_retention=log_retention,
        description="Aurora DSQL change stream lifecycle",
    )


__all__ = ["MAX_RECORD_SIZE_KIB", "RESOURCE_TYPE", "DsqlChangeStream"]
