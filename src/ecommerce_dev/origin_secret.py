"""``ecommerce edge rotate-origin-secret`` and ``ecommerce edge check-origin``: the secret header that
proves a request came through CloudFront, and its zero-downtime rotation.

CloudFront adds ``X-Origin-Verify: <secret>`` to every origin request; each region's web ACL blocks
requests without it. The templates carry only ``{{resolve:secretsmanager:...}}`` references, which
CloudFormation resolves only when it updates the resource, so rotation writes the live resources itself,
in the order that never blocks the value CloudFront is still sending:

1. put a new value (new -> AWSCURRENT, old -> AWSPREVIOUS) on the primary secret;
2. wait until every replica serves it (the stacks in those regions resolve their local replica);
3. every web ACL accepts [new, old];
4. wait for WAF propagation;
5. CloudFront sends new;
6. wait until the distribution is Deployed, then probe each regional API with the new header.

Afterwards the templates' references resolve to the value CloudFront sends (AWSCURRENT), so a later
``cdk deploy`` cannot undo the rotation; at most it drops the previous value from the web ACLs, which
is harmless once the distribution is Deployed (the command waits for that by default).

A run that stops midway leaves CloudFront sending a value every web ACL still accepts; the next run
notices (CloudFront sends AWSPREVIOUS) and completes the rotation with the same value instead of
making a third one, which would drop the value CloudFront still sends.

Secret values are never printed, logged or put into exception messages (every line is redacted).
"""

from __future__ import annotations

import json
import secrets
import string
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import click

from ecommerce_dev.smoke import Client, StepFailed, describe_unexpected

if TYPE_CHECKING:
    from ecommerce_dev.deployment import Deployment

# Facts the templates must match (the CDK side builds them; see the module docstring).
ORIGIN_HEADER = "X-Origin-Verify"
SECRET_JSON_KEY = "HEADERVALUE"  # noqa: S105 - a key name, not a secret
WAF_RULE_NAME = "AllowFromEdge"
OUTPUT_SECRET_ARN = "OriginSecretArn"  # noqa: S105 - primary regional stack
OUTPUT_WEB_ACL_ARN = "OriginWebAclArn"  # every regional stack
OUTPUT_API_ENDPOINT = "EcommerceApiEndpoint"  # every regional stack
OUTPUT_DISTRIBUTION_ID = "DistributionId"  # edge stack
CLOUDFRONT_REGION = "us-east-1"

WAF_RETRIES = 5
CLOUDFRONT_RETRIES = 5
REPLICA_POLL_SECONDS = 5.0
DEPLOYED_POLL_SECONDS = 20.0
NAME_WIDTH = 38


class ClientFactory(Protocol):
    """What the code needs of ``boto3``: ``client(service, region_name=...)``."""

    def client(self, service_name: str, region_name: str) -> Any: ...


class OriginSecretError(Exception):
    """A one-line, secret-free message that says what happened and what to do."""


class RotationRefused(OriginSecretError):
    """The rotation did not start; nothing was changed."""


class RotationIncomplete(OriginSecretError):
    """The rotation stopped after changing something; the message says how to finish it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass
class RotationReport:
    """What a rotation did. Holds no secret values (safe to print or log)."""

    distribution_id: str
    version_id: str = ""
    resumed: bool = False
    replicas: list[str] = field(default_factory=list)
    web_acls_updated: list[str] = field(default_factory=list)
    deployed: bool = False
    probes: dict[str, int] = field(default_factory=dict)
    ok: bool = False


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


class _StepError(Exception):
    """A step failed; the text is the report line's detail (already free of secrets)."""


# Where a run stopped decides how to recover; each phase says why re-running is (or is not) needed.
_RECOVERY = {
    "preflight": "nothing was changed; fix the cause and run it again",
    "secret": (
        "the secret may hold a new value that CloudFront does not send yet, but every web ACL still "
        "accepts the value CloudFront sends, so no traffic is blocked; run `ecommerce edge "
        "rotate-origin-secret` again: it sees an unfinished rotation and completes it with the same value"
    ),
    "waf": (
        "the web ACLs accept both the new and the previous value and CloudFront still sends the previous "
        "one, so no traffic is blocked; run `ecommerce edge rotate-origin-secret` again: it sees the "
        "unfinished rotation and completes it with the same value"
    ),
    "cloudfront": (
        "the rotation is applied (the web ACLs accept the new and the previous value while CloudFront "
        "deploys the new one); check it with `ecommerce edge check-origin` and do not rotate again until "
        "the distribution is Deployed"
    ),
}


class _Output:
    """✓/✗ lines in the style of ``ecommerce smoke``, with every known secret value redacted."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self._secrets: set[str] = set()

    def protect(self, *values: str | None) -> None:
        self._secrets.update(value for value in values if value)

    def redact(self, text: str) -> str:
        for value in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(value, "<redacted>")
        return text

    def echo(self, text: str) -> None:
        self._echo(self.redact(text))

    def ok(self, name: str, detail: str = "") -> None:
        self.echo(f"✓ {name:<{NAME_WIDTH}} {detail}".rstrip())

    def fail(self, name: str, detail: str) -> None:
        self.echo(f"✗ {name:<{NAME_WIDTH}} {detail}")


_ALPHABET = string.ascii_letters + string.digits


def _new_header_value() -> str:
    # 48 letters and digits (~286 bits), like the value the stack generates: safe in an HTTP header
    # and far below WAF's 200-byte SearchString limit.
    return "".join(secrets.choice(_ALPHABET) for _ in range(48))


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


# ---- reading the deployment ------------------------------------------------------------------------


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
    from ecommerce_dev.deployment import DeploymentError

    config = deployment.config
    if not config.edge.enabled:
        raise RotationRefused(
            "the edge is disabled in the configuration: there is no origin secret to rotate"
        )
    try:
        secret_arn = deployment.output(config.stack_name(config.primary), OUTPUT_SECRET_ARN)
        web_acls = tuple(
            _web_acl(deployment.output(config.stack_name(region), OUTPUT_WEB_ACL_ARN))
            for region in config.regions
        )
        apis = {region: deployment.api_url(region) for region in config.regions}
        distribution_id = deployment.output(config.edge_stack_name, OUTPUT_DISTRIBUTION_ID)
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


# ---- web ACL rule --------------------------------------------------------------------------------


def _origin_statements(web_acl: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The two ByteMatchStatements of rule AllowFromEdge (mutable views into ``web_acl``)."""
    rule = next((r for r in web_acl.get("Rules", []) if r.get("Name") == WAF_RULE_NAME), None)
    if rule is None:
        raise _StepError(f"web ACL {name} has no rule {WAF_RULE_NAME}: deploy the regional stack first")
    statements = rule.get("Statement", {}).get("OrStatement", {}).get("Statements", [])
    matches = [s.get("ByteMatchStatement") for s in statements]
    header = ORIGIN_HEADER.lower()
    if len(matches) != 2 or not all(
        m and m.get("FieldToMatch", {}).get("SingleHeader", {}).get("Name", "").lower() == header
        for m in matches
    ):
        raise _StepError(
            f"rule {WAF_RULE_NAME} of web ACL {name} is not OR(two ByteMatch on {header}); "
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


# ---- CloudFront origins --------------------------------------------------------------------------


def _origin_headers(
    distribution_config: dict[str, Any], origin_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Origin id -> its X-Origin-Verify custom header item (a mutable view), for each region origin."""
    origins = {o["Id"]: o for o in distribution_config.get("Origins", {}).get("Items", [])}
    found: dict[str, dict[str, Any]] = {}
    for origin_id in sorted(origin_ids):
        origin = origins.get(origin_id)
        if origin is None:
            raise _StepError(f"the distribution has no origin {origin_id!r}: deploy the edge stack first")
        items = origin.get("CustomHeaders", {}).get("Items", [])
        header = next((h for h in items if h.get("HeaderName", "").lower() == ORIGIN_HEADER.lower()), None)
        if header is None:
            raise _StepError(
                f"origin {origin_id} adds no {ORIGIN_HEADER} header: deploy the edge stack first"
            )
        found[origin_id] = header
    return found


# ---- the rotation --------------------------------------------------------------------------------


class _Rotation:
    def __init__(
        self,
        targets: _Targets,
        clients: ClientFactory,
        out: _Output,
    ) -> None:
        self.t = targets
        self.clients = clients
        self.out = out
        self.phase = "preflight"
        self._cache: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._cache:
            self._cache[key] = self.clients.client(service, region_name=region)
        return self._cache[key]

    def step(self, name: str, action: Callable[[], str]) -> None:
        """Run one step: print ✓ with its note, or ✗ and raise the exception for the current phase."""
        try:
            note = action()
        except _StepError as exc:
            self.abort(name, str(exc))
        except _aws_errors() as exc:
            self.abort(name, _aws_error(exc))
        self.out.ok(name, note)

    def abort(self, name: str, detail: str) -> NoReturn:
        self.out.fail(name, detail)
        message = self.out.redact(f"{name} failed: {detail}. {_RECOVERY[self.phase]}")
        if self.phase == "preflight":
            raise RotationRefused(message)
        raise RotationIncomplete(name, message)

    # -- secrets

    @property
    def secrets_client(self) -> Any:
        return self.client("secretsmanager", self.t.secret_region)

    def secret_value(self, stage: str) -> tuple[dict[str, Any], str, str] | None:
        try:
            got = self.secrets_client.get_secret_value(SecretId=self.t.secret_arn, VersionStage=stage)
        except _aws_errors() as exc:
            if stage != "AWSCURRENT" and _error_code(exc) == "ResourceNotFoundException":
                return None  # no earlier version yet (never rotated)
            raise
        document, value = _header_value(got.get("SecretString"), f"the secret's {stage} version")
        self.out.protect(value)
        return document, value, str(got["VersionId"])

    # -- CloudFront

    @property
    def cloudfront(self) -> Any:
        return self.client("cloudfront", CLOUDFRONT_REGION)

    def distribution(self) -> dict[str, Any]:
        got: dict[str, Any] = self.cloudfront.get_distribution(Id=self.t.distribution_id)["Distribution"]
        return got


def rotate_origin_secret(
    deployment: Deployment,
    *,
    clients: ClientFactory | None = None,
    propagation_wait: float = 75.0,
    wait_deployed: bool = True,
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] = print,
    opener: Callable[..., Any] = urllib.request.urlopen,
    replica_timeout: float = 300.0,
    deployed_timeout: float = 1800.0,
    probe_timeout: float = 10.0,
) -> RotationReport:
    """Rotate the origin-verify secret without blocking any request CloudFront sends (steps above).

    ``clients`` defaults to ``boto3``. Refuses (``RotationRefused``, nothing changed) when the
    distribution is not Deployed, or CloudFront sends a value that is neither AWSCURRENT nor
    AWSPREVIOUS, unless ``force``. Raises ``RotationIncomplete`` when it stops after a change; its
    message says how to finish. Returns the report; ``report.ok`` is False when a final probe failed.
    """
    out = _Output(echo)
    targets = _targets(deployment)
    run = _Rotation(targets, clients or _boto3(), out)
    report = RotationReport(distribution_id=targets.distribution_id)
    state: dict[str, Any] = {}
    regions = ", ".join(sorted(targets.origin_ids))
    echo(f"rotating the origin secret of {deployment.config.app_name} ({regions})")

    # ---- preflight: read everything, change nothing

    def check_distribution() -> str:
        distribution = run.distribution()
        status = distribution.get("Status", "?")
        headers = _origin_headers(distribution["DistributionConfig"], targets.origin_ids)
        state["live"] = {h.get("HeaderValue", "") for h in headers.values()}
        out.protect(*state["live"])
        if status != "Deployed":
            if not force:
                raise _StepError(
                    f"distribution {targets.distribution_id} is {status}, not Deployed: an earlier change "
                    "may still be reaching the edge with the value the web ACLs would stop accepting; "
                    "wait and retry, or pass --force"
                )
            return f"{targets.distribution_id} {status} (--force)"
        return f"{targets.distribution_id} Deployed"

    def read_secret() -> str:
        current = run.secret_value("AWSCURRENT")
        assert current is not None
        state["document"], state["current"], state["current_version"] = current
        live: set[str] = state["live"]
        if live == {state["current"]}:
            state["resume"] = False
            return "CloudFront sends AWSCURRENT"
        previous = run.secret_value("AWSPREVIOUS")
        previous_value = previous[1] if previous else None
        if previous_value is not None and live <= {state["current"], previous_value}:
            # A run (or a manual put-secret-value) stopped before CloudFront sent the new value.
            state["resume"], state["previous"] = True, previous_value
            return "CloudFront still sends AWSPREVIOUS: completing the unfinished rotation"
        if not force:
            raise _StepError(
                "CloudFront sends a value that is neither AWSCURRENT nor AWSPREVIOUS of the secret "
                "(changed outside this command?); redeploy the edge and regional stacks, or pass --force"
            )
        state["resume"] = False
        return "CloudFront sends an unknown value (--force)"

    def check_replicas() -> str:
        described = run.secrets_client.describe_secret(SecretId=targets.secret_arn)
        status = {r.get("Region"): r for r in described.get("ReplicationStatus", [])}
        missing = [region for region in targets.replica_regions if region not in status]
        if missing:
            raise _StepError(
                f"the secret has no replica in {', '.join(missing)}: the stacks there resolve their local "
                "replica; deploy the primary regional stack of this version"
            )
        failed = [r for r in targets.replica_regions if status[r].get("Status") == "Failed"]
        if failed:
            detail = "; ".join(f"{r}: {status[r].get('StatusMessage', 'Failed')}" for r in failed)
            raise _StepError(f"replication failed ({detail})")
        return ", ".join(f"{r} {status[r].get('Status', '?')}" for r in targets.replica_regions) or "none"

    def check_web_acl(acl: _WebAcl) -> Callable[[], str]:
        def action() -> str:
            got = run.client("wafv2", acl.region).get_web_acl(Name=acl.name, Scope="REGIONAL", Id=acl.id)
            statements = _origin_statements(got["WebACL"], acl.name)
            out.protect(*(_search_string(s) for s in statements))
            return f"{acl.name}: rule {WAF_RULE_NAME} found"

        return action

    run.step("distribution status", check_distribution)
    run.step("read the secret", read_secret)
    run.step("secret replicas", check_replicas)
    for acl in targets.web_acls:
        run.step(f"web ACL rule ({acl.region})", check_web_acl(acl))

    # ---- 1. new value on the primary secret (or the unfinished run's)

    def put_value() -> str:
        if state["resume"]:
            state["new"], state["old"] = state["current"], state["previous"]
            report.resumed = True
            return f"kept version {state['current_version']} (AWSCURRENT) from the unfinished rotation"
        new = _new_header_value()
        out.protect(new)
        document = {**state["document"], SECRET_JSON_KEY: new}
        run.phase = "secret"  # from this call on the secret may have changed (a timeout is ambiguous)
        put = run.secrets_client.put_secret_value(
            SecretId=targets.secret_arn,
            SecretString=json.dumps(document),
            ClientRequestToken=str(uuid.uuid4()),
        )
        state["new"], state["old"], state["version"] = new, state["current"], str(put["VersionId"])
        return f"version {put['VersionId']} is AWSCURRENT, the old one AWSPREVIOUS"

    run.step("put a new secret value", put_value)
    run.phase = "secret"
    report.version_id = state.get("version", state["current_version"])
    new_value: str = state["new"]
    old_value: str = state["old"]

    # ---- 2. every replica serves the new value

    def wait_replicas() -> str:
        pending = list(targets.replica_regions)
        waited = 0.0
        while True:
            for region in list(pending):
                replica = run.client("secretsmanager", region)
                try:
                    got = replica.get_secret_value(SecretId=_in_region(targets.secret_arn, region))
                except _aws_errors() as exc:
                    if _error_code(exc) != "ResourceNotFoundException":
                        raise
                    continue
                if _header_value(got.get("SecretString"), f"replica {region}")[1] == new_value:
                    pending.remove(region)
            if not pending:
                report.replicas = list(targets.replica_regions)
                return f"{', '.join(targets.replica_regions) or 'no replicas'} serve it (after {waited:g} s)"
            if waited >= replica_timeout:
                raise _StepError(
                    f"{', '.join(pending)} still served the old value after {waited:g} s (check the "
                    "secret's replication status in the Secrets Manager console)"
                )
            sleep(REPLICA_POLL_SECONDS)
            waited += REPLICA_POLL_SECONDS

    run.step("replicas have the new value", wait_replicas)

    # ---- 3. every web ACL accepts [new, old]

    def update_web_acl(acl: _WebAcl) -> Callable[[], str]:
        def action() -> str:
            waf = run.client("wafv2", acl.region)
            for attempt in range(1, WAF_RETRIES + 1):
                got = waf.get_web_acl(Name=acl.name, Scope="REGIONAL", Id=acl.id)
                web_acl = got["WebACL"]
                statements = _origin_statements(web_acl, acl.name)
                if [_search_string(s) for s in statements] == [new_value, old_value]:
                    report.web_acls_updated.append(acl.arn)
                    return "already accepts new + previous"
                for statement, value in zip(statements, (new_value, old_value), strict=True):
                    statement["SearchString"] = value.encode()
                try:
                    waf.update_web_acl(**_update_request(waf, web_acl, acl, got["LockToken"]))
                except _aws_errors() as exc:
                    if _error_code(exc) == "WAFOptimisticLockException" and attempt < WAF_RETRIES:
                        continue  # changed since we read it: read the new lock token and reapply
                    raise
                report.web_acls_updated.append(acl.arn)
                return "accepts new + previous" + (f" (attempt {attempt})" if attempt > 1 else "")
            raise AssertionError("unreachable")

        return action

    for acl in targets.web_acls:
        run.step(f"update web ACL ({acl.region})", update_web_acl(acl))
    run.phase = "waf"

    # ---- 4. WAF propagation (the AWS sample waits 75 s for regional web ACLs)

    def propagate() -> str:
        if propagation_wait > 0:
            sleep(propagation_wait)
        return f"waited {propagation_wait:g} s"

    run.step("WAF propagation", propagate)

    # ---- 5. CloudFront sends the new value

    def update_distribution() -> str:
        for attempt in range(1, CLOUDFRONT_RETRIES + 1):
            got = run.cloudfront.get_distribution_config(Id=targets.distribution_id)
            config = got["DistributionConfig"]
            for header in _origin_headers(config, targets.origin_ids).values():
                header["HeaderValue"] = new_value
            try:
                run.cloudfront.update_distribution(
                    Id=targets.distribution_id, IfMatch=got["ETag"], DistributionConfig=config
                )
            except _aws_errors() as exc:
                if _error_code(exc) == "PreconditionFailed" and attempt < CLOUDFRONT_RETRIES:
                    continue  # changed since we read it: read the new ETag and reapply
                raise
            run.phase = "cloudfront"
            count = len(targets.origin_ids)
            return f"{count} origin(s) send the new value" + (f" (attempt {attempt})" if attempt > 1 else "")
        raise AssertionError("unreachable")

    run.step("CloudFront origin header", update_distribution)

    # ---- 6. deployed, then each API answers the new header

    def deployed() -> str:
        waited = 0.0
        while True:
            status = run.distribution().get("Status", "?")
            if status == "Deployed":
                report.deployed = True
                return f"{targets.distribution_id} Deployed (after {waited:g} s)"
            if waited >= deployed_timeout:
                raise _StepError(f"{targets.distribution_id} still {status} after {waited:g} s")
            sleep(DEPLOYED_POLL_SECONDS)
            waited += DEPLOYED_POLL_SECONDS

    if wait_deployed:
        run.step("distribution deployed", deployed)
    else:
        out.ok("distribution deployed", "not waited (--no-wait-deployed)")

    report.ok = True
    for region, api in sorted(targets.apis.items()):
        name = f"probe {region} (new header)"
        try:
            reply = Client(api, probe_timeout, opener).request(
                "GET", "/health", headers={ORIGIN_HEADER: new_value}
            )
            if reply.status != 200:
                raise StepFailed(describe_unexpected(reply, 200))
        except StepFailed as exc:
            report.ok = False
            out.fail(name, str(exc))
            continue
        report.probes[region] = reply.status
        out.ok(name, f"{reply.status}  {reply.ms:7.1f} ms")

    done = f"origin secret rotated (version {report.version_id})"
    out.echo(done if report.ok else f"{done} but a probe FAILED; {_RECOVERY['cloudfront']}")
    return report


# ---- check -----------------------------------------------------------------------------------------


def check_origin_protection(
    deployment: Deployment,
    *,
    clients: ClientFactory | None = None,
    opener: Callable[..., Any] = urllib.request.urlopen,
    timeout: float = 10.0,
    echo: Callable[[str], None] = print,
) -> bool:
    """Each regional API refuses /health without the header (403) and answers it with AWSCURRENT
    (200); the CloudFront entry point answers it too. True when all of that holds."""
    out = _Output(echo)
    try:
        targets = _targets(deployment)
    except RotationRefused as exc:
        out.fail("read deployment", str(exc))
        return False
    factory = clients or _boto3()
    try:
        got = factory.client("secretsmanager", region_name=targets.secret_region).get_secret_value(
            SecretId=targets.secret_arn
        )
        value = _header_value(got.get("SecretString"), "the secret")[1]
    except _StepError as exc:
        out.fail("read the secret", str(exc))
        return False
    except _aws_errors() as exc:
        out.fail("read the secret", _aws_error(exc))
        return False
    out.protect(value)
    out.ok("read the secret", "AWSCURRENT")
    ok = True

    def probe(name: str, url: str, headers: dict[str, str], expected: int) -> None:
        nonlocal ok
        try:
            reply = Client(url, timeout, opener).request("GET", "/health", headers=headers)
            if reply.status != expected:
                raise StepFailed(describe_unexpected(reply, expected))
        except StepFailed as exc:
            ok = False
            out.fail(name, str(exc))
            return
        out.ok(name, f"{reply.status}  {reply.ms:7.1f} ms")

    for region, api in sorted(targets.apis.items()):
        probe(f"direct {region} without header", api, {}, 403)
        probe(f"direct {region} with header", api, {ORIGIN_HEADER: value}, 200)
    probe("through CloudFront", deployment.public_url(), {}, 200)
    out.echo("origin protection holds" if ok else "origin protection check FAILED")
    return ok


# ---- commands (registered on the ``edge`` group by the CLI) ----------------------------------------


def _load_deployment() -> Deployment:
    from ecommerce_constructs.config import ConfigError, load_config
    from ecommerce_dev.deployment import DeploymentError, read_deployment

    try:
        return read_deployment(load_config())
    except (ConfigError, DeploymentError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("rotate-origin-secret")
@click.option(
    "--no-wait-deployed",
    is_flag=True,
    help="Do not wait for the distribution to be Deployed after changing its origin header.",
)
@click.option(
    "--propagation-wait",
    type=click.FloatRange(min=0),
    default=75.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between updating the web ACLs and CloudFront (WAF propagation).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Rotate even if the distribution is not Deployed or sends an unknown value (may block traffic).",
)
def rotate_origin_secret_command(no_wait_deployed: bool, propagation_wait: float, force: bool) -> None:
    """Rotate the X-Origin-Verify secret without downtime: new secret value, web ACLs accept new and
    previous, then CloudFront sends the new one; report each step, exit 1 if any fails."""
    deployment = _load_deployment()
    try:
        report = rotate_origin_secret(
            deployment,
            propagation_wait=propagation_wait,
            wait_deployed=not no_wait_deployed,
            force=force,
            echo=click.echo,
        )
    except OriginSecretError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(0 if report.ok else 1)


@click.command("check-origin")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per request.")
def check_origin_command(timeout: float) -> None:
    """Check that each regional API refuses requests without the origin header (403) and answers
    with it (200), and that CloudFront reaches them; exit 1 otherwise."""
    ok = check_origin_protection(_load_deployment(), timeout=timeout, echo=click.echo)
    raise SystemExit(0 if ok else 1)
