"""What every function of the library's constructs shares: a role that may write only its own
logs, the acknowledgement of the runtime choice, and ARNs rendered as cdk-nag names them."""

from __future__ import annotations

import hashlib

from aws_cdk import Acknowledgment, Aws, Names, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .bundling import LAMBDA_PYTHON_VERSION

#: Characters kept for the region in a role name: the longest region name (``ap-southeast-7``,
#: ``us-isob-east-1``: 14) with room to spare; an environment-agnostic stack's region is a token.
_REGION_BUDGET = 16
#: IAM role names: at most 64 characters (IAM User Guide, "IAM object quotas":
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
_ROLE_NAME_MAX = 64


def account_unique_role_name(scope: Construct, suffix: str) -> str:
    """A physical role name for ``scope`` that no other deployment in the account takes.

    IAM role names are unique per account, across regions; a construct path alone
    (``Names.unique_resource_name``) is the same for one app deployed to two regions and for two
    apps that share construct ids. So the name also carries the stack's region (literal when the
    stack has one, else ``AWS::Region``) and a hash of the stack name, then ``suffix``. It needs no
    account at synth."""
    stack = Stack.of(scope)
    region = stack.region if not Token.is_unresolved(stack.region) else Aws.REGION
    stack_name = stack.stack_name if not Token.is_unresolved(stack.stack_name) else ""
    qualifier = hashlib.sha256(stack_name.encode()).hexdigest()[:6]
    head_length = _ROLE_NAME_MAX - _REGION_BUDGET - len(qualifier) - len(suffix) - 3
    head = Names.unique_resource_name(scope, max_length=head_length, separator="-")
    return f"{head}-{region}-{qualifier}-{suffix}"


def logged_role(
    scope: Construct,
    construct_id: str,
    log_group: logs.ILogGroup,
    description: str,
    *,
    role_name: str | None = None,
) -> iam.Role:
    """A Lambda role that may write to ``log_group`` and nothing else (yet): not the managed
    AWSLambdaBasicExecutionRole, which grants logs:* on every group."""
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
        role_name=role_name,
    )
    # log_group_arn ends in ":*", which covers the group's streams.
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
        )
    )
    return role


def acknowledge_runtime(function: lambda_.Function) -> None:
    """cdk-nag's L1 wants the newest runtime; ours is the one whose bytecode ships in the bundle."""
    Validations.of(function).acknowledge(
        Acknowledgment(
            id="AwsSolutions-L1",
            reason=f"Python {LAMBDA_PYTHON_VERSION} is chosen so that bytecode compiled by the same "
            "interpreter ships in the bundle (cold start measured in docs/decisions/0005-cold-start.md); "
            "it is a supported Lambda runtime.",
        )
    )


def nag_form(stack: Stack, arn: str) -> str:
    """The ARN as cdk-nag prints it in a finding id (``<AWS::Region>``-style placeholders where the
    stack's environment is a token), for acknowledgements scoped to one resource."""
    resolved = stack.resolve(arn)
    if isinstance(resolved, str):
        return resolved
    out = []
    for part in resolved.get("Fn::Join", ["", []])[1]:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and "Ref" in part:
            out.append(f"<{part['Ref']}>")
    return "".join(out)
