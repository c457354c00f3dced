"""The AWS side of the origin secret: reading the deployment, the web ACL rule, CloudFront's
origin headers, and how AWS errors read (values never appear in a message)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from handlers.contract import ORIGIN_HEADER, ORIGIN_WAF_RULE, Output
from handlers.contract import ORIGIN_SECRET_JSON_KEY as SECRET_JSON_KEY

from ._errors import RotationRefused, _StepError

if TYPE_CHECKING:
    from ecommerce_ops.deployment import Deployment


# Facts the templates must match (the CDK side builds them; see the module docstring).
CLOUDFRONT_REGION = "us-east-1"


class ClientFactory(Protocol):
    """What the code needs of ``boto3``: ``client(service, region_name=...)``."""

    def client(self, service_name: str, region_name: str) -> Any: ...


@dataclass(frozen=True)
class _WebAcl:
    arn: str
    region: str
    name: str
    id: str


@dataclass(frozen=True)
class _Targets:
    secret_arn: str
    secret_region: str
    replica_regions: tuple[str, ...]
    web_acls: tuple[_WebAcl, ...]
    apis: dict[str, str]
    distribution_id: str
    origin_ids: frozenset[str]


def _boto3() -> ClientFactory:
    import boto3

    factory: ClientFactory = boto3
    return factory


def _aws_error(exc: BaseException) -> str:
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return f"{exc}; configure AWS credentials for the account the app is deployed to"
    return str(exc)


def _error_code(exc: BaseException) -> str | None:
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _aws_errors() -> tuple[type[BaseException], ...]:
    import botocore.exceptions

    return (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def _region_of(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[3]:
        raise RotationRefused(f"{arn!r} is not a regional ARN")
    return parts[3]


def _in_region(arn: str, region: str) -> str:
    """A replica has the primary's ARN with its own region."""
    parts = arn.split(":", 5)
    parts[3] = region
    return ":".join(parts)


def _web_acl(arn: str) -> _WebAcl:
    # arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>
    resource = arn.split(":", 5)[-1].split("/")
    if len(resource) != 4 or resource[:2] != ["regional", "webacl"]:
        raise RotationRefused(f"{arn!r} is not a regional WAFv2 web ACL ARN")
    return _WebAcl(arn, _region_of(arn), resource[2], resource[3])


def _targets(deployment: Deployment) -> _Targets:
    from ecommerce_constructs.regions import EDGE_REGION
    from ecommerce_ops.deployment import DeploymentError

    config = deployment.config
    if not config.edge.enabled:
        raise RotationRefused(
            "the edge is disabled in the configuration: there is no origin secret to rotate"
        )
    try:
        secret_arn = deployment.output(config.stack_name(config.primary), Output.ORIGIN_SECRET_ARN)
        web_acls = tuple(
            _web_acl(deployment.output(config.stack_name(region), Output.ORIGIN_WEB_ACL_ARN))
            for region in config.regions
        )
        apis = {region: deployment.api_url(region) for region in config.regions}
        distribution_id = deployment.output(config.edge_stack_name, Output.DISTRIBUTION_ID)
    except DeploymentError as exc:
        raise RotationRefused(str(exc)) from None
    secret_region = _region_of(secret_arn)
    # Every region that reads the secret locally: the other API regions, CloudFront's, and the
    # witness region (its edge health checker).
    witness = [config.witness_region] if config.multi_region and config.witness_region else []
    replicas = sorted({*config.regions, EDGE_REGION, *witness} - {secret_region})
    return _Targets(
        secret_arn, secret_region, tuple(replicas), web_acls, apis, distribution_id, frozenset(config.regions)
    )


def _header_value(secret_string: str | None, where: str) -> tuple[dict[str, Any], str]:
    try:
        document = json.loads(secret_string or "")
        value = document[SECRET_JSON_KEY]
    except (ValueError, KeyError, TypeError):
        raise _StepError(f"{where} is not JSON with a {SECRET_JSON_KEY} key") from None
    if not isinstance(value, str) or not value:
        raise _StepError(f"{where}: {SECRET_JSON_KEY} is not a non-empty string")
    return document, value


def _origin_statements(web_acl: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The two ByteMatchStatements of rule AllowFromEdge (mutable views into ``web_acl``)."""
    rule = next((r for r in web_acl.get("Rules", []) if r.get("Name") == ORIGIN_WAF_RULE), None)
    if rule is None:
        raise _StepError(f"web ACL {name} has no rule {ORIGIN_WAF_RULE}: deploy the regional stack first")
    statements = rule.get("Statement", {}).get("OrStatement", {}).get("Statements", [])
    matches = [s.get("ByteMatchStatement") for s in statements]
    header = ORIGIN_HEADER.lower()
    if len(matches) != 2 or not all(
        m and m.get("FieldToMatch", {}).get("SingleHeader", {}).get("Name", "").lower() == header
        for m in matches
    ):
        raise _StepError(
            f"rule {ORIGIN_WAF_RULE} of web ACL {name} is not OR(two ByteMatch on {header}); "
            "deploy the regional stack of this version"
        )
    return [m for m in matches if m]


def _search_string(statement: dict[str, Any]) -> str:
    # SearchString is a blob: boto3 returns bytes.
    value = statement.get("SearchString", b"")
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def _update_request(client: Any, web_acl: dict[str, Any], acl: _WebAcl, lock_token: str) -> dict[str, Any]:
    """UpdateWebACL replaces the whole ACL: copy every field it accepts, so nothing else is reset."""
    accepted = client.meta.service_model.operation_model("UpdateWebACL").input_shape.members
    request = {key: value for key, value in web_acl.items() if key in accepted}
    request.update(Name=acl.name, Id=acl.id, Scope="REGIONAL", LockToken=lock_token)
    return request


def _origin_headers(
    distribution_config: dict[str, Any], origin_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Origin id -> its X-Origin-Verify custom header item (a mutable view), for every origin that
    carries the header: the region origins (``origin_ids``, which must exist and carry it) and any
    other, such as the primary's ``<region>-health`` twin in the /health origin group."""
    origins = {o["Id"]: o for o in distribution_config.get("Origins", {}).get("Items", [])}

    def header_of(origin: dict[str, Any]) -> dict[str, Any] | None:
        items = origin.get("CustomHeaders", {}).get("Items", [])
        return next((h for h in items if h.get("HeaderName", "").lower() == ORIGIN_HEADER.lower()), None)

    found: dict[str, dict[str, Any]] = {}
    for origin_id in sorted(origin_ids):
        origin = origins.get(origin_id)
        if origin is None:
            raise _StepError(f"the distribution has no origin {origin_id!r}: deploy the edge stack first")
        if header_of(origin) is None:
            raise _StepError(
                f"origin {origin_id} adds no {ORIGIN_HEADER} header: deploy the edge stack first"
            )
    for origin_id in sorted(origins):
        header = header_of(origins[origin_id])
        if header is not None:
            found[origin_id] = header
    return found
