"""``EcommerceApi``: the shop's Lambda functions behind a regional API Gateway REST API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Unpack

from aws_cdk import (
    Acknowledgment,
    Annotations,
    ArnFormat,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._lambda_parts import account_unique_role_name, acknowledge_runtime, logged_role, nag_form
from ._metrics import MetricOptions
from ._references import produce_weakly
from .bundling import LAMBDA_PYTHON_VERSION, LAMBDA_RUNTIME, PYTHON_ENV_VAR, contract, handler_code
from .dsql_cluster import IClusterAttributes
from .identity import IShopIdentity, ShopIdentity, issuer_of

STAGE_NAME = "prod"
#: What API Gateway's account-wide CloudWatch role may do: create and describe groups and streams,
#: put events. No reads of log events.
API_GATEWAY_LOGGING_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)
#: API Gateway's enhanced policy accepting TLS 1.3 and 1.2 (CloudFront speaks 1.2 to origins).
SECURITY_POLICY = "SecurityPolicy_TLS13_1_2_2021_06"


class OrderStrategy(Enum):
    """How the orders function sends an order to the database: both take one round trip."""

    #: One data-modifying statement (CTEs) per order.
    CTE = "cte"
    #: The same statements sent separately in one pipelined round trip: the hedge should DSQL ever
    #: refuse data-modifying CTEs (0A000).
    PIPELINED = "pipelined"


@dataclass(frozen=True)
class FunctionSettings:
    """Per-function Lambda settings.

    - ``memory_size``: MB [256].
    - ``timeout``: [10 s]; API Gateway gives up after 29 s whatever this says.
    - ``snap_start``: Lambda SnapStart on published versions, so cold starts restore a snapshot
      taken after the imports instead of running them [False: it bills snapshot caching and
      restores; see docs/decisions/0005-cold-start.md].
    - ``reserved_concurrency``: concurrent executions reserved for (and capping) the function
      [None: the account's unreserved pool; reserving needs 100 unreserved left in the account].
    """

    memory_size: int = 256
    timeout: Duration = Duration.seconds(10)  # noqa: RUF009 - Duration is immutable
    snap_start: bool = False
    reserved_concurrency: int | None = None


class EcommerceApi(Construct):
    """Three Lambda functions behind a REGIONAL REST API: ``Browse`` (the anonymous catalog reads
    and health, under a database role that can read only products), ``Catalog`` (catalog writes,
    customers) and ``Orders``. One explicit method per route of the Lambda code's contract, each
    with its access rule (anonymous catalog reads; a Cognito ID token of the customers' or the
    operators' pool for everything else, checked by API Gateway before any function runs, and
    again, with ownership, by the functions).

    Keyword-only props (defaults in brackets):

    - ``cluster``: the cluster the functions connect to (IAM ``dsql:DbConnect`` on it only): a
      ``DsqlCluster``, an imported one, or anything with ``aws_dsql_alpha.ICluster``'s attributes.
    - ``identity``: the ``IShopIdentity`` whose user pools the authorizer trusts (any region); a
      token of its ``operator_pool`` is an operator's [a ``ShopIdentity`` of its own, child
      ``Identity``].
    - ``database_role_prefix``: each function logs in as its own database role,
      ``<prefix>_browse`` / ``<prefix>_catalog`` / ``<prefix>_orders`` (``DatabaseSetup`` creates
      them) [``ecommerce``].
      Which function serves which route, and the environment they read, come from the Lambda
      code's own contract (``handlers/contract.py``), so the two can never disagree.
    - ``order_strategy``: an ``OrderStrategy`` [``OrderStrategy.CTE``]; ``PIPELINED`` is the hedge
      should DSQL ever refuse data-modifying CTEs with 0A000.
    - ``browse`` / ``catalog`` / ``orders``: ``FunctionSettings`` [256 MB / 256 MB / 512 MB, 10 s,
      no reserved concurrency: a reservation fails the deploy of an account whose concurrency
      quota is low (new accounts can have 10), so it is opt-in, with a synth-time warning].
    - ``architecture``: ``lambda_.Architecture`` [ARM_64].
    - ``code``: Lambda code [this distribution's Lambda code (``_lambda/handlers`` in the wheel),
      bundled locally with pip].
    - ``throttle_rate_limit`` / ``throttle_burst_limit``: per-method throttling of the stage, which
      is what anonymous routes get [25 / 50: tighter than the routes that need a token, so a flood
      of anonymous reads (which CloudFront caches anyway) cannot take the account's Lambda
      concurrency from checkout].
    - ``authenticated_throttle_rate_limit`` / ``authenticated_throttle_burst_limit``: per-method
      throttling of the routes that need a token (writes and personal data) [50 / 100].
    - ``cors_origins``: allowed browser origins; empty disables CORS [()].
    - ``log_retention``: ``logs.RetentionDays`` for function and access logs [ONE_MONTH].
    - ``tracing``: X-Ray on functions and stage [False].
    - ``monitoring``: create alarms on errors, throttles and 5xx [True].
    - ``manage_account_logging_role``: set API Gateway's account-wide CloudWatch role in this region,
      which stage logging requires [True: without it the first deploy in a fresh account fails with
      "CloudWatch Logs role ARN must be set in account settings"]. The setting is one per account
      and region and shared by every REST API there, so only one construct may own it: pass False
      when your account already has the role (``aws apigateway get-account``) or another stack sets
      it. The role and the setting are retained on stack deletion, as aws-cdk-lib's
      ``RestApi(cloud_watch_role=True)`` does, so other APIs keep logging.
    - ``log_removal_policy``: what happens to log groups on stack deletion [DESTROY].

    Creates: three functions with their roles and log groups, a REST API with its stage and access
    log group, alarms (``monitoring``), API Gateway's account logging role
    (``manage_account_logging_role``), and a ``ShopIdentity`` when no ``identity`` is given.
    Costs while kept: per request and duration (Lambda, API Gateway), log storage, $0.10 per alarm
    and month; nothing else while idle (the user pool bills per active user).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: IClusterAttributes,
        identity: IShopIdentity | None = None,
        database_role_prefix: str | None = None,
        order_strategy: OrderStrategy = OrderStrategy.CTE,
        catalog: FunctionSettings = FunctionSettings(memory_size=256),
        orders: FunctionSettings = FunctionSettings(memory_size=512),
        browse: FunctionSettings = FunctionSettings(memory_size=256),
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        code: lambda_.Code | None = None,
        throttle_rate_limit: float = 25,
        throttle_burst_limit: int = 50,
        authenticated_throttle_rate_limit: float = 50,
        authenticated_throttle_burst_limit: int = 100,
        cors_origins: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        tracing: bool = False,
        monitoring: bool = True,
        manage_account_logging_role: bool = True,
        log_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.cluster = cluster
        self.identity: IShopIdentity = identity if identity is not None else ShopIdentity(self, "Identity")
        terms = contract()
        if not isinstance(order_strategy, OrderStrategy):
            raise TypeError(
                "EcommerceApi: order_strategy must be an OrderStrategy "
                f"({', '.join(m.name for m in OrderStrategy)}), got {order_strategy!r}"
            )
        if code is None:
            # Architecture objects are jsii proxies: compare by name, never by identity.
            code, bytecode = handler_code(architecture.name)
            if not bytecode:
                Annotations.of(self).add_warning_v2(
                    "ecommerce:no-bytecode",
                    f"No Python {LAMBDA_PYTHON_VERSION} interpreter found: the Lambda bundle ships without "
                    f"bytecode and each cold start compiles it (hundreds of ms). Install "
                    f"python{LAMBDA_PYTHON_VERSION} or set {PYTHON_ENV_VAR} to one.",
                )
        env = terms.Env
        self.database_role_prefix = database_role_prefix or terms.DEFAULT_ROLE_PREFIX
        environment = {
            env.DSQL_ENDPOINT: cluster.cluster_endpoint,
            env.DSQL_REGION: stack.region,
            env.CORS_ORIGINS: ",".join(cors_origins),
            env.SERVICE_NAME: terms.SERVICE_NAME,
            env.METRICS_NAMESPACE: terms.METRICS_NAMESPACE,
            env.TRACE_DISABLED: "false" if tracing else "true",
            env.ORDER_STRATEGY: order_strategy.value,
            # Who is an operator: a token of the operators' pool (the functions compare ``iss``).
            env.OPERATOR_ISSUER: issuer_of(operator_pool)
            if (operator_pool := getattr(self.identity, "operator_pool", None)) is not None
            else terms.NO_OPERATOR_ISSUER,
        }

        self.functions: dict[str, lambda_.Function] = {}
        for name, settings in (("Browse", browse), ("Catalog", catalog), ("Orders", orders)):
            role_name = terms.db_role(name.lower(), self.database_role_prefix)
            self.functions[name] = self._function(
                name,
                terms.FUNCTIONS[name.lower()],
                settings,
                code,
                architecture,
                {**environment, env.DB_USER: role_name},
                log_retention,
                tracing,
                log_removal_policy,
            )
            cluster.grant_connect(self.functions[name])
        self.browse_function = self.functions["Browse"]
        self.catalog_function = self.functions["Catalog"]
        self.orders_function = self.functions["Orders"]
        #: ``DatabaseSetup``'s ``function_roles`` for this API: function name -> its IAM role ARN.
        self.function_roles: dict[str, list[str]] = {
            name.lower(): [function.role.role_arn]
            for name, function in self.functions.items()
            if function.role
        }
        # API Gateway invokes a published version through this alias: what SnapStart needs, and
        # each deployment switches every route to the new code at once.
        self.aliases: dict[str, lambda_.Alias] = {
            name: lambda_.Alias(self, f"{name}Live", alias_name="live", version=function.current_version)
            for name, function in self.functions.items()
        }

        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=log_removal_policy
        )
        self.account_logging: apigw.CfnAccount | None = (
            self._account_logging_role() if manage_account_logging_role else None
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{stack.stack_name}-api",
            description="E-commerce shop API (catalog, customers, orders) on Aurora DSQL",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                # API Gateway REST cannot throttle per caller without API keys; per method it can.
                method_options={
                    f"{route.path}/{verb}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=authenticated_throttle_rate_limit,
                        throttling_burst_limit=authenticated_throttle_burst_limit,
                    )
                    for route in terms.ROUTES
                    if route.access != terms.ANONYMOUS
                    for verb in _verbs(route)
                },
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=tracing,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(cors_origins),
                allow_headers=["Content-Type", "Idempotency-Key", "Authorization"],
                allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
            )
            if cors_origins
            else None,
        )
        if self.account_logging is not None:
            self.rest_api.deployment_stage.node.add_dependency(self.account_logging)
        # TLS 1.2 minimum (1.3 preferred) on the execute-api endpoint; the L2 has no property yet.
        # STRICT: requests must come through a regional endpoint with a matching SNI host, as
        # CloudFront's do. Docs: apigateway-security-policies.html (read 2026-11-27).
        cfn_api = self.rest_api.node.default_child
        assert isinstance(cfn_api, apigw.CfnRestApi)
        cfn_api.add_property_override("SecurityPolicy", SECURITY_POLICY)
        cfn_api.add_property_override("EndpointAccessMode", "STRICT")
        self._routes(cors=bool(cors_origins))
        self._gateway_responses(cors_origins)

        self.alarms: list[cloudwatch.Alarm] = self._alarms() if monitoring else []
        produce_weakly(self)  # references to these resources never become exports

    # ---- construction helpers ----------------------------------------------------------------

    def _function(
        self,
        name: str,
        handler: str,
        settings: FunctionSettings,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        environment: dict[str, str],
        log_retention: logs.RetentionDays,
        tracing: bool,
        log_removal_policy: RemovalPolicy,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, f"{name}Logs", retention=log_retention, removal_policy=log_removal_policy
        )
        role = logged_role(
            self,
            f"{name}Role",
            log_group,
            f"{name} function of the e-commerce API",
            # Another region's database setup maps it (a cross-environment reference), which needs a
            # physical name; construct path, region and stack name (role names are account-global).
            role_name=account_unique_role_name(self, name),
        )
        if tracing:
            Validations.of(role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level "
                    "permissions; CDK adds them only when tracing is enabled.",
                )
            )
        function = lambda_.Function(
            self,
            name,
            runtime=LAMBDA_RUNTIME,
            architecture=architecture,
            handler=handler,
            code=code,
            memory_size=settings.memory_size,
            timeout=settings.timeout,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if settings.snap_start else None,
            reserved_concurrent_executions=settings.reserved_concurrency,
            description=f"E-commerce API: {name.lower()}",
        )
        if settings.reserved_concurrency is not None:
            # "You can reserve up to the Unreserved account concurrency value that is shown, minus 100
            # for functions that don't have reserved concurrency" (Lambda developer guide,
            # configuration-concurrency); a new account's quota can be far lower than 1,000.
            Annotations.of(function).add_warning_v2(
                "ecommerce:reserved-concurrency",
                f"{name} reserves {settings.reserved_concurrency} concurrent executions: the deploy fails "
                "unless the Lambda quota 'Concurrent executions' (L-B99A9384) of this account and region "
                "exceeds every reservation together plus 100 (check: aws lambda get-account-settings; "
                "raise it in Service Quotas, or leave lambda.reserved_concurrency unset).",
            )
        acknowledge_runtime(function)
        return function

    def _account_logging_role(self) -> apigw.CfnAccount:
        # Stage access/execution logging fails to deploy unless the account has this role set;
        # the feature flag disableCloudWatchRole stops RestApi from creating one per API.
        stack = Stack.of(self)
        where = (stack.account, stack.region)
        if not any(Token.is_unresolved(part) for part in where):
            for other in self.node.root.node.find_all():
                if (
                    isinstance(other, EcommerceApi)
                    and other is not self
                    and getattr(other, "account_logging", None) is not None
                    and (Stack.of(other).account, Stack.of(other).region) == where
                ):
                    raise ValueError(
                        f"EcommerceApi {self.node.path}: {other.node.path} already sets API Gateway's "
                        f"account logging role in {where[1]} (one setting per account and region); "
                        "pass manage_account_logging_role=False to all but one EcommerceApi there."
                    )
        role = iam.Role(
            self,
            "ApiGatewayLoggingRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets API Gateway write execution and access logs in this region",
        )
        log_groups = stack.format_arn(
            service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        # Not narrowed to our log groups: the role is the account's, one per region, and every REST
        # API there logs through it. But only what writing logs needs: AWS's managed policy
        # AmazonAPIGatewayPushToCloudWatchLogs also grants logs:GetLogEvents and logs:FilterLogEvents
        # (reading every log group of the region), which pushing logs never uses (aws-managed-policy
        # reference, AmazonAPIGatewayPushToCloudWatchLogs; API Gateway developer guide,
        # set-up-logging.html, read 2026-12).
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(API_GATEWAY_LOGGING_ACTIONS),
                resources=[log_groups],
            )
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag_form(stack, log_groups)}]",
                reason="API Gateway's account-level logging role writes execution logs to groups it "
                "names per API and stage (API-Gateway-Execution-Logs_<id>/<stage>) for every REST API "
                "of the region; AWS's AmazonAPIGatewayPushToCloudWatchLogs policy without its two read "
                "actions, limited to this region and account.",
            )
        )
        account = apigw.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        # Account-wide: deleting this stack must not take logging away from the account's other APIs
        # (aws-cdk-lib's RestApi retains its own role and setting by default, cloudWatchRoleRemovalPolicy).
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        return account

    def _routes(self, cors: bool) -> None:
        terms = contract()
        validator = apigw.RequestValidator(
            self,
            "RequestValidator",
            rest_api=self.rest_api,
            validate_request_parameters=True,
            # Methods declare no body model, so this passes bodies through; the handlers validate
            # them with pydantic and answer problem+json.
            validate_request_body=True,
        )
        integrations = {
            name.lower(): apigw.LambdaIntegration(alias, proxy=True, allow_test_invoke=False)
            for name, alias in self.aliases.items()
        }
        # REST API Cognito authorizers accept a pool of any region; without OAuth scopes on the
        # methods they take the ID token, whose claims (sub, iss, email, email_verified) reach the
        # functions as strings in requestContext.authorizer.claims.
        # Two pools: customers' and operators' (MFA required); the functions tell them apart by ``iss``.
        pools = [self.identity.user_pool]
        operator_pool = getattr(self.identity, "operator_pool", None)
        if operator_pool is not None:
            pools.append(operator_pool)
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=pools)
        self.methods: dict[str, apigw.Method] = {}
        for path, allowed in terms.methods_by_path().items():
            resource = self.rest_api.root.resource_for_path(path)
            for route in (r for r in terms.ROUTES if r.path == path):
                anonymous = route.access == terms.ANONYMOUS
                for verb in _verbs(route):
                    method = resource.add_method(
                        verb,
                        integrations[route.function],
                        request_validator=validator,
                        authorization_type=apigw.AuthorizationType.NONE
                        if anonymous
                        else apigw.AuthorizationType.COGNITO,
                        authorizer=None if anonymous else self.authorizer,
                    )
                    self.methods[route.operation + ("_head" if verb == "HEAD" else "")] = method
                    if anonymous:
                        self._acknowledge_anonymous(method, route.operation)
            for verb in terms.HTTP_METHODS:
                if verb not in allowed and not (cors and verb == "OPTIONS"):
                    self._method_not_allowed(resource, verb, path, validator)

    def _method_not_allowed(
        self, resource: apigw.IResource, verb: str, path: str, validator: apigw.RequestValidator
    ) -> None:
        """API Gateway answers 405 itself (a MOCK method, no function runs), as RFC 9110 asks."""
        terms = contract()
        headers = {
            "Allow": f"'{terms.allow_header(path)}'",
            "Content-Type": f"'{terms.PROBLEM_MEDIA_TYPE}'",
            terms.REGION_HEADER: f"'{Stack.of(self).region}'",
        }
        integration = apigw.MockIntegration(
            request_templates={"application/json": '{"statusCode": 405}'},
            passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_MATCH,
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="405",
                    response_parameters={f"method.response.header.{k}": v for k, v in headers.items()},
                    response_templates={"application/json": terms.method_not_allowed_body(path)},
                )
            ],
        )
        method = resource.add_method(
            verb,
            integration,
            request_validator=validator,
            method_responses=[
                apigw.MethodResponse(
                    status_code="405",
                    response_parameters={f"method.response.header.{k}": True for k in headers},
                )
            ],
        )
        Validations.of(method).acknowledge(
            *(
                Acknowledgment(
                    id=rule,
                    reason="API Gateway's own 405 answer to a method this resource does not have: a MOCK "
                    "integration that runs no function and touches no data, for anyone.",
                )
                for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4")
            )
        )

    def _gateway_responses(self, cors_origins: Sequence[str]) -> None:
        """What API Gateway answers without a function is problem+json too, with the region header."""
        terms = contract()
        headers = {
            "Content-Type": f"'{terms.PROBLEM_MEDIA_TYPE}'",
            terms.REGION_HEADER: f"'{Stack.of(self).region}'",
        }
        if len(cors_origins) == 1:
            # Else a browser reports a 401 as a CORS failure. A gateway response holds one fixed
            # value, so with several origins only the functions' own answers carry CORS headers.
            headers["Access-Control-Allow-Origin"] = f"'{cors_origins[0]}'"
        fixed = {
            "NotFound": (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", terms.NO_ROUTE_BODY),
            # The authorizer's own message: "Unauthorized", or "The incoming token has expired".
            "Unauthorized": (
                apigw.ResponseType.UNAUTHORIZED,
                "401",
                terms.unauthenticated_body("$context.error.message"),
            ),
            "AccessDenied": (
                apigw.ResponseType.ACCESS_DENIED,
                "403",
                terms.problem_body("forbidden", "Not allowed", 403, "$context.error.message"),
            ),
            "TooLarge": (
                apigw.ResponseType.REQUEST_TOO_LARGE,
                "413",
                terms.problem_body(
                    "payload-too-large", "Request body too large", 413, "$context.error.message"
                ),
            ),
            "Throttled": (
                apigw.ResponseType.THROTTLED,
                "429",
                terms.problem_body("throttled", "Too many requests", 429, "retry later, with backoff"),
            ),
        }
        for name, (kind, status, body) in fixed.items():
            self.rest_api.add_gateway_response(
                name,
                type=kind,
                status_code=status,
                # RFC 9110: a 401 names the scheme that would work.
                response_headers={**headers, "WWW-Authenticate": "'Bearer'"} if status == "401" else headers,
                templates={"application/json": body},
            )
        # Statuses vary inside these classes: the body leaves out "status" (optional in RFC 9457).
        for name, kind, title in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, "Request refused by the API gateway"),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, "API gateway error"),
        ):
            body = (
                f'{{"type":"{terms.PROBLEM_TYPE_BASE}gateway-$context.error.responseType",'
                f'"title":"{title}","detail":"$context.error.message"}}'
            )
            self.rest_api.add_gateway_response(
                name, type=kind, response_headers=headers, templates={"application/json": body}
            )

    @staticmethod
    def _acknowledge_anonymous(method: apigw.Method, operation: str) -> None:
        reason = (
            f"{operation} is anonymous by design (handlers/contract.py ROUTES): browsing the catalog and "
            "the health check need no sign-in, read only public data and change nothing; throttled, "
            "validated and cached at the edge. Every other route has the Cognito authorizer."
        )
        Validations.of(method).acknowledge(
            Acknowledgment(id="AwsSolutions-APIG4", reason=reason),
            Acknowledgment(id="AwsSolutions-COG4", reason=reason),
        )

    # ---- metrics and alarms ----------------------------------------------------------------

    def metric_server_errors(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """5xx responses of the API stage [Sum over 5 minutes]."""
        return self.rest_api.metric_server_error(**_defaults(options, statistic="Sum"))

    def metric_client_errors(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """4xx responses of the API stage [Sum over 5 minutes]."""
        return self.rest_api.metric_client_error(**_defaults(options, statistic="Sum"))

    def metric_latency(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """End-to-end latency of the API stage [p99 over 5 minutes]."""
        return self.rest_api.metric_latency(**_defaults(options, statistic="p99"))

    def _alarms(self) -> list[cloudwatch.Alarm]:
        alarms = [
            self._alarm(
                "ServerErrorsAlarm",
                self.metric_server_errors(),
                5,
                "The API returned more than 5 server errors in 5 minutes",
            )
        ]
        for name, function in self.functions.items():
            period = Duration.minutes(5)
            alarms.append(
                self._alarm(
                    f"{name}ErrorsAlarm",
                    function.metric_errors(period=period),
                    1,
                    f"The {name} function failed (unhandled errors)",
                )
            )
            alarms.append(
                self._alarm(
                    f"{name}ThrottlesAlarm",
                    function.metric_throttles(period=period),
                    1,
                    f"The {name} function was throttled (concurrency exhausted)",
                )
            )
        return alarms

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        # Quiet periods are healthy: missing data must not raise an alarm.
        return cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            alarm_description=description,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    # ---- attributes used across stacks -----------------------------------------------------

    @property
    def url(self) -> str:
        """Invoke URL of the ``prod`` stage."""
        return self.rest_api.url

    @property
    def domain_name(self) -> str:
        """``<api-id>.execute-api.<region>.<suffix>``: the origin CloudFront forwards to."""
        stack = Stack.of(self)
        return Fn.join(".", [self.rest_api.rest_api_id, "execute-api", stack.region, stack.url_suffix])

    @property
    def origin_path(self) -> str:
        return f"/{STAGE_NAME}"


def _defaults(options: MetricOptions, *, statistic: str) -> MetricOptions:
    merged: MetricOptions = {"statistic": statistic, "period": Duration.minutes(5), **options}
    return merged


def _verbs(route: Any) -> tuple[str, ...]:
    """A route's methods in API Gateway: GET routes answer HEAD too (RFC 9110)."""
    return (route.method, "HEAD") if route.method == "GET" else (route.method,)
