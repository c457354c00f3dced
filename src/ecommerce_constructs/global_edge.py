"""``GlobalEdge``: a CloudFront distribution in front of the regional shop APIs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

# Paths whose GET responses are cacheable (the catalog); everything else is forwarded uncached.
CATALOG_PATH_PATTERN = "/products*"


@dataclass(frozen=True)
class EdgeOrigin:
    """A regional API as CloudFront sees it: host name and the stage path to prepend."""

    domain_name: str
    origin_path: str = "/prod"


class GlobalEdge(Construct):
    """CloudFront for the shop API: every method and query string reaches the API; catalog GETs
    are cached.

    Keyword-only props (defaults in brackets):

    - ``origin``: the primary region's API [required]. All requests go there; writes must reach a
      single writable origin, and CloudFront origin groups refuse POST/PATCH/DELETE behaviours.
    - ``price_class``: ``cloudfront.PriceClass`` [PRICE_CLASS_100].
    - ``catalog_cache_ttl``: how long catalog GETs are cached; zero disables caching [60 s].
    - ``domain_name`` + ``certificate``: custom domain with an ACM certificate from us-east-1, which
      also allows TLS 1.2 (2021) as the minimum [None: the cloudfront.net name].
    - ``web_acl_arn``: WAFv2 web ACL with CLOUDFRONT scope [None].
    - ``access_logs``: standard access logs to an encrypted, private S3 bucket [True].
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        origin: EdgeOrigin,
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_100,
        catalog_cache_ttl: Duration = Duration.seconds(60),  # noqa: B008 - immutable value
        domain_name: str | None = None,
        certificate: acm.ICertificate | None = None,
        web_acl_arn: str | None = None,
        access_logs: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        if (domain_name is None) != (certificate is None):
            raise ValueError("GlobalEdge: pass domain_name and certificate together, or neither")

        api_origin = origins.HttpOrigin(
            origin.domain_name,
            origin_path=origin.origin_path,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        # API Gateway routes on its own Host header; every other viewer header and every query
        # string must reach it (the recipe's CORS_S3_ORIGIN policy dropped query strings).
        forward_all = cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER

        self.catalog_cache_policy: cloudfront.ICachePolicy
        if catalog_cache_ttl.to_seconds() > 0:
            self.catalog_cache_policy = cloudfront.CachePolicy(
                self,
                "CatalogCachePolicy",
                comment="Catalog GETs: keyed on every query string (cursor, limit, category)",
                default_ttl=catalog_cache_ttl,
                max_ttl=catalog_cache_ttl,
                min_ttl=Duration.seconds(0),
                query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
                # The API answers CORS with the requesting origin; one cached copy per origin.
                # Authorization: CloudFront forwards it only as part of the cache key when caching
                # is on, and operators' catalog writes share this path. Anonymous reads (no header)
                # still share one cached copy.
                header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Origin", "Authorization"),
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            )
        else:
            self.catalog_cache_policy = cloudfront.CachePolicy.CACHING_DISABLED

        self.log_bucket: s3.Bucket | None = self._log_bucket() if access_logs else None
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="E-commerce API edge",
            price_class=price_class,
            domain_names=[domain_name] if domain_name else None,
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            web_acl_id=web_acl_arn,
            enable_logging=access_logs,
            log_bucket=self.log_bucket,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            default_behavior=cloudfront.BehaviorOptions(
                origin=api_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=forward_all,
            ),
            additional_behaviors={
                CATALOG_PATH_PATTERN: cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                    cache_policy=self.catalog_cache_policy,
                    origin_request_policy=forward_all,
                    compress=True,
                )
            },
        )
        self._acknowledge(certificate is not None, web_acl_arn is not None)

    @property
    def distribution_domain_name(self) -> str:
        """The distribution's ``*.cloudfront.net`` name (also when a custom domain is configured)."""
        return self.distribution.distribution_domain_name

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
                    reason="WAF is opt-in (edge.web_acl_arn) because web ACLs are billed per month; "
                    "API Gateway stage throttling limits abuse meanwhile.",
                )
            )
        Validations.of(self.distribution).acknowledge(*acknowledgments)
