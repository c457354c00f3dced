"""``HandlerProvider``: a custom-resource provider around handlers from this distribution's code.

CDK's Provider framework with what an audited account asks of it: our own roles with log rights on
their own log groups only (no managed AWSLambdaBasicExecutionRole), the waiter state machine
logged and traced, log retention on every function, and cdk-nag acknowledgements scoped to the
exact findings the framework cannot avoid, each with its reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from ._lambda_parts import account_unique_role_name, acknowledge_runtime, logged_role
from .bundling import LAMBDA_RUNTIME


class HandlerProvider(Construct):
    """Python ``on_event`` (and optionally ``is_complete``) handlers behind CDK's Provider framework.

    Keyword-only props (defaults in brackets):

    - ``code``: the Lambda asset with the handlers [required].
    - ``on_event`` / ``is_complete``: handler entry points, e.g. ``handlers.infra.x.on_event``
      [``is_complete`` None: the provider is synchronous].
    - ``architecture`` [ARM_64]; ``timeout`` of the on_event function [2 minutes];
      ``is_complete_timeout`` of the is_complete function [1 minute].
    - ``query_interval`` / ``total_timeout``: polling of ``is_complete`` [20 s / 50 minutes; a
      custom resource gets at most one hour from CloudFormation].
    - ``log_retention`` [ONE_MONTH]; ``description`` of the functions.

    Attributes: ``on_event_function``, ``is_complete_function`` (or None), ``service_token``,
    ``provider``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        on_event: str,
        is_complete: str | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        timeout: Duration = Duration.minutes(2),  # noqa: B008 - immutable value
        is_complete_timeout: Duration = Duration.minutes(1),  # noqa: B008 - immutable value
        query_interval: Duration = Duration.seconds(20),  # noqa: B008
        total_timeout: Duration = Duration.minutes(50),  # noqa: B008
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        description: str = "custom resource",
        named_roles: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        #: Function name -> its role's physical name (``named_roles``: another stack's policy can then
        #: name the role without a cross-stack reference).
        self.role_names: dict[str, str] = {}
        self._named_roles = named_roles
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.on_event_function = self._function("OnEvent", code, on_event, architecture, timeout, description)
        self.is_complete_function = (
            self._function("IsComplete", code, is_complete, architecture, is_complete_timeout, description)
            if is_complete
            else None
        )
        framework_logs = logs.LogGroup(
            self, "FrameworkLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        asynchronous = self.is_complete_function is not None
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            is_complete_handler=self.is_complete_function,
            query_interval=query_interval if asynchronous else None,
            total_timeout=total_timeout if asynchronous else None,
            log_group=framework_logs,
            framework_on_event_role=logged_role(self, "FrameworkOnEventRole", framework_logs, description),
            framework_complete_and_timeout_role=logged_role(
                self, "FrameworkCompleteRole", framework_logs, description
            )
            if asynchronous
            else None,
            disable_waiter_state_machine_logging=False if asynchronous else None,
            waiter_state_machine_log_options=cr.LogOptions(
                destination=logs.LogGroup(
                    self, "WaiterLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
                ),
                level=sfn.LogLevel.ALL,
                # Execution data would include the pre-signed CloudFormation response URL.
                include_execution_data=False,
            )
            if asynchronous
            else None,
        )
        if asynchronous:
            self._trace_waiter()
        self._acknowledge(asynchronous)

    @property
    def service_token(self) -> str:
        return self.provider.service_token

    def _function(
        self,
        name: str,
        code: lambda_.Code,
        handler: str,
        architecture: lambda_.Architecture,
        timeout: Duration,
        description: str,
    ) -> lambda_.Function:
        function = lambda_.Function(
            self,
            name,
            runtime=LAMBDA_RUNTIME,
            architecture=architecture,
            handler=handler,
            code=code,
            timeout=timeout,
            memory_size=256,
            role=logged_role(
                self, f"{name}Role", self.log_group, f"{description}: {name}", role_name=self._role_name(name)
            ),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            description=f"{description}: {name}",
        )
        acknowledge_runtime(function)
        return function

    def _role_name(self, name: str) -> str | None:
        if not self._named_roles:
            return None
        # Construct path, region and stack name (role names are account-global); no account at synth.
        self.role_names[name] = account_unique_role_name(self, name)
        return self.role_names[name]

    def _trace_waiter(self) -> None:
        waiter = self.provider.node.find_child("waiter-state-machine")
        machine = waiter.node.default_child
        assert isinstance(machine, sfn.CfnStateMachine)
        machine.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True)
        role = waiter.node.find_child("Role")
        assert isinstance(role, iam.Role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                resources=["*"],
            )
        )

    def _acknowledge(self, asynchronous: bool) -> None:
        stack = Stack.of(self)
        functions = [self.on_event_function, self.provider.node.find_child("framework-onEvent")]
        if asynchronous:
            assert self.is_complete_function is not None
            functions += [
                self.is_complete_function,
                self.provider.node.find_child("framework-isComplete"),
                self.provider.node.find_child("framework-onTimeout"),
            ]
        acknowledgments = []
        for function in functions:
            child = function.node.default_child
            logical_id = stack.resolve(stack.get_logical_id(child))  # type: ignore[arg-type]
            acknowledgments.append(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
                    reason="The Provider framework's grantInvoke covers the function's versions and "
                    "aliases (ARN:*); it is this one function.",
                )
            )
        if asynchronous:
            acknowledgments.append(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="Step Functions log delivery and X-Ray tracing APIs support no resource-level "
                    "permissions (the waiter state machine of the Provider framework).",
                )
            )
        Validations.of(self).acknowledge(*acknowledgments)
