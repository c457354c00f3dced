"""The rotation itself (the algorithm in the package docstring), its status and the check."""

from __future__ import annotations

import json
import secrets
import string
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from ecommerce_ops.smoke import Client, StepFailed, describe_unexpected
from handlers.contract import ORIGIN_HEADER, ORIGIN_WAF_RULE, Output
from handlers.contract import ORIGIN_SECRET_JSON_KEY as SECRET_JSON_KEY

from ._aws import (
    CLOUDFRONT_REGION,
    ClientFactory,
    _aws_error,
    _aws_errors,
    _boto3,
    _error_code,
    _header_value,
    _in_region,
    _origin_headers,
    _origin_statements,
    _region_of,
    _search_string,
    _Targets,
    _targets,
    _update_request,
    _WebAcl,
)
from ._errors import OriginSecretError, RotationIncomplete, RotationRefused, _StepError

if TYPE_CHECKING:
    from ecommerce_ops.deployment import Deployment


WAF_RETRIES = 5


CLOUDFRONT_RETRIES = 5


REPLICA_POLL_SECONDS = 5.0


DEPLOYED_POLL_SECONDS = 20.0


NAME_WIDTH = 38


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
    finished: bool = False


# Where a run stopped decides how to recover; each phase says why re-running is (or is not) needed.
_RECOVERY = {
    "preflight": "nothing was changed; fix the cause and run it again",
    "staged": (
        "the secret may hold a new AWSPENDING value; CloudFront and the checkers still use AWSCURRENT, "
        "which every web ACL accepts, so no traffic is blocked; run `ecommerce edge "
        "rotate-origin-secret` again: it continues the unfinished rotation with the same value"
    ),
    "cloudfront": (
        "the web ACLs accept both the new (AWSPENDING) and the current value and CloudFront sends one "
        "of them, so no traffic is blocked; run `ecommerce edge rotate-origin-secret` again: it waits "
        "until the distribution is Deployed, promotes the new value and drops the old one"
    ),
    "promoted": (
        "CloudFront sends the new value, which is AWSCURRENT, and the web ACLs accept it (and perhaps "
        "still the previous one), so no traffic is blocked; run `ecommerce edge rotate-origin-secret` "
        "again: it finishes the rotation with the same value"
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


@dataclass
class _Secret:
    value: str
    version: str
    document: dict[str, Any]


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

    def secret_value(self, stage: str, region: str | None = None) -> _Secret | None:
        """The version ``stage`` labels (in ``region``'s replica, the primary by default); None when no
        version holds the label there (or the replica does not exist yet)."""
        where = region or self.t.secret_region
        arn = self.t.secret_arn if region is None else _in_region(self.t.secret_arn, region)
        try:
            got = self.client("secretsmanager", where).get_secret_value(SecretId=arn, VersionStage=stage)
        except _aws_errors() as exc:
            if (stage != "AWSCURRENT" or region is not None) and _error_code(
                exc
            ) == "ResourceNotFoundException":
                return None
            raise
        label = f"the secret's {stage} version" + (f" in {region}" if region else "")
        document, value = _header_value(got.get("SecretString"), label)
        self.out.protect(value)
        return _Secret(value, str(got["VersionId"]), document)

    def replica_shows(self, stage: str, region: str, value: str) -> bool:
        """Whether ``region``'s replica answers ``value`` for ``stage`` now (a read error is False)."""
        try:
            got = self.secret_value(stage, region)
        except _StepError:
            return False
        except _aws_errors():
            return False
        return got is not None and got.value == value

    def wait_replicas(self, stage: str, value: str, timeout: float, sleep: Callable[[float], None]) -> str:
        """Poll every replica until ``stage`` names ``value`` there."""
        pending = list(self.t.replica_regions)
        waited = 0.0
        while True:
            for region in list(pending):
                got = self.secret_value(stage, region)
                if got is not None and got.value == value:
                    pending.remove(region)
            if not pending:
                regions = ", ".join(self.t.replica_regions) or "no replicas"
                return f"{regions}: {stage} is the new value (after {waited:g} s)"
            if waited >= timeout:
                raise _StepError(
                    f"{', '.join(pending)}: {stage} was not the new value after {waited:g} s (check the "
                    "secret's replication status in the Secrets Manager console)"
                )
            sleep(REPLICA_POLL_SECONDS)
            waited += REPLICA_POLL_SECONDS

    # -- WAF

    def set_web_acl(
        self, acl: _WebAcl, values: tuple[str, str], accepted: Callable[[list[str]], bool]
    ) -> str:
        """Write ``values`` into rule AllowFromEdge unless ``accepted`` already holds for what it has."""
        waf = self.client("wafv2", acl.region)
        for attempt in range(1, WAF_RETRIES + 1):
            got = waf.get_web_acl(Name=acl.name, Scope="REGIONAL", Id=acl.id)
            web_acl = got["WebACL"]
            statements = _origin_statements(web_acl, acl.name)
            if accepted([_search_string(s) for s in statements]):
                return "already"
            for statement, value in zip(statements, values, strict=True):
                statement["SearchString"] = value.encode()
            try:
                waf.update_web_acl(**_update_request(waf, web_acl, acl, got["LockToken"]))
            except _aws_errors() as exc:
                if _error_code(exc) == "WAFOptimisticLockException" and attempt < WAF_RETRIES:
                    continue  # changed since we read it: read the new lock token and reapply
                raise
            return "" if attempt == 1 else f" (attempt {attempt})"
        raise AssertionError("unreachable")

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
    """Rotate the origin-verify secret without refusing any request CloudFront or a checker sends
    (the steps in the module docstring); a run that stopped midway is continued by running it again.

    ``clients`` defaults to ``boto3``. Refuses (``RotationRefused``, nothing changed) to start a new
    rotation while the distribution is not Deployed, and refuses when CloudFront sends a value that is
    neither the secret's AWSCURRENT nor (during a rotation) AWSPENDING or AWSPREVIOUS, unless
    ``force``. Raises ``RotationIncomplete`` when it stops after a change; its message says how to
    finish. Returns the report; ``report.ok`` is False when a final probe failed, ``report.finished``
    False when ``wait_deployed`` is False and the rotation stopped before promoting the new value.
    """
    out = _Output(echo)
    targets = _targets(deployment)
    run = _Rotation(targets, clients or _boto3(), out)
    report = RotationReport(distribution_id=targets.distribution_id)
    state: dict[str, Any] = {}
    regions = ", ".join(sorted(targets.origin_ids))
    echo(f"rotating the origin secret of {deployment.config.app_name} ({regions})")

    # ---- preflight: read everything, change nothing

    def read_distribution() -> str:
        distribution = run.distribution()
        state["status"] = status = distribution.get("Status", "?")
        headers = _origin_headers(distribution["DistributionConfig"], targets.origin_ids)
        state["live"] = {h.get("HeaderValue", "") for h in headers.values()}
        out.protect(*state["live"])
        return f"{targets.distribution_id} {status}"

    def read_secret() -> str:
        current = run.secret_value("AWSCURRENT")
        assert current is not None
        pending, previous = run.secret_value("AWSPENDING"), run.secret_value("AWSPREVIOUS")
        live: set[str] = state["live"]
        state["current"], state["pending_label"] = current, pending is not None
        if pending is not None and pending.version != current.version:
            # Staged by an earlier run that stopped before promoting it.
            state.update(mode="staged", new=pending, old=current)
            note = "an unfinished rotation staged AWSPENDING: continuing with it"
        elif pending is not None or (previous is not None and live != {current.value}):
            # Promoted by an earlier run that stopped before dropping the old value (or an earlier
            # version of this command made the new value AWSCURRENT before CloudFront sent it).
            old = previous or current
            state.update(mode="promoted", new=current, old=old)
            note = "an unfinished rotation promoted AWSCURRENT: finishing it"
        else:
            state.update(mode="new", old=current)
            note = "CloudFront sends AWSCURRENT" if live == {current.value} else ""
        if state["mode"] != "new":
            report.resumed = True
            allowed = {state["new"].value, state["old"].value}
        else:
            allowed = {current.value}
        if not live <= allowed:
            if not force:
                raise _StepError(
                    "CloudFront sends a value that is neither AWSCURRENT nor the unfinished rotation's "
                    "AWSPENDING or AWSPREVIOUS (changed outside this command?); redeploy the edge and "
                    "regional stacks, or pass --force"
                )
            note = "CloudFront sends an unknown value (--force)"
        if state["mode"] == "new" and state["status"] != "Deployed":
            if not force:
                raise _StepError(
                    f"distribution {targets.distribution_id} is {state['status']}, not Deployed: an "
                    "earlier change may still be reaching the edge with a value the web ACLs would stop "
                    "accepting; wait and retry, or pass --force"
                )
            note += f" ({state['status']}, --force)"
        return note.strip()

    def check_replicas() -> str:
        described = run.secrets_client.describe_secret(SecretId=targets.secret_arn)
        status = {r.get("Region"): r for r in described.get("ReplicationStatus", [])}
        missing = [region for region in targets.replica_regions if region not in status]
        if missing:
            raise _StepError(
                f"the secret has no replica in {', '.join(missing)}: the stacks and checkers there read "
                "their local replica; deploy the primary regional stack of this version"
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
            return f"{acl.name}: rule {ORIGIN_WAF_RULE} found"

        return action

    run.step("distribution status", read_distribution)
    run.step("read the secret", read_secret)
    run.step("secret replicas", check_replicas)
    for acl in targets.web_acls:
        run.step(f"web ACL rule ({acl.region})", check_web_acl(acl))

    mode: str = state["mode"]
    run.phase = {"new": "preflight", "staged": "staged", "promoted": "promoted"}[mode]

    # ---- 1. stage the new value as AWSPENDING (CloudFront and the checkers keep using AWSCURRENT)

    def stage_value() -> str:
        if mode != "new":
            return f"kept version {state['new'].version} from the unfinished rotation"
        value = _new_header_value()
        out.protect(value)
        document = {**state["old"].document, SECRET_JSON_KEY: value}
        token = str(uuid.uuid4())
        run.phase = "staged"  # from this call on the secret may hold the version (a timeout is ambiguous)
        put = run.secrets_client.put_secret_value(
            SecretId=targets.secret_arn,
            SecretString=json.dumps(document),
            ClientRequestToken=token,
            VersionStages=["AWSPENDING"],
        )
        state["new"] = _Secret(value, str(put["VersionId"]), document)
        state["pending_label"] = True
        return f"version {put['VersionId']} is AWSPENDING"

    run.step("stage a new secret value", stage_value)
    new: _Secret = state["new"]
    old: _Secret = state["old"]
    report.version_id = new.version

    # ---- 5. CloudFront sends the new value (also redone before step 9 if a deploy undid it)

    def update_distribution() -> str:
        for attempt in range(1, CLOUDFRONT_RETRIES + 1):
            got = run.cloudfront.get_distribution_config(Id=targets.distribution_id)
            config = got["DistributionConfig"]
            headers = _origin_headers(config, targets.origin_ids).values()
            if all(h.get("HeaderValue") == new.value for h in headers):
                return "already sends the new value"
            for header in headers:
                header["HeaderValue"] = new.value
            if run.phase != "promoted":  # redone in step 9 after promotion: keep that recovery text
                run.phase = "cloudfront"
            try:
                run.cloudfront.update_distribution(
                    Id=targets.distribution_id, IfMatch=got["ETag"], DistributionConfig=config
                )
            except _aws_errors() as exc:
                if _error_code(exc) == "PreconditionFailed" and attempt < CLOUDFRONT_RETRIES:
                    continue  # changed since we read it: read the new ETag and reapply
                raise
            count = len(headers)
            return f"{count} origin(s) send the new value" + (f" (attempt {attempt})" if attempt > 1 else "")
        raise AssertionError("unreachable")

    # ---- 6. deployed: no edge location sends the old value any more

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

    cloudfront_done = state["live"] == {new.value} and state["status"] == "Deployed"
    if mode == "promoted" and cloudfront_done:
        out.ok("CloudFront sends the new value", f"{targets.distribution_id} Deployed")
    else:
        # ---- 2. advisory: which replicas already show the pending version. Nothing reads
        # AWSPENDING from a replica (checkers read AWSCURRENT/AWSPREVIOUS; a deploy, AWSCURRENT), and
        # that replicas carry staging labels other than AWSCURRENT is not documented: no wait, no
        # failure. Step 8 (AWSCURRENT in every replica) is the one the safety rests on.
        if mode != "promoted":

            def pending_replicas() -> str:
                shown = [r for r in targets.replica_regions if run.replica_shows("AWSPENDING", r, new.value)]
                others = [r for r in targets.replica_regions if r not in shown]
                note = f"{', '.join(shown) or 'none'} show it"
                return note + (f"; not yet: {', '.join(others)} (not waited for)" if others else "")

            run.step("replicas (pending value, advisory)", pending_replicas)

        # ---- 3. every web ACL accepts [new, old]

        def accept_both(acl: _WebAcl) -> Callable[[], str]:
            def action() -> str:
                note = run.set_web_acl(
                    acl, (new.value, old.value), lambda has: {new.value, old.value} <= set(has)
                )
                report.web_acls_updated.append(acl.arn)
                return (
                    "already accepts new + current" if note == "already" else "accepts new + current" + note
                )

            return action

        for acl in targets.web_acls:
            run.step(f"web ACLs accept both ({acl.region})", accept_both(acl))

        # ---- 4. WAF propagation (the AWS sample waits 75 s for regional web ACLs)

        def propagate() -> str:
            if state["live"] == {new.value}:
                return "CloudFront already sends the new value: not waited"
            if propagation_wait > 0:
                sleep(propagation_wait)
            return f"waited {propagation_wait:g} s"

        run.step("WAF propagation", propagate)

        # ---- 5. CloudFront sends the new value
        run.step("CloudFront origin header", update_distribution)
        run.phase = "cloudfront" if mode != "promoted" else "promoted"

        # ---- 6. deployed: no edge location sends the old value any more
        if not wait_deployed:
            out.ok("distribution deployed", "not waited (--no-wait-deployed)")
            report.ok = True
            out.echo(
                f"origin secret staged (version {new.version}); CloudFront is deploying it. Run "
                "`ecommerce edge rotate-origin-secret` again once the distribution is Deployed to "
                "promote it and drop the old value"
            )
            return report
        run.step("distribution deployed", deployed)
    report.deployed = True

    # ---- 7. promote: AWSCURRENT -> new (Secrets Manager moves AWSPREVIOUS to the old version)

    def promote() -> str:
        current = run.secret_value("AWSCURRENT")
        assert current is not None
        if current.version == new.version:
            return f"version {new.version} is already AWSCURRENT"
        run.phase = "promoted"
        run.secrets_client.update_secret_version_stage(
            SecretId=targets.secret_arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId=new.version,
            RemoveFromVersionId=current.version,
        )
        return f"version {new.version} is AWSCURRENT, the old one AWSPREVIOUS"

    run.step("promote the new value", promote)
    run.phase = "promoted"

    # ---- 8. every replica serves the new value as AWSCURRENT (checkers and stack deploys read it)

    def current_replicas() -> str:
        note = run.wait_replicas("AWSCURRENT", new.value, replica_timeout, sleep)
        report.replicas = list(targets.replica_regions)
        return note

    run.step("replicas have the promoted value", current_replicas)

    # ---- 9. every web ACL accepts only the new value (what a deploy of the templates gives)

    def cloudfront_still_on_new() -> str:
        """Immediately before the old value goes: an edge-stack deploy that ran after step 5 but
        resolved AWSCURRENT before step 7 has put CloudFront back on the old value. Then redo steps 5
        and 6 (CloudFront sends new, Deployed) and look again."""
        for attempt in range(1, CLOUDFRONT_RETRIES + 1):
            # GetDistribution answers the config and the status from one read.
            distribution = run.distribution()
            headers = _origin_headers(distribution["DistributionConfig"], targets.origin_ids)
            values = {h.get("HeaderValue", "") for h in headers.values()}
            out.protect(*values)
            if values == {new.value} and distribution.get("Status") == "Deployed":
                return "sends only the new value, Deployed" + (
                    f" (after {attempt - 1} redo(s) of steps 5-6)" if attempt > 1 else ""
                )
            update_distribution()
            deployed()
        raise _StepError(
            f"CloudFront went back to another value {CLOUDFRONT_RETRIES} times (edge-stack deploys "
            "running?); the old value stays accepted: wait for them and run the command again"
        )

    def accept_new(acl: _WebAcl) -> Callable[[], str]:
        def action() -> str:
            note = run.set_web_acl(acl, (new.value, new.value), lambda has: set(has) == {new.value})
            if acl.arn not in report.web_acls_updated:
                report.web_acls_updated.append(acl.arn)
            return (
                "already accepts only the new value" if note == "already" else "dropped the old value" + note
            )

        return action

    for acl in targets.web_acls:
        run.step(f"CloudFront still on the new value ({acl.region})", cloudfront_still_on_new)
        run.step(f"web ACLs drop the old value ({acl.region})", accept_new(acl))

    # ---- 10. the rotation is over: no version is AWSPENDING

    def unstage() -> str:
        pending = run.secret_value("AWSPENDING")
        if pending is None:
            return "no version is AWSPENDING"
        run.secrets_client.update_secret_version_stage(
            SecretId=targets.secret_arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending.version
        )
        return f"removed AWSPENDING from version {pending.version}"

    run.step("clear AWSPENDING", unstage)

    # ---- 11. each API answers the new header

    report.ok = report.finished = True
    for region, api in sorted(targets.apis.items()):
        name = f"probe {region} (new header)"
        try:
            reply = Client(api, probe_timeout, opener).request(
                "GET", "/health", headers={ORIGIN_HEADER: new.value}
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
    out.echo(done if report.ok else f"{done} but a probe FAILED; check it with `ecommerce edge check-origin`")
    return report


def rotation_status(
    deployment: Deployment, *, clients: ClientFactory | None = None, echo: Callable[[str], None] = print
) -> str:
    """Whether a rotation is in progress, from the secret's labels only (DescribeSecret: no value is
    read): ``staged`` when a version other than AWSCURRENT holds AWSPENDING (steps 1-6: do not deploy
    the regional stacks), ``promoted`` when AWSCURRENT also holds AWSPENDING (steps 7-10), ``none``."""
    from ecommerce_ops.deployment import DeploymentError

    config = deployment.config
    if not config.edge.enabled:
        raise RotationRefused("the edge is disabled in the configuration: there is no origin secret")
    try:
        secret_arn = deployment.output(config.stack_name(config.primary), Output.ORIGIN_SECRET_ARN)
    except DeploymentError as exc:
        raise RotationRefused(str(exc)) from None
    factory = clients or _boto3()
    try:
        described = factory.client("secretsmanager", region_name=_region_of(secret_arn)).describe_secret(
            SecretId=secret_arn
        )
    except _aws_errors() as exc:
        raise OriginSecretError(f"describe the origin secret: {_aws_error(exc)}") from None
    stages = {vid: set(labels) for vid, labels in described.get("VersionIdsToStages", {}).items()}
    pending = next((vid for vid, labels in stages.items() if "AWSPENDING" in labels), None)
    if pending is None:
        echo("no origin-secret rotation in progress (no version is AWSPENDING)")
        return "none"
    if "AWSCURRENT" not in stages[pending]:
        echo(
            f"origin-secret rotation in progress: version {pending} is AWSPENDING, not yet AWSCURRENT "
            "(staged). Do not deploy the regional stacks (a deploy makes the web ACLs refuse the new "
            "value); finish it with `ecommerce edge rotate-origin-secret`"
        )
        return "staged"
    echo(
        f"origin-secret rotation in progress: version {pending} is AWSCURRENT and still AWSPENDING "
        "(promoted; the old value may still be accepted). Finish it with `ecommerce edge "
        "rotate-origin-secret`"
    )
    return "promoted"


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
