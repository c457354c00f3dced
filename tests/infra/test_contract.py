"""One home per cross-layer contract: the constructs and the handlers read the same definitions."""

from __future__ import annotations

import pytest

from cdk_support import default_template
from handlers import contract
from handlers.api import catalog, orders
from handlers.api.handler import ApiHandler
from handlers.api.problems import STATUS_OF
from handlers.settings import Settings
from handlers.shop import domain


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_env_name_of_the_contract_is_read_by_the_settings_model() -> None:
    names = {value for key, value in vars(contract.Env).items() if not key.startswith("_")}
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert names == aliases


@pytest.mark.parametrize("region", ["us-east-1", "us-east-2"])
def test_construct_environment_is_exactly_what_the_handlers_read(region: str) -> None:
    functions = default_template(f"ecommerce-{region}").find_resources("AWS::Lambda::Function")
    aliases = {field.alias for field in Settings.model_fields.values()}
    api = [f for f in functions.values() if f["Properties"]["Handler"] in contract.FUNCTIONS.values()]
    assert len(api) == 3
    for function in api:
        variables = function["Properties"]["Environment"]["Variables"]
        assert set(variables) <= aliases, set(variables) - aliases
        plain = {key: value for key, value in variables.items() if isinstance(value, str)}
        settings = Settings.from_env(plain)
        assert settings.dsql_region == region
        assert settings.db_user in {contract.db_role(name) for name in contract.FUNCTIONS}
        assert settings.trace_disabled is True
        assert settings.service_name == contract.SERVICE_NAME


def test_handler_entry_points_match_the_functions_of_the_template() -> None:
    functions = default_template("ecommerce-us-east-1").find_resources("AWS::Lambda::Function")
    handlers = {f["Properties"]["Handler"] for f in functions.values()}
    assert set(contract.FUNCTIONS.values()) <= handlers
    # The rest are custom-resource handlers (ours, from the same bundle) and CDK's framework.
    ours = {h for h in handlers if h.startswith("handlers.")} - set(contract.FUNCTIONS.values())
    assert ours == {"handlers.infra.dsql_cluster.on_event", "handlers.infra.dsql_cluster.is_complete"}


@pytest.mark.parametrize("module", [catalog, orders], ids=["catalog", "orders"])
def test_each_function_registers_exactly_its_routes_of_the_contract(module: object) -> None:
    handler: ApiHandler = module.handler  # type: ignore[attr-defined]
    expected = {r for r in contract.ROUTES if r.function == handler.function}
    assert handler.registered == {r.operation for r in expected}
    app = handler.app
    routes = {(route.method, route.openapi_path) for route in [*app._static_routes, *app._dynamic_routes]}
    assert routes == {(r.method, r.path) for r in expected}


def test_the_endpoint_format_round_trips() -> None:
    endpoint = contract.dsql_endpoint("abcdefghijklmnopqrstuvwxyz", "eu-west-1")
    assert endpoint == "abcdefghijklmnopqrstuvwxyz.dsql.eu-west-1.on.aws"
    assert contract.region_of_endpoint(endpoint) == "eu-west-1"
    assert contract.region_of_endpoint("db.example.com") is None
    assert contract.region_of_endpoint("x.dsql.eu-west-1.amazonaws.com") is None


def test_every_domain_error_has_an_http_status() -> None:
    classes = _all_subclasses(domain.ShopError)
    assert classes, "no domain errors found"
    missing = sorted(cls.__name__ for cls in classes if cls.code not in STATUS_OF)
    assert not missing, f"add these to handlers.api.problems.STATUS_OF: {missing}"
    assert all(cls.title != domain.ShopError.title for cls in classes), "every error needs its own title"


def test_driver_errors_never_leave_the_repository() -> None:
    import ast
    from pathlib import Path

    api = Path(__file__).resolve().parents[2] / "src" / "handlers" / "api"
    for path in api.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "psycopg" not in imported, path


def test_the_order_strategy_is_configuration() -> None:
    from aws_cdk import App, Stack
    from aws_cdk.assertions import Match, Template

    from cdk_support import build_app
    from ecommerce_constructs import DsqlCluster, EcommerceApi, OrderStrategy
    from ecommerce_constructs.config import validate_config

    default = default_template("ecommerce-us-east-1").find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": contract.FUNCTIONS["orders"]}}
    )
    assert [f["Properties"]["Environment"]["Variables"]["ORDER_STRATEGY"] for f in default.values()] == [
        "cte"
    ]
    config = validate_config({"regions": ["us-east-1"], "database": {"order_strategy": "pipelined"}})
    stack = build_app(config).regional["us-east-1"]
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"ORDER_STRATEGY": "pipelined"})}},
    )
    other = Stack(App(context={"aws:cdk:bundling-stacks": []}), "s")
    cluster = DsqlCluster(other, "Db")
    with pytest.raises(TypeError, match="order_strategy must be an OrderStrategy"):
        EcommerceApi(other, "Api", cluster=cluster, order_strategy="pipelined")  # type: ignore[arg-type]
    # The enum is the Lambda contract's list: a strategy the code does not know cannot be chosen.
    assert sorted(strategy.value for strategy in OrderStrategy) == sorted(contract.ORDER_STRATEGIES)
