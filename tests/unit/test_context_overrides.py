"""Each of the recipe's context keys changes the synthesized template as documented.

The recipe advertised these keys and ignored all but one; here every key gets its own proof.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from cdk_support import build_app

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
    assert function_props(t[REGION_STACK], "handlers.api.orders.handler")["MemorySize"] == 512


def check_orders_memory(t: dict[str, Template]) -> None:
    assert function_props(t[REGION_STACK], "handlers.api.orders.handler")["MemorySize"] == 2048
    assert function_props(t[REGION_STACK], "handlers.api.catalog.handler")["MemorySize"] == 256


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


@pytest.mark.parametrize(("key", "value", "check"), CASES, ids=[case[0] for case in CASES])
def test_context_key_changes_template(
    key: str, value: str, check: Callable[[dict[str, Template]], None]
) -> None:
    check(templates({key: value}))


def test_defaults_differ_from_every_override() -> None:
    """Without the overrides each check fails, so the tests above prove the override did it."""
    defaults = templates({})
    for key, _, check in CASES:
        # CDK's Template assertions raise RuntimeError (from jsii); ours raise AssertionError.
        with pytest.raises((AssertionError, RuntimeError)):
            check(defaults)
        assert key
