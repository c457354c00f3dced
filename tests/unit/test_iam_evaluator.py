"""The IAM evaluator of tests/fakes/iam.py (semantics from the IAM User Guide pages its docstring cites),
what each DSQL call is authorized as, and the fake DSQL control plane enforcing it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fakes.dsql_control_plane import FakeDsql
from fakes.iam import AuthRequest, Policy, dsql_requests, resolve, role_policy

ACCOUNT = "123456789012"
EAST1, EAST2, WITNESS = "us-east-1", "us-east-2", "us-west-2"
ID, PEER_ID, OLD_ID, NEW_ID = "a" * 26, "b" * 26, "c" * 26, "n" * 26
ARN = f"arn:aws:dsql:{EAST1}:{ACCOUNT}:cluster/{ID}"
NEW = f"arn:aws:dsql:{EAST1}:{ACCOUNT}:cluster/{NEW_ID}"
PEER = f"arn:aws:dsql:{EAST2}:{ACCOUNT}:cluster/{PEER_ID}"
OLD_PEER = f"arn:aws:dsql:{EAST2}:{ACCOUNT}:cluster/{OLD_ID}"
ALL_EAST1 = f"arn:aws:dsql:{EAST1}:{ACCOUNT}:cluster/*"
MANAGED = "ecommerce:managed-by"


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.of({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any = "dsql:GetCluster", resource: Any = ARN, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def when(condition: dict[str, Any], context: dict[str, Any], *, action: str = "dsql:GetCluster") -> bool:
    """Whether an Allow of `action` on ARN under `condition` allows the request with `context`."""
    return policy(allow(Condition=condition)).allows(action, ARN, context)


# ------------------------------------------------------------------------- evaluation logic
def test_an_allow_allows_and_anything_else_is_implicitly_denied() -> None:
    p = policy(allow())
    assert p.allows("dsql:GetCluster", ARN, {})
    assert not p.allows("dsql:DeleteCluster", ARN, {})
    assert not p.allows("dsql:GetCluster", PEER, {})
    assert p.explain("dsql:GetCluster", ARN, {}) == "allowed by document 0[0]"
    assert p.explain("dsql:DeleteCluster", ARN, {}).startswith("no statement allows dsql:DeleteCluster on ")
    assert not Policy(()).allows("dsql:GetCluster", ARN, {})


@pytest.mark.parametrize("deny_first", [True, False])
def test_an_explicit_deny_wins_wherever_it_stands(deny_first: bool) -> None:
    deny = {"Effect": "Deny", "Action": "dsql:*", "Resource": ARN, "Sid": "NoThisOne"}
    statements = [deny, allow("*", "*")] if deny_first else [allow("*", "*"), deny]
    p = policy(*statements)
    assert not p.allows("dsql:GetCluster", ARN, {})
    assert p.decide("dsql:GetCluster", ARN, {}).explicit_deny
    assert "explicitly denied by" in p.explain("dsql:GetCluster", ARN, {})
    assert "NoThisOne" in p.explain("dsql:GetCluster", ARN, {})
    assert p.allows("dsql:GetCluster", PEER, {})  # the Deny's resource does not match


def test_a_deny_whose_condition_fails_does_not_deny() -> None:
    deny = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}},
    }
    p = policy(allow(), deny)
    assert p.allows("dsql:GetCluster", ARN, {"aws:ResourceTag/env": "dev"})
    assert not p.allows("dsql:GetCluster", ARN, {"aws:ResourceTag/env": "prod"})


def test_actions_match_case_insensitively_with_both_wildcards() -> None:
    assert policy(allow("DSQL:get*")).allows("dsql:GetCluster", ARN, {})
    assert policy(allow("dsql:Get?luster")).allows("dsql:GetCluster", ARN, {})
    assert not policy(allow("dsql:Get?uster")).allows("dsql:GetCluster", ARN, {})
    assert not policy(allow(["dsql:List*", "dsql:Delete*"])).allows("dsql:GetCluster", ARN, {})
    assert policy(allow(["dsql:List*", "dsql:getcluster"])).allows("dsql:GetCluster", ARN, {})


def test_not_action_allows_every_action_but_the_listed() -> None:
    p = policy({"Effect": "Allow", "NotAction": ["dsql:Delete*", "iam:*"], "Resource": "*"})
    assert p.allows("dsql:GetCluster", ARN, {})
    assert not p.allows("dsql:DeleteCluster", ARN, {})
    assert not p.allows("IAM:CreateServiceLinkedRole", ARN, {})


def test_resources_match_case_sensitively_with_wildcards_inside_a_segment() -> None:
    assert policy(allow(resource=ALL_EAST1)).allows("dsql:GetCluster", ARN, {})
    assert not policy(allow(resource=ALL_EAST1)).allows("dsql:GetCluster", PEER, {})
    assert not policy(allow(resource=ALL_EAST1.replace("cluster", "Cluster"))).allows(
        "dsql:GetCluster", ARN, {}
    )
    assert policy(allow(resource=ARN[:-1] + "?")).allows("dsql:GetCluster", ARN, {})
    assert policy(allow(resource="*")).allows("dsql:GetCluster", ARN, {})
    assert policy(allow(resource=f"arn:aws:dsql:us-*-1:{ACCOUNT}:cluster/*")).allows(
        "dsql:GetCluster", ARN, {}
    )
    # A * inside a segment stops at colons; one that ends a segment may reach past them (IAM: Resource).
    odd = f"arn:aws:dsql:us-east-1:x2:{ACCOUNT}:cluster/{ID}"
    assert not policy(allow("x:Y", f"arn:aws:dsql:us-*2:{ACCOUNT}:cluster/{ID}")).allows("x:Y", odd, {})
    assert policy(allow("x:Y", f"arn:aws:dsql:*:{ACCOUNT}:cluster/{ID}")).allows("x:Y", odd, {})


def test_not_resource_covers_everything_but_the_listed() -> None:
    p = policy({"Effect": "Allow", "Action": "dsql:GetCluster", "NotResource": ARN})
    assert not p.allows("dsql:GetCluster", ARN, {})
    assert p.allows("dsql:GetCluster", PEER, {})


def test_an_unresolved_resource_never_matches_a_real_arn() -> None:
    unresolved = "<unresolved:Fn::GetAtt:Cluster.Arn>"
    assert not policy(allow(resource=unresolved)).allows("dsql:GetCluster", ARN, {})
    assert not policy(allow(resource=f"{unresolved}*")).allows("dsql:GetCluster", ARN, {})
    # ...so a NotResource of it excludes nothing.
    p = policy({"Effect": "Allow", "Action": "dsql:GetCluster", "NotResource": unresolved})
    assert p.allows("dsql:GetCluster", ARN, {})


def test_identity_policy_statements_are_validated() -> None:
    with pytest.raises(ValueError, match="Principal"):
        policy(allow(Principal={"AWS": "*"}))
    with pytest.raises(ValueError, match="Resource"):
        policy({"Effect": "Allow", "Action": "dsql:GetCluster"})
    with pytest.raises(ValueError, match="Action"):
        policy({"Effect": "Allow", "Action": "a:B", "NotAction": "a:C", "Resource": "*"})
    with pytest.raises(ValueError, match="Effect"):
        policy({"Effect": "allow", "Action": "a:B", "Resource": "*"})


# --------------------------------------------------------------------------------- conditions
def test_string_equals_values_or_and_are_case_sensitive_while_keys_are_not() -> None:
    condition = {"StringEquals": {"aws:ResourceTag/Env": ["dev", "test"]}}
    assert when(condition, {"aws:ResourceTag/Env": "dev"})
    assert when(condition, {"aws:ResourceTag/Env": "test"})
    assert when(condition, {"AWS:resourcetag/env": "dev"})  # condition key names are case-insensitive
    assert not when(condition, {"aws:ResourceTag/Env": "Dev"})  # values are not
    assert not when(condition, {"aws:ResourceTag/Env": "prod"})
    assert not when(condition, {})  # an absent key makes a condition false


def test_string_not_equals_is_a_nor_of_values_and_true_on_an_absent_key() -> None:
    condition = {"StringNotEquals": {"aws:ResourceTag/Env": ["dev", "test"]}}
    assert when(condition, {"aws:ResourceTag/Env": "prod"})
    assert not when(condition, {"aws:ResourceTag/Env": "dev"})
    assert not when(condition, {"aws:ResourceTag/Env": "test"})
    assert when(condition, {})  # the negated operators are true when the key is absent


def test_ignore_case_variants() -> None:
    assert when({"StringEqualsIgnoreCase": {"k": "DEV"}}, {"k": "dev"})
    assert not when({"StringNotEqualsIgnoreCase": {"k": "DEV"}}, {"k": "dev"})


def test_string_like_and_not_like_use_both_wildcards() -> None:
    assert when({"StringLike": {"k": "ecom*-?"}}, {"k": "ecommerce-1"})
    assert not when({"StringLike": {"k": "ecom*-?"}}, {"k": "ecommerce-12"})
    assert not when({"StringLike": {"k": "Ecom*"}}, {"k": "ecommerce"})
    assert not when({"StringLike": {"k": "ecom*"}}, {})
    assert not when({"StringNotLike": {"k": ["ecom*", "shop*"]}}, {"k": "shop-1"})
    assert when({"StringNotLike": {"k": ["ecom*", "shop*"]}}, {"k": "other"})
    assert when({"StringNotLike": {"k": "ecom*"}}, {})


@pytest.mark.parametrize("operator", ["ArnEquals", "ArnLike"])
def test_arn_operators_compare_the_six_components_each_with_wildcards(operator: str) -> None:
    key = "aws:SourceArn"
    assert when({operator: {key: f"arn:aws:dsql:*:{ACCOUNT}:cluster/*"}}, {key: PEER})
    assert not when({operator: {key: f"arn:aws:dsql:*:{ACCOUNT}:cluster/*"}}, {key: "arn:aws:s3:::bucket"})
    assert not when({operator: {key: "arn:aws:*"}}, {key: PEER})  # not six components
    assert not when({operator: {key: "arn:*:dsql:us-*:111111111111:cluster/*"}}, {key: PEER})
    assert not when({operator: {key: ARN}}, {})
    not_operator = operator.replace("Arn", "ArnNot")
    assert when({not_operator: {key: ARN}}, {})
    assert when({not_operator: {key: ARN}}, {key: PEER})
    assert not when({not_operator: {key: f"arn:aws:dsql:*:{ACCOUNT}:cluster/*"}}, {key: PEER})


def test_bool_compares_true_and_false_whatever_their_case_or_json_type() -> None:
    assert when({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"})
    assert when({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "TRUE"})
    assert not when({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"})
    assert not when({"Bool": {"aws:SecureTransport": "true"}}, {})
    assert when({"BoolIfExists": {"aws:SecureTransport": "true"}}, {})


def test_null_checks_whether_the_key_is_absent() -> None:
    assert when({"Null": {"aws:RequestTag/x": "true"}}, {})
    assert not when({"Null": {"aws:RequestTag/x": "true"}}, {"aws:RequestTag/x": "1"})
    assert when({"Null": {"aws:RequestTag/x": "false"}}, {"aws:RequestTag/x": "1"})
    assert not when({"Null": {"aws:RequestTag/x": False}}, {})
    assert when({"Null": {"aws:TagKeys": "true"}}, {"aws:TagKeys": []})  # empty counts as absent


def test_if_exists_is_true_on_an_absent_key_and_checks_a_present_one() -> None:
    condition = {"StringEqualsIfExists": {"dsql:WitnessRegion": WITNESS}}
    assert when(condition, {})
    assert when(condition, {"dsql:WitnessRegion": WITNESS})
    assert not when(condition, {"dsql:WitnessRegion": "eu-west-1"})
    assert when({"StringNotEqualsIfExists": {"k": "a"}}, {})
    assert not when({"StringNotEqualsIfExists": {"k": "a"}}, {"k": "a"})
    assert when({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "a"}}, {})


def test_for_all_values_needs_every_request_value_matched_and_is_true_without_the_key() -> None:
    condition = {"ForAllValues:StringEquals": {"aws:TagKeys": ["Name", "Project"]}}
    assert when(condition, {"aws:TagKeys": ["Name"]})
    assert when(condition, {"aws:TagKeys": ["Name", "Project"]})
    assert not when(condition, {"aws:TagKeys": ["Name", "Owner"]})
    assert when(condition, {})  # absent: true
    assert when(condition, {"aws:TagKeys": []})  # empty: true
    negated = {"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}}
    assert when(negated, {"aws:TagKeys": ["Name", "Project"]})
    assert not when(negated, {"aws:TagKeys": ["Name", "aws:x"]})


def test_for_any_value_needs_one_request_value_matched_and_is_false_without_the_key() -> None:
    condition = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Name", "Project"]}}
    assert when(condition, {"aws:TagKeys": ["Owner", "Project"]})
    assert not when(condition, {"aws:TagKeys": ["Owner"]})
    assert not when(condition, {})
    assert not when(condition, {"aws:TagKeys": []})
    negated = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "Name"}}
    assert when(negated, {"aws:TagKeys": ["Name", "Owner"]})
    assert not when(negated, {"aws:TagKeys": ["Name"]})


def test_an_unqualified_operator_on_a_multivalued_key_is_an_any_match() -> None:
    """Assumed (AWS only says to qualify multivalued keys): any value matches; negated, none does."""
    assert when({"StringEquals": {"aws:TagKeys": "Name"}}, {"aws:TagKeys": ["Owner", "Name"]})
    assert not when({"StringEquals": {"aws:TagKeys": "Name"}}, {"aws:TagKeys": ["Owner"]})
    assert not when({"StringNotEquals": {"aws:TagKeys": "Name"}}, {"aws:TagKeys": ["Owner", "Name"]})


def test_keys_and_operators_of_a_block_are_anded() -> None:
    condition = {
        "StringEquals": {"aws:RequestTag/a": "1", "aws:RequestTag/b": "2"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
    }
    assert when(condition, {"aws:RequestTag/a": "1", "aws:RequestTag/b": "2", "aws:TagKeys": ["a", "b"]})
    assert not when(condition, {"aws:RequestTag/a": "1", "aws:RequestTag/b": "3", "aws:TagKeys": ["a", "b"]})
    assert not when(condition, {"aws:RequestTag/a": "1", "aws:RequestTag/b": "2", "aws:TagKeys": ["a", "c"]})


def test_a_failed_condition_is_explained() -> None:
    p = policy(allow(Condition={"StringEquals": {f"aws:ResourceTag/{MANAGED}": "ecommerce-constructs"}}))
    why = p.explain("dsql:GetCluster", ARN, {f"aws:ResourceTag/{MANAGED}": "someone-else"})
    assert f"StringEquals aws:ResourceTag/{MANAGED} ['ecommerce-constructs']" in why
    assert "someone-else" in why
    assert "key absent" in p.explain("dsql:GetCluster", ARN, {})


def test_an_unimplemented_operator_raises_rather_than_passes() -> None:
    p = policy(allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}}))
    with pytest.raises(ValueError, match="NumericLessThan"):
        p.allows("dsql:GetCluster", ARN, {"s3:max-keys": "5"})
    assert not p.allows("dsql:DeleteCluster", ARN, {})  # only raised where it would decide


def test_an_unresolved_condition_block_never_allows_and_always_denies() -> None:
    block = "<unresolved:Fn::GetAtt:CfnJson.Value>"
    assert not policy(allow(Condition=block)).allows("dsql:GetCluster", ARN, {})
    p = policy(allow(), {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": block})
    assert not p.allows("dsql:GetCluster", ARN, {})


# -------------------------------------------------------------------------------- intrinsics
def test_resolve_pseudo_parameters_refs_joins_and_subs() -> None:
    kwargs: dict[str, Any] = {
        "stack_name": "shop",
        "region": EAST1,
        "account": ACCOUNT,
        "refs": {"Key": "k-1"},
    }
    join = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":dsql:", {"Ref": "AWS::Region"}, ":"]]}
    assert resolve(join, **kwargs) == f"arn:aws:dsql:{EAST1}:"
    assert resolve({"Ref": "AWS::AccountId"}, **kwargs) == ACCOUNT
    assert resolve({"Ref": "AWS::StackName"}, **kwargs) == "shop"
    assert resolve({"Ref": "AWS::URLSuffix"}, **kwargs) == "amazonaws.com"
    assert resolve({"Ref": "AWS::URLSuffix"}, **{**kwargs, "partition": "aws-cn"}) == "amazonaws.com.cn"
    assert resolve({"Ref": "Key"}, **kwargs) == "k-1"
    sub = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${Key} ${!Literal}"
    assert resolve({"Fn::Sub": sub}, **kwargs) == f"arn:aws:kms:{EAST1}:{ACCOUNT}:key/k-1 ${{Literal}}"
    assert resolve({"Fn::Sub": ["${A}-${Key}", {"A": {"Ref": "AWS::Region"}}]}, **kwargs) == f"{EAST1}-k-1"
    split = {"Fn::Split": ["/", "a/b/c"]}
    assert resolve({"Fn::Select": [1, split]}, **kwargs) == "b"
    assert resolve({"Fn::Select": ["2", split]}, **kwargs) == "c"


def test_what_cannot_be_resolved_becomes_an_unresolved_marker() -> None:
    kwargs: dict[str, Any] = {"stack_name": "shop", "region": EAST1, "account": ACCOUNT}
    assert resolve({"Fn::GetAtt": ["Logs", "Arn"]}, **kwargs) == "<unresolved:Fn::GetAtt:Logs.Arn>"
    assert resolve({"Ref": "Unknown"}, **kwargs) == "<unresolved:Ref:Unknown>"
    assert resolve({"Fn::ImportValue": "x"}, **kwargs) == "<unresolved:Fn::ImportValue>"
    assert resolve({"Fn::Sub": "${Cluster.Arn}/*"}, **kwargs) == "<unresolved:Fn::GetAtt:Cluster.Arn>/*"
    joined = resolve({"Fn::Join": [":", ["a", {"Fn::GetAtt": ["X", "Arn"]}]]}, **kwargs)
    assert joined == "a:<unresolved:Fn::GetAtt:X.Arn>"
    assert resolve({"Fn::Select": [0, {"Fn::Split": ["/", {"Ref": "Nope"}]}]}, **kwargs).startswith(
        "<unresolved:"
    )
    nested = {"Resource": [{"Ref": "AWS::NoValue"}, "*"], "Sid": {"Ref": "AWS::NoValue"}}
    assert resolve(nested, **kwargs) == {"Resource": ["*"]}


def cdk_arn(region: str) -> dict[str, Any]:
    """A cluster ARN as CDK writes it for an environment-agnostic account."""
    return {"Fn::Join": ["", [f"arn:aws:dsql:{region}:", {"Ref": "AWS::AccountId"}, ":cluster/*"]]}


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "HandlerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]
                },
                "ManagedPolicyArns": [
                    {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                {"Ref": "AWS::Partition"},
                                ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                            ],
                        ]
                    },
                    {"Ref": "ReadPolicy"},
                ],
                "Policies": [
                    {
                        "PolicyName": "inline",
                        "PolicyDocument": {
                            "Statement": [{"Effect": "Allow", "Action": "dsql:ListClusters", "Resource": "*"}]
                        },
                    }
                ],
            },
        },
        "HandlerRoleDefaultPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "HandlerRoleDefaultPolicy",
                "Roles": [{"Ref": "HandlerRole"}],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Action": ["dsql:DeleteCluster", "dsql:UpdateCluster"],
                            "Effect": "Allow",
                            "Resource": cdk_arn(EAST1),
                            "Condition": {
                                "StringEquals": {f"aws:ResourceTag/{MANAGED}": "ecommerce-constructs"}
                            },
                        },
                        {
                            "Action": "logs:PutLogEvents",
                            "Effect": "Allow",
                            "Resource": {"Fn::GetAtt": ["Logs", "Arn"]},
                        },
                    ]
                },
            },
        },
        "ReadPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "PolicyDocument": {
                    "Statement": [
                        {"Effect": "Allow", "Action": "dsql:GetCluster", "Resource": cdk_arn(EAST1)}
                    ]
                }
            },
        },
        "OtherRolePolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "OtherRolePolicy",
                "Roles": [{"Ref": "OtherRole"}],
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            },
        },
        "OtherRole": {"Type": "AWS::IAM::Role", "Properties": {}},
    }
}


def test_role_policy_gathers_what_the_template_grants_the_role() -> None:
    p = role_policy(TEMPLATE, "HandlerRole", stack_name="shop", region=EAST1, account=ACCOUNT)
    managed = {f"aws:ResourceTag/{MANAGED}": "ecommerce-constructs"}
    assert p.allows("dsql:ListClusters", "*", {})  # inline Policies
    assert p.allows("dsql:UpdateCluster", ARN, managed)  # AWS::IAM::Policy naming the role
    assert not p.allows("dsql:UpdateCluster", ARN, {})
    assert not p.allows("dsql:UpdateCluster", PEER, managed)  # another region
    assert p.allows("dsql:GetCluster", ARN, {})  # the template's managed policy it attaches
    assert not p.allows("dsql:CreateCluster", ARN, {})  # OtherRole's Allow * is not HandlerRole's
    assert not p.allows("logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:x", {})
    assert p.managed_policy_arns == ("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",)
    other = role_policy(TEMPLATE, "OtherRole", stack_name="shop", region=EAST1, account=ACCOUNT)
    assert other.allows("dsql:CreateCluster", ARN, {})
    with pytest.raises(KeyError):
        role_policy(TEMPLATE, "ReadPolicy", stack_name="shop", region=EAST1, account=ACCOUNT)


# ------------------------------------------------------------------------ DSQL authorization
TAGS: dict[str, dict[str, str]] = {ARN: {MANAGED: "ecommerce-constructs"}, PEER: {"Name": "peer"}}
RT = {f"aws:ResourceTag/{MANAGED}": "ecommerce-constructs"}
PEER_RT = {"aws:ResourceTag/Name": "peer"}


def requests(operation: str, params: dict[str, Any], *, peers: list[str] | None = None) -> list[AuthRequest]:
    clusters = {(EAST1, ID): SimpleNamespace(peers=peers or [])}
    return dsql_requests(
        operation,
        params,
        region=EAST1,
        account=ACCOUNT,
        tags_of=TAGS.get,
        cluster_of=lambda region, identifier: clusters.get((region, identifier)),
        new_identifier=NEW_ID,
    )


def r(action: str, resource: str, context: dict[str, Any] | None = None) -> AuthRequest:
    return AuthRequest(f"dsql:{action}", resource, context or {})


def test_create_cluster_single_region_untagged_and_tagged() -> None:
    bare = dsql_requests(
        "CreateCluster", {}, region=EAST1, account=ACCOUNT, tags_of=TAGS.get, cluster_of=lambda *_: None
    )
    assert bare == [r("CreateCluster", f"arn:aws:dsql:{EAST1}:{ACCOUNT}:cluster/newclusteridplaceholder000")]
    tagged = requests("CreateCluster", {"tags": {"Name": "shop", MANAGED: "ecommerce-constructs"}})
    context = {
        "aws:RequestTag/Name": "shop",
        f"aws:RequestTag/{MANAGED}": "ecommerce-constructs",
        "aws:TagKeys": ("Name", MANAGED),
    }
    assert tagged == [r("CreateCluster", NEW, context), r("TagResource", NEW, context)]


def test_create_cluster_multi_region_checks_peers_and_the_witness_in_both_regions() -> None:
    witness_arn = f"arn:aws:dsql:{WITNESS}:{ACCOUNT}:cluster/{NEW_ID}"
    got = requests("CreateCluster", {"multiRegionProperties": {"witnessRegion": WITNESS, "clusters": [PEER]}})
    witness = {"dsql:WitnessRegion": WITNESS}
    assert got == [
        r("CreateCluster", NEW, witness),
        r("PutMultiRegionProperties", NEW),
        r("AddPeerCluster", NEW),
        r("AddPeerCluster", PEER, PEER_RT),  # an existing peer's tags are in the context (assumed)
        r("PutWitnessRegion", NEW, witness),
        r("PutWitnessRegion", witness_arn, witness),
    ]
    witness_only = requests("CreateCluster", {"multiRegionProperties": {"witnessRegion": WITNESS}})
    assert [q.action for q in witness_only] == [
        "dsql:CreateCluster",
        "dsql:PutMultiRegionProperties",
        "dsql:PutWitnessRegion",
        "dsql:PutWitnessRegion",
    ]
    assert [q.action for q in requests("CreateCluster", {"policy": "{}"})] == [
        "dsql:CreateCluster",
        "dsql:PutClusterPolicy",
    ]


def test_update_cluster_carries_the_clusters_tags() -> None:
    assert requests("UpdateCluster", {"identifier": ID, "deletionProtectionEnabled": False}) == [
        r("UpdateCluster", ARN, RT)
    ]


def test_update_cluster_peer_list_adds_every_listed_peer_and_removes_each_omitted_one() -> None:
    witness = {"dsql:WitnessRegion": WITNESS}
    props = {"witnessRegion": WITNESS, "clusters": [PEER, ARN]}  # the own ARN listed is not a peer
    got = requests("UpdateCluster", {"identifier": ID, "multiRegionProperties": props}, peers=[OLD_PEER])
    assert got == [
        r("UpdateCluster", ARN, RT),
        r("PutMultiRegionProperties", ARN, RT),
        r("GetCluster", ARN, RT),
        r("AddPeerCluster", ARN, RT),
        r("AddPeerCluster", PEER, PEER_RT),
        r("RemovePeerCluster", OLD_PEER),
        r("PutWitnessRegion", ARN, {**RT, **witness}),
        r("PutWitnessRegion", f"arn:aws:dsql:{WITNESS}:{ACCOUNT}:cluster/{ID}", witness),
    ]
    # Removing the only peer: no AddPeerCluster at all.
    removing = requests(
        "UpdateCluster", {"identifier": ID, "multiRegionProperties": {"clusters": []}}, peers=[PEER]
    )
    assert [(q.action, q.resource) for q in removing] == [
        ("dsql:UpdateCluster", ARN),
        ("dsql:PutMultiRegionProperties", ARN),
        ("dsql:GetCluster", ARN),
        ("dsql:RemovePeerCluster", PEER),
    ]


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("DeleteCluster", {"identifier": ID}, [r("DeleteCluster", ARN, RT)]),
        ("GetCluster", {"identifier": ID}, [r("GetCluster", ARN, RT)]),
        ("GetVpcEndpointServiceName", {"identifier": ID}, [r("GetVpcEndpointServiceName", ARN, RT)]),
        ("ListClusters", {"maxResults": 5}, [r("ListClusters", "*")]),
        ("ListTagsForResource", {"resourceArn": ARN}, [r("ListTagsForResource", ARN, RT)]),
        (
            "TagResource",
            {"resourceArn": ARN, "tags": {"Owner": "me"}},
            [r("TagResource", ARN, {**RT, "aws:RequestTag/Owner": "me", "aws:TagKeys": ("Owner",)})],
        ),
        (
            "UntagResource",
            {"resourceArn": ARN, "tagKeys": ["Owner", "Name"]},
            [r("UntagResource", ARN, {**RT, "aws:TagKeys": ("Owner", "Name")})],
        ),
        ("GetCluster", {"identifier": "z" * 26}, [r("GetCluster", ARN.replace(ID, "z" * 26))]),  # no tags
    ],
)
def test_each_operation_is_authorized_as_its_action(
    operation: str, params: dict[str, Any], expected: list[AuthRequest]
) -> None:
    assert requests(operation, params) == expected


def test_an_operation_without_a_model_is_refused() -> None:
    with pytest.raises(ValueError, match="StartBackupJob"):
        requests("StartBackupJob", {})


def test_stream_operations_check_the_cluster_or_the_stream_and_pass_the_role_to_dsql() -> None:
    cluster = "abcdefghijklmnopqrstuvwxyz"
    role = "arn:aws:iam::123456789012:role/stream"
    created = requests(
        "CreateStream",
        {"clusterIdentifier": cluster, "targetDefinition": {"kinesis": {"streamArn": "s", "roleArn": role}}},
    )
    arn = f"arn:aws:dsql:us-east-1:123456789012:cluster/{cluster}"
    assert [(r.action, r.resource) for r in created] == [("dsql:CreateStream", arn), ("iam:PassRole", role)]
    assert created[1].context == {"iam:PassedToService": "dsql.amazonaws.com"}
    got = requests("GetStream", {"clusterIdentifier": cluster, "streamIdentifier": "s" * 26})
    assert [(r.action, r.resource) for r in got] == [("dsql:GetStream", f"{arn}/stream/{'s' * 26}")]


# ----------------------------------------------------------------------- the fake, enforcing
HANDLER = "arn:aws:sts::123456789012:assumed-role/OnEventRole/handler"
MANAGED_ONLY = policy(
    allow(["dsql:CreateCluster", "dsql:TagResource", "dsql:GetCluster"], ALL_EAST1),
    allow(
        "dsql:UpdateCluster",
        ALL_EAST1,
        Condition={"StringEquals": {f"aws:ResourceTag/{MANAGED}": "ecommerce-constructs"}},
    ),
)


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return dict(info.value.response)


def test_enforcement_denies_an_update_unless_the_resource_tag_condition_matches() -> None:
    fake = FakeDsql(ACCOUNT)
    client = fake.client(EAST1)
    ours = client.create_cluster(tags={MANAGED: "ecommerce-constructs"})["identifier"]
    theirs = client.create_cluster(tags={MANAGED: "someone-else"})["identifier"]
    fake.settle()
    fake.enforce({HANDLER: MANAGED_ONLY})
    with fake.acting_as(HANDLER):
        client.update_cluster(identifier=ours, deletionProtectionEnabled=False)
        response = error_of(client.update_cluster, identifier=theirs, deletionProtectionEnabled=False)
    arn = fake.cluster(EAST1, theirs).arn
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Message"] == (
        f"User: {HANDLER} is not authorized to perform: dsql:UpdateCluster on resource: {arn} "
        "because no identity-based policy allows the dsql:UpdateCluster action"
    )
    assert fake.cluster(EAST1, ours).deletion_protection is False
    assert fake.cluster(EAST1, theirs).deletion_protection is True  # the denied call changed nothing
    [denial] = fake.denials
    assert (denial.operation, denial.principal, denial.region) == ("UpdateCluster", HANDLER, EAST1)
    assert denial.request == r("UpdateCluster", arn, {f"aws:ResourceTag/{MANAGED}": "someone-else"})
    assert "someone-else" in denial.reason
    assert fake.principal is None  # acting_as restored it


def test_without_a_principal_or_without_enforcement_nothing_is_checked() -> None:
    fake = FakeDsql(ACCOUNT)
    client = fake.client(EAST1)
    identifier = client.create_cluster()["identifier"]
    fake.settle()
    fake.principal = HANDLER  # named, but nothing enforced yet
    client.update_cluster(identifier=identifier, deletionProtectionEnabled=False)
    fake.enforce({HANDLER: MANAGED_ONLY})
    fake.principal = None  # enforced, but no principal
    client.delete_cluster(identifier=identifier)
    assert fake.denials == []
    with pytest.raises(KeyError, match="nobody"), fake.acting_as("nobody"):
        pass


def test_a_create_is_checked_in_the_witness_region_too_and_denied_before_it_runs() -> None:
    fake = FakeDsql(ACCOUNT)
    local_only = policy(
        allow(["dsql:CreateCluster", "dsql:PutMultiRegionProperties"], ALL_EAST1),
        allow(
            "dsql:PutWitnessRegion", ALL_EAST1, Condition={"StringEquals": {"dsql:WitnessRegion": WITNESS}}
        ),
    )
    fake.enforce({HANDLER: local_only})
    with fake.acting_as(HANDLER):
        response = error_of(
            fake.client(EAST1).create_cluster, multiRegionProperties={"witnessRegion": WITNESS}
        )
    assert response["Error"]["Code"] == "AccessDeniedException"
    [denial] = fake.denials
    assert denial.request.action == "dsql:PutWitnessRegion"
    assert denial.request.resource.startswith(f"arn:aws:dsql:{WITNESS}:{ACCOUNT}:cluster/")
    assert fake.clusters == {}
    both = policy(
        allow(["dsql:CreateCluster", "dsql:PutMultiRegionProperties"], ALL_EAST1),
        allow(
            "dsql:PutWitnessRegion",
            [ALL_EAST1, f"arn:aws:dsql:{WITNESS}:{ACCOUNT}:cluster/*"],
            Condition={"StringEquals": {"dsql:WitnessRegion": WITNESS}},
        ),
    )
    fake.enforce({HANDLER: both})
    with fake.acting_as(HANDLER):
        created = fake.client(EAST1).create_cluster(multiRegionProperties={"witnessRegion": WITNESS})
    assert created["status"] == "PENDING_SETUP"


def test_an_explicit_deny_is_reported_in_iams_words() -> None:
    fake = FakeDsql(ACCOUNT)
    fake.enforce(
        {
            "ops": policy(
                allow("dsql:*", "*"), {"Effect": "Deny", "Action": "dsql:ListClusters", "Resource": "*"}
            )
        }
    )
    fake.principal = "ops"
    response = error_of(fake.client(EAST1).list_clusters)
    assert response["Error"]["Message"] == (
        "User: ops is not authorized to perform: dsql:ListClusters on resource: * "
        "with an explicit deny in an identity-based policy"
    )
