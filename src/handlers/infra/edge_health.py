"""Scheduled health checker of the edge: records what it sees of every region in the edge's
KeyValueStore, and drains or restores a region when the checkers' observations say so
(EventBridge, every minute).

One checker runs in each serving region and one in the witness region, so losing any one region,
its checker included, leaves a majority that still sees a failing region and drains it. Each run
probes every region's ``GET /health`` ``PROBES`` times, ``PROBE_INTERVAL_SECONDS`` apart: all
probes passing is a healthy run, any probe failing a failing run (so one failure in three counts).
The run is recorded under ``health:<region>:<checker>`` as consecutive failing / healthy runs, and
:func:`handlers.infra.edge_state.observe` applies the decision every checker would reach from the
same keys: a quorum of checkers (``QUORUM``, default a majority of ``CHECKERS``) with
``FAIL_THRESHOLD`` (2) failing runs in a row drains the region; with ``RESTORE_THRESHOLD`` (3)
healthy runs in a row it restores a drain a checker made (an operator's drain holds until an
operator restores it). A region failing every other minute therefore never flaps. The last serving
region is never drained (the edge would route to it anyway).

The regional APIs accept only requests that carry CloudFront's secret origin header, so the probes
send it too: the JSON key ``HEADERVALUE`` of ``ORIGIN_SECRET_ARN``'s ``AWSCURRENT`` version, and on a
403 its ``AWSPREVIOUS`` one (a rotation promotes the new value only after CloudFront sends it, and
every web ACL accepts both while it runs); both are read once per cold start and re-read once per
invocation on a 403 answered to both. If the secret cannot be read, nothing is probed or recorded:
a broken checker must not vote.

Environment: ``KVS_ARN``, ``REGIONS`` (JSON ``[{"region": ..., "health_url": "https://..."}]``),
``CHECKER`` (this checker's name, default ``AWS_REGION``), ``CHECKERS`` (JSON list of every checker's
name, default ``[CHECKER]``), ``FAIL_THRESHOLD`` (2), ``RESTORE_THRESHOLD`` (3), ``QUORUM`` (a
majority), ``OBSERVATION_TTL_SECONDS`` (150), ``ORIGIN_SECRET_ARN`` (an ARN, or a name in the
function's region) + ``ORIGIN_SECRET_HEADER`` (both or neither), ``PROBES`` (3),
``PROBE_INTERVAL_SECONDS`` (10), ``PROBE_TIMEOUT_SECONDS`` (3).
"""

from __future__ import annotations

import datetime as dt
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

from handlers.contract import ORIGIN_SECRET_JSON_KEY, EdgeHealthEnv, Env, default_trust_file
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
    checker: str = "checker"
    checkers: tuple[str, ...] = ()
    fail_threshold: int = 2
    restore_threshold: int = 3
    quorum: int | None = None
    ttl_seconds: float = 150.0

    @property
    def regions(self) -> list[str]:
        return [t.region for t in self.targets]

    @property
    def policy(self) -> edge_state.Policy:
        return edge_state.Policy(
            checkers=self.checkers or (self.checker,),
            fail_threshold=self.fail_threshold,
            restore_threshold=self.restore_threshold,
            quorum=self.quorum,
            ttl_seconds=self.ttl_seconds,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        kvs_arn = env.get(EdgeHealthEnv.KVS_ARN, "").strip()
        if not edge_state.KVS_ARN.fullmatch(kvs_arn):
            raise ConfigurationError(f"KVS_ARN must be the edge's KeyValueStore ARN, got {kvs_arn!r}")
        secret_arn = env.get(EdgeHealthEnv.ORIGIN_SECRET_ARN, "").strip() or None
        secret_header = env.get(EdgeHealthEnv.ORIGIN_SECRET_HEADER, "").strip() or None
        if (secret_arn is None) != (secret_header is None):
            raise ConfigurationError("set ORIGIN_SECRET_ARN and ORIGIN_SECRET_HEADER together, or neither")
        checker = env.get(EdgeHealthEnv.CHECKER, "").strip() or env.get("AWS_REGION", "").strip()
        if not checker:
            raise ConfigurationError("CHECKER must name this checker (default: AWS_REGION)")
        checkers = _checkers(env.get(EdgeHealthEnv.CHECKERS, ""), checker)
        quorum_raw = env.get(EdgeHealthEnv.QUORUM, "").strip()
        quorum = int(_number(env, EdgeHealthEnv.QUORUM, 1, minimum=1)) if quorum_raw else None
        if quorum is not None and quorum > len(checkers):
            raise ConfigurationError(f"QUORUM must be at most the number of CHECKERS ({len(checkers)})")
        return cls(
            kvs_arn=kvs_arn,
            targets=_targets(env.get(EdgeHealthEnv.REGIONS, "")),
            secret_arn=secret_arn,
            secret_header=secret_header,
            probes=int(_number(env, EdgeHealthEnv.PROBES, 3, minimum=1)),
            interval_seconds=_number(env, EdgeHealthEnv.PROBE_INTERVAL_SECONDS, 10, minimum=0),
            timeout_seconds=_number(env, EdgeHealthEnv.PROBE_TIMEOUT_SECONDS, 3, minimum=0.1),
            checker=checker,
            checkers=checkers,
            fail_threshold=int(_number(env, EdgeHealthEnv.FAIL_THRESHOLD, 2, minimum=1)),
            restore_threshold=int(_number(env, EdgeHealthEnv.RESTORE_THRESHOLD, 3, minimum=1)),
            quorum=quorum,
            ttl_seconds=_number(env, EdgeHealthEnv.OBSERVATION_TTL_SECONDS, 150, minimum=1),
        )


def _checkers(raw: str, checker: str) -> tuple[str, ...]:
    if not raw.strip():
        return (checker,)
    try:
        names = json.loads(raw)
        ok = isinstance(names, list) and all(isinstance(n, str) and n for n in names)
    except ValueError:
        ok = False
    if not ok or len(set(names)) != len(names):
        raise ConfigurationError(
            f'CHECKERS must be a JSON list of distinct names, e.g. ["us-east-1"], got {raw!r}'
        )
    if checker not in names:
        raise ConfigurationError(f"CHECKERS {names} must include this checker, {checker!r}")
    return tuple(names)


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


_INTEGERS: Final = frozenset(
    {
        EdgeHealthEnv.PROBES,
        EdgeHealthEnv.FAIL_THRESHOLD,
        EdgeHealthEnv.RESTORE_THRESHOLD,
        EdgeHealthEnv.QUORUM,
    }
)


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else float(default)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    integer = name in _INTEGERS
    if value < minimum or (integer and value != int(value)):
        raise ConfigurationError(f"{name} must be {'an integer ' if integer else ''}>= {minimum}")
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
    """The secret origin header's values (``AWSCURRENT``, then ``AWSPREVIOUS`` if there is one),
    cached for the life of the container."""

    STAGES: Final = ("AWSCURRENT", "AWSPREVIOUS")

    def __init__(self, arn: str, client_factory: Callable[[str], Any]) -> None:
        self.arn = arn
        self._client_factory = client_factory
        self._values: list[str] | None = None

    def values(self) -> list[str]:
        if self._values is None:
            self._values = self._read()
        return self._values

    def value(self) -> str:
        return self.values()[0]

    def refresh(self) -> bool:
        """Re-read the secret; True when the values changed."""
        old, self._values = self._values, self._read()
        return self._values != old

    def _read(self) -> list[str]:
        region = self.arn.split(":")[3] if self.arn.count(":") >= 6 else ""
        client = self._client_factory(region)
        values: list[str] = []
        for stage in self.STAGES:
            try:
                raw = client.get_secret_value(SecretId=self.arn, VersionStage=stage)["SecretString"]
                value = json.loads(raw)[ORIGIN_SECRET_JSON_KEY]
            except (ValueError, KeyError, TypeError) as exc:
                raise SecretError(
                    f"secret {self.arn} ({stage}) must be JSON with a string HEADERVALUE "
                    f"({type(exc).__name__})"
                ) from None
            except Exception as exc:  # botocore's errors: access denied, not found, network
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if stage != "AWSCURRENT" and code == "ResourceNotFoundException":
                    continue  # never rotated: there is no previous version
                raise SecretError(
                    f"cannot read secret {self.arn} ({stage}): {exc}; allow secretsmanager:GetSecretValue "
                    "on it (and kms:Decrypt if it uses a customer managed key)"
                ) from None
            if not isinstance(value, str) or not value:
                raise SecretError(f"secret {self.arn} ({stage}): HEADERVALUE must be a non-empty string")
            if value not in values:
                values.append(value)
        return values


# ------------------------------------------------------------------------------------------- check
@dataclass
class RegionReport:
    region: str
    probes: list[ProbeResult] = field(default_factory=list)
    drained_before: bool | None = None
    action: str = "none"
    detail: str = ""
    observation: edge_state.Observation | None = None
    votes: tuple[int, int] | None = None

    @property
    def outcome(self) -> str:
        """``pass`` when every probe passed; ``fail`` when any failed (one failure in three counts)."""
        return "pass" if self.probes and all(p.ok for p in self.probes) else "fail"

    def as_dict(self) -> dict[str, Any]:
        seen = self.observation
        return {
            "region": self.region,
            "outcome": self.outcome,
            "probes": [p.as_dict() for p in self.probes],
            "failing_runs": seen.fail if seen else None,
            "healthy_runs": seen.ok if seen else None,
            "votes": {"drain": self.votes[0], "restore": self.votes[1]} if self.votes else None,
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
    #: Wall clock (epoch seconds): when a run started, as recorded in the store.
    now: Callable[[], float] = time.time
    _refreshed: bool = field(default=False, init=False)
    _choice: int = field(default=0, init=False)

    def run(self, at: float | None = None) -> dict[str, Any]:
        """Probe, record, decide, apply; returns the summary (also logged as one JSON line).

        ``at``: the run's time as recorded in the store (the scheduled minute, so a duplicate
        delivery of the same event is the same run) [the wall clock]."""
        reports = {t.region: RegionReport(t.region) for t in self.settings.targets}
        if self.secret is not None:
            self.secret.values()  # SecretError before any probe: never judge regions without it
        at = self.now() if at is None else at
        start = self.clock()
        for round_ in range(self.settings.probes):
            if round_:
                self.sleep(max(0.0, start + round_ * self.settings.interval_seconds - self.clock()))
            for target in self.settings.targets:
                reports[target.region].probes.append(self._probe(target))
        errors = self._apply(reports, at)
        summary = {
            "event": "edge-health",
            "checker": self.settings.checker,
            "kvs_arn": self.settings.kvs_arn,
            "regions": [reports[r].as_dict() for r in self.settings.regions],
            "errors": errors,
        }
        (logger.error if errors else logger.info)(json.dumps(summary, sort_keys=True))
        return summary

    def _probe(self, target: Target) -> ProbeResult:
        began = self.clock()
        answer = self._ask(target)
        ok, detail = judge(answer)
        if answer.status == 403 and self.secret is not None:
            detail += f" (is {self.settings.secret_header} the header CloudFront sends, with this secret?)"
        return ProbeResult(ok, answer.status, detail, self.clock() - began)

    def _ask(self, target: Target) -> HttpAnswer:
        timeout = self.settings.timeout_seconds
        answer = self.prober(target.health_url, self._headers(self._choice), timeout)
        if answer.status != 403 or self.secret is None:
            return answer
        # AWSCURRENT refused: AWSPREVIOUS (a rotation or a deploy in flight), then re-read both once
        # per invocation (rotated since the cold start).
        for index in range(len(self.secret.values())):
            if index != self._choice:
                retried = self.prober(target.health_url, self._headers(index), timeout)
                if retried.status != 403:
                    self._choice = index
                    return retried
        if not self._refreshed:
            self._refreshed = True
            if self.secret.refresh():
                self._choice = 0
                return self._ask(target)
        return answer

    def _headers(self, index: int) -> dict[str, str]:
        if self.secret is None or self.settings.secret_header is None:
            return {}
        values = self.secret.values()
        return {self.settings.secret_header: values[min(index, len(values) - 1)]}

    def _apply(self, reports: Mapping[str, RegionReport], at: float) -> list[str]:
        settings = self.settings
        healthy = {region: reports[region].outcome == "pass" for region in settings.regions}
        try:
            decisions = edge_state.observe(
                self.kvs_client,
                settings.kvs_arn,
                settings.checker,
                healthy,
                settings.policy,
                at=at,
                regions=settings.regions,
                retry=self.retry,
            )
        except edge_state.EdgeStateError as exc:
            for report in reports.values():
                report.action, report.detail = "error", str(exc)
            return [str(exc)]
        for decision in decisions:
            report = reports[decision.region]
            report.drained_before = decision.drained_before
            report.action, report.detail = decision.action, decision.detail
            report.observation = decision.observation
            report.votes = (decision.drain_votes, decision.restore_votes)
            if decision.action == "kept-last-serving":
                logger.warning(
                    json.dumps(
                        {
                            "event": "edge-health-last-region",
                            "region": decision.region,
                            "detail": decision.detail,
                        }
                    )
                )
        return []


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
wall_clock: Callable[[], float] = time.time

# Cold-start caches: one KVS client, one secret value per secret ARN.
_kvs_client: Any = None
_secrets: dict[str, OriginSecret] = {}


def reset_caches() -> None:
    """Forget the cold-start caches (tests: simulate a new container)."""
    global _kvs_client
    _kvs_client = None
    _secrets.clear()


def scheduled_at(event: Mapping[str, Any]) -> float | None:
    """The epoch seconds of the minute an EventBridge scheduled event was scheduled for (its
    ``time``, e.g. ``2015-10-08T16:53:06Z``:
    https://docs.aws.amazon.com/eventbridge/latest/userguide/event-reference.html#event-detail-scheduled-event),
    or None for an event without one (a manual invocation). Lambda may deliver one event more than
    once; both deliveries carry the same ``time`` and so record one run."""
    raw = event.get("time") if isinstance(event, Mapping) else None
    if not isinstance(raw, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return float(int(moment.timestamp()) // 60 * 60)


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
    checker = Checker(
        settings, _kvs_client, prober=prober, secret=secret, sleep=sleep, clock=clock, now=wall_clock
    )
    try:
        summary = checker.run(scheduled_at(event))
    except SecretError as exc:
        logger.error(json.dumps({"event": "edge-health", "errors": [str(exc)], "action": "nothing probed"}))
        raise
    if summary["errors"]:
        raise EdgeHealthError("; ".join(summary["errors"]))
    return summary
