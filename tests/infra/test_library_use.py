"""The constructs in someone else's app: no cdk.json context of ours, no optional extras, only the
stacks we create touched (issue 20's defects, each shown failing on the code before the fix).

Apps here are built with ``App(context=SKIP_BUNDLING)`` only: none of our cdk.json's flags, in
particular not ``@aws-cdk/core:defaultCrossStackReferences``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Fn, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from ecommerce_constructs import DsqlCluster, EcommerceApi, ShopIdentity
from ecommerce_constructs.app import MissingExtraError, build
from ecommerce_constructs.config import load_config
from ecommerce_constructs.testing import SKIP_BUNDLING

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
E1, E2 = "us-east-1", "us-east-2"
STRONG = ("Fn::ImportValue", "Custom::CrossRegionExport", '"Export"')
NO_STRENGTH_WARNING = "No cross-stack-reference strength configured"


def _synth(app: App) -> tuple[dict[str, str], list[str]]:
    assembly = app.synth()
    templates = {stack.stack_name: json.dumps(stack.template) for stack in assembly.stacks}
    messages = [str(m.entry.data) for stack in assembly.stacks for m in stack.messages]
    return templates, messages


def _strong(templates: dict[str, str]) -> list[str]:
    return [f"{name}: {marker}" for name, text in templates.items() for marker in STRONG if marker in text]


def _fresh_app(**context: Any) -> App:
    return App(context={**SKIP_BUNDLING, **context})


@pytest.fixture(scope="module")
def ready_made() -> tuple[dict[str, str], list[str]]:
    app = _fresh_app()
    build(app, load_config(ROOT / "config" / "regions.yaml").model_copy(update={"account": ACCOUNT}))
    return _synth(app)


def test_the_ready_made_app_makes_no_exports_without_our_cdk_json(
    ready_made: tuple[dict[str, str], list[str]],
) -> None:
    templates, messages = ready_made
    assert len(templates) == 6  # two regions, the edge, three edge health checkers
    assert _strong(templates) == []
    assert "Fn::GetStackOutput" in templates["ecommerce-edge"]
    assert not [m for m in messages if NO_STRENGTH_WARNING in m]


def test_a_users_cdk_json_cannot_make_our_references_strong() -> None:
    app = _fresh_app(**{"@aws-cdk/core:defaultCrossStackReferences": "strong"})
    build(app, load_config(ROOT / "config" / "regions.yaml").model_copy(update={"account": ACCOUNT}))
    templates, _ = _synth(app)
    assert _strong(templates) == []


def test_constructs_composed_into_a_users_own_stacks_are_referenced_weakly() -> None:
    """The user's stacks set no strength: references *to* our resources are weak anyway, in the same
    region and across regions; the user's own references between their stacks stay theirs."""
    app = _fresh_app()
    data = Stack(app, "Data", env=Environment(account=ACCOUNT, region=E1))
    cluster = DsqlCluster(data, "Cluster")
    for name, region in (("SameRegion", E1), ("OtherRegion", E2)):
        stack = Stack(app, name, env=Environment(account=ACCOUNT, region=region))
        fn = lambda_.Function(
            stack,
            "Reporting",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
            environment={"CLUSTER_ENDPOINT": cluster.cluster_endpoint},
        )
        cluster.grant_connect(fn)
    templates, _ = _synth(app)
    # CDK still warns about the *user's* stacks, whose context sets no strength (refs.js warns on
    # the consumer's context alone); what matters is that references to our resources are weak.
    assert _strong(templates) == []
    assert "Fn::GetStackOutput" in templates["SameRegion"]
    assert "Fn::GetStackOutput" in templates["OtherRegion"]


def test_build_tags_only_its_own_stacks_and_everything_in_them() -> None:
    app = _fresh_app()
    theirs = Stack(app, "Theirs", env=Environment(account=ACCOUNT, region=E1))
    lambda_.Function(
        theirs,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    )
    config = load_config(ROOT / "config" / "regions.yaml").model_copy(
        update={"account": ACCOUNT, "tags": {"Project": "shop", "CostCenter": "42"}}
    )
    shop = build(app, config)
    assert "CostCenter" not in json.dumps(Template.from_stack(theirs).to_json())
    for stack in shop.stacks:
        assert {"Project": "shop", "CostCenter": "42"}.items() <= dict(stack.tags.tag_values()).items()
    # A resource deep inside a regional stack, not just the cluster's custom resource.
    api_functions = Template.from_stack(shop.regional[E1]).find_resources("AWS::Lambda::Function")
    for function in api_functions.values():
        tags = {t["Key"]: t["Value"] for t in function["Properties"].get("Tags", [])}
        assert tags.get("CostCenter") == "42"


def test_build_needs_no_cdk_nag_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cdk_nag", None)  # import cdk_nag now raises ImportError
    config = load_config(ROOT / "config" / "regions.yaml").model_copy(update={"account": ACCOUNT})
    build(_fresh_app(), config)  # the default path
    with pytest.raises(MissingExtraError) as raised:
        build(_fresh_app(), config, nag=True)
    message = str(raised.value)
    assert "\n" not in message
    assert "ecommerce-constructs[nag]" in message


def _load_testing_module_without(monkeypatch: pytest.MonkeyPatch, *missing: str) -> Any:
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)
    path = ROOT / "src" / "ecommerce_constructs" / "testing.py"
    spec = importlib.util.spec_from_file_location("ecommerce_constructs._testing_probe", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "missing",
    [("pytest",), ("syrupy", "syrupy.assertion", "syrupy.extensions.json")],
    ids=["pytest", "syrupy"],
)
def test_the_testing_helpers_import_without_the_testing_extra(
    monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]
) -> None:
    module = _load_testing_module_without(monkeypatch, *missing)
    stack = Stack(module.unit_test_app(cdk_json=None), "S")
    assert "Resources" not in module.normalized_template(stack)
    if missing == ("pytest",):
        with pytest.raises(ImportError, match=r"ecommerce-constructs\[testing\]"):
            _ = module.template_snapshot


def test_a_shop_identity_is_not_on_a_billed_plan_unless_asked() -> None:
    app = _fresh_app()
    stack = Stack(app, "S", env=Environment(account=ACCOUNT, region=E1))
    ShopIdentity(stack, "Default")
    ShopIdentity(stack, "Plus", threat_protection=True)
    cluster = DsqlCluster.from_cluster_identifier(stack, "Db", "a" * 26)
    EcommerceApi(stack, "Api", cluster=cluster, code=lambda_.Code.from_inline("x"))
    pools = Template.from_stack(stack).find_resources("AWS::Cognito::UserPool")
    plans = {
        path.split("UserPool")[0]: pool["Properties"].get("UserPoolTier") for path, pool in pools.items()
    }
    # Each identity: a customers' and an operators' pool, both on the identity's plan.
    assert sorted(plans.values()) == ["ESSENTIALS"] * 4 + ["PLUS"] * 2, plans


def test_an_api_sets_the_account_logging_role_by_default_and_keeps_it() -> None:
    app = _fresh_app()
    stack = Stack(app, "S", env=Environment(account=ACCOUNT, region=E1))
    cluster = DsqlCluster.from_cluster_identifier(stack, "Db", "a" * 26)
    EcommerceApi(stack, "Api", cluster=cluster, code=lambda_.Code.from_inline("x"))
    template = Template.from_stack(stack).to_json()["Resources"]
    (account,) = [r for r in template.values() if r["Type"] == "AWS::ApiGateway::Account"]
    assert account["DeletionPolicy"] == "Retain"
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    assert template[role_id]["DeletionPolicy"] == "Retain"
    other = Stack(app, "Other", env=Environment(account=ACCOUNT, region=E1))
    with pytest.raises(ValueError, match="manage_account_logging_role=False"):
        EcommerceApi(other, "Api", cluster=cluster, code=lambda_.Code.from_inline("x"))
    EcommerceApi(
        other, "Api2", cluster=cluster, code=lambda_.Code.from_inline("x"), manage_account_logging_role=False
    )


def test_an_adopted_cluster_identifier_is_checked_and_a_token_passes() -> None:
    stack = Stack(_fresh_app(), "S", env=Environment(account=ACCOUNT, region=E1))
    with pytest.raises(ValueError, match="26 lowercase letters and digits"):
        DsqlCluster.from_cluster_identifier(stack, "Bad", "My Cluster!")
    with pytest.raises(ValueError, match="not the cluster's name or ARN"):
        DsqlCluster.from_cluster_attributes(
            stack, "Arn", cluster_identifier=f"arn:aws:dsql:{E1}:{ACCOUNT}:cluster/x"
        )
    token = DsqlCluster.from_cluster_identifier(stack, "Token", Fn.import_value("elsewhere"))
    assert token.cluster_identifier


def _exported_constructs() -> list[str]:
    from constructs import Construct

    import ecommerce_constructs

    return [
        name
        for name in ecommerce_constructs.__all__
        if isinstance(getattr(ecommerce_constructs, name), type)
        and issubclass(getattr(ecommerce_constructs, name), Construct)
    ]


@pytest.mark.parametrize("construct", _exported_constructs())
def test_every_construct_says_what_it_creates_and_what_keeping_it_costs(construct: str) -> None:
    import ecommerce_constructs

    doc = getattr(ecommerce_constructs, construct).__doc__ or ""
    assert "Creates:" in doc
    assert "Costs while kept:" in doc
