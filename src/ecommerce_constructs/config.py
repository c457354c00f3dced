"""Deployment configuration: one pydantic model loaded from one YAML file.

``config/regions.yaml`` is the single source of settings. ``-c config=<file>`` or the
``ECOMMERCE_CONFIG`` environment variable selects another file. The recipe's flat CDK context keys
(``CONTEXT_KEYS``) override the file; CDK passes ``-c`` values as strings, so they are coerced by
the same validation as the file. Every error names the file, the key and how to fix it, and is
raised before any construct exists.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .backup_regions import copy_refusal
from .dsql_limits import CLUSTER_IDENTIFIER, tag_problems
from .regions import DSQL_REGIONS, REGION_SETS, describe_region_sets, region_set_of

DEFAULT_CONFIG_PATH = Path("config/regions.yaml")
CONFIG_ENV_VAR = "ECOMMERCE_CONFIG"
CONFIG_CONTEXT_KEY = "config"

# API Gateway REST integrations time out after 29 s; a longer Lambda timeout only hides that.
API_GATEWAY_INTEGRATION_TIMEOUT = 29

LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# The recipe's context keys -> dotted path in the model. Each one is proven by a test to change
# the synthesized template (tests/infra/test_context_overrides.py).
CONTEXT_KEYS: dict[str, str] = {
    "dsql_cluster_name": "database.cluster_name",
    "enable_monitoring": "monitoring.enabled",
    "enable_xray_tracing": "monitoring.tracing",
    "lambda_memory_size_products": "lambda.memory.products",
    "lambda_memory_size_orders": "lambda.memory.orders",
    "lambda_timeout_seconds": "lambda.timeout_seconds",
    "api_throttle_rate_limit": "api.throttle_rate_limit",
    "api_throttle_burst_limit": "api.throttle_burst_limit",
    "cloudfront_price_class": "edge.price_class",
    "log_retention_days": "monitoring.log_retention_days",
}


class ConfigError(ValueError):
    """A configuration problem, phrased so the user can fix it without reading code."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}")


class ConfigWarning(UserWarning):
    """A configuration value that was adjusted rather than rejected."""


if TYPE_CHECKING:
    from pydantic._internal._model_construction import ModelMetaclass as _ModelMeta
else:
    _ModelMeta = type(BaseModel)  # pydantic's metaclass, without importing its private module


class _OneLineErrors(_ModelMeta):
    """A model built in code (``EcommerceConfig(...)``) fails as the file loader does: one
    ConfigError naming the key, not pydantic's multi-line report. Only the call of the class passes
    here; pydantic's own validation of nested models and ``validate_config`` do not."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise _config_error(exc, f"{cls.__name__}(...)", {}) from None


class _Model(BaseModel, metaclass=_OneLineErrors):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


#: Managed rule groups of the edge's web ACL, and the rate-based rule (docs/security.md says what
#: each blocks for this API).
WAF_MANAGED_GROUPS = ("AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesCommonRuleSet")
WAF_RATE_RULE = "RatePerIp"


class EdgeHealthConfig(_Model):
    """The edge's health checkers: one per serving region plus one in the witness region, every
    minute (docs/operations.md). Defaults: 3 probes of ``/health`` 10 s apart with a 3 s timeout per
    run; 2 failing runs in a row drain a region, 3 healthy runs in a row restore a drain the checkers
    made; a majority of the checkers (2 of 3) must agree (``quorum``); observations older than
    150 s have no vote."""

    fail_threshold: int = Field(2, ge=1, le=10)
    restore_threshold: int = Field(3, ge=1, le=30)
    quorum: int | None = Field(None, ge=1, le=3)
    probes: int = Field(3, ge=1, le=5)
    probe_interval_seconds: int = Field(10, ge=0, le=15)
    probe_timeout_seconds: int = Field(3, ge=1, le=10)
    observation_ttl_seconds: int = Field(150, ge=61, le=900)


class EdgeConfig(_Model):
    """CloudFront in front of the regional APIs (stack ``<app>-edge`` in us-east-1).

    Defaults: enabled, a web ACL (AWS common and known-bad-inputs rule sets, 2,000 requests per IP
    per 5 minutes) that blocks (``waf_mode: count`` counts every rule instead, for a first launch;
    ``waf_count_rules`` counts single rules, groups or ``RatePerIp``, default the common set's
    ``SizeRestrictions_BODY``), no WAF logging (``waf_logging``: CloudWatch Logs, ``authorization``
    and ``x-origin-verify`` redacted), ``PriceClass_100``, catalog GETs cached 60 s, no custom
    domain; origins tried once with a 3 s connection timeout (CloudFront's default is 3 x 10 s
    before a read fails over), 30 s response timeout (above API Gateway's 29 s, so a slow
    ``POST /orders`` commit is answered; at most 120 s, CloudFront's maximum without a quota
    increase). ``web_acl_arn`` names an existing CLOUDFRONT web ACL
    instead; ``waf: false`` runs without one (development).
    """

    enabled: bool = True
    waf: bool = True
    rate_limit_per_5_minutes: int = Field(2_000, ge=10, le=2_000_000_000)
    waf_mode: Literal["block", "count"] = "block"
    waf_count_rules: tuple[str, ...] = ("AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY",)
    waf_logging: bool = False
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    catalog_cache_ttl_seconds: int = Field(60, ge=0, le=86_400)
    domain_name: str | None = None
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/.+$")
    web_acl_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global/webacl/.+$")
    origin_connection_attempts: int = Field(1, ge=1, le=3)
    origin_connection_timeout_seconds: int = Field(3, ge=1, le=10)
    # CloudFront's API reference: "the maximum is 120 seconds" (CustomOriginConfig.OriginReadTimeout,
    # https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CustomOriginConfig.html); more
    # needs a quota increase, so a larger value would fail the deploy of the edge stack.
    origin_response_timeout_seconds: int = Field(30, ge=1, le=120)
    health: EdgeHealthConfig = EdgeHealthConfig()

    @field_validator("waf_count_rules")
    @classmethod
    def _known_rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            group, colon, rule = entry.partition(":")
            whole_group = group in WAF_MANAGED_GROUPS and not colon
            one_rule = group in WAF_MANAGED_GROUPS and re.fullmatch(r"\w{1,128}", rule) is not None
            if entry == WAF_RATE_RULE or whole_group or one_rule:
                continue
            raise ValueError(
                f"{entry!r}: name {WAF_RATE_RULE}, a managed group ({', '.join(WAF_MANAGED_GROUPS)}) or "
                "<group>:<rule>, e.g. AWSManagedRulesCommonRuleSet:NoUserAgent_HEADER"
            )
        return value

    @field_validator("price_class", mode="before")
    @classmethod
    def _normalize_price_class(cls, value: Any) -> Any:
        # The recipe accepted "100"/"ALL"; CloudFormation spells it PriceClass_100.
        if isinstance(value, str) and not value.startswith("PriceClass_"):
            return f"PriceClass_{value.capitalize() if value.lower() == 'all' else value}"
        return value

    @model_validator(mode="after")
    def _domain_needs_certificate(self) -> EdgeConfig:
        if (self.domain_name is None) != (self.certificate_arn is None):
            raise ValueError(
                "domain_name and certificate_arn go together: CloudFront serves a custom domain only "
                "with an ACM certificate from us-east-1 that covers it; set both or neither"
            )
        return self


class DatabaseConfig(_Model):
    """Aurora DSQL clusters, one per region.

    Defaults: Name tag ``ecommerce-cluster``, clusters retained when the stack is deleted, deletion
    protection following that (on with ``retain``, off with ``destroy``), AWS-owned encryption key,
    new clusters (nothing adopted), database roles ``ecommerce_catalog`` / ``ecommerce_orders``,
    peers never removed (``allow_unpeer`` false), orders placed with one data-modifying statement
    (``order_strategy: cte``).
    """

    cluster_name: str = Field("ecommerce-cluster", min_length=1, max_length=256)
    deletion_protection: bool | None = None  # None: follows removal_policy
    removal_policy: Literal["retain", "destroy"] = "retain"
    # KMS keys are regional: one customer managed key ARN per region that should use one.
    kms_key_arns: dict[str, str] = Field(default_factory=dict)
    # Adopt existing clusters (region -> 26-character identifier) instead of creating them.
    existing_cluster_identifiers: dict[str, str] = Field(default_factory=dict)
    # Each function logs in as its own role, <role_prefix>_catalog / <role_prefix>_orders.
    role_prefix: str = Field("ecommerce", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    # A deployment that drops a region may remove that peer from the pair only with this opt-in.
    allow_unpeer: bool = False
    # IAM tag conditions on the cluster lifecycle (DsqlCluster tag_conditions); false is the fallback
    # should DSQL not evaluate them as documented (docs/dsql-clusters.md, "What the fake believes").
    lifecycle_tag_conditions: bool = True
    # How the functions place and cancel orders; "pipelined" if DSQL answers the CTE with 0A000.
    order_strategy: Literal["cte", "pipelined"] = "cte"

    @model_validator(mode="after")
    def _protection_can_be_honoured(self) -> DatabaseConfig:
        if self.deletion_protection and self.removal_policy == "destroy":
            raise ValueError(
                "deletion_protection: true with removal_policy: destroy can never delete the cluster "
                "(DSQL refuses to); remove deletion_protection (it follows removal_policy) or set "
                "removal_policy: retain"
            )
        return self

    @field_validator("existing_cluster_identifiers")
    @classmethod
    def _identifiers_look_right(cls, value: dict[str, str]) -> dict[str, str]:
        for region, identifier in value.items():
            if not CLUSTER_IDENTIFIER.fullmatch(identifier):
                raise ValueError(
                    f"{region}: {identifier!r} is not a DSQL cluster identifier (26 lowercase letters and "
                    "digits, the first label of the cluster endpoint)"
                )
        return value

    @field_validator("kms_key_arns")
    @classmethod
    def _kms_arns_match_region(cls, value: dict[str, str]) -> dict[str, str]:
        for region, arn in value.items():
            if not re.fullmatch(rf"arn:aws[a-z-]*:kms:{re.escape(region)}:\d{{12}}:key/[0-9a-f-]+", arn):
                raise ValueError(
                    f"{region}: {arn!r} is not a KMS key ARN in {region} (a DSQL cluster can only use a "
                    "key from its own region: arn:aws:kms:<region>:<account>:key/<id>)"
                )
        return value


class ApiConfig(_Model):
    """API Gateway REST API per region, throttled per method. Defaults: anonymous routes 25
    requests/s (burst 50) each, routes that need a token 50/s (burst 100) each, no CORS origins.
    Anonymous routes are the tighter ones: a flood of catalog reads must not take the account's
    Lambda concurrency from checkout (CloudFront caches those reads, so real shoppers rarely reach
    the limit)."""

    throttle_rate_limit: float = Field(25.0, gt=0, le=10_000)
    throttle_burst_limit: int = Field(50, ge=1, le=5_000)
    authenticated_throttle_rate_limit: float = Field(50.0, gt=0, le=10_000)
    authenticated_throttle_burst_limit: int = Field(100, ge=1, le=5_000)
    cors_origins: tuple[str, ...] = ()

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin: use scheme://host[:port] with no path")
        return value


class FunctionMemory(_Model):
    """Memory per Lambda function in MB (128-10240). Defaults: browse (anonymous catalog reads) 256,
    products (the Catalog function) 256, orders 512."""

    browse: int = Field(256, ge=128, le=10_240)
    products: int = Field(256, ge=128, le=10_240)
    orders: int = Field(512, ge=128, le=10_240)


class ReservedConcurrency(_Model):
    """Concurrent executions reserved for (and capping) each function. Defaults: none reserved
    (the account's unreserved pool; Lambda refuses a reservation that leaves under 100 unreserved,
    and a new account's quota can be 10, so a default reservation would fail its first deploy).
    Synthesis warns, naming the quota to check, for every reservation set. ``browse`` caps the
    anonymous catalog reads: with ``orders`` reserved too, a flood of reads cannot starve orders."""

    browse: int | None = Field(None, ge=1, le=10_000)
    products: int | None = Field(None, ge=1, le=10_000)
    orders: int | None = Field(None, ge=1, le=10_000)


class LambdaConfig(_Model):
    """Lambda settings. Defaults: the memory above, 10 s timeout, arm64 (Graviton), no SnapStart,
    no reserved concurrency."""

    memory: FunctionMemory = FunctionMemory()
    reserved_concurrency: ReservedConcurrency = ReservedConcurrency()
    timeout_seconds: int = Field(10, ge=1, le=900)
    architecture: Literal["arm64", "x86_64"] = "arm64"
    snap_start: bool = False

    @field_validator("timeout_seconds")
    @classmethod
    def _clamp_to_api_gateway(cls, value: int) -> int:
        if value > API_GATEWAY_INTEGRATION_TIMEOUT:
            warnings.warn(
                f"lambda.timeout_seconds={value} exceeds API Gateway's {API_GATEWAY_INTEGRATION_TIMEOUT} s "
                f"integration timeout; using {API_GATEWAY_INTEGRATION_TIMEOUT} s (clients would see a 504 "
                "while the function kept running)",
                ConfigWarning,
                stacklevel=2,
            )
            return API_GATEWAY_INTEGRATION_TIMEOUT
        return value


_REDIRECT_URL = re.compile(r"^(https://[^\s/]+|http://localhost(:\d+)?)(/\S*)?$")


class IdentityConfig(_Model):
    """Who may call the API (docs/security.md). Defaults: new Cognito user pools (customers', and
    operators' with MFA required) in the primary region's stack on the Essentials plan
    (``threat_protection: true`` selects Plus, billed per monthly active user; the ready-made
    ``config/regions.yaml`` does), ID tokens valid 60 minutes, the storefront's redirect URLs on
    http://localhost:3000.

    ``user_pool_arn`` trusts an existing customers' pool instead (any region of the partition) and
    ``operator_pool_arn`` an existing operators' pool [None: nobody is an operator; require MFA in
    that pool]; the other keys then do not apply. A group in a pool grants nothing.
    """

    user_pool_arn: str | None = None
    operator_pool_arn: str | None = None
    threat_protection: bool = False
    token_validity_minutes: int = Field(60, ge=5, le=1440)
    callback_urls: tuple[str, ...] = Field(("http://localhost:3000/callback",), min_length=1)
    logout_urls: tuple[str, ...] = Field(("http://localhost:3000/",), min_length=1)

    @field_validator("user_pool_arn", "operator_pool_arn")
    @classmethod
    def _a_user_pool_arn(cls, value: str | None) -> str | None:
        if value is None:
            return value
        found = re.fullmatch(
            r"arn:aws[a-z-]*:cognito-idp:([a-z0-9-]+):\d{12}:userpool/([a-z0-9-]+)_\w+", value
        )
        if found is None or found[1] != found[2]:
            raise ValueError(
                f"{value!r} is not a user pool ARN: "
                "arn:aws:cognito-idp:<region>:<account>:userpool/<region>_<id>"
            )
        return value

    @model_validator(mode="after")
    def _operators_with_customers(self) -> IdentityConfig:
        if self.operator_pool_arn is not None and self.user_pool_arn is None:
            raise ValueError(
                "operator_pool_arn goes with user_pool_arn: without user_pool_arn the stack creates both "
                "pools itself"
            )
        if self.operator_pool_arn is not None and self.operator_pool_arn == self.user_pool_arn:
            raise ValueError(
                "operator_pool_arn must be another pool than user_pool_arn: operators are told apart "
                "from customers by the pool that signed their token"
            )
        return self

    @field_validator("callback_urls", "logout_urls")
    @classmethod
    def _cognito_accepts_them(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not _REDIRECT_URL.match(url):
                raise ValueError(f"{url!r}: Cognito accepts https:// URLs, and http:// only for localhost")
        return value


class MonitoringConfig(_Model):
    """Observability. Defaults: alarms on, notifying an SNS topic per region (plus the edge's) with
    no subscriber, X-Ray tracing off, logs kept 30 days.

    ``alarm_email`` subscribes an address to every alarm topic; ``alarm_topic_arns`` (region ->
    topic ARN in that region) notifies existing topics instead of creating them.
    """

    enabled: bool = True
    tracing: bool = False
    log_retention_days: int = 30
    alarm_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    alarm_topic_arns: dict[str, str] = Field(default_factory=dict)

    @field_validator("alarm_topic_arns")
    @classmethod
    def _topics_in_their_region(cls, value: dict[str, str]) -> dict[str, str]:
        for region, arn in value.items():
            if not re.fullmatch(rf"arn:aws[a-z-]*:sns:{re.escape(region)}:\d{{12}}:[\w-]{{1,256}}", arn):
                raise ValueError(
                    f"{region}: {arn!r} is not an SNS topic ARN in {region} (alarms notify topics of "
                    "their own region: arn:aws:sns:<region>:<account>:<name>)"
                )
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _valid_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention period; use one of "
                f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        return value


class VaultLockConfig(_Model):
    """AWS Backup Vault Lock in compliance mode (``ShopBackup``'s ``VaultLock``): recovery points can
    be deleted by nobody before ``min_retention_days``, and kept no longer than
    ``max_retention_days`` [None: no maximum]; the lock is removable for ``changeable_for_days``
    [3, the least AWS Backup accepts], immutable afterwards."""

    min_retention_days: int = Field(ge=1, le=36_500)
    max_retention_days: int | None = Field(None, ge=1, le=36_500)
    changeable_for_days: int = Field(3, ge=3, le=36_500)


class BackupConfig(_Model):
    """AWS Backup of the clusters (docs/operations.md, "Backup and restore"). Defaults: off
    (``config/regions.yaml`` turns it on for the ready-made app); when on, a vault per region, a
    daily backup at 05:00 UTC (``schedule``, an AWS Backup cron expression), recovery points kept 35
    days (``retention_days``) in the region and as a copy in the peer region's vault, no vault lock
    (``vault_lock``: compliance mode with ``min_retention_days``), the region's opt-in to AWS Backup
    for DSQL checked at deploy time (``opt_in: enable`` lets the deploy set this account setting).
    ``copy_region``: where a single-region deployment copies to [None: no copy]; a two-region
    deployment always copies to the other region."""

    enabled: bool = False
    retention_days: int = Field(35, ge=1, le=36_500)
    schedule: str = Field("cron(0 5 * * ? *)", pattern=r"^cron\([^()]+\)$")
    vault_lock: VaultLockConfig | None = None
    opt_in: Literal["check", "enable"] = "check"
    copy_region: str | None = None

    @model_validator(mode="after")
    def _retention_within_lock(self) -> BackupConfig:
        lock = self.vault_lock
        if lock is None:
            return self
        if lock.max_retention_days is not None and lock.max_retention_days < lock.min_retention_days:
            raise ValueError("vault_lock.max_retention_days must not be below vault_lock.min_retention_days")
        if self.retention_days < lock.min_retention_days or (
            lock.max_retention_days is not None and self.retention_days > lock.max_retention_days
        ):
            raise ValueError(
                f"retention_days ({self.retention_days}) must lie within the vault lock's retention "
                "bounds, or AWS Backup refuses every backup"
            )
        return self


class PruneConfig(_Model):
    """The pruning job (docs/operations.md, "Pruning"): expired idempotency records and outbox rows
    older than ``outbox_retention_days`` [14; more than the week DSQL keeps undelivered change-stream
    records] are deleted in the region that runs the database setup, every hour (``schedule``, an
    EventBridge ``rate(...)`` or ``cron(...)``), in transactions of ``batch_size`` rows [500; DSQL
    allows 3,000], for at most ``budget_seconds`` per run [60]. Default: on."""

    enabled: bool = True
    schedule: str = Field("rate(1 hour)", pattern=r"^(rate|cron)\([^()]+\)$")
    batch_size: int = Field(500, ge=1, le=2_000)
    budget_seconds: int = Field(60, ge=10, le=840)
    outbox_retention_days: int = Field(14, ge=8, le=3_650)


class EventsConfig(_Model):
    """Order events (docs/events.md): the outbox's rows relayed by a DSQL change stream to an
    EventBridge bus. Defaults: off (the stream and its Kinesis stream bill while idle; the ready-made
    app's config/regions.yaml turns it on), the bus's archive keeps events 30 days, the publisher
    retries a batch for at most 7 days (DSQL keeps undelivered changes one week).

    One stream, in the region whose stack completes the database pair (CreateStream needs an ACTIVE
    cluster; a stream on one peer captures every region's commits)."""

    enabled: bool = False
    archive_retention_days: int = Field(30, ge=0, le=3650)  # 0: keep forever
    #: 168: the publisher's retries reach only records Kinesis still holds (7 days, like DSQL's own
    #: retention of undelivered changes); Kinesis bills the hours beyond 24.
    kinesis_retention_hours: int = Field(168, ge=24, le=8760)
    #: Raise by one to replace the change stream (a FAILED stream cannot recover: docs/events.md).
    stream_generation: int = Field(1, ge=1)


class EcommerceConfig(_Model):
    """Everything a deployment needs. Defaults describe the reference deployment: two peered
    regions (us-east-1 primary, us-east-2) with witness us-west-2, plus the CloudFront edge."""

    app_name: str = Field("ecommerce", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    account: str | None = Field(None, pattern=r"^\d{12}$")
    regions: tuple[str, ...] = ("us-east-1", "us-east-2")
    primary_region: str | None = None
    witness_region: str | None = "us-west-2"
    edge: EdgeConfig = EdgeConfig()
    database: DatabaseConfig = DatabaseConfig()
    api: ApiConfig = ApiConfig()
    identity: IdentityConfig = IdentityConfig()
    lambda_: LambdaConfig = Field(LambdaConfig(), alias="lambda")
    monitoring: MonitoringConfig = MonitoringConfig()
    backup: BackupConfig = BackupConfig()
    prune: PruneConfig = PruneConfig()
    events: EventsConfig = EventsConfig()
    tags: dict[str, str] = Field(default_factory=lambda: {"Project": "ecommerce"})

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, value: dict[str, str]) -> dict[str, str]:
        # The clusters carry these tags, so DSQL's tag rules apply (a comma fails CreateCluster).
        if problems := tag_problems(value):
            raise ValueError("; ".join(problems) + " (Aurora DSQL's TagResource rules)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_default_witness_for_one_region(cls, data: Any) -> Any:
        # The default witness belongs to the default region pair, not to a single-region file.
        if isinstance(data, dict) and "witness_region" not in data:
            regions = data.get("regions")
            if isinstance(regions, list | tuple) and len(regions) == 1:
                return {**data, "witness_region": None}
        return data

    @model_validator(mode="after")
    def _topology(self) -> EcommerceConfig:
        _check_topology(self)
        return self

    def backup_copy_region(self, region: str) -> str | None:
        """Where ``region``'s recovery points are copied: the other region of a pair, else
        ``backup.copy_region``."""
        if self.multi_region:
            return next(r for r in self.regions if r != region)
        return self.backup.copy_region

    def backup_vault_name(self, region: str) -> str:
        """The vault of ``region``, named so the peer region's plan can copy into it by name (AWS
        Backup vault names hold at most 50 characters: the app name is shortened to fit)."""
        suffix = f"-{region}-dsql"
        return self.app_name[: 50 - len(suffix)] + suffix

    @property
    def primary(self) -> str:
        """The primary region: receives edge writes; defaults to the first region."""
        return self.primary_region or self.regions[0]

    @property
    def multi_region(self) -> bool:
        return len(self.regions) == 2

    def stack_name(self, region: str) -> str:
        return f"{self.app_name}-{region}"

    @property
    def edge_stack_name(self) -> str:
        return f"{self.app_name}-edge"


class _TopologyError(ValueError):
    """Topology problems carry their own key, which pydantic's model-level location lacks."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(reason)


def _check_topology(config: EcommerceConfig) -> None:
    regions = config.regions
    if len(regions) not in (1, 2) or len(set(regions)) != len(regions):
        raise _TopologyError(
            "regions",
            f"list one region, or two distinct peered regions (got {list(regions)}): DSQL peers exactly two "
            "regional clusters, both in one region set, plus a witness region from the same set "
            f"({describe_region_sets()}); cross-continent peering is impossible",
        )
    for region in regions:
        if region not in DSQL_REGIONS:
            raise _TopologyError(
                "regions",
                f"{region} does not offer AWS::DSQL::Cluster; choose from {', '.join(sorted(DSQL_REGIONS))}",
            )
    if config.primary_region is not None and config.primary_region not in regions:
        raise _TopologyError(
            "primary_region", f"{config.primary_region} must be one of regions {list(regions)}"
        )
    for region in (*config.database.existing_cluster_identifiers, *config.database.kms_key_arns):
        if region not in regions:
            raise _TopologyError("database", f"{region} is not one of the configured regions {list(regions)}")
    if config.backup.enabled:
        _check_backup_copies(config)
    if len(regions) == 1:
        if config.witness_region is not None:
            raise _TopologyError(
                "witness_region",
                "a witness region only exists for two peered regions; remove it (set it to null) for a "
                "single-region deployment",
            )
        return
    first, second = regions
    sets = {region_set_of(first), region_set_of(second)}
    if None in sets or len(sets) != 1:
        raise _TopologyError(
            "regions",
            f"{first} and {second} cannot be peered: DSQL peers clusters only inside one region set "
            f"({describe_region_sets()}); pick both regions from the same set",
        )
    set_name = region_set_of(first)
    assert set_name is not None  # checked above
    witness = config.witness_region
    if witness is None:
        raise _TopologyError(
            "witness_region",
            f"two peered regions need a witness region from the {set_name} set that is neither "
            f"{first} nor {second}",
        )
    if witness in regions or region_set_of(witness) != set_name:
        raise _TopologyError(
            "witness_region",
            f"{witness} cannot witness {first} + {second}: the witness must differ from both regions and "
            f"be in the same region set ({set_name}: {', '.join(sorted(REGION_SETS[set_name]))})",
        )


def _check_backup_copies(config: EcommerceConfig) -> None:
    if config.multi_region and config.backup.copy_region is not None:
        raise _TopologyError(
            "backup.copy_region",
            "two peered regions copy their backups to each other; remove copy_region",
        )
    for region in config.regions:
        target = config.backup_copy_region(region)
        if target is not None and (refusal := copy_refusal(region, target)):
            key = "backup.copy_region" if not config.multi_region else "regions"
            raise _TopologyError(key, refusal)


# --------------------------------------------------------------------------------------------
# Loading


def resolve_config_path(context: Mapping[str, Any] | None = None) -> Path:
    """``-c config=<file>`` wins over ``$ECOMMERCE_CONFIG``, which wins over config/regions.yaml."""
    explicit = (context or {}).get(CONFIG_CONTEXT_KEY) or os.environ.get(CONFIG_ENV_VAR)
    return Path(explicit) if explicit else DEFAULT_CONFIG_PATH


def load_config(path: Path | str | None = None, context: Mapping[str, Any] | None = None) -> EcommerceConfig:
    """Read the YAML file, apply context overrides and validate.

    ``context`` is the CDK context (``app.node.try_get_context`` values); only ``CONTEXT_KEYS``
    and ``config`` are read from it, and ``None`` values (as in cdk.json) mean "not overridden".
    """
    config_path = Path(path) if path is not None else resolve_config_path(context)
    source = str(config_path)
    raw = _read_yaml(config_path)
    overrides = {
        key: value for key, value in (context or {}).items() if key in CONTEXT_KEYS and value is not None
    }
    for key, value in overrides.items():
        _set_dotted(raw, CONTEXT_KEYS[key], value)
    return validate_config(raw, source=source, overrides=overrides)


def validate_config(
    raw: Mapping[str, Any], *, source: str = "<config>", overrides: Mapping[str, Any] | None = None
) -> EcommerceConfig:
    """Validate a mapping, turning pydantic's errors into one ConfigError naming file and key."""
    try:
        return EcommerceConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, source, overrides or {}) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            str(path),
            "(file)",
            f"not found; create it (see docs/configuration.md), pass -c {CONFIG_CONTEXT_KEY}=<file> or set "
            f"{CONFIG_ENV_VAR}",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError(str(path), where, f"is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(top level)", "must be a mapping of keys to values")
    return data


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def _config_error(exc: ValidationError, source: str, overrides: Mapping[str, Any]) -> ConfigError:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _TopologyError):
        location = cause.key if not location else f"{location}.{cause.key}"
        reason = str(cause)
    elif error["type"] == "extra_forbidden":
        reason = "unknown key; remove it or fix its spelling (see docs/configuration.md for every key)"
    else:
        reason = error["msg"].removeprefix("Value error, ")
        if "input" in error and not isinstance(error["input"], dict | list):
            reason = f"{reason} (got {error['input']!r})"
    for context_key, value in overrides.items():
        if CONTEXT_KEYS[context_key] == location:
            return ConfigError(f"cdk context -c {context_key}={value}", location, reason)
    return ConfigError(source, location or "(top level)", reason)
