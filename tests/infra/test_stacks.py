"""What each stack must contain: intent assertions beside the snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, Tags
from aws_cdk.assertions import Annotations, Match, Template

from cdk_support import ACCOUNT, build_app, default_app, default_template
from ecommerce_constructs import DsqlCluster, EcommerceApi
from ecommerce_constructs.config import validate_config
from handlers import contract

REGIONS = ("us-east-1", "us-east-2")


def test_stack_names_and_environments() -> None:
    app = default_app()
    assert {stack.stack_name: stack.region for stack in app.stacks} == {
        "ecommerce-us-east-1": "us-east-1",
        "ecommerce-us-east-2": "us-east-2",
        "ecommerce-edge": "us-east-1",
        # The edge's health checkers: every serving region and the witness region.
        "ecommerce-edge-health-us-east-1": "us-east-1",
        "ecommerce-edge-health-us-east-2": "us-east-2",
        "ecommerce-edge-health-us-west-2": "us-west-2",
    }
    assert all(stack.account == ACCOUNT for stack in app.stacks)


@pytest.mark.parametrize("region", REGIONS)
def test_regional_stack_resources(region: str) -> None:
    template = default_template(f"ecommerce-{region}")
    template.resource_count_is("AWS::DSQL::Cluster", 0)  # the custom resource owns the cluster
    template.resource_count_is("Custom::DsqlCluster", 1)
    template.resource_count_is("AWS::ApiGateway::RestApi", 1)
    template.resource_count_is("AWS::ApiGateway::Stage", 1)
    # API 5xx, per function errors/throttles, OCC, no backup for two days; the stack that completes
    # the pair also runs the pruning job (its backlog and errors) and watches the order events
    # pipeline (5 alarms: tests/infra/test_order_events.py, and the stream's NotDeliveringAlarm).
    template.resource_count_is("AWS::CloudWatch::Alarm", 9 + (2 + 6 if region == "us-east-2" else 0))
    template.has_resource(
        "Custom::DsqlCluster",
        {
            "DeletionPolicy": "Delete",  # what happens to the cluster is the handler's RemovalPolicy
            "Properties": Match.object_like(
                {
                    "Region": region,
                    "DeletionProtection": "true",
                    "RemovalPolicy": "retain",
                    "WitnessRegion": "us-west-2",
                    "Tags": {"Name": "ecommerce-cluster", "Project": "ecommerce"},
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            # Anonymous routes: tighter than those that need a token.
                            "ThrottlingRateLimit": 25,
                            "ThrottlingBurstLimit": 50,
                            "LoggingLevel": "ERROR",
                        }
                    ),
                    Match.object_like(
                        {
                            "HttpMethod": "POST",
                            "ResourcePath": "/~1orders",
                            "ThrottlingRateLimit": 50,
                            "ThrottlingBurstLimit": 100,
                        }
                    ),
                ]
            ),
        },
    )
    for handler, memory, role in (
        ("handlers.api.browse.handler", 256, "ecommerce_browse"),
        ("handlers.api.catalog.handler", 256, "ecommerce_catalog"),
        ("handlers.api.orders.handler", 512, "ecommerce_orders"),
    ):
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": handler,
                "Runtime": "python3.13",
                "Architectures": ["arm64"],
                "MemorySize": memory,
                "Timeout": 10,
                "Environment": {
                    "Variables": Match.object_like(
                        {
                            "DSQL_ENDPOINT": {
                                "Fn::GetAtt": [Match.string_like_regexp("Database"), "Endpoint"]
                            },
                            "DSQL_REGION": region,
                            "DB_USER": role,
                        }
                    )
                },
            },
        )


def test_the_second_region_owns_the_peering_through_a_weak_reference() -> None:
    first = default_template("ecommerce-us-east-1").find_resources("Custom::DsqlCluster")
    second = default_template("ecommerce-us-east-2").find_resources("Custom::DsqlCluster")
    (first_props,) = (r["Properties"] for r in first.values())
    (second_props,) = (r["Properties"] for r in second.values())
    assert "PeerArn" not in first_props  # never sends a peer list: cannot drop the peer
    assert second_props["PeerArn"]["Fn::GetStackOutput"]["StackName"] == "ecommerce-us-east-1"
    assert second_props["AllowUnpeer"] == "false"


def test_the_setup_runs_once_in_the_stack_that_completes_the_pair() -> None:
    default_template("ecommerce-us-east-1").resource_count_is("Custom::DatabaseSetup", 0)
    second = default_template("ecommerce-us-east-2")
    (setup,) = second.find_resources("Custom::DatabaseSetup").values()
    props = setup["Properties"]
    # The API's functions, and the pruning job that runs in this stack only.
    assert set(props["FunctionRoleArns"]) == {"browse", "catalog", "orders", "prune"}
    arns = props["FunctionRoleArns"]
    assert all(len(arns[f]) == 2 for f in ("browse", "catalog", "orders"))  # both regions' functions
    assert len(arns["prune"]) == 1
    assert len(props["Fingerprint"]) == 64
    assert len(props["PeerEndpoints"]) == 1


def _policy_statements(template: Template, owner: str = "") -> list[dict[str, Any]]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith(owner)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


@pytest.mark.parametrize("region", REGIONS)
def test_the_functions_may_only_connect_to_their_own_cluster(region: str) -> None:
    """The recipe granted dsql:* on "*" including admin; each function gets DbConnect on one ARN."""
    template = default_template(f"ecommerce-{region}")
    api = _policy_statements(template, "Api")
    dsql = [s for s in api if any(a.startswith("dsql:") for a in _actions(s))]
    assert len(dsql) == 3  # one per function
    for statement in dsql:
        assert statement["Action"] == "dsql:DbConnect"
        logical_id, attribute = statement["Resource"]["Fn::GetAtt"]
        assert logical_id.startswith("Database")
        assert attribute == "Arn"


@pytest.mark.parametrize("region", REGIONS)
def test_no_star_actions_and_admin_only_for_the_setup(region: str) -> None:
    template = default_template(f"ecommerce-{region}")
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in _actions(statement):
                assert "*" not in action, (logical_id, action)
                if action == "dsql:DbConnectAdmin":
                    assert logical_id.startswith(
                        ("DatabaseSetupProviderOnEventRole", "DatabaseSetupProviderIsCompleteRole")
                    ), logical_id
            if statement["Resource"] == "*":
                assert set(_actions(statement)) <= {
                    "dsql:ListClusters", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules", "xray:GetSamplingTargets", "logs:CreateLogDelivery",
                    "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                    "logs:DescribeLogGroups", "logs:CreateLogStream", "logs:PutLogEvents",
                    # The opt-in check reads an account setting (no resource type exists for it).
                    "backup:DescribeRegionSettings",
                }, (logical_id, statement)  # fmt: skip
    admin = "dsql:DbConnectAdmin" in json.dumps(template.to_json())
    assert admin == (region == "us-east-2")  # only the stack that runs the setup


def _role_statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
        if any(role.startswith(role_prefix) for role in roles):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _owner(stack: str, template: Template) -> dict[str, Any]:
    """The Owner value the cluster resource carries, as its template writes it."""
    (cluster,) = template.find_resources("Custom::DsqlCluster").values()
    return cluster["Properties"]["Owner"]


def _resolve_owner(value: Any, stack: str) -> str:
    """``Fn::Join`` of ``AWS::StackName`` and the logical id, or the literal form another stack uses."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(stack if part == {"Ref": "AWS::StackName"} else part for part in parts)


def test_the_lifecycle_rights_change_only_this_resources_cluster() -> None:
    """Every change is conditioned on this resource's own owner tag, so no other resource, stack or
    app of the account can have its clusters changed by these functions."""
    stack = "ecommerce-us-east-2"
    template = default_template(stack)
    owner = _resolve_owner(_owner(stack, template), stack)
    on_event = _role_statements(template, "DsqlClusterProviderOnEventRole")
    own_region = f"arn:aws:dsql:us-east-2:{ACCOUNT}:cluster/*"

    def owner_condition(statement: dict[str, Any], operator: str, key: str) -> str:
        return _resolve_owner(statement["Condition"][operator][key], stack)

    create = next(s for s in on_event if "dsql:CreateCluster" in _actions(s))
    assert create["Resource"] == own_region
    assert owner_condition(create, "StringEquals", "aws:RequestTag/ecommerce:owner") == owner
    change = next(s for s in on_event if "dsql:DeleteCluster" in _actions(s))
    assert set(_actions(change)) == {
        "dsql:UpdateCluster",
        "dsql:DeleteCluster",
        "dsql:UntagResource",
        "dsql:TagResource",
        # The admin-only cluster policy (DatabaseSetup's restrict_admin), on this cluster only.
        "dsql:GetClusterPolicy",
        "dsql:PutClusterPolicy",
        "dsql:DeleteClusterPolicy",
    }
    assert change["Resource"] == own_region
    assert owner_condition(change, "StringEquals", "aws:ResourceTag/ecommerce:owner") == owner
    claim = next(s for s in on_event if _actions(s) == ["dsql:TagResource"])
    assert owner_condition(claim, "StringEquals", "aws:RequestTag/ecommerce:owner") == owner
    assert owner_condition(claim, "StringEqualsIfExists", "aws:ResourceTag/ecommerce:owner") == owner
    assert set(claim["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]) >= {
        "ecommerce:owner",
        "ecommerce:managed-by",
        "Name",
    }
    unpeer = next(s for s in on_event if "dsql:RemovePeerCluster" in _actions(s))
    assert unpeer["Resource"] == f"arn:aws:dsql:*:{ACCOUNT}:cluster/*"  # the API reference's form
    witness = next(s for s in on_event if _actions(s) == ["dsql:PutWitnessRegion"])
    assert f"arn:aws:dsql:us-west-2:{ACCOUNT}:cluster/*" in witness["Resource"]
    assert witness["Condition"] == {"StringEquals": {"dsql:WitnessRegion": "us-west-2"}}
    slr = next(s for s in on_event if _actions(s) == ["iam:CreateServiceLinkedRole"])
    assert slr["Condition"] == {"StringEquals": {"iam:AWSServiceName": "dsql.amazonaws.com"}}


def test_the_polling_function_reads_peers_and_deletes_only_its_own() -> None:
    """is_complete reads both clusters, names this one on its peer (the peer resource's owner tag)
    and deletes a cluster a rollback found mid-change (this resource's owner tag); it creates, tags
    and lists nothing."""
    stack = "ecommerce-us-east-2"
    template = default_template(stack)
    is_complete = _role_statements(template, "DsqlClusterProviderIsCompleteRole")
    actions = {a for s in is_complete for a in _actions(s) if a.startswith(("dsql:", "iam:", "kms:"))}
    assert actions == {
        "dsql:GetCluster",
        "dsql:UpdateCluster",
        "dsql:DeleteCluster",
        "dsql:PutMultiRegionProperties",
        "dsql:AddPeerCluster",
        "dsql:PutWitnessRegion",
    }
    update = next(s for s in is_complete if _actions(s) == ["dsql:UpdateCluster"])
    peer_owner = update["Condition"]["StringEquals"]["aws:ResourceTag/ecommerce:owner"]
    peer_template = default_template("ecommerce-us-east-1")
    assert peer_owner == _resolve_owner(_owner("ecommerce-us-east-1", peer_template), "ecommerce-us-east-1")
    assert update["Resource"] == f"arn:aws:dsql:us-east-1:{ACCOUNT}:cluster/*"
    delete = next(s for s in is_complete if _actions(s) == ["dsql:DeleteCluster"])
    own = _resolve_owner(_owner(stack, template), stack)
    assert (
        _resolve_owner(delete["Condition"]["StringEquals"]["aws:ResourceTag/ecommerce:owner"], stack) == own
    )


def test_function_roles_are_outputs_for_role_mapping() -> None:
    outputs = default_template("ecommerce-us-east-1").to_json()["Outputs"]
    assert {"CatalogRoleArn", "OrdersRoleArn", "ClusterEndpoint", "EcommerceApiEndpoint"} <= set(outputs)


def test_routes_cover_the_shop() -> None:
    template = default_template("ecommerce-us-east-1")
    paths = {
        r["Properties"]["PathPart"] for r in template.find_resources("AWS::ApiGateway::Resource").values()
    }
    assert paths == {
        "products", "customers", "orders", "health", "{product_id}", "{customer_id}", "{order_id}",
        "cancel", "me",
    }  # fmt: skip
    methods = template.find_resources("AWS::ApiGateway::Method")
    assert all(m["Properties"]["RequestValidatorId"] for m in methods.values())


def _resource_paths(template: Template) -> dict[str, str]:
    resources = template.find_resources("AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = path(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {logical_id: path(logical_id) for logical_id in resources}


def test_every_resource_answers_every_method_lambda_or_405() -> None:
    """Defined methods (GET with HEAD) reach the function; every other method is API Gateway's 405."""
    template = default_template("ecommerce-us-east-1")
    paths = _resource_paths(template)
    seen: dict[tuple[str, str], str] = {}
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        path = paths[props["ResourceId"]["Ref"]]
        seen[(path, props["HttpMethod"])] = props["Integration"]["Type"]
        if props["Integration"]["Type"] == "MOCK":
            # The same answer the local runtime gives (ecommerce_dev.apigw.method_not_allowed_result).
            (answer,) = props["Integration"]["IntegrationResponses"]
            assert answer["ResponseTemplates"]["application/json"] == contract.method_not_allowed_body(path)
            assert (
                answer["ResponseParameters"]["method.response.header.Allow"]
                == f"'{contract.allow_header(path)}'"
            )
    expected_paths = contract.methods_by_path()
    assert {path for path, _ in seen} == set(expected_paths)
    for (path, verb), integration in seen.items():
        allowed = expected_paths[path]
        assert integration == ("AWS_PROXY" if verb in allowed else "MOCK"), (path, verb)
    assert len(seen) == len(expected_paths) * len(contract.HTTP_METHODS)


def test_gateway_answers_are_problem_json() -> None:
    template = default_template("ecommerce-us-east-1")
    responses = template.find_resources("AWS::ApiGateway::GatewayResponse")
    kinds = {r["Properties"]["ResponseType"]: r["Properties"] for r in responses.values()}
    assert kinds["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED", "REQUEST_TOO_LARGE"} <= set(kinds)
    for props in kinds.values():
        headers = props["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        assert headers["gatewayresponse.header.X-Serving-Region"] == "'us-east-1'"
        json.loads(props["ResponseTemplates"]["application/json"].replace("$context.error.message", "m"))


# ---- identity: who may call which method ----------------------------------------------------------


def _methods_by_route(template: Template) -> dict[tuple[str, str], dict[str, Any]]:
    paths = _resource_paths(template)
    return {
        (paths[m["Properties"]["ResourceId"]["Ref"]], m["Properties"]["HttpMethod"]): m["Properties"]
        for m in template.find_resources("AWS::ApiGateway::Method").values()
    }


@pytest.mark.parametrize("region", REGIONS)
def test_every_method_has_the_authorization_of_its_route(region: str) -> None:
    """The access column of handlers.contract.ROUTES (also the matrix's and OpenAPI's) decides."""
    template = default_template(f"ecommerce-{region}")
    methods = _methods_by_route(template)
    assert not [key for key in methods if key[1] == "ANY"], "no ANY proxies"
    (authorizer_id,) = template.find_resources("AWS::ApiGateway::Authorizer")
    for route in contract.ROUTES:
        for verb in (route.method, "HEAD") if route.method == "GET" else (route.method,):
            props = methods[(route.path, verb)]
            if route.access == contract.ANONYMOUS:
                assert props["AuthorizationType"] == "NONE", (route.operation, verb)
                assert "AuthorizerId" not in props
            else:
                assert props["AuthorizationType"] == "COGNITO_USER_POOLS", (route.operation, verb)
                assert props["AuthorizerId"] == {"Ref": authorizer_id}
                assert not props.get("AuthorizationScopes"), "scopes would make it want access tokens"
    routed = {(r.path, r.method) for r in contract.ROUTES}
    for (path, verb), props in methods.items():
        if props["Integration"]["Type"] == "MOCK":
            assert (path, verb) not in routed and props["AuthorizationType"] == "NONE"


def test_both_regions_trust_the_one_user_pool_of_the_primary_stack() -> None:
    primary, second = default_template("ecommerce-us-east-1"), default_template("ecommerce-us-east-2")
    primary.resource_count_is("AWS::Cognito::UserPool", 2)  # customers', operators'
    second.resource_count_is("AWS::Cognito::UserPool", 0)
    pools = primary.find_resources("AWS::Cognito::UserPool")
    (pool_id,) = [p for p in pools if "OperatorPool" not in p]
    (operator_pool_id,) = [p for p in pools if "OperatorPool" in p]
    primary.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {"Type": "COGNITO_USER_POOLS",
         "ProviderARNs": [{"Fn::GetAtt": [pool_id, "Arn"]}, {"Fn::GetAtt": [operator_pool_id, "Arn"]}],
         "IdentitySource": "method.request.header.Authorization"},
    )  # fmt: skip
    (authorizer,) = second.find_resources("AWS::ApiGateway::Authorizer").values()
    arns = authorizer["Properties"]["ProviderARNs"]
    assert len(arns) == 2
    for arn in arns:
        assert arn["Fn::GetStackOutput"]["StackName"] == "ecommerce-us-east-1"
        assert arn["Fn::GetStackOutput"]["Region"] == "us-east-1"
    # Every API function knows the operators' pool by its issuer (both regions).
    for template in (primary, second):
        for function in template.find_resources("AWS::Lambda::Function").values():
            if function["Properties"].get("Handler", "").startswith("handlers.api"):
                issuer = function["Properties"]["Environment"]["Variables"]["OPERATOR_ISSUER"]
                assert "Fn::Join" in issuer and "https://" in json.dumps(issuer), issuer


def test_the_user_pool_and_its_clients() -> None:
    template = default_template("ecommerce-us-east-1")
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "DeletionProtection": "ACTIVE",
                    "UsernameAttributes": ["email"],
                    "AutoVerifiedAttributes": ["email"],
                    "MfaConfiguration": "OPTIONAL",
                    "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                    "UserPoolTier": "PLUS",
                    "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
                    "AccountRecoverySetting": {
                        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
                    },
                    "Policies": {
                        "PasswordPolicy": Match.object_like(
                            {"MinimumLength": 12, "RequireUppercase": True, "RequireNumbers": True,
                             "RequireSymbols": True, "RequireLowercase": True}
                        )
                    },
                }
            ),
        },
    )  # fmt: skip
    clients = [c["Properties"] for c in template.find_resources("AWS::Cognito::UserPoolClient").values()]
    storefront = next(c for c in clients if c.get("AllowedOAuthFlows"))
    tools = next(c for c in clients if not c.get("AllowedOAuthFlows"))
    assert storefront["AllowedOAuthFlows"] == ["code"]  # no implicit grant
    assert storefront["GenerateSecret"] is False
    assert "aws.cognito.signin.user.admin" not in storefront["AllowedOAuthScopes"]
    assert storefront["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert storefront["PreventUserExistenceErrors"] == "ENABLED"
    assert (storefront["IdTokenValidity"], storefront["TokenValidityUnits"]["IdToken"]) == (60, "minutes")
    assert tools["ExplicitAuthFlows"] == ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    # A changed email stays unverified and inactive until confirmed: the token keeps the original.
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]}},
    )
    template.resource_count_is("AWS::Cognito::UserPoolGroup", 0)  # groups grant nothing
    (operators,) = [
        p["Properties"]
        for logical_id, p in template.find_resources("AWS::Cognito::UserPool").items()
        if "OperatorPool" in logical_id
    ]
    assert operators["MfaConfiguration"] == "ON"
    assert operators["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert operators["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert operators["UserAttributeUpdateSettings"] == {
        "AttributesRequireVerificationBeforeUpdate": ["email"]
    }
    assert operators["DeletionProtection"] == "ACTIVE"
    outputs = template.to_json()["Outputs"]
    assert {"UserPoolId", "UserPoolArn", "StorefrontClientId", "ToolsClientId", "OperatorPoolId",
            "OperatorClientId"} <= set(outputs)  # fmt: skip


def test_a_401_from_the_gateway_is_a_problem_with_the_authorizers_message() -> None:
    template = default_template("ecommerce-us-east-2")
    responses = template.find_resources("AWS::ApiGateway::GatewayResponse").values()
    kinds = {r["Properties"]["ResponseType"]: r["Properties"] for r in responses}
    unauthorized = kinds["UNAUTHORIZED"]
    assert unauthorized["StatusCode"] == "401"
    assert unauthorized["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    body = unauthorized["ResponseTemplates"]["application/json"]
    # The local runtime answers the same document with the same messages (ecommerce_dev.apigw).
    assert body == contract.unauthenticated_body("$context.error.message")
    assert kinds["ACCESS_DENIED"]["StatusCode"] == "403"


def test_functions_reserve_concurrency_from_configuration() -> None:
    config = validate_config(
        {"lambda": {"reserved_concurrency": {"products": 20, "orders": 40, "browse": 10}}}
    )
    template = Template.from_stack(build_app(config).regional["us-east-1"])
    reserved = {
        f["Properties"]["Handler"]: f["Properties"].get("ReservedConcurrentExecutions")
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("handlers.api")
    }
    assert reserved == {
        "handlers.api.browse.handler": 10,
        "handlers.api.catalog.handler": 20,
        "handlers.api.orders.handler": 40,
    }
    default = default_template("ecommerce-us-east-1").find_resources("AWS::Lambda::Function").values()
    assert not any("ReservedConcurrentExecutions" in f["Properties"] for f in default)
    # A new account's quota may not allow any reservation: synth says which quota to check.
    warnings = Annotations.from_stack(build_app(config).regional["us-east-1"]).find_warning(
        "*", Match.string_like_regexp("L-B99A9384")
    )
    assert len(warnings) == 3
    assert not Annotations.from_stack(default_app().regional["us-east-1"]).find_warning(
        "*", Match.string_like_regexp("L-B99A9384")
    )


def test_every_function_takes_the_configured_architecture() -> None:
    """Custom resources included: one app with x86_64 and arm64 functions must not share a bundle."""
    app = build_app(validate_config({"lambda": {"architecture": "x86_64"}}))
    for stack in app.stacks:
        if stack is app.edge:
            continue  # CloudFront only: its health checkers have their own stacks
        functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
        python = [f["Properties"] for f in functions if f["Properties"]["Runtime"].startswith("python")]
        assert python
        assert {tuple(p.get("Architectures", ["x86_64"])) for p in python} == {("x86_64",)}, stack.stack_name


def test_cluster_tags_dsql_would_refuse_fail_at_synth() -> None:
    stack = Stack(App(), "shop", env={"account": ACCOUNT, "region": "us-east-1"})
    with pytest.raises(ValueError, match=r"tag 'Team': value 'shop, payments' may hold only"):
        DsqlCluster(stack, "Db", tags={"Team": "shop, payments"})
    with pytest.raises(ValueError, match="'aws:' prefix is reserved"):
        DsqlCluster(stack, "Db2", tags={"aws:owner": "x"})


def test_tags_added_later_reach_the_cluster_and_obey_dsqls_rules() -> None:
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "shop", env={"account": ACCOUNT, "region": "us-east-1"})
    cluster = DsqlCluster(stack, "Db")
    Tags.of(cluster).add("CostCenter", "42")
    (resource,) = Template.from_stack(stack).find_resources("Custom::DsqlCluster").values()
    assert resource["Properties"]["Tags"] == {"Name": "shop/Db", "CostCenter": "42"}
    other = App(context={"aws:cdk:bundling-stacks": []})
    DsqlCluster(Stack(other, "shop", env={"account": ACCOUNT, "region": "us-east-1"}), "Db")
    Tags.of(other).add("Team", "shop, payments")
    with pytest.raises(RuntimeError, match=r"value 'shop, payments' may hold only"):
        other.synth()


def test_a_pool_of_your_own_is_trusted_everywhere_and_none_is_created() -> None:
    arn = "arn:aws:cognito-idp:eu-west-1:111111111111:userpool/eu-west-1_AbCdEf123"
    app = build_app(validate_config({"identity": {"user_pool_arn": arn}}))
    for stack in app.regional.values():
        template = Template.from_stack(stack)
        template.resource_count_is("AWS::Cognito::UserPool", 0)
        template.has_resource_properties("AWS::ApiGateway::Authorizer", {"ProviderARNs": [arn]})


def test_an_imported_operators_pool_is_the_functions_operator_issuer() -> None:
    # aws-cdk-lib's imported pool (fromUserPoolArn) has no userPoolProviderUrl: the issuer must come
    # from userPoolProviderName, which owned and imported pools both have.
    users = "arn:aws:cognito-idp:eu-west-1:111111111111:userpool/eu-west-1_AbCdEf123"
    operators = "arn:aws:cognito-idp:eu-west-1:111111111111:userpool/eu-west-1_OpErAt456"
    app = build_app(validate_config({"identity": {"user_pool_arn": users, "operator_pool_arn": operators}}))
    for stack in app.regional.values():
        template = Template.from_stack(stack)
        template.resource_count_is("AWS::Cognito::UserPool", 0)
        template.has_resource_properties("AWS::ApiGateway::Authorizer", {"ProviderARNs": [users, operators]})
        issuers = [
            function["Properties"]["Environment"]["Variables"]["OPERATOR_ISSUER"]
            for function in template.find_resources("AWS::Lambda::Function").values()
            if "OPERATOR_ISSUER" in function["Properties"].get("Environment", {}).get("Variables", {})
        ]
        expected = {
            "Fn::Join": [
                "",
                ["https://cognito-idp.eu-west-1.", {"Ref": "AWS::URLSuffix"}, "/eu-west-1_OpErAt456"],
            ]
        }
        assert issuers and all(issuer == expected for issuer in issuers), issuers


def test_edge_reads_the_api_domain_through_a_weak_reference() -> None:
    edge = json.dumps(default_template("ecommerce-edge").to_json())
    assert '"Fn::GetStackOutput"' in edge
    assert "Fn::ImportValue" not in edge
    regional = default_template("ecommerce-us-east-1").to_json()
    assert not any("Export" in output for output in regional["Outputs"].values())


def test_every_taggable_resource_carries_config_tags() -> None:
    for stack in default_app().stacks:
        resources = Template.from_stack(stack).to_json()["Resources"]
        for logical_id, resource in resources.items():
            tags = resource.get("Properties", {}).get("Tags")
            if tags is None:
                continue
            if resource["Type"] in ("Custom::DsqlCluster", "Custom::DsqlStream"):  # maps, for DSQL
                assert tags["Project"] == "ecommerce", logical_id
                continue
            assert {"Key": "Project", "Value": "ecommerce"} in tags, logical_id
        taggable = [r for r in resources.values() if "Tags" in r.get("Properties", {})]
        assert taggable, stack.stack_name


def test_single_region_without_edge() -> None:
    config = validate_config({"regions": ["eu-west-1"], "edge": {"enabled": False}})
    app = build_app(config)
    assert [stack.stack_name for stack in app.stacks] == ["ecommerce-eu-west-1"]
    template = Template.from_stack(app.regional["eu-west-1"])
    cluster = next(iter(template.find_resources("Custom::DsqlCluster").values()))
    assert "WitnessRegion" not in cluster["Properties"]
    assert "PeerArn" not in cluster["Properties"]
    template.resource_count_is("Custom::DatabaseSetup", 1)  # the only stack completes the topology


def test_adopting_existing_clusters_and_kms() -> None:
    identifier = "abcdefghijklmnopqrstuvwxyz"
    config = validate_config(
        {
            "database": {
                "existing_cluster_identifiers": {"us-east-2": identifier},
                "kms_key_arns": {"us-east-1": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab"},
                "removal_policy": "destroy",
            }
        }
    )
    app = build_app(config)
    adopted = Template.from_stack(app.regional["us-east-2"])
    adopted.resource_count_is("Custom::DsqlCluster", 0)
    assert f"cluster/{identifier}" in json.dumps(adopted.to_json())
    adopted.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like({"DSQL_ENDPOINT": f"{identifier}.dsql.us-east-2.on.aws"})
            }
        },
    )
    created = Template.from_stack(app.regional["us-east-1"])
    created.has_resource_properties(
        "Custom::DsqlCluster",
        {"KmsKey": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab", "RemovalPolicy": "destroy"},
    )


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"peer": "other"}, "a peer needs a witness_region"),
        ({"witness_region": "us-east-1"}, "witness region must differ"),
        ({"witness_region": "us-west-2", "peer": "same-region"}, "another region"),
        ({"removal_policy": "snapshot"}, "RETAIN or DESTROY"),
    ],
)
def test_impossible_clusters_fail_at_synth_with_a_fix(props: dict[str, Any], message: str) -> None:
    from aws_cdk import Environment, RemovalPolicy

    stack = Stack(App(), "S", env=Environment(account=ACCOUNT, region="us-east-1"))
    resolved = dict(props)
    if props.get("peer") == "other":
        resolved["peer"] = DsqlCluster.from_cluster_attributes(
            stack, "Other", cluster_identifier="a" * 26, cluster_region="us-east-2"
        )
    elif props.get("peer") == "same-region":
        resolved["peer"] = DsqlCluster.from_cluster_identifier(stack, "Same", "b" * 26)
    if props.get("removal_policy") == "snapshot":
        resolved["removal_policy"] = RemovalPolicy.SNAPSHOT
    with pytest.raises(ValueError, match=message):
        DsqlCluster(stack, "Db", **resolved)


def test_constructs_expose_grants_and_metrics() -> None:
    stack = Stack(App(), "S", env={"region": "us-east-1", "account": ACCOUNT})
    cluster = DsqlCluster(stack, "Db", cluster_name="x")
    api = EcommerceApi(stack, "Api", cluster=cluster, code=_inline_code(), monitoring=False)
    assert cluster.metric_occ_conflicts().metric_name == "OccConflicts"
    assert cluster.metric_commit_latency().namespace == "AWS/AuroraDSQL"
    assert api.metric_server_errors().metric_name == "5XXError"
    assert api.alarms == []
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Alarm", 0)
    assert set(api.functions) == {"Browse", "Catalog", "Orders"}


def test_role_names_differ_per_region_and_stack_name_for_the_same_construct_ids() -> None:
    # IAM role names are account-global: one app deployed to two regions, or two apps sharing
    # construct ids under other stack names, must not claim the same names.
    from ecommerce_constructs import DatabaseSetup

    def role_names(region: str, stack_name: str | None = None) -> set[str]:
        app = App(context={"aws:cdk:bundling-stacks": []})
        stack = Stack(app, "Shop", stack_name=stack_name, env=Environment(account=ACCOUNT, region=region))
        cluster = DsqlCluster(stack, "Db")
        api = EcommerceApi(stack, "Api", cluster=cluster, code=_inline_code(), monitoring=False)
        setup = DatabaseSetup(stack, "Setup", cluster=cluster, function_roles={"catalog": []})
        assert len(setup.admin_role_names) == 2 and len(api.functions) == 3
        roles = Template.from_stack(stack).find_resources("AWS::IAM::Role").values()
        named = {role["Properties"]["RoleName"] for role in roles if "RoleName" in role["Properties"]}
        assert set(setup.admin_role_names) <= named
        assert all(isinstance(name, str) and len(name) <= 64 for name in named), named
        return named

    east, west = role_names("us-east-1"), role_names("us-west-2")
    assert len(east) == 5
    assert east.isdisjoint(west)
    assert east.isdisjoint(role_names("us-east-1", stack_name="other-shop"))
    assert east == role_names("us-east-1")  # deterministic


def _inline_code() -> Any:
    from aws_cdk import aws_lambda as lambda_

    return lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


def test_a_cluster_needs_no_props() -> None:
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack = Stack(app, "shop")
    DsqlCluster(stack, "Db")
    Template.from_stack(stack).has_resource_properties(
        "Custom::DsqlCluster", {"Tags": {"Name": "shop/Db"}, "DeletionProtection": "true"}
    )


def test_the_lifecycle_tag_conditions_can_be_switched_off_as_a_fallback() -> None:
    def tag_conditions(**props: Any) -> list[str]:
        stack = Stack(
            App(context={"aws:cdk:bundling-stacks": []}),
            "shop",
            env={"account": ACCOUNT, "region": "us-east-1"},
        )
        DsqlCluster(stack, "Db", **props)
        text = json.dumps(Template.from_stack(stack).find_resources("AWS::IAM::Policy"))
        return [key for key in ("aws:ResourceTag/", "aws:RequestTag/", "aws:TagKeys") if key in text]

    assert tag_conditions() == ["aws:ResourceTag/", "aws:RequestTag/", "aws:TagKeys"]
    assert tag_conditions(tag_conditions=False) == []


def test_an_owner_longer_than_a_dsql_tag_value_fails_at_synth() -> None:
    stack = Stack(App(), "s" * 128, env={"account": ACCOUNT, "region": "us-east-1"})
    with pytest.raises(ValueError, match="256 characters"):
        DsqlCluster(stack, "D" * 200)
