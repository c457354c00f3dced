"""Scheduled health checker of the edge: drains a failing region out of CloudFront's routing and
restores it once it recovers (EventBridge, every minute).

Each invocation probes every region's ``GET /health`` ``PROBES`` times, ``PROBE_INTERVAL_SECONDS``
apart. All probes failing drains the region; all passing restores a drained one; anything mixed
changes nothing (hysteresis: one flaky probe neither drains nor restores). With a one-minute
schedule a region whose /health fails is drained by the second invocation at the latest, i.e.
within two minutes. The last serving region is never drained (the edge would route to it anyway).

The regional APIs accept only requests that carry CloudFront's secret origin header, so the probes
send it too: the value (JSON key ``HEADERVALUE`` of ``ORIGIN_SECRET_ARN``) is read once per cold
start and re-read when a probe gets 403 (the secret was rotated). If the secret cannot be read,
nothing is probed or changed: a broken checker must not drain healthy regions.

Environment: ``KVS_ARN``, ``REGIONS`` (JSON ``[{"region": ..., "health_url": "https://..."}]``),
``ORIGIN_SECRET_ARN`` (an ARN, or a name in the function's region) + ``ORIGIN_SECRET_HEADER`` (both
or neither), ``PROBES`` (3), ``PROBE_INTERVAL_SECONDS`` (10), ``PROBE_TIMEOUT_SECONDS`` (3).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from handlers.contract import Env, default_trust_file
from handlers.infra import edge_state

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

USER_AGENT: Final = "ecommerce-edge-health/1"
MAX_BODY_BYTES: Final = 64 * 1024


class ConfigurationError(Exception):
    """The function's environment is wrong; the message names the variable."""


class SecretError(Exception):
    """The origin secret could not be read; nothing was probed."""


class EdgeHealthError(Exception):
    """Some drain-state change failed (the summary was logged); fails the invocation for alarms."""


# ---------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Target:
    region: str
    health_url: str


@dataclass(frozen=True)
class Settings:
    kvs_arn: str
    targets: tuple[Target, ...]
    secret_arn: str | None = None
    secret_header: str | None = None
    probes: int = 3
    interval_seconds: float = 10.0
    timeout_seconds: float = 3.0

    @property
    def regions(self) -> list[str]:
        return [t.region for t in self.targets]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        kvs_arn = env.get("KVS_ARN", "").strip()
        if not edge_state.KVS_ARN.fullmatch(kvs_arn):
            raise ConfigurationError(f"KVS_ARN must be the edge's KeyValueStore ARN, got {kvs_arn!r}")
        secret_arn = env.get("ORIGIN_SECRET_ARN", "").strip() or None
        secret_header = env.get("ORIGIN_SECRET_HEADER", "").strip() or None
        if (secret_arn is None) != (secret_header is None):
            raise ConfigurationError("set ORIGIN_SECRET_ARN and ORIGIN_SECRET_HEADER together, or neither")
        return cls(
            kvs_arn=kvs_arn,
            targets=_targets(env.get("REGIONS", "")),
            secret_arn=secret_arn,
            secret_header=secret_header,
            probes=int(_number(env, "PROBES", 3, minimum=1)),
            interval_seconds=_number(env, "PROBE_INTERVAL_SECONDS", 10, minimum=0),
            timeout_seconds=_number(env, "PROBE_TIMEOUT_SECONDS", 3, minimum=0.1),
        )


def _targets(raw: str) -> tuple[Target, ...]:
    example = '[{"region": "us-east-1", "health_url": "https://<api-id>.execute-api.us-east-1.amazonaws.com/prod/health"}]'
    try:
        items = json.loads(raw)
        targets = tuple(Target(str(item["region"]), str(item["health_url"])) for item in items)
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigurationError(f"REGIONS must be JSON like {example} ({exc!r})") from None
    if not targets or len({t.region for t in targets}) != len(targets):
        raise ConfigurationError(f"REGIONS must list each region once, e.g. {example}")
    for target in targets:
        if not target.region or not target.health_url.startswith("https://"):
            raise ConfigurationError(f"REGIONS: {target} needs a region name and an https:// health_url")
    return targets


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else float(default)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum or (name == "PROBES" and value != int(value)):
        raise ConfigurationError(f"{name} must be {'an integer ' if name == 'PROBES' else ''}>= {minimum}")
    return value


# ------------------------------------------------------------------------------------------ probing
@dataclass(frozen=True)
class HttpAnswer:
    """What a GET returned: a status and body, or (status None) why there was no answer."""

    status: int | None
    body: bytes = b""
    error: str = ""


Prober = Callable[[str, Mapping[str, str], float], HttpAnswer]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Verified TLS against the Amazon roots the asset ships (API Gateway's certificates chain to
    them), never the host's trust store (handlers.contract.default_trust_file)."""
    return ssl.create_default_context(cafile=os.environ.get(Env.TRUST_FILE) or default_trust_file())


def http_get(url: str, headers: Mapping[str, str], timeout: float) -> HttpAnswer:
    """One GET with urllib (Settings only lets https:// URLs through)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_tls_context()) as response:  # noqa: S310
            return HttpAnswer(response.status, response.read(MAX_BODY_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpAnswer(exc.code, exc.read(MAX_BODY_BYTES))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return HttpAnswer(None, error=str(getattr(exc, "reason", exc)) or type(exc).__name__)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: int | None
    detail: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


def judge(answer: HttpAnswer) -> tuple[bool, str]:
    """Healthy means HTTP 200 with a JSON body whose status is "ok" (the API's /health contract)."""
    if answer.status is None:
        return False, f"no answer: {answer.error}"
    if answer.status != 200:
        return False, f"HTTP {answer.status}"
    try:
        status = json.loads(answer.body).get("status")
    except (ValueError, AttributeError):
        return False, "HTTP 200 without a JSON object body"
    return (True, "ok") if status == "ok" else (False, f"HTTP 200 with status {status!r}")


class OriginSecret:
    """The secret origin header's value, cached for the life of the container."""

    def __init__(self, arn: str, client_factory: Callable[[str], Any]) -> None:
        self.arn = arn
        self._client_factory = client_factory
        self._value: str | None = None

    def value(self) -> str:
        if self._value is None:
            self._value = self._read()
        return self._value

    def refresh(self) -> bool:
        """Re-read the secret; True when the value changed."""
        old, self._value = self._value, self._read()
        return self._value != old

    def _read(self) -> str:
        region = self.arn.split(":")[3] if self.arn.count(":") >= 6 else ""
        try:
            raw = self._client_factory(region).get_secret_value(SecretId=self.arn)["SecretString"]
            value = json.loads(raw)["HEADERVALUE"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SecretError(
                f"secret {self.arn} must be JSON with a string HEADERVALUE ({type(exc).__name__})"
            ) from None
        except Exception as exc:  # botocore's errors: access denied, not found, network
            raise SecretError(
                f"cannot read secret {self.arn}: {exc}; allow secretsmanager:GetSecretValue on it "
                "(and kms:Decrypt if it uses a customer managed key)"
            ) from None
        if not isinstance(value, str) or not value:
            raise SecretError(f"secret {self.arn}: HEADERVALUE must be a non-empty string")
        return value


# ------------------------------------------------------------------------------------------- check
@dataclass
class RegionReport:
    region: str
    probes: list[ProbeResult] = field(default_factory=list)
    drained_before: bool | None = None
    action: str = "none"
    detail: str = ""

    @property
    def outcome(self) -> str:
        if self.probes and all(p.ok for p in self.probes):
            return "pass"
        if self.probes and not any(p.ok for p in self.probes):
            return "fail"
        return "mixed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "outcome": self.outcome,
            "probes": [p.as_dict() for p in self.probes],
            "drained_before": self.drained_before,
            "action": self.action,
            "detail": self.detail,
        }


@dataclass
class Checker:
    settings: Settings
    kvs_client: Any
    prober: Prober = http_get
    secret: OriginSecret | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    retry: edge_state.Retry | None = None
    _refreshed: bool = field(default=False, init=False)

    def run(self) -> dict[str, Any]:
        """Probe, decide, apply; returns the summary (also logged as one JSON line)."""
        reports = {t.region: RegionReport(t.region) for t in self.settings.targets}
        if self.secret is not None:
            self.secret.value()  # SecretError before any probe: never judge regions without it
        start = self.clock()
        for round_ in range(self.settings.probes):
            if round_:
                self.sleep(max(0.0, start + round_ * self.settings.interval_seconds - self.clock()))
            for target in self.settings.targets:
                reports[target.region].probes.append(self._probe(target))
        errors = self._apply(reports)
        summary = {
            "event": "edge-health",
            "kvs_arn": self.settings.kvs_arn,
            "regions": [reports[r].as_dict() for r in self.settings.regions],
            "errors": errors,
        }
        (logger.error if errors else logger.info)(json.dumps(summary, sort_keys=True))
        return summary

    def _probe(self, target: Target) -> ProbeResult:
        began = self.clock()
        answer = self.prober(target.health_url, self._headers(), self.settings.timeout_seconds)
        if answer.status == 403 and self.secret is not None and not self._refreshed:
            # Probably a rotated secret: re-read it once per invocation, and ask again if it changed.
            self._refreshed = True
            if self.secret.refresh():
                answer = self.prober(target.health_url, self._headers(), self.settings.timeout_seconds)
        ok, detail = judge(answer)
        if answer.status == 403 and self.secret is not None:
            detail += f" (is {self.settings.secret_header} the header CloudFront sends, with this secret?)"
        return ProbeResult(ok, answer.status, detail, self.clock() - began)

    def _headers(self) -> dict[str, str]:
        if self.secret is None or self.settings.secret_header is None:
            return {}
        return {self.settings.secret_header: self.secret.value()}

    def _apply(self, reports: Mapping[str, RegionReport]) -> list[str]:
        arn, regions = self.settings.kvs_arn, self.settings.regions
        try:
            state = edge_state.read_state(self.kvs_client, arn, regions)
        except edge_state.EdgeStateError as exc:
            for report in reports.values():
                report.action, report.detail = "error", str(exc)
            return [str(exc)]
        errors: list[str] = []
        for report in reports.values():
            report.drained_before = state[report.region]
        # Restores first, so a recovered region counts as serving when a failing one is drained.
        to_restore = [r for r in regions if reports[r].outcome == "pass" and state[r]]
        to_drain = [r for r in regions if reports[r].outcome == "fail" and not state[r]]
        for region in to_restore + to_drain:
            report = reports[region]
            try:
                if region in to_restore:
                    # Only its own drains: an operator's drain holds until an operator restores it.
                    change = edge_state.restore(
                        self.kvs_client, arn, region, automatic=True, retry=self.retry
                    )
                    report.action = "restored" if change.changed else "held-by-operator"
                else:
                    change = edge_state.drain(
                        self.kvs_client, arn, region, regions, automatic=True, retry=self.retry
                    )
                    report.action = "drained" if change.changed else "none"
            except edge_state.LastServingRegionError as exc:
                report.action, report.detail = "kept-last-serving", str(exc)
                logger.warning(
                    json.dumps({"event": "edge-health-last-region", "region": region, "detail": str(exc)})
                )
            except edge_state.EdgeStateError as exc:
                report.action, report.detail = "error", str(exc)
                errors.append(f"{region}: {exc}")
        return errors


# ------------------------------------------------------------------------------------ entry point
def default_kvs_client() -> Any:
    return edge_state.make_client()


def default_secrets_client(region: str) -> Any:
    import boto3

    return boto3.client("secretsmanager", **({"region_name": region} if region else {}))


#: Injectable for tests: the clients, the prober and the clock.
kvs_client_factory: Callable[[], Any] = default_kvs_client
secrets_client_factory: Callable[[str], Any] = default_secrets_client
prober: Prober = http_get
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic

# Cold-start caches: one KVS client, one secret value per secret ARN.
_kvs_client: Any = None
_secrets: dict[str, OriginSecret] = {}


def reset_caches() -> None:
    """Forget the cold-start caches (tests: simulate a new container)."""
    global _kvs_client
    _kvs_client = None
    _secrets.clear()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    global _kvs_client
    settings = Settings.from_env(os.environ)
    if _kvs_client is None:
        _kvs_client = kvs_client_factory()
    secret = None
    if settings.secret_arn is not None:
        secret = _secrets.setdefault(
            settings.secret_arn,
            OriginSecret(settings.secret_arn, lambda region: secrets_client_factory(region)),
        )
    checker = Checker(settings, _kvs_client, prober=prober, secret=secret, sleep=sleep, clock=clock)
    try:
        summary = checker.run()
    except SecretError as exc:
        logger.error(json.dumps({"event": "edge-health", "errors": [str(exc)], "action": "nothing probed"}))
        raise
    if summary["errors"]:
        raise EdgeHealthError("; ".join(summary["errors"]))
    return summary
