"""The global edge and the lock-down of the regional APIs, as synthesized: every point of the design
in docs/architecture.md and docs/operations.md has an assertion here."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from cdk_support import ACCOUNT, build_app, default_app, default_template
from ecommerce_constructs.config import validate_config
from ecommerce_constructs.edge_routing import REGION_COORDINATES, render_router
from ecommerce_constructs.global_edge import FORWARDED_HEADERS
from handlers.contract import ORIGIN_HEADER as HEADER_NAME
from handlers.contract import ORIGIN_WAF_RULE as ALLOW_RULE

SECRET_REF = "{{resolve:secretsmanager:ecommerce-origin-verify:SecretString:HEADERVALUE:AWSCURRENT}}"
REGIONS = ("us-east-1", "us-east-2")


def distribution_config() -> dict[str, Any]:
    (distribution,) = (
        default_template("ecommerce-edge").find_resources("AWS::CloudFront::Distribution").values()
    )
    config: dict[str, Any] = distribution["Properties"]["DistributionConfig"]
    return config


def behaviours() -> dict[str, dict[str, Any]]:
    config = distribution_config()
    found = {"*": config["DefaultCacheBehavior"]}
    found.update({b["PathPattern"]: b for b in config["CacheBehaviors"]})
    return found


# ---- routing -----------------------------------------------------------------------------------


def test_every_region_is_an_origin_named_after_it_with_the_secret_header() -> None:
    origins = {o["Id"]: o for o in distribution_config()["Origins"]}
    assert set(REGIONS) <= set(origins)
    for origin_id, origin in origins.items():
        assert origin["OriginPath"] == "/prod"
        custom = origin["CustomOriginConfig"]
        assert (custom["OriginProtocolPolicy"], custom["OriginSSLProtocols"]) == ("https-only", ["TLSv1.2"])
        headers = {h["HeaderName"]: h["HeaderValue"] for h in origin["OriginCustomHeaders"]}
        assert headers == {HEADER_NAME: SECRET_REF}, origin_id
        # Each regional API's domain arrives through a weak cross-region reference.
        assert "Fn::GetStackOutput" in json.dumps(origin["DomainName"])


def test_reads_fail_over_through_an_origin_group_and_writes_do_not() -> None:
    config = distribution_config()
    (group,) = config["OriginGroups"]["Items"]
    members = [m["OriginId"] for m in group["Members"]["Items"]]
    assert members == ["us-east-1-health", "us-east-2"]
    assert sorted(group["FailoverCriteria"]["StatusCodes"]["Items"]) == [500, 502, 503, 504]
    found = behaviours()
    assert found["/health"]["TargetOriginId"] == group["Id"]
    # CloudFront refuses origin groups on behaviours that allow writes.
    assert set(found["/health"]["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS"}
    for pattern in ("*", "/products*"):
        assert {"POST", "PATCH", "DELETE"} <= set(found[pattern]["AllowedMethods"]), pattern


def test_the_router_runs_on_every_behaviour_with_the_drain_store() -> None:
    template = default_template("ecommerce-edge")
    (function_id,) = template.find_resources("AWS::CloudFront::Function")
    function = template.find_resources("AWS::CloudFront::Function")[function_id]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    (store_id,) = template.find_resources("AWS::CloudFront::KeyValueStore")
    (association,) = function["FunctionConfig"]["KeyValueStoreAssociations"]
    assert association["KeyValueStoreARN"] == {"Fn::GetAtt": [store_id, "Arn"]}
    for pattern, behaviour in behaviours().items():
        (fa,) = behaviour["FunctionAssociations"]
        assert fa["EventType"] == "viewer-request", pattern
        assert fa["FunctionARN"] == {"Fn::GetAtt": [function_id, "FunctionARN"]}
    code = function["FunctionCode"]
    assert code.startswith("import cf from 'cloudfront';")
    assert "__REGIONS__" not in code and "__PRIMARY__" not in code
    assert code == render_router(["us-east-1", "us-east-2"], "us-east-1")
    assert len(code.encode()) <= 10_240  # CloudFront Functions' code limit


def test_rendering_knows_every_region_and_refuses_an_unknown_one() -> None:
    code = render_router(["eu-west-1", "eu-central-1"], "eu-central-1")
    assert '"eu-central-1"' in code and str(REGION_COORDINATES["eu-west-1"][0]) in code
    with pytest.raises(ValueError, match="primary region"):
        render_router(["us-east-1"], "us-east-2")
    with pytest.raises(ValueError, match="no coordinates"):
        render_router(["mars-north-1"], "mars-north-1")


def test_the_viewer_location_reaches_the_router_and_host_never_reaches_api_gateway() -> None:
    template = default_template("ecommerce-edge")
    (policy,) = template.find_resources("AWS::CloudFront::OriginRequestPolicy").values()
    config = policy["Properties"]["OriginRequestPolicyConfig"]
    headers = config["HeadersConfig"]
    assert headers["HeaderBehavior"] == "whitelist"
    assert {"CloudFront-Viewer-Latitude", "CloudFront-Viewer-Longitude", "CloudFront-Viewer-Country"} <= set(
        headers["Headers"]
    )
    assert "Host" not in headers["Headers"]
    assert set(headers["Headers"]) == set(FORWARDED_HEADERS)
    assert config["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    (policy_id,) = template.find_resources("AWS::CloudFront::OriginRequestPolicy")
    assert all(b["OriginRequestPolicyId"] == {"Ref": policy_id} for b in behaviours().values())


def test_only_catalog_reads_are_cached_and_authorization_always_reaches_the_api() -> None:
    template = default_template("ecommerce-edge")
    policies = {
        key: value["Properties"]["CachePolicyConfig"]
        for key, value in template.find_resources("AWS::CloudFront::CachePolicy").items()
    }
    found = behaviours()
    catalog = policies[found["/products*"]["CachePolicyId"]["Ref"]]
    api = policies[found["*"]["CachePolicyId"]["Ref"]]
    assert (catalog["DefaultTTL"], catalog["MaxTTL"]) == (60, 60)
    assert (api["DefaultTTL"], api["MinTTL"]) == (0, 0) and api["MaxTTL"] <= 1
    for policy in (catalog, api):
        keys = policy["ParametersInCacheKeyAndForwardedToOrigin"]
        assert {"Authorization", "Origin"} <= set(keys["HeadersConfig"]["Headers"])
        assert keys["QueryStringsConfig"]["QueryStringBehavior"] == "all"


# ---- lock-down -----------------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_each_regional_api_admits_only_the_edge(region: str) -> None:
    template = default_template(f"ecommerce-{region}")
    ((acl_id, acl),) = template.find_resources("AWS::WAFv2::WebACL").items()
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL"
    assert props["DefaultAction"]["Block"]["CustomResponse"]["ResponseCode"] == 403
    (rule,) = props["Rules"]
    assert (rule["Name"], rule["Priority"], rule["Action"]) == (ALLOW_RULE, 0, {"Allow": {}})
    statements = rule["Statement"]["OrStatement"]["Statements"]
    assert len(statements) == 2  # room for the old and the new value during a rotation
    for statement in statements:
        match = statement["ByteMatchStatement"]
        assert match["FieldToMatch"] == {"SingleHeader": {"Name": HEADER_NAME.lower()}}
        assert match["SearchString"] == SECRET_REF
        assert match["PositionalConstraint"] == "EXACTLY"
    (association,) = template.find_resources("AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert "Stage" in json.dumps(association["Properties"]["ResourceArn"])


def test_the_origin_secret_is_generated_replicated_and_never_in_plain_text() -> None:
    primary = default_template("ecommerce-us-east-1")
    (secret,) = primary.find_resources("AWS::SecretsManager::Secret").values()
    props = secret["Properties"]
    assert props["Name"] == "ecommerce-origin-verify"
    assert "SecretString" not in props
    assert props["GenerateSecretString"]["GenerateStringKey"] == "HEADERVALUE"
    assert props["GenerateSecretString"]["PasswordLength"] >= 32
    # us-east-1 is the primary (and CloudFront's region); us-west-2 is the witness, whose health
    # checker reads its own replica.
    assert [r["Region"] for r in props["ReplicaRegions"]] == ["us-east-2", "us-west-2"]
    default_template("ecommerce-us-east-2").resource_count_is("AWS::SecretsManager::Secret", 0)
    for name in ("ecommerce-us-east-1", "ecommerce-us-east-2", "ecommerce-edge"):
        text = json.dumps(default_template(name).to_json())
        # Wherever the header value is needed, it is a dynamic reference resolved at deploy time.
        values = re.findall(r'"(?:HeaderValue|SearchString)": "([^"]*)"', text)
        assert values and all(value == SECRET_REF for value in values), name


def test_the_edge_has_a_web_acl_with_managed_rules_and_a_rate_limit() -> None:
    template = default_template("ecommerce-edge")
    ((acl_id, acl),) = template.find_resources("AWS::WAFv2::WebACL").items()
    props = acl["Properties"]
    assert props["Scope"] == "CLOUDFRONT"
    rules = {r["Name"]: r for r in props["Rules"]}
    assert rules["RatePerIp"]["Statement"]["RateBasedStatement"]["Limit"] == 2000
    assert rules["RatePerIp"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        statement = rules[group]["Statement"]["ManagedRuleGroupStatement"]
        assert (statement["VendorName"], statement["Name"]) == ("AWS", group)
    assert distribution_config()["WebACLId"] == {"Fn::GetAtt": [acl_id, "Arn"]}


def test_waf_can_be_turned_off_or_replaced() -> None:
    off = build_app(validate_config({"edge": {"waf": False}}))
    template = Template.from_stack(off.edge)  # type: ignore[arg-type]
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    existing = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/shop/123"
    mine = Template.from_stack(build_app(validate_config({"edge": {"web_acl_arn": existing}})).edge)  # type: ignore[arg-type]
    mine.resource_count_is("AWS::WAFv2::WebACL", 0)
    mine.has_resource_properties(
        "AWS::CloudFront::Distribution", {"DistributionConfig": Match.object_like({"WebACLId": existing})}
    )


def test_security_headers_on_every_behaviour_and_http3() -> None:
    template = default_template("ecommerce-edge")
    ((policy_id, policy),) = template.find_resources("AWS::CloudFront::ResponseHeadersPolicy").items()
    security = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert security["ContentTypeOptions"]["Override"] is True
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert all(b["ResponseHeadersPolicyId"] == {"Ref": policy_id} for b in behaviours().values())
    assert all(b["ViewerProtocolPolicy"] == "https-only" for b in behaviours().values())
    assert distribution_config()["HttpVersion"] == "http2and3"


def test_tls_1_2_minimum_on_the_regional_apis_and_with_a_custom_domain() -> None:
    for region in REGIONS:
        default_template(f"ecommerce-{region}").has_resource_properties(
            "AWS::ApiGateway::RestApi",
            {"SecurityPolicy": "SecurityPolicy_TLS13_1_2_2021_06", "EndpointAccessMode": "STRICT"},
        )
    config = validate_config(
        {"edge": {"domain_name": "shop.example.com",
                  "certificate_arn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc"}}
    )  # fmt: skip
    edge = Template.from_stack(build_app(config).edge)  # type: ignore[arg-type]
    edge.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {"ViewerCertificate": Match.object_like({"MinimumProtocolVersion": "TLSv1.2_2021"})}
            )
        },
    )


# ---- drain automation ------------------------------------------------------------------------------


CHECKER_REGIONS = ("us-east-1", "us-east-2", "us-west-2")  # both serving regions and the witness


def checker_function(template: Template) -> dict[str, Any]:
    return next(
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "handlers.infra.edge_health.handler"
    )


def test_a_health_checker_runs_in_every_serving_region_and_the_witness_region() -> None:
    app = default_app()
    assert sorted(app.edge_health) == sorted(CHECKER_REGIONS)
    assert {s.region for s in app.edge_health.values()} == set(CHECKER_REGIONS)
    # None in the edge stack: us-east-1 is a serving region, and its loss must not stop the drain.
    default_template("ecommerce-edge").resource_count_is("AWS::Lambda::Function", 0)
    for region in CHECKER_REGIONS:
        env = checker_function(default_template(f"ecommerce-edge-health-{region}"))["Environment"][
            "Variables"
        ]
        assert env["CHECKER"] == region
        assert json.loads(env["CHECKERS"]) == list(CHECKER_REGIONS)
        assert (env["FAIL_THRESHOLD"], env["RESTORE_THRESHOLD"], env["PROBES"]) == ("2", "3", "3")
        assert "QUORUM" not in env  # a majority
        # The store's ARN is read from the edge stack's output at deploy time: no export.
        assert env["KVS_ARN"]["Fn::GetStackOutput"]["StackName"] == "ecommerce-edge"
        assert env["KVS_ARN"]["Fn::GetStackOutput"]["Region"] == "us-east-1"


def test_each_checker_runs_every_minute_with_rights_on_the_store_and_its_secret_replica_only() -> None:
    for region in CHECKER_REGIONS:
        template = default_template(f"ecommerce-edge-health-{region}")
        template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
        env = checker_function(template)["Environment"]["Variables"]
        assert env["ORIGIN_SECRET_HEADER"] == HEADER_NAME
        regions = json.dumps(env["REGIONS"])
        assert all(r in regions for r in REGIONS) and "health" in regions
        statements = [
            s
            for p in template.find_resources("AWS::IAM::Policy").values()
            if "HealthChecker" in json.dumps(p["Properties"]["Roles"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        kvs = next(s for s in statements if "cloudfront-keyvaluestore:UpdateKeys" in s["Action"])
        # Only what edge_state.observe calls: no GetKey, PutKey, DeleteKey.
        assert sorted(kvs["Action"]) == [
            "cloudfront-keyvaluestore:DescribeKeyValueStore",
            "cloudfront-keyvaluestore:ListKeys",
            "cloudfront-keyvaluestore:UpdateKeys",
        ]
        assert kvs["Resource"] == env["KVS_ARN"]
        secret = next(s for s in statements if s["Action"] == "secretsmanager:GetSecretValue")
        assert "ecommerce-origin-verify-??????" in json.dumps(secret["Resource"])
        assert not [s for s in statements if s["Resource"] == "*"]


def test_a_checker_run_is_never_retried_nor_delivered_late() -> None:
    # A retried or late asynchronous invocation would count as another observation.
    for region in CHECKER_REGIONS:
        template = default_template(f"ecommerce-edge-health-{region}")
        template.resource_count_is("AWS::Lambda::EventInvokeConfig", 1)
        template.has_resource_properties(
            "AWS::Lambda::EventInvokeConfig",
            {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60, "Qualifier": "$LATEST"},
        )


def test_checker_settings_come_from_configuration() -> None:
    app = build_app(
        validate_config({"edge": {"health": {"fail_threshold": 3, "restore_threshold": 5, "quorum": 1}}})
    )
    env = checker_function(Template.from_stack(app.edge_health["us-west-2"]))["Environment"]["Variables"]
    assert (env["FAIL_THRESHOLD"], env["RESTORE_THRESHOLD"], env["QUORUM"]) == ("3", "5", "1")


def test_one_region_has_no_health_checker_and_no_origin_group() -> None:
    app = build_app(validate_config({"regions": ["us-east-1"]}))
    assert app.edge_health == {}
    edge = Template.from_stack(app.edge)  # type: ignore[arg-type]
    edge.resource_count_is("AWS::Events::Rule", 0)
    config = next(iter(edge.find_resources("AWS::CloudFront::Distribution").values()))
    assert "OriginGroups" not in config["Properties"]["DistributionConfig"]


def test_origins_fail_reads_over_quickly_but_wait_for_a_slow_commit() -> None:
    for origin in distribution_config()["Origins"]:
        assert origin["ConnectionAttempts"] == 1
        assert origin["ConnectionTimeout"] == 3
        assert origin["CustomOriginConfig"]["OriginReadTimeout"] == 30  # > API Gateway's 29 s
    app = build_app(
        validate_config(
            {
                "edge": {
                    "origin_connection_attempts": 2,
                    "origin_connection_timeout_seconds": 5,
                    "origin_response_timeout_seconds": 45,
                }
            }
        )
    )
    (distribution,) = Template.from_stack(app.edge).find_resources("AWS::CloudFront::Distribution").values()  # type: ignore[arg-type]
    for origin in distribution["Properties"]["DistributionConfig"]["Origins"]:
        assert (origin["ConnectionAttempts"], origin["ConnectionTimeout"]) == (2, 5)
        assert origin["CustomOriginConfig"]["OriginReadTimeout"] == 45


def test_the_router_alarms_on_validation_errors_as_well_as_execution_errors() -> None:
    template = default_template("ecommerce-edge")
    names = {
        a["Properties"]["MetricName"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/CloudFront"
    }
    assert {"FunctionExecutionErrors", "FunctionValidationErrors"} <= names


def web_acl_rules(config: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    template = (
        default_template("ecommerce-edge")
        if config is None
        else Template.from_stack(
            build_app(validate_config(config)).edge  # type: ignore[arg-type]
        )
    )
    ((_, acl),) = template.find_resources("AWS::WAFv2::WebACL").items()
    return {r["Name"]: r for r in acl["Properties"]["Rules"]}


def test_waf_rule_actions_are_overridable_from_configuration() -> None:
    default = web_acl_rules()
    assert default["AWSManagedRulesCommonRuleSet"]["OverrideAction"] == {"None": {}}
    common = default["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    count = web_acl_rules({"edge": {"waf_mode": "count"}})  # a first launch: count everything
    assert count["RatePerIp"]["Action"] == {"Count": {}}
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        assert count[group]["OverrideAction"] == {"Count": {}}
    picked = web_acl_rules(
        {
            "edge": {
                "waf_count_rules": [
                    "AWSManagedRulesCommonRuleSet:NoUserAgent_HEADER",
                    "AWSManagedRulesCommonRuleSet:SizeRestrictions_QUERYSTRING",
                    "RatePerIp",
                ]
            }
        }
    )
    overrides = picked["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert [o["Name"] for o in overrides["RuleActionOverrides"]] == [
        "NoUserAgent_HEADER",
        "SizeRestrictions_QUERYSTRING",
    ]
    assert picked["RatePerIp"]["Action"] == {"Count": {}}
    assert picked["AWSManagedRulesKnownBadInputsRuleSet"]["OverrideAction"] == {"None": {}}


def test_an_unknown_waf_rule_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match=r"edge\.waf_count_rules: 'AWSManagedRulesSQLiRuleSet'"):
        validate_config({"edge": {"waf_count_rules": ["AWSManagedRulesSQLiRuleSet"]}})


def test_waf_logging_redacts_the_token_and_the_origin_secret() -> None:
    default_template("ecommerce-edge").resource_count_is("AWS::WAFv2::LoggingConfiguration", 0)
    template = Template.from_stack(build_app(validate_config({"edge": {"waf_logging": True}})).edge)  # type: ignore[arg-type]
    ((_, logging),) = template.find_resources("AWS::WAFv2::LoggingConfiguration").items()
    props = logging["Properties"]
    assert props["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "x-origin-verify"}},
    ]
    (group,) = template.find_resources("AWS::Logs::LogGroup").values()
    assert group["Properties"]["LogGroupName"].startswith("aws-waf-logs-")
    assert "aws-waf-logs-" in json.dumps(props["LogDestinationConfigs"])
    assert ":*" not in json.dumps(props["LogDestinationConfigs"])


# ---- alarms that notify, dashboards, outputs ---------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [*(f"ecommerce-{r}" for r in REGIONS), "ecommerce-edge", "ecommerce-edge-health-us-west-2"],
)
def test_every_alarm_notifies_the_stacks_topic_and_there_is_a_dashboard(name: str) -> None:
    template = default_template(name)
    ((topic_id, topic),) = template.find_resources("AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    assert alarms
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic_id}]
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_alarm_email_and_existing_topics_from_configuration() -> None:
    topic = f"arn:aws:sns:us-east-2:{ACCOUNT}:pager"
    app = build_app(
        validate_config(
            {"monitoring": {"alarm_email": "ops@example.com", "alarm_topic_arns": {"us-east-2": topic}}}
        )
    )
    first = Template.from_stack(app.regional["us-east-1"])
    first.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    second = Template.from_stack(app.regional["us-east-2"])
    second.resource_count_is("AWS::SNS::Topic", 0)
    assert all(
        a["Properties"]["AlarmActions"] == [topic]
        for a in second.find_resources("AWS::CloudWatch::Alarm").values()
    )


def test_outputs_keep_the_recipes_keys_and_name_what_operations_need() -> None:
    edge = default_template("ecommerce-edge").to_json()["Outputs"]
    assert {"EcommerceDistributionDomainName", "DistributionId", "EdgeDrainStoreArn", "AlarmTopicArn"} <= set(
        edge
    )
    for region in REGIONS:
        outputs = default_template(f"ecommerce-{region}").to_json()["Outputs"]
        assert {"EcommerceApiEndpoint", "OriginWebAclArn", "AlarmTopicArn"} <= set(outputs)
        assert "CloudFront" in outputs["EcommerceApiEndpoint"]["Description"]
    assert "OriginSecretArn" in default_template("ecommerce-us-east-1").to_json()["Outputs"]


def test_without_the_edge_the_api_is_the_entry_point_and_has_no_guard() -> None:
    app = build_app(validate_config({"edge": {"enabled": False}}))
    template = Template.from_stack(app.regional["us-east-1"])
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    template.resource_count_is("AWS::SecretsManager::Secret", 0)


def test_the_stacks_emit_every_output_the_operators_tools_read() -> None:
    """The names live once, in handlers.contract; the stacks must still emit each one."""
    from handlers.contract import Output

    primary = set(default_template("ecommerce-us-east-1").to_json()["Outputs"])
    edge = set(default_template("ecommerce-edge").to_json()["Outputs"])
    wanted = {v for k, v in vars(Output).items() if k.isupper()}
    assert wanted <= primary | edge, sorted(wanted - primary - edge)
