"""cdk-nag over every stack, and proof that both cdk-nag and cfn-lint can fail.

cfn-lint over every stack of the default app is `make synth`'s own step (scripts/lint_templates.py),
asserted on its output by tests/e2e/test_full_synth.py."""

from __future__ import annotations

import functools
import json

import pytest
from aws_cdk import Acknowledgment, App, Duration, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint

from cdk_support import ACCOUNT, build_app, default_app

STACK_NAMES = ["ecommerce-us-east-1", "ecommerce-us-east-2", "ecommerce-edge"]
# W3005 (redundant DependsOn) is how CDK orders resources; everything else is signal.
ALLOWED_LINT = {"W3005"}


def lint_findings(template: dict[str, object], region: str) -> list[str]:
    matches = lint(json.dumps(template), regions=[region])
    return [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in ALLOWED_LINT]


def nag_violations(stack: Stack) -> list[str]:
    report = AwsSolutionsChecks().validate_scope(stack)
    return sorted({violation.rule_name for violation in report.violations})


@pytest.fixture(scope="module")
def stacks() -> dict[str, Stack]:
    return {stack.stack_name: stack for stack in default_app().stacks}


@pytest.mark.parametrize("name", STACK_NAMES)
def test_cdk_nag_clean(stacks: dict[str, Stack], name: str) -> None:
    assert nag_violations(stacks[name]) == []


def test_cdk_nag_clean_with_every_option_on() -> None:
    """Tracing, CORS, custom domain and WAF change resources; nag must stay clean there too."""
    from ecommerce_constructs.config import validate_config

    config = validate_config(
        {
            "monitoring": {"tracing": True},
            "api": {"cors_origins": ["https://shop.example.com"]},
            "edge": {
                "domain_name": "shop.example.com",
                "certificate_arn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc",
                "web_acl_arn": f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/shop/123",
            },
        }
    )
    for stack in build_app(config).stacks:
        assert nag_violations(stack) == [], stack.stack_name


def _bad_stack() -> Stack:
    """A deliberately non-compliant stack: unencrypted-logging bucket, unvalidated API, old runtime."""
    stack = Stack(App(), "Bad", env={"account": ACCOUNT, "region": "us-east-1"})
    s3.Bucket(stack, "Bucket")
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_9,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(e, c): return {}"),
        timeout=Duration.seconds(3),
    )
    apigw.LambdaRestApi(stack, "Api", handler=function)
    return stack


def test_cdk_nag_reports_a_bad_construct() -> None:
    violations = nag_violations(_bad_stack())
    rules = {violation.split("[")[0] for violation in violations}
    assert {
        "AwsSolutions-S1",
        "AwsSolutions-S10",
        "AwsSolutions-L1",
        "AwsSolutions-APIG2",
        "AwsSolutions-IAM4",
    } <= rules


def test_cdk_nag_acknowledgement_is_scoped_to_rule_and_resource() -> None:
    stack = _bad_stack()
    Validations.of(stack.node.find_child("Bucket")).acknowledge(
        Acknowledgment(id="AwsSolutions-S1", reason="test")
    )
    violations = nag_violations(stack)
    assert "AwsSolutions-S1" not in violations
    assert "AwsSolutions-S10" in violations  # same resource, other rule
    assert "AwsSolutions-APIG2" in violations  # other resource


def test_cfn_lint_reports_a_bad_template() -> None:
    bad = {
        "Resources": {
            "Cluster": {"Type": "AWS::DSQL::Cluster", "Properties": {"DeletionProtectionEnabled": "maybe"}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python2.7", "Handler": "x"}},
        }
    }
    findings = lint_findings(bad, "us-east-1")
    assert any(f.startswith("E3012") for f in findings), findings  # wrong type
    assert any(f.startswith("E3003") for f in findings), findings  # missing Role/Code
    # AWS::DSQL::Cluster does not exist in us-west-1: the region matters.
    region_findings = lint_findings({"Resources": {"C": {"Type": "AWS::DSQL::Cluster"}}}, "us-west-1")
    assert any(f.startswith("E3006") for f in region_findings), region_findings


def _acknowledged(stack: Stack, rule: str) -> list[str]:
    """Paths of the constructs that acknowledge ``rule`` (any resource-scoped variant)."""
    return _acknowledgments(stack).get(rule, [])


@functools.cache
def _acknowledgments(stack: Stack) -> dict[str, list[str]]:
    """Rule -> paths acknowledging it, from one walk of the stack (each jsii call costs)."""
    found: dict[str, list[str]] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule in {key.split("::", 1)[1].split("[")[0] for key in entry.data}:
                    found.setdefault(rule, []).append(construct.node.path)
    return found


@pytest.mark.parametrize("name", ["ecommerce-us-east-1", "ecommerce-us-east-2"])
def test_anonymous_access_is_acknowledged_only_where_the_contract_allows_it(
    stacks: dict[str, Stack], name: str
) -> None:
    """APIG4/COG4 ("no authorizer") are waived for the anonymous catalog reads and API Gateway's own
    405 answers, nothing else; each waiver says why."""
    from ecommerce_constructs.ecommerce_api import EcommerceApi
    from handlers import contract

    stack = stacks[name]
    api = next(c for c in stack.node.find_all() if isinstance(c, EcommerceApi))
    anonymous = {
        api.methods[r.operation + suffix].node.path
        for r in contract.ROUTES
        if r.access == contract.ANONYMOUS
        for suffix in ("", "_head")
    }
    routed = {method.node.path for method in api.methods.values()}
    for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
        waived = set(_acknowledged(stack, rule))
        assert anonymous <= waived, rule
        others = waived - anonymous
        # The rest are the MOCK 405 methods: never a routed method with a function behind it.
        assert not others & routed, (rule, sorted(others & routed))
        assert all(path.rsplit("/", 1)[-1] in contract.HTTP_METHODS for path in others), sorted(others)
