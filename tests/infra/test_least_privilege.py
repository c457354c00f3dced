"""Issue 23's template rules: the alarm key's service conditions, API Gateway's logging role without
reads, tighter anonymous throttles, the viewer TLS note, the admin-only cluster policy's wiring."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Annotations, Match

from cdk_support import ACCOUNT, build_app, default_app, default_template
from ecommerce_constructs.config import validate_config
from ecommerce_constructs.global_edge import VIEWER_TLS_NOTE


def _statements(template: Any, kind: str) -> list[dict[str, Any]]:
    found = []
    for resource in template.find_resources(kind).values():
        props = resource["Properties"]
        document = props.get("KeyPolicy") or props.get("PolicyDocument")
        found += document["Statement"]
    return found


def test_cloudwatch_may_use_the_alarm_key_only_for_this_accounts_alarms() -> None:
    template = default_template("ecommerce-us-east-1")
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    (statement,) = [s for s in _statements(template, "AWS::KMS::Key") if s["Principal"] == cloudwatch]
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert condition["ArnLike"]["aws:SourceArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*"


def test_api_gateways_logging_role_cannot_read_logs() -> None:
    template = default_template("ecommerce-us-east-1")
    (account,) = template.find_resources("AWS::ApiGateway::Account").values()
    role = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    actions = {
        action
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert actions == {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    }


def test_anonymous_routes_are_throttled_tighter_than_those_with_a_token() -> None:
    (stage,) = default_template("ecommerce-us-east-2").find_resources("AWS::ApiGateway::Stage").values()
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["Properties"]["MethodSettings"]}
    anonymous, checkout = settings[("/*", "*")], settings[("/~1orders", "POST")]
    assert anonymous["ThrottlingRateLimit"] < checkout["ThrottlingRateLimit"]
    assert anonymous["ThrottlingBurstLimit"] < checkout["ThrottlingBurstLimit"]


def test_viewer_tls_note_without_a_custom_domain_only() -> None:
    notes = Annotations.from_stack(default_app().edge).find_info("*", Match.string_like_regexp("TLS 1.0"))
    assert [n.entry.data for n in notes] == [VIEWER_TLS_NOTE]
    config = validate_config(
        {"edge": {"domain_name": "shop.example.com",
                  "certificate_arn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc"}}
    )  # fmt: skip
    with_domain = build_app(config).edge
    assert not Annotations.from_stack(with_domain).find_info("*", Match.string_like_regexp("TLS 1.0"))


def test_both_clusters_allow_admin_only_to_the_setups_named_roles() -> None:
    second = default_template("ecommerce-us-east-2")
    roles = second.find_resources("AWS::IAM::Role")
    names = sorted(
        r["Properties"]["RoleName"]
        for logical_id, r in roles.items()
        if logical_id.startswith(("DatabaseSetupProviderOnEventRole", "DatabaseSetupProviderIsCompleteRole"))
    )
    assert len(names) == 2
    for region in ("us-east-1", "us-east-2"):
        (cluster,) = default_template(f"ecommerce-{region}").find_resources("Custom::DsqlCluster").values()
        # Literal ARNs in both stacks: no cross-stack reference (the first stack cannot wait for the
        # second, which depends on it).
        assert cluster["Properties"]["AdminRoleArns"] == [f"arn:aws:iam::{ACCOUNT}:role/{n}" for n in names]
