"""``GlobalEdge``: one CloudFront distribution in front of every regional shop API, routing each
request to the nearest region that is not drained."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from aws_cdk import Acknowledgment, Annotations, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as cf_origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from ._metrics import MetricOptions, metric_of
from ._references import produce_weakly
from .bundling import contract
from .edge_routing import render_router
from .origin_secret import secret_reference

#: The synth-time note of an edge without a custom domain (CloudFront developer guide,
#: secure-connections-supported-viewer-protocols-ciphers.html: with the default *.cloudfront.net
#: certificate the security policy is TLSv1, which still accepts TLS 1.0 and 1.1).
VIEWER_TLS_NOTE = (
    "GlobalEdge: no custom domain, so viewers reach the default *.cloudfront.net certificate, whose "
    "security policy (TLSv1) still negotiates TLS 1.0 and 1.1; set edge.domain_name and "
    "edge.certificate_arn for a TLSv1.2_2021 minimum (docs/security.md, Viewer TLS)."
)

# Paths whose GET responses are cacheable (the catalog); everything else is forwarded uncached.
CATALOG_PATH_PATTERN = "/products*"
# A read-only path: its behaviour can use a static origin group (GET/HEAD/OPTIONS only).
HEALTH_PATH = "/health"
# Viewer headers the API reads, plus the viewer location the routing function needs. CloudFront
# hands its CloudFront-Viewer-* headers to a viewer-request function only when a policy of the
# behaviour includes them; AllViewerExceptHostHeader does not, so the list is explicit.
# Authorization and Origin are in the cache policies' keys (CloudFront forwards Authorization only
# that way), so they are not repeated here.
FORWARDED_HEADERS = (
    "Accept",
    "Content-Type",
    "Idempotency-Key",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
    "CloudFront-Viewer-Latitude",
    "CloudFront-Viewer-Longitude",
    "CloudFront-Viewer-Country",
    # The region the router chose (router.js sets it): in the API's access logs, for debugging.
    "X-Edge-Region",
)
FAILOVER_STATUS_CODES = (500, 502, 503, 504)
#: The edge web ACL's managed rule groups (vendor AWS), in priority order after the rate rule.
MANAGED_RULE_GROUPS = ("AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesCommonRuleSet")
RATE_RULE = "RatePerIp"
#: The common set blocks bodies over 8 KB; the API's own limit is 256 KiB, answered with a specific
#: 413, so that one rule only counts by default.
DEFAULT_COUNTED_RULES = ("AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY",)
#: Request fields WAF logs never contain (``authorization``: bearer tokens; the origin header: the
#: secret that admits requests to the regional APIs).


@dataclass(frozen=True)
class EdgeOrigin:
    """A regional API as CloudFront sees it: its region (also the origin's id, which the routing
    function selects), host name and the stage path to prepend."""

    region: str
    domain_name: str
    origin_path: str = "/prod"


class GlobalEdge(Construct):
    """CloudFront for the shop API.

    - **Routing**: every region is an origin (origin id = region). A viewer-request CloudFront
      Function picks the nearest region not drained in the ``key_value_store`` (key
      ``drained:<region>`` = ``true``); safe reads get a per-request origin group (the next region
      on a connection failure or 500/502/503/504), writes one origin. ``/health`` also has a static
      origin group, so reads fail over even if the function could not build one.
    - **Caching**: catalog GETs (``/products*``) for ``catalog_cache_ttl``, keyed on every query
      string, ``Origin`` and ``Authorization``; nothing else is cached.
    - **Lock-down**: each origin request carries ``X-Origin-Verify`` (a Secrets Manager dynamic
      reference, never plain text), which the regional web ACLs demand (``OriginGuard``); a
      CLOUDFRONT web ACL (AWS common and known-bad-inputs rule sets, a per-IP rate limit) unless
      ``web_acl_arn`` names one; security response headers; TLS 1.2 (2021) with a custom domain;
      HTTP/2 and HTTP/3.

    Keyword-only props (defaults in brackets):

    - ``origins``: the regional APIs [required, one or more].
    - ``primary_region``: where requests go when the viewer's location is unknown [required].
    - ``origin_secret_name``: an ``OriginSecret`` readable in us-east-1 [required].
    - ``price_class``: [PRICE_CLASS_100]. ``catalog_cache_ttl``: zero disables caching [60 s].
    - ``domain_name`` + ``certificate``: custom domain with an ACM certificate from us-east-1
      [None: the cloudfront.net name, whose TLS policy CloudFront fixes].
    - ``web_acl_arn``: an existing CLOUDFRONT web ACL instead of this construct's [None].
    - ``waf``: create the web ACL (ignored with ``web_acl_arn``) [True].
    - ``rate_limit``: requests per IP per 5 minutes before the web ACL blocks (429) [2,000: about
      6.7 requests/s, which one NAT address of an office or a mobile carrier can reach].
    - ``waf_count_all``: every rule of the web ACL counts instead of blocking (a first launch) [False].
    - ``waf_count_rules``: rules that count instead of blocking: ``RatePerIp``, a managed group's
      name, or ``<group>:<rule>`` [``AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY``].
    - ``waf_logging``: web ACL logs to CloudWatch Logs group ``aws-waf-logs-<stack>-edge``, with the
      ``authorization`` and ``x-origin-verify`` headers redacted [False].
    - ``waf_log_retention``: [ONE_MONTH].
    - ``origin_connection_attempts``: [1] and ``origin_connection_timeout``: [3 s] per origin before
      a read fails over (CloudFront's defaults are 3 and 10 s: 30 s before a failover);
      ``origin_response_timeout``: [30 s, longer than API Gateway's 29 s integration timeout].
    - ``access_logs``: standard access logs to an encrypted, private S3 bucket [True].

    Attributes: ``distribution``, ``key_value_store``, ``router`` (the function), ``web_acl``,
    ``waf_log_group`` (with ``waf_logging``),
    ``response_headers_policy``, ``catalog_cache_policy``, ``origins`` (region -> origin);
    ``metric_*()`` for dashboards and alarms.

    Creates: a distribution, a CloudFront function and KeyValueStore, a WAF web ACL (unless
    ``web_acl_arn``), cache and header policies, an access-log bucket (``access_logs``).
    Costs while kept: the web ACL and its rules bill monthly even when idle
    (https://aws.amazon.com/waf/pricing/); CloudFront, the function and the logs bill per request.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        origins: Sequence[EdgeOrigin],
        primary_region: str,
        origin_secret_name: str,
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_100,
        catalog_cache_ttl: Duration = Duration.seconds(60),  # noqa: B008 - immutable value
        domain_name: str | None = None,
        certificate: acm.ICertificate | None = None,
        web_acl_arn: str | None = None,
        waf: bool = True,
        rate_limit: int = 2_000,
        waf_count_all: bool = False,
        waf_count_rules: Sequence[str] = DEFAULT_COUNTED_RULES,
        waf_logging: bool = False,
        waf_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        origin_connection_attempts: int = 1,
        origin_connection_timeout: Duration = Duration.seconds(3),  # noqa: B008 - immutable value
        origin_response_timeout: Duration = Duration.seconds(30),  # noqa: B008 - immutable value
        access_logs: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        if (domain_name is None) != (certificate is None):
            raise ValueError("GlobalEdge: pass domain_name and certificate together, or neither")
        regions = [origin.region for origin in origins]
        if not regions or len(set(regions)) != len(regions):
            raise ValueError(f"GlobalEdge: origins need distinct regions, got {regions}")
        if primary_region not in regions:
            raise ValueError(f"GlobalEdge: primary_region {primary_region!r} is not one of {regions}")
        if not 10 <= rate_limit <= 2_000_000_000:
            raise ValueError(
                "GlobalEdge: rate_limit must be 10 or more requests per 5 minutes (WAF's minimum)"
            )

        header_value = secret_reference(origin_secret_name)

        def http_origin(origin: EdgeOrigin, origin_id: str) -> cf_origins.HttpOrigin:
            return cf_origins.HttpOrigin(
                origin.domain_name,
                origin_id=origin_id,
                origin_path=origin.origin_path,
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                custom_headers={contract().ORIGIN_HEADER: header_value},
                connection_attempts=origin_connection_attempts,
                connection_timeout=origin_connection_timeout,
                read_timeout=origin_response_timeout,
            )

        self.origins: dict[str, cf_origins.HttpOrigin] = {
            origin.region: http_origin(origin, origin.region) for origin in origins
        }
        # Nearest first is the function's call; statically the primary leads.
        ordered = [primary_region, *(r for r in regions if r != primary_region)]
        primary = self.origins[primary_region]
        health_origin: cloudfront.IOrigin = primary
        if len(ordered) > 1:
            # CDK binds a group's primary origin on its own, so it cannot be the object other
            # behaviours use: the primary gets a twin ("<region>-health"); the fallback is the shared
            # origin, which this group also brings into the distribution for the router to select.
            twin = next(o for o in origins if o.region == primary_region)
            health_origin = cf_origins.OriginGroup(
                primary_origin=http_origin(twin, f"{primary_region}-health"),
                fallback_origin=self.origins[ordered[1]],
                fallback_status_codes=list(FAILOVER_STATUS_CODES),
            )

        self.key_value_store = cloudfront.KeyValueStore(
            self, "DrainState", comment="Regions drained at the edge: key drained:<region> = true"
        )
        self.router = cloudfront.Function(
            self,
            "Router",
            code=cloudfront.FunctionCode.from_inline(render_router(ordered, primary_region)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            key_value_store=self.key_value_store,
            comment="Routes each request to the nearest region that is not drained",
        )
        request_policy = cloudfront.OriginRequestPolicy(
            self,
            "ApiRequestPolicy",
            comment="What the shop API reads, and the viewer location the router needs",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*FORWARDED_HEADERS),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        # Not cached (the origin sends no caching headers, so the default TTL of 0 applies); a
        # maximum of 1 s only because CloudFront forwards Authorization solely as part of a key.
        self.api_cache_policy = cloudfront.CachePolicy(
            self,
            "ApiCachePolicy",
            comment="Shop API: not cached; Authorization and Origin reach the API",
            default_ttl=Duration.seconds(0),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.seconds(1),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Authorization", "Origin"),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
        )
        self.catalog_cache_policy: cloudfront.ICachePolicy = self.api_cache_policy
        if catalog_cache_ttl.to_seconds() > 0:
            self.catalog_cache_policy = cloudfront.CachePolicy(
                self,
                "CatalogCachePolicy",
                comment="Catalog GETs: keyed on every query string (cursor, limit, category)",
                default_ttl=catalog_cache_ttl,
                max_ttl=catalog_cache_ttl,
                min_ttl=Duration.seconds(0),
                query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
                # Origin: the API answers CORS with the requesting origin. Authorization: operators'
                # catalog writes share this path, and CloudFront forwards it only as part of the
                # key; anonymous reads (no header) still share one cached copy.
                header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Origin", "Authorization"),
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            )
        self.response_headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="HSTS, nosniff, no framing, no referrer, an API's content security policy",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy="default-src 'none'; frame-ancestors 'none'", override=True
                ),
            ),
        )
        self.web_acl: wafv2.CfnWebACL | None = None
        self.waf_log_group: logs.LogGroup | None = None
        if web_acl_arn is None and waf:
            self.web_acl = self._web_acl(rate_limit, waf_count_all, waf_count_rules)
            web_acl_arn = self.web_acl.attr_arn
            if waf_logging:
                self.waf_log_group = self._waf_logging(self.web_acl, waf_log_retention)

        routed = [
            cloudfront.FunctionAssociation(
                function=self.router, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
            )
        ]

        def behaviour(
            origin: cloudfront.IOrigin,
            cache_policy: cloudfront.ICachePolicy,
            methods: cloudfront.AllowedMethods = cloudfront.AllowedMethods.ALLOW_ALL,
        ) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=methods,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cache_policy,
                origin_request_policy=request_policy,
                response_headers_policy=self.response_headers_policy,
                function_associations=routed,
                compress=True,
            )

        self.log_bucket: s3.Bucket | None = self._log_bucket() if access_logs else None
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="E-commerce API edge: nearest healthy region",
            price_class=price_class,
            domain_names=[domain_name] if domain_name else None,
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            web_acl_id=web_acl_arn,
            enable_logging=access_logs,
            log_bucket=self.log_bucket,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            default_behavior=behaviour(primary, self.api_cache_policy),
            additional_behaviors={
                CATALOG_PATH_PATTERN: behaviour(primary, self.catalog_cache_policy),
                # Origin groups serve GET/HEAD/OPTIONS only: /health has nothing else.
                HEALTH_PATH: behaviour(
                    health_origin, self.api_cache_policy, cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS
                ),
            },
        )
        self._acknowledge(certificate is not None, web_acl_arn is not None)
        produce_weakly(self)  # references to these resources never become exports

    @property
    def distribution_domain_name(self) -> str:
        """The distribution's ``*.cloudfront.net`` name (also when a custom domain is configured)."""
        return self.distribution.distribution_domain_name

    # ---- metrics (CloudFront's live in us-east-1, dimension Region=Global) -----------------------

    def _metric(
        self, name: str, dimensions: dict[str, str], statistic: str, options: MetricOptions
    ) -> cloudwatch.Metric:
        return metric_of(
            "AWS/CloudFront",
            name,
            {**dimensions, "Region": "Global"},
            {"statistic": statistic, "period": Duration.minutes(5), "region": "us-east-1", **options},
        )

    def metric_requests(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Viewer requests [Sum over 5 minutes]."""
        return self._metric("Requests", {"DistributionId": self.distribution.distribution_id}, "Sum", options)

    def metric_5xx_error_rate(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Percentage of viewer responses with a 5xx status [Average over 5 minutes]."""
        distribution = {"DistributionId": self.distribution.distribution_id}
        return self._metric("5xxErrorRate", distribution, "Average", options)

    def metric_4xx_error_rate(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Percentage of viewer responses with a 4xx status [Average over 5 minutes]."""
        distribution = {"DistributionId": self.distribution.distribution_id}
        return self._metric("4xxErrorRate", distribution, "Average", options)

    def metric_router(
        self, name: str = "FunctionExecutionErrors", **options: Unpack[MetricOptions]
    ) -> cloudwatch.Metric:
        """A CloudFront Functions metric of the router: FunctionInvocations, FunctionExecutionErrors,
        FunctionValidationErrors, FunctionThrottles or FunctionComputeUtilization [Sum over 5
        minutes; Maximum for FunctionComputeUtilization]."""
        statistic = "Maximum" if name == "FunctionComputeUtilization" else "Sum"
        return self._metric(name, {"FunctionName": self.router.function_name}, statistic, options)

    # ---- construction helpers ----------------------------------------------------------------

    def _web_acl(self, rate_limit: int, count_all: bool, count_rules: Sequence[str]) -> wafv2.CfnWebACL:
        terms = contract()
        body_key = "rate-limited"
        unknown = [
            entry
            for entry in count_rules
            if entry != RATE_RULE and entry.partition(":")[0] not in MANAGED_RULE_GROUPS
        ]
        if unknown:
            raise ValueError(
                f"GlobalEdge: waf_count_rules {unknown}: name {RATE_RULE}, one of "
                f"{list(MANAGED_RULE_GROUPS)} or <group>:<rule>"
            )

        def managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
            whole = count_all or name in count_rules
            counted = [] if whole else [e.split(":", 1)[1] for e in count_rules if e.startswith(f"{name}:")]
            override: dict[str, Any] = {"count": {}} if whole else {"none": {}}
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(**override),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in counted
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(name),
            )

        return wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            description="Shop edge - AWS common and known bad inputs rule sets, a per-IP rate limit",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            custom_response_bodies={
                body_key: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=terms.problem_body(
                        "throttled", "Too many requests", 429, "retry later, with backoff"
                    ),
                )
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=RATE_RULE,
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(count={})
                    if count_all or RATE_RULE in count_rules
                    else wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=429, custom_response_body_key=body_key
                            )
                        )
                    ),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=300
                        )
                    ),
                    visibility_config=_visibility(RATE_RULE),
                ),
                *(managed(name, priority) for priority, name in enumerate(MANAGED_RULE_GROUPS, 1)),
            ],
            visibility_config=_visibility("ShopEdge"),
        )

    def _waf_logging(self, web_acl: wafv2.CfnWebACL, retention: logs.RetentionDays) -> logs.LogGroup:
        """Web ACL logs in CloudWatch Logs (a CLOUDFRONT web ACL logs to us-east-1, where this stack
        is; the group's name must start with ``aws-waf-logs-``), secrets redacted."""
        stack = Stack.of(self)
        name = f"aws-waf-logs-{stack.stack_name}"[:512]
        group = logs.LogGroup(
            self, "WafLogs", log_group_name=name, retention=retention, removal_policy=RemovalPolicy.DESTROY
        )
        # WAF wants the group's ARN without the ":*" CloudFormation's Arn attribute ends with.
        arn = stack.format_arn(
            service="logs", resource="log-group", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        logging = wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=web_acl.attr_arn,
            log_destination_configs=[arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in ("authorization", contract().ORIGIN_HEADER.lower())
            ],
        )
        logging.node.add_dependency(group)
        return group

    def _log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # CloudFront standard logging writes with ACLs.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This bucket is the access-log destination itself; logging it would need yet "
                "another bucket with the same finding.",
            )
        )
        return bucket

    def _acknowledge(self, has_certificate: bool, has_waf: bool) -> None:
        acknowledgments = [
            Acknowledgment(
                id="AwsSolutions-CFR1",
                reason="A global shop serves every country; restrict with a web ACL geo rule if needed.",
            )
        ]
        if not has_certificate:
            # CloudFront's own certificate fixes the viewer policy at TLSv1 (docs/security.md).
            Annotations.of(self).add_info(VIEWER_TLS_NOTE)
            acknowledgments.append(
                Acknowledgment(
                    id="AwsSolutions-CFR4",
                    reason="The default *.cloudfront.net certificate fixes the viewer TLS policy; set "
                    "edge.domain_name and edge.certificate_arn to enforce TLSv1.2_2021.",
                )
            )
        if not has_waf:
            acknowledgments.append(
                Acknowledgment(
                    id="AwsSolutions-CFR2",
                    reason="edge.waf is off in this configuration (development); production keeps the "
                    "default web ACL or names one with edge.web_acl_arn.",
                )
            )
        Validations.of(self.distribution).acknowledge(*acknowledgments)


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )
