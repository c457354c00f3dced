"""The pruning job in the stack that runs the database setup: a schedule, a function that logs in as
the prune role (mapped by the setup), its settings, and nothing in the other region."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Match

from cdk_support import ACCOUNT, default_template
from ecommerce_constructs import DsqlCluster
from ecommerce_constructs.prune_job import PruneJob


def test_one_region_runs_the_job_hourly_as_the_prune_role() -> None:
    template = default_template("ecommerce-us-east-2")  # completes the pair, runs the setup
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "handlers.maintenance.prune.handler",
            "Timeout": 120,
            "Environment": {"Variables": Match.object_like(
                {"DB_USER": "ecommerce_prune", "PRUNE_BATCH_SIZE": "500", "PRUNE_BUDGET_SECONDS": "60",
                 "PRUNE_OUTBOX_RETENTION_DAYS": "14"})},
        },
    )  # fmt: skip
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 hour)"})
    setup = next(iter(template.find_resources("Custom::DatabaseSetup").values()))
    assert "prune" in setup["Properties"]["FunctionRoleArns"]
    other = default_template("ecommerce-us-east-1")
    assert "handlers.maintenance.prune.handler" not in json.dumps(other.to_json())


def test_the_job_may_only_connect_as_a_custom_role() -> None:
    template = default_template("ecommerce-us-east-2")
    policies = json.dumps(
        template.find_resources(
            "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("PruneRole")}}
        )
    )
    assert "dsql:DbConnect" in policies and "dsql:DbConnectAdmin" not in policies


@pytest.mark.parametrize(
    ("props", "message"), [({"batch_size": 3000}, "batch_size"), ({"outbox_retention_days": 7}, "week")]
)
def test_limits_are_refused_at_synth(props: dict[str, int], message: str) -> None:
    stack = Stack(
        App(context={"aws:cdk:bundling-stacks": []}),
        "S",
        env=Environment(account=ACCOUNT, region="us-east-1"),
    )
    with pytest.raises(ValueError, match=message):
        PruneJob(stack, "Prune", cluster=DsqlCluster(stack, "Db"), **props)  # type: ignore[arg-type]


def test_a_backlog_the_job_cannot_clear_raises_an_alarm() -> None:
    template = default_template("ecommerce-us-east-2")
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "PruneRowsStillDue",
            "Namespace": "Ecommerce",
            "Threshold": 10_000,
            "EvaluationPeriods": 3,
            "Dimensions": Match.array_with([{"Name": "Table", "Value": "idempotency_records"}]),
        },
    )
