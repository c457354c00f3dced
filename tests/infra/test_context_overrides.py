"""Each of the recipe's context keys changes the synthesized template as documented.

The recipe advertised these keys and ignored all but one; here every key gets its own proof. Two
synths serve every key: one app with all the overrides at once (each to a value no other key and
no default produces, so a key that reached another key's place would show) and the default app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from cdk_support import build_app, default_app, default_template

REGION_STACK = "ecommerce-us-east-1"
EDGE_STACK = "ecommerce-edge"


def templates(context: dict[str, Any]) -> dict[str, Template]:
    app = build_app(context=context)
    return {stack.stack_name: Template.from_stack(stack) for stack in app.stacks}


def function_props(template: Template, handler: str) -> dict[str, Any]:
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    (props,) = (resource["Properties"] for resource in functions.values())
    return dict(props)


def stage_settings(template: Template) -> dict[str, Any]:
    (stage,) = template.find_resources("AWS::ApiGateway::Stage").values()
    return dict(stage["Properties"]["MethodSettings"][0])


def check_cluster_name(t: dict[str, Template]) -> None:
    t[REGION_STACK].has_resource_properties(
        "Custom::DsqlCluster", {"Tags": Match.object_like({"Name": "shop-db"})}
    )


def check_monitoring_off(t: dict[str, Template]) -> None:
    t[REGION_STACK].resource_count_is("AWS::CloudWatch::Alarm", 0)


def check_tracing_on(t: dict[str, Template]) -> None:
    assert function_props(t[REGION_STACK], "handlers.api.orders.handler").get("TracingConfig") == {
        "Mode": "Active"
    }
    t[REGION_STACK].has_resource_properties("AWS::ApiGateway::Stage", {"TracingEnabled": True})


def check_products_memory(t: dict[str, Template]) -> None:
    assert function_props(t[REGION_STACK], "handlers.api.catalog.handler")["MemorySize"] == 1024


def check_orders_memory(t: dict[str, Template]) -> None:
    assert function_props(t[REGION_STACK], "handlers.api.orders.handler")["MemorySize"] == 2048


def check_timeout(t: dict[str, Template]) -> None:
    for handler in ("handlers.api.catalog.handler", "handlers.api.orders.handler"):
        assert function_props(t[REGION_STACK], handler)["Timeout"] == 20


def check_rate(t: dict[str, Template]) -> None:
    assert stage_settings(t[REGION_STACK])["ThrottlingRateLimit"] == 42


def check_burst(t: dict[str, Template]) -> None:
    assert stage_settings(t[REGION_STACK])["ThrottlingBurstLimit"] == 84


def check_price_class(t: dict[str, Template]) -> None:
    t[EDGE_STACK].has_resource_properties(
        "AWS::CloudFront::Distribution",
        {"DistributionConfig": Match.object_like({"PriceClass": "PriceClass_All"})},
    )


def check_retention(t: dict[str, Template]) -> None:
    groups = t[REGION_STACK].find_resources("AWS::Logs::LogGroup")
    assert len(groups) >= 3  # functions, access logs, custom-resource providers
    assert {group["Properties"]["RetentionInDays"] for group in groups.values()} == {90}


CASES: list[tuple[str, str, Callable[[dict[str, Template]], None]]] = [
    ("dsql_cluster_name", "shop-db", check_cluster_name),
    ("enable_monitoring", "false", check_monitoring_off),
    ("enable_xray_tracing", "true", check_tracing_on),
    ("lambda_memory_size_products", "1024", check_products_memory),
    ("lambda_memory_size_orders", "2048", check_orders_memory),
    ("lambda_timeout_seconds", "20", check_timeout),
    ("api_throttle_rate_limit", "42", check_rate),
    ("api_throttle_burst_limit", "84", check_burst),
    ("cloudfront_price_class", "PriceClass_All", check_price_class),
    ("log_retention_days", "90", check_retention),
]


def test_every_recipe_context_key_is_covered() -> None:
    from ecommerce_constructs.config import CONTEXT_KEYS

    assert {key for key, _, _ in CASES} == set(CONTEXT_KEYS)


@pytest.fixture(scope="module")
def overridden() -> dict[str, Template]:
    return templates({key: value for key, value, _ in CASES})


@pytest.fixture(scope="module")
def defaults() -> dict[str, Template]:
    return {stack.stack_name: default_template(stack.stack_name) for stack in default_app().stacks}


def test_override_values_are_distinct() -> None:
    values = [value for _, value, _ in CASES]
    assert len(set(values)) == len(values)


@pytest.mark.parametrize(("key", "value", "check"), CASES, ids=[case[0] for case in CASES])
def test_context_key_changes_template(
    key: str, value: str, check: Callable[[dict[str, Template]], None], overridden: dict[str, Template]
) -> None:
    check(overridden)


@pytest.mark.parametrize(("key", "value", "check"), CASES, ids=[case[0] for case in CASES])
def test_without_the_override_the_check_fails(
    key: str, value: str, check: Callable[[dict[str, Template]], None], defaults: dict[str, Template]
) -> None:
    """So the test above proves the override did it."""
    # CDK's Template assertions raise RuntimeError (from jsii); ours raise AssertionError.
    with pytest.raises((AssertionError, RuntimeError)):
        check(defaults)
