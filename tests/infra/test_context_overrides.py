"""Each of the recipe's context keys changes the synthesized template as documented, and nothing else.

The recipe advertised these keys and ignored all but one; here every key gets its own proof. Three
synths serve every key: the keys split over two apps (each key overridden in one, absent from the
other) and the default app. For each key: the app that sets it shows the value; the app that does
not set it shows the default there (so no other key's override reaches this key's place); and the
default differs from the override (so the override did it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from cdk_support import build_app, default_app, default_template

REGION_STACK = "ecommerce-us-east-1"
EDGE_STACK = "ecommerce-edge"
CATALOG, ORDERS = "handlers.api.catalog.handler", "handlers.api.orders.handler"

Templates = dict[str, Template]


def templates(context: dict[str, Any]) -> Templates:
    app = build_app(context=context)
    return {stack.stack_name: Template.from_stack(stack) for stack in app.stacks}


def function_props(template: Template, handler: str) -> dict[str, Any]:
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    (props,) = (resource["Properties"] for resource in functions.values())
    return dict(props)


def stage(template: Template) -> dict[str, Any]:
    (resource,) = template.find_resources("AWS::ApiGateway::Stage").values()
    return dict(resource["Properties"])


# What each key controls, read from the templates.
def cluster_name(t: Templates) -> Any:
    (cluster,) = t[REGION_STACK].find_resources("Custom::DsqlCluster").values()
    return cluster["Properties"]["Tags"]["Name"]


def alarms(t: Templates) -> Any:
    return len(t[REGION_STACK].find_resources("AWS::CloudWatch::Alarm"))


def tracing(t: Templates) -> Any:
    return function_props(t[REGION_STACK], ORDERS).get("TracingConfig"), stage(t[REGION_STACK]).get(
        "TracingEnabled"
    )


def catalog_memory(t: Templates) -> Any:
    return function_props(t[REGION_STACK], CATALOG)["MemorySize"]


def orders_memory(t: Templates) -> Any:
    return function_props(t[REGION_STACK], ORDERS)["MemorySize"]


def timeouts(t: Templates) -> Any:
    return [function_props(t[REGION_STACK], handler)["Timeout"] for handler in (CATALOG, ORDERS)]


def rate(t: Templates) -> Any:
    return stage(t[REGION_STACK])["MethodSettings"][0]["ThrottlingRateLimit"]


def burst(t: Templates) -> Any:
    return stage(t[REGION_STACK])["MethodSettings"][0]["ThrottlingBurstLimit"]


def price_class(t: Templates) -> Any:
    (distribution,) = t[EDGE_STACK].find_resources("AWS::CloudFront::Distribution").values()
    return distribution["Properties"]["DistributionConfig"]["PriceClass"]


def retention(t: Templates) -> Any:
    groups = t[REGION_STACK].find_resources("AWS::Logs::LogGroup").values()
    return sorted({group["Properties"]["RetentionInDays"] for group in groups})


CASES: list[tuple[str, str, Callable[[Templates], Any], Any]] = [
    ("dsql_cluster_name", "shop-db", cluster_name, "shop-db"),
    ("enable_monitoring", "false", alarms, 0),
    ("enable_xray_tracing", "true", tracing, ({"Mode": "Active"}, True)),
    ("lambda_memory_size_products", "1024", catalog_memory, 1024),
    ("lambda_memory_size_orders", "2048", orders_memory, 2048),
    ("lambda_timeout_seconds", "20", timeouts, [20, 20]),
    ("api_throttle_rate_limit", "42", rate, 42),
    ("api_throttle_burst_limit", "84", burst, 84),
    ("cloudfront_price_class", "PriceClass_All", price_class, "PriceClass_All"),
    ("log_retention_days", "90", retention, [90]),
]
IDS = [case[0] for case in CASES]
GROUPS = (CASES[0::2], CASES[1::2])


def test_every_recipe_context_key_is_covered() -> None:
    from ecommerce_constructs.config import CONTEXT_KEYS

    assert set(IDS) == set(CONTEXT_KEYS)


@pytest.fixture(scope="module")
def split() -> tuple[Templates, Templates]:
    """Two apps, each with half the keys overridden."""
    first, second = ({key: value for key, value, _, _ in group} for group in GROUPS)
    return templates(first), templates(second)


@pytest.fixture(scope="module")
def defaults() -> Templates:
    return {stack.stack_name: default_template(stack.stack_name) for stack in default_app().stacks}


def _apps(key: str, split: tuple[Templates, Templates]) -> tuple[Templates, Templates]:
    """(the app that sets ``key``, the app that does not)."""
    in_first = key in {case[0] for case in GROUPS[0]}
    return (split[0], split[1]) if in_first else (split[1], split[0])


@pytest.mark.parametrize(("key", "value", "read", "expected"), CASES, ids=IDS)
def test_context_key_changes_template(
    key: str, value: str, read: Callable[[Templates], Any], expected: Any, split: tuple[Templates, Templates]
) -> None:
    with_key, _ = _apps(key, split)
    assert read(with_key) == expected


@pytest.mark.parametrize(("key", "value", "read", "expected"), CASES, ids=IDS)
def test_no_other_key_reaches_this_keys_place(
    key: str,
    value: str,
    read: Callable[[Templates], Any],
    expected: Any,
    split: tuple[Templates, Templates],
    defaults: Templates,
) -> None:
    _, without_key = _apps(key, split)
    assert read(without_key) == read(defaults)


@pytest.mark.parametrize(("key", "value", "read", "expected"), CASES, ids=IDS)
def test_the_default_differs_from_the_override(
    key: str, value: str, read: Callable[[Templates], Any], expected: Any, defaults: Templates
) -> None:
    assert read(defaults) != expected
