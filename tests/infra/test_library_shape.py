"""The constructs are shaped like aws-cdk-lib's: the cluster is a ``Resource`` (environment, stack,
removal policy, tags), anything with the official alpha ``ICluster``'s attributes is accepted,
every ``metric_*()`` takes the usual options, choices are enums, and the root exports only
constructs, their interfaces and their props."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk.aws_dsql_alpha as alpha
import pytest
from aws_cdk import App, Duration, Environment, RemovalPolicy, Resource, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

import ecommerce_constructs
from ecommerce_constructs import DatabaseSetup, DsqlCluster, EcommerceApi, IDsqlCluster
from ecommerce_constructs.testing import SKIP_BUNDLING

ACCOUNT = "123456789012"
E1, E2, WITNESS = "us-east-1", "us-east-2", "us-west-2"


def _stack(app: App, name: str = "S", region: str = E1) -> Stack:
    return Stack(app, name, env=Environment(account=ACCOUNT, region=region))


def test_a_cluster_is_a_resource_with_the_complete_interface() -> None:
    app = App(context=SKIP_BUNDLING)
    stack = _stack(app)
    created = DsqlCluster(stack, "Db")
    imported = DsqlCluster.from_cluster_attributes(
        stack, "Other", cluster_identifier="a" * 26, cluster_region=E2
    )
    for cluster in (created, imported):
        assert isinstance(cluster, Resource)
        assert isinstance(cluster, IDsqlCluster)
        assert cluster.stack is stack
    assert (created.env.region, created.cluster_region) == (E1, E1)
    assert (imported.env.region, imported.cluster_region) == (E2, E2)
    assert imported.metric_query_timeouts().region == E2

    created.apply_removal_policy(RemovalPolicy.DESTROY)
    assert created.deletion_protection is False  # unset: follows the removal policy
    Tags.of(created).add("Team", "shop")
    (resource,) = Template.from_stack(stack).find_resources("Custom::DsqlCluster").values()
    assert resource["Properties"]["RemovalPolicy"] == "destroy"
    assert resource["Properties"]["DeletionProtection"] == "false"
    assert resource["Properties"]["Tags"]["Team"] == "shop"
    with pytest.raises(ValueError, match="made elsewhere"):
        imported.apply_removal_policy(RemovalPolicy.RETAIN)
    with pytest.raises(ValueError, match="RETAIN or DESTROY"):
        created.apply_removal_policy(RemovalPolicy.SNAPSHOT)


def test_the_official_alpha_cluster_is_accepted_wherever_a_cluster_is() -> None:
    app = App(context=SKIP_BUNDLING)
    first = _stack(app, "First")
    theirs = alpha.Cluster(first, "Theirs")
    second = _stack(app, "Second", region=E2)
    ours = DsqlCluster(second, "Db", witness_region=WITNESS, peer=theirs)
    api = EcommerceApi(first, "Api", cluster=theirs, code=lambda_.Code.from_inline("x"))
    assert api.functions
    DatabaseSetup(second, "Setup", cluster=ours, peers=[theirs], function_roles={"catalog": []})
    (setup,) = Template.from_stack(second).find_resources("Custom::DatabaseSetup").values()
    # The alpha cluster's region comes from its resource environment.
    assert setup["Properties"]["PeerEndpoints"][0]["Region"] == E1
    assert "dsql:DbConnect" in json.dumps(Template.from_stack(first).to_json())


def _metric_methods(construct: Any) -> list[str]:
    return [
        name for name in dir(construct) if name.startswith("metric_") and callable(getattr(construct, name))
    ]


def test_every_metric_takes_the_usual_options() -> None:
    app = App(context=SKIP_BUNDLING)
    stack = _stack(app)
    cluster = DsqlCluster(stack, "Db")
    api = EcommerceApi(stack, "Api", cluster=cluster, code=lambda_.Code.from_inline("x"))
    constructs: list[Any] = [cluster, api]
    checked = 0
    for construct in constructs:
        for name in _metric_methods(construct):
            metric = getattr(construct, name)(period=Duration.minutes(1), statistic="Maximum", label="x")
            assert isinstance(metric, cloudwatch.Metric)
            assert metric.period.to_seconds() == 60, name
            assert metric.statistic == "Maximum", name
            assert metric.label == "x", name
            checked += 1
    assert checked >= 7  # four of the cluster's, three of the API's
    with pytest.raises(TypeError, match="unknown metric option"):
        cluster.metric_occ_conflicts(perod=Duration.minutes(1))  # type: ignore[call-arg]


def test_the_root_exports_constructs_interfaces_and_props_only() -> None:
    from constructs import Construct

    for name in ecommerce_constructs.__all__:
        value = getattr(ecommerce_constructs, name)
        assert isinstance(value, type), name
        kind = (
            "construct"
            if issubclass(value, Construct)
            else "interface"
            if name.startswith("I") and name[1].isupper()
            else "props"
        )
        assert kind in {"construct", "interface", "props"}
        assert not issubclass(value, Stack), f"{name}: stacks live in ecommerce_constructs.app"
    for moved in ("build", "RegionalStack", "EdgeStack", "EcommerceConfig", "load_config", "ConfigError"):
        assert moved not in ecommerce_constructs.__all__
        assert hasattr(__import__("ecommerce_constructs.app", fromlist=[moved]), moved)


def test_database_setup_refuses_a_function_it_declares_no_role_for_at_synth() -> None:
    from ecommerce_constructs.bundling import contract
    from handlers.db.roles import FUNCTION_PRIVILEGES

    assert set(contract().FUNCTIONS) == set(FUNCTION_PRIVILEGES)  # the list synthesis checks against
    stack = _stack(App(context=SKIP_BUNDLING))
    cluster = DsqlCluster(stack, "Db")
    with pytest.raises(ValueError, match=r"no database role is declared for \['reporting'\]"):
        DatabaseSetup(stack, "Setup", cluster=cluster, function_roles={"reporting": []})
