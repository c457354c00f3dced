"""``EdgeHealthChecker``: one vantage point that drains a region at the edge when its API stops
answering, and restores it.

A scheduled Lambda function rather than Route 53 health checks: the drain state lives in the
edge's KeyValueStore, which only an API call can change, so Route 53 would still need a function
(behind an alarm) to act. The app runs one checker per serving region plus one in the witness
region (``EdgeHealthStack``), so no single region's loss stops the drain of a failing one. Each
probes every region's ``/health`` directly (with the origin secret, which the regional web ACLs
demand) three times ten seconds apart, once a minute, and records the run in the store; a majority
of the checkers seeing 2 failing runs in a row drains a region, 3 healthy runs in a row restore a
drain they made (``handlers.infra.edge_state.observe``); the last serving region is never drained.
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
from .bundling import CRT_REQUIREMENTS, LAMBDA_RUNTIME, contract, handler_code

HANDLER = "handlers.infra.edge_health.handler"
#: What ``edge_state.observe`` calls: read the ETag and the keys, write them in one UpdateKeys.
KVS_ACTIONS = (
    "cloudfront-keyvaluestore:DescribeKeyValueStore",
    "cloudfront-keyvaluestore:ListKeys",
    "cloudfront-keyvaluestore:UpdateKeys",
)


class EdgeHealthChecker(Construct):
    """Keyword-only props (defaults in brackets):

    - ``key_value_store``: the edge's drain state [required].
    - ``regions``: ``(region, health URL)`` of each regional API, nearest-first order irrelevant
      [required].
    - ``secret_name``: the ``OriginSecret`` (readable in this region) whose value the probes send.
    - ``checker``: this checker's name in the store [this stack's region].
    - ``checkers``: every checker's name, for the quorum [(``checker``,)].
    - ``fail_threshold``: failing runs in a row that vote to drain [2]. ``restore_threshold``:
      healthy runs in a row that vote to restore [3]. ``quorum``: votes needed [a majority of
      ``checkers``]. ``observation_ttl``: older observations have no vote [150 s].
    - ``probes``: per run [3], ``probe_interval``: [10 s], ``probe_timeout``: [3 s].
    - ``schedule``: how often it runs [1 minute].
    - ``architecture``: [ARM_64]. ``code``: [this distribution's handlers plus the AWS CRT, which
      the KeyValueStore API's SigV4A signatures need].
    - ``log_retention``: [ONE_MONTH].

    Asynchronous invocations are not retried and expire after one ``schedule`` period (at least
    60 s, Lambda's minimum): a retried or late run would count as an extra observation.

    Attributes: ``function``, ``rule``; ``metric_errors()``.

    Creates: a function, its role and log group, and a schedule rule. Costs while kept: one
    invocation per ``schedule`` (about 43,800 a month at one a minute), its logs, and the
    KeyValueStore and Secrets Manager calls it makes (Lambda, CloudFront and Secrets Manager pricing).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key_value_store: cloudfront.IKeyValueStore,
        regions: Sequence[tuple[str, str]],
        secret_name: str,
        checker: str | None = None,
        checkers: Sequence[str] = (),
        fail_threshold: int = 2,
        restore_threshold: int = 3,
        quorum: int | None = None,
        observation_ttl: Duration = Duration.seconds(150),  # noqa: B008 - immutable value
        probes: int = 3,
        probe_interval: Duration = Duration.seconds(10),  # noqa: B008 - immutable value
        probe_timeout: Duration = Duration.seconds(3),  # noqa: B008 - immutable value
        schedule: Duration = Duration.minutes(1),  # noqa: B008 - immutable value
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        code: lambda_.Code | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = checker or stack.region
        names = list(checkers) or [name]
        if name not in names:
            raise ValueError(f"EdgeHealthChecker: checker {name!r} is not one of checkers {names}")
        if quorum is not None and not 1 <= quorum <= len(names):
            raise ValueError(f"EdgeHealthChecker: quorum must be 1..{len(names)} (the number of checkers)")
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
        env = contract().EdgeHealthEnv
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            architecture=architecture,
            handler=HANDLER,
            code=code,
            memory_size=256,
            # The probe rounds, each probing every region in turn (3 s each, plus a slow secret read).
            timeout=Duration.seconds(
                int(
                    (probes - 1) * probe_interval.to_seconds()
                    + probes * len(regions) * (probe_timeout.to_seconds() + 2)
                    + 20
                )
            ),
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                env.KVS_ARN: key_value_store.key_value_store_arn,
                env.REGIONS: json.dumps([{"region": r, "health_url": url} for r, url in regions]),
                env.ORIGIN_SECRET_ARN: secret_name,
                env.ORIGIN_SECRET_HEADER: contract().ORIGIN_HEADER,
                env.CHECKER: name,
                env.CHECKERS: json.dumps(names),
                env.FAIL_THRESHOLD: str(fail_threshold),
                env.RESTORE_THRESHOLD: str(restore_threshold),
                **({env.QUORUM: str(quorum)} if quorum is not None else {}),
                env.OBSERVATION_TTL_SECONDS: str(int(observation_ttl.to_seconds())),
                env.PROBES: str(probes),
                env.PROBE_INTERVAL_SECONDS: str(int(probe_interval.to_seconds())),
                env.PROBE_TIMEOUT_SECONDS: str(int(probe_timeout.to_seconds())),
                contract().Env.SERVICE_NAME: "ecommerce-edge-health",
            },
            description="Drains a region at the edge when its /health fails; restores it when it recovers",
            # A run Lambda retries (after an error, or throttled and queued) or delivers late is not
            # another observation: no retries, and an event older than one schedule period (Lambda's
            # minimum is 60 s) is dropped. Duplicates still happen ("it's possible for it to receive
            # the same event from Lambda multiple times"), so the handler keys a run by the event's
            # scheduled minute: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
            retry_attempts=0,
            max_event_age=Duration.seconds(max(60, int(schedule.to_seconds()))),
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
