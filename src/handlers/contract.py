"""The contracts between synthesis and the Lambda code, each in one place.

Standard library only, and no imports from this package: ``ecommerce_constructs`` loads this file
by path from the ``handlers`` directory that ships beside it (never ``import handlers``, which in a
user's CDK app may resolve to their own package), and the handlers import it as usual. What the
constructs put into a function's environment and what :mod:`handlers.settings` reads from it are
both spelled here; ``tests/infra/test_contract.py`` checks that they agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: Marks the directory as this distribution's Lambda code (the constructs check it before bundling).
DISTRIBUTION: Final = "ecommerce-constructs"

#: PostgreSQL role a process logs in as when nothing says otherwise (local runs).
DEFAULT_APP_ROLE: Final = "ecommerce_app"
#: Each function logs in as its own role, ``<prefix>_<function>`` (created at deploy time).
DEFAULT_ROLE_PREFIX: Final = "ecommerce"


def db_role(function: str, prefix: str = DEFAULT_ROLE_PREFIX) -> str:
    """The database role of one function: only the privileges its routes need."""
    return f"{prefix}_{function}"


#: DSQL's built-in role: migrations only, with ``dsql:DbConnectAdmin`` tokens.
ADMIN_ROLE: Final = "admin"

#: The Amazon Trust Services roots (Amazon Root CA 1-4, Starfield Services G2), shipped beside this
#: file in every asset: DSQL's and API Gateway's certificates chain to them. Never the host's trust
#: store: psycopg-binary's OpenSSL looks for /usr/lib/psycopg-openssl/cert.pem, which Lambda lacks,
#: and Lambda's Python runtime sets no SSL_CERT_FILE (docs/data-layer.md, "TLS trust").
TRUST_FILE_NAME: Final = "amazon-trust-services.pem"


def default_trust_file() -> str:
    return str(Path(__file__).resolve().parent / TRUST_FILE_NAME)


#: DSQL endpoints live under ``on.aws`` in every partition (not the partition's URL suffix).
DSQL_ENDPOINT_SUFFIX: Final = "on.aws"


#: Tags the cluster resource keeps on every cluster it creates or adopts: who owns it
#: (``<stack name>/<logical id>``, which survives a stack deleted and created again) and that this
#: library manages it (the lifecycle functions' IAM policies require it to change or delete one).
DSQL_OWNER_TAG: Final = "ecommerce:owner"
DSQL_MANAGED_BY_TAG: Final = "ecommerce:managed-by"
DSQL_MANAGED_BY_VALUE: Final = "ecommerce-constructs"


class DsqlClusterProperty:
    """Properties of ``Custom::DsqlCluster`` (the construct writes them, the handler reads them)."""

    REGION: Final = "Region"
    WITNESS_REGION: Final = "WitnessRegion"
    PEER_ARN: Final = "PeerArn"
    DELETION_PROTECTION: Final = "DeletionProtection"
    KMS_KEY: Final = "KmsKey"
    TAGS: Final = "Tags"
    REMOVAL_POLICY: Final = "RemovalPolicy"
    ALLOW_UNPEER: Final = "AllowUnpeer"
    OWNER: Final = "Owner"
    #: IAM role ARNs that alone may connect as ``admin``: the cluster resource policy denies
    #: ``dsql:DbConnectAdmin`` to every other principal (absent or empty: no policy is managed).
    ADMIN_ROLE_ARNS: Final = "AdminRoleArns"


class DsqlStreamProperty:
    """Properties of ``Custom::DsqlStream`` (the DsqlChangeStream construct writes them, the handler
    handlers/infra/dsql_stream.py reads them)."""

    REGION: Final = "Region"
    CLUSTER_IDENTIFIER: Final = "ClusterIdentifier"
    KINESIS_STREAM_ARN: Final = "KinesisStreamArn"
    ROLE_ARN: Final = "RoleArn"
    TAGS: Final = "Tags"
    #: Raising it replaces the stream (the way to recreate a FAILED one: docs/events.md).
    GENERATION: Final = "Generation"


#: The events pipeline's own health: the stream status check's metric (namespace
#: ``METRICS_NAMESPACE``, dimension ``StreamId``): 1 while the stream delivers, 0 when it does not.
STREAM_DELIVERING_METRIC: Final = "ChangeStreamDelivering"


class DatabaseSetupProperty:
    """Properties of ``Custom::DatabaseSetup`` (the construct writes them, the handler reads them)."""

    ENDPOINT: Final = "Endpoint"
    REGION: Final = "Region"
    #: ``[{Endpoint, Region}]`` of the peer clusters the schema is verified on.
    PEER_ENDPOINTS: Final = "PeerEndpoints"
    FUNCTION_ROLE_ARNS: Final = "FunctionRoleArns"
    ROLE_PREFIX: Final = "RolePrefix"
    SCHEMA_VERSION: Final = "SchemaVersion"


class EdgeHealthEnv:
    """Environment of the edge health checker (``EdgeHealthChecker`` sets it, ``infra.edge_health``
    reads it)."""

    KVS_ARN: Final = "KVS_ARN"
    #: JSON ``[{region, health_url}]``.
    REGIONS: Final = "REGIONS"
    ORIGIN_SECRET_ARN: Final = "ORIGIN_SECRET_ARN"  # noqa: S105 - a variable name
    ORIGIN_SECRET_HEADER: Final = "ORIGIN_SECRET_HEADER"  # noqa: S105 - a variable name
    CHECKER: Final = "CHECKER"
    CHECKERS: Final = "CHECKERS"
    FAIL_THRESHOLD: Final = "FAIL_THRESHOLD"
    RESTORE_THRESHOLD: Final = "RESTORE_THRESHOLD"
    QUORUM: Final = "QUORUM"
    OBSERVATION_TTL_SECONDS: Final = "OBSERVATION_TTL_SECONDS"
    PROBES: Final = "PROBES"
    PROBE_INTERVAL_SECONDS: Final = "PROBE_INTERVAL_SECONDS"
    PROBE_TIMEOUT_SECONDS: Final = "PROBE_TIMEOUT_SECONDS"


class Output:
    """Stack output keys the operator tools (``ecommerce_ops``) read from a deployment."""

    API_ENDPOINT: Final = "EcommerceApiEndpoint"  # every regional stack
    USER_POOL_ID: Final = "UserPoolId"  # the primary regional stack, and the next five
    USER_POOL_ARN: Final = "UserPoolArn"
    STOREFRONT_CLIENT_ID: Final = "StorefrontClientId"
    TOOLS_CLIENT_ID: Final = "ToolsClientId"
    OPERATOR_POOL_ID: Final = "OperatorPoolId"
    OPERATOR_CLIENT_ID: Final = "OperatorClientId"
    ORIGIN_SECRET_ARN: Final = "OriginSecretArn"  # noqa: S105 - primary regional stack
    ORIGIN_WEB_ACL_ARN: Final = "OriginWebAclArn"  # every regional stack, with the edge
    CLUSTER_ENDPOINT: Final = "ClusterEndpoint"  # every regional stack
    DISTRIBUTION_ID: Final = "DistributionId"  # edge stack
    DISTRIBUTION_DOMAIN_NAME: Final = "EcommerceDistributionDomainName"  # edge stack
    EDGE_DRAIN_STORE_ARN: Final = "EdgeDrainStoreArn"  # edge stack
    BACKUP_VAULT_NAME: Final = "BackupVaultName"  # every regional stack, with backups
    BACKUP_RESTORE_ROLE_ARN: Final = "BackupRestoreRoleArn"  # every regional stack, with backups


class EdgeKey:
    """Keys of the edge's drain state (CloudFront KeyValueStore): written by ``ecommerce edge`` and
    the health checkers (``handlers.infra.edge_state``), read by the router (``edge/router.js``,
    which spells the two it reads: tests/integration/test_edge_function.py compares)."""

    #: ``drained:<region>`` = ``true`` (trimmed, any case): the router skips the region.
    DRAIN_PREFIX: Final = "drained:"
    DRAINED_VALUE: Final = "true"
    #: Marks a drain the health checker made: it restores only its own drains, so an operator's
    #: maintenance drain holds until an operator restores it.
    AUTO_PREFIX: Final = "auto-drained:"
    #: Per-(region, checker) health observations: ``health:<region>:<checker>``.
    HEALTH_PREFIX: Final = "health:"
    #: The router's switch: ``off`` = no per-request origin groups.
    FAILOVER_GROUPS: Final = "failover-groups"
    #: The checkers' switch: ``off`` = record and restore, never drain.
    AUTO_DRAIN: Final = "auto-drain"


#: The header CloudFront adds to every origin request; each region's web ACL lets only requests
#: that carry the current (or, while rotating, the previous) secret value through.
ORIGIN_HEADER: Final = "X-Origin-Verify"
#: The key of the header's value in its Secrets Manager secret (a JSON document).
ORIGIN_SECRET_JSON_KEY: Final = "HEADERVALUE"  # noqa: S105 - a key name, not a secret
#: The web ACL rule that allows requests carrying the header.
ORIGIN_WAF_RULE: Final = "AllowFromEdge"


def dsql_endpoint(cluster_identifier: str, region: str) -> str:
    """``<cluster-id>.dsql.<region>.on.aws`` (works with CDK tokens as well as plain strings)."""
    return f"{cluster_identifier}.dsql.{region}.{DSQL_ENDPOINT_SUFFIX}"


def region_of_endpoint(endpoint: str | None) -> str | None:
    """The region named by a DSQL endpoint, or None when it is not one."""
    parts = (endpoint or "").split(".")
    if len(parts) == 5 and parts[1] == "dsql" and ".".join(parts[3:]) == DSQL_ENDPOINT_SUFFIX:
        return parts[2]
    return None


class Env:
    """Names of the Lambda environment variables the constructs set and the handlers read."""

    DSQL_ENDPOINT: Final = "DSQL_ENDPOINT"
    DSQL_REGION: Final = "DSQL_REGION"
    DB_USER: Final = "DB_USER"
    CORS_ORIGINS: Final = "CORS_ORIGINS"
    SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
    METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
    TRACE_DISABLED: Final = "POWERTOOLS_TRACE_DISABLED"
    ORDER_STRATEGY: Final = "ORDER_STRATEGY"
    #: The ``iss`` claim of the operators' user pool: a token from that pool is an operator's
    #: (``https://cognito-idp.<region>.amazonaws.com/<pool id>``) [``LOCAL_OPERATOR_ISSUER`` locally;
    #: none in Lambda or with ``DSQL_ENDPOINT`` unless ``LOCAL_DSN`` is set].
    OPERATOR_ISSUER: Final = "OPERATOR_ISSUER"
    # Not set by the constructs: local runs, tools and tests.
    #: PEM file of the roots the functions verify their own TLS connections against (DSQL's
    #: PostgreSQL endpoints, the health checker's probes of API Gateway) [``default_trust_file()``,
    #: the Amazon Trust Services roots in the asset]. Tests point it at a test CA.
    TRUST_FILE: Final = "ECOMMERCE_TRUST_FILE"
    LOCAL_DSN: Final = "ECOMMERCE_LOCAL_DSN"
    DB_ADMIN: Final = "DB_ADMIN"
    DB_CONNECT_TIMEOUT: Final = "DB_CONNECT_TIMEOUT"
    DB_APPLICATION_NAME: Final = "DB_APPLICATION_NAME"
    DB_MAX_CONNECTION_AGE: Final = "DB_MAX_CONNECTION_AGE"


#: How orders are placed and cancelled: one data-modifying statement, or the same work as separate
#: pipelined statements (the hedge for DSQL rejecting data-modifying CTEs; docs/data-layer.md).
ORDER_STRATEGIES: Final = ("cte", "pipelined")
DEFAULT_ORDER_STRATEGY: Final = "cte"

SERVICE_NAME: Final = "ecommerce"
METRICS_NAMESPACE: Final = "Ecommerce"

#: Lambda functions of the shop API: logical name -> handler entry point. ``browse`` serves the
#: anonymous catalog reads under a database role that can read only the catalog.
FUNCTIONS: Final = {
    "browse": "handlers.api.browse.handler",
    "catalog": "handlers.api.catalog.handler",
    "orders": "handlers.api.orders.handler",
}
#: Scheduled jobs with a database role of their own (``handlers.db.roles.JOB_PRIVILEGES``).
JOBS: Final = {"prune": "handlers.maintenance.prune.handler"}


#: The only request body media type the API accepts (parameters such as charset are allowed).
JSON_MEDIA_TYPE: Final = "application/json"
#: RFC 9457 problem details: every error of the API, whether a handler, API Gateway itself or the
#: local runtime answers, has this media type, a ``type`` under this base and the region header.
PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_BASE: Final = "urn:ecommerce:problem:"
REGION_HEADER: Final = "X-Serving-Region"


def problem_body(code: str, title: str, status: int, detail: str) -> str:
    """A problem document as the handlers render it (``handlers.api.models.Problem``)."""
    return json.dumps(
        {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "detail": detail},
        separators=(",", ":"),
    )


#: Who may call a route. API Gateway enforces the token (anonymous routes have none); the
#: handlers decide "operator" and ownership from the claims API Gateway passes on.
ANONYMOUS: Final = "anonymous"  # anyone, no token
CUSTOMER: Final = "customer"  # a valid token; customers act on their own data, operators on anyone's
OPERATOR: Final = "operator"  # a valid token issued by the operators' user pool (MFA required there)
#: The issuer of the local operators' pool (``make dev``, tests): what ``Settings`` assumes when
#: ``OPERATOR_ISSUER`` is unset. The constructs always set it; API Gateway accepts only tokens of
#: the pools it trusts, so a deployed function never sees this issuer.
LOCAL_OPERATOR_ISSUER: Final = "https://cognito-idp.local.amazonaws.com/local_operators"
#: What the constructs set when a deployment has no operators' pool: an issuer no token carries.
NO_OPERATOR_ISSUER: Final = "urn:ecommerce:no-operators"
#: The OpenAPI security scheme of authenticated routes: a Cognito ID token as a bearer token.
SECURITY_SCHEME: Final = "cognitoIdToken"


@dataclass(frozen=True)
class Route:
    """One operation of the REST API. ``path`` uses API Gateway's ``{param}`` syntax; ``body``
    says whether it takes a JSON request body; ``access`` who may call it."""

    operation: str
    method: str
    path: str
    function: str
    access: str
    body: bool = False


#: Every operation the API offers. API Gateway's resources and methods, the handlers' routes,
#: the local runtime's router and the OpenAPI document are all generated from this table.
ROUTES: Final = (
    Route("health", "GET", "/health", "browse", ANONYMOUS),
    Route("list_products", "GET", "/products", "browse", ANONYMOUS),
    Route("create_product", "POST", "/products", "catalog", OPERATOR, body=True),
    Route("get_product", "GET", "/products/{product_id}", "browse", ANONYMOUS),
    Route("update_product", "PATCH", "/products/{product_id}", "catalog", OPERATOR, body=True),
    Route("retire_product", "DELETE", "/products/{product_id}", "catalog", OPERATOR),
    Route("create_customer", "POST", "/customers", "catalog", CUSTOMER, body=True),
    Route("get_my_customer", "GET", "/customers/me", "catalog", CUSTOMER),
    Route("get_customer", "GET", "/customers/{customer_id}", "catalog", CUSTOMER),
    Route("list_customer_orders", "GET", "/customers/{customer_id}/orders", "catalog", CUSTOMER),
    Route("place_order", "POST", "/orders", "orders", CUSTOMER, body=True),
    Route("get_order", "GET", "/orders/{order_id}", "orders", CUSTOMER),
    Route("cancel_order", "POST", "/orders/{order_id}/cancel", "orders", CUSTOMER),
)


#: Every method API Gateway REST knows; a resource answers 405 for the ones it does not define.
HTTP_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def route(operation: str) -> Route:
    for candidate in ROUTES:
        if candidate.operation == operation:
            return candidate
    raise KeyError(f"no operation {operation!r} in handlers.contract.ROUTES")


def find(method: str, resource: str) -> Route | None:
    """The route of ``method`` on an API Gateway resource path; HEAD finds the GET route."""
    wanted = "GET" if method.upper() == "HEAD" else method.upper()
    return next((r for r in ROUTES if r.path == resource and r.method == wanted), None)


def methods_by_path() -> dict[str, tuple[str, ...]]:
    """Path -> the methods it answers (GET implies HEAD, as HTTP requires)."""
    table: dict[str, list[str]] = {}
    for item in ROUTES:
        methods = table.setdefault(item.path, [])
        methods.append(item.method)
        if item.method == "GET":
            methods.append("HEAD")
    return {path: tuple(methods) for path, methods in table.items()}


def allow_header(resource: str) -> str:
    """The ``Allow`` header of an API Gateway resource path (its 405 answers carry it)."""
    return ", ".join(methods_by_path()[resource])


def method_not_allowed_body(resource: str) -> str:
    return problem_body(
        "method-not-allowed", "Method not allowed", 405, f"{resource} allows {allow_header(resource)}"
    )


#: The answer for a path no resource matches (API Gateway's own gateway response, and the local runtime's).
NO_ROUTE_BODY: Final = problem_body(
    "route-not-found", "No such route", 404, "no operation of this API has this path"
)


def unauthenticated_body(reason: str) -> str:
    """API Gateway's answer when its Cognito authorizer refuses the token (missing, invalid or
    expired); ``reason`` is the authorizer's message (``$context.error.message`` when deployed)."""
    return problem_body("unauthenticated", "Sign-in required", 401, reason)
