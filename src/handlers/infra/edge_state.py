"""Drain state of the edge: which regions the CloudFront router may send viewers to.

The viewer-request function (``ecommerce_constructs/edge/router.js``) reads the KeyValueStore
associated with it: key ``drained:<region>`` with value ``true`` (trimmed, any case) means drained;
a missing key or any other value means serving. This module writes that state through the KVS
data-plane API (boto3 ``cloudfront-keyvaluestore``), for the health checker and the CLI alike.

Every write carries the store-wide ETag (``If-Match``) read by DescribeKeyValueStore *before* the
state is read, so a decision made on stale state cannot land: a concurrent writer (of any key)
turns it into a ConflictException, and the whole describe-read-decide-write step is redone after a
capped, jittered backoff. That is also what keeps two concurrent drains from emptying the edge.

Health observations (:func:`observe`): each health checker (one per serving region plus one in the
witness region) keeps, per region it probes, its own key ``health:<region>:<checker>`` with its
consecutive failing and healthy runs (JSON ``{"fail": n, "ok": n, "at": epoch seconds}``). A region
is drained when a quorum of checkers (default: a majority of all configured checkers) each saw at
least ``fail_threshold`` failing runs in a row, and an automatic drain is restored when a quorum saw
``restore_threshold`` healthy runs in a row; observations older than ``ttl_seconds`` do not count
(a checker that stopped has no vote). With a majority quorum both can never hold at once, and every
checker reaches the same decision from the same keys, so any of them may apply it (idempotent).

A run in which a checker saw no region healthy is recorded as no vote (its counts start over):
when every region fails for a checker, the likelier cause is shared (the checker's CA bundle or
network, its secret, a bad ``/health`` deploy everywhere), and draining would take a healthy region
out (and drain it again after an operator restores it).

``failover-groups`` = ``off`` makes the router use one origin per request (no per-request origin
group); a missing key or any other value keeps groups on. ``auto-drain`` = ``off`` stops the
checkers draining (they keep recording, and still restore a region they drained once it is healthy);
a missing key or any other value keeps automatic drains on.

Lambda-safe: standard library and boto3/botocore only. The API is signed with SigV4A, which
botocore can only do with the AWS CRT (``botocore[crt]``, i.e. the ``awscrt`` package).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from handlers.contract import EdgeKey

# The keys' names live in handlers.contract (the router reads two of them: a test compares).
DRAIN_PREFIX: Final = EdgeKey.DRAIN_PREFIX
DRAINED_VALUE: Final = EdgeKey.DRAINED_VALUE
AUTO_PREFIX: Final = EdgeKey.AUTO_PREFIX
HEALTH_PREFIX: Final = EdgeKey.HEALTH_PREFIX
FAILOVER_GROUPS_KEY: Final = EdgeKey.FAILOVER_GROUPS
AUTO_DRAIN_KEY: Final = EdgeKey.AUTO_DRAIN
#: The KVS control plane and its IAM resources are global; the client still needs a region to exist.
CLIENT_REGION: Final = "us-east-1"
KVS_ARN: Final = re.compile(r"arn:aws[a-z-]*:cloudfront::(\d{12}):key-value-store/[A-Za-z0-9-]+")
#: Codes of requests that reached AWS with credentials it would not accept (SigV4A needs STS v2 tokens).
_TOKEN_ERRORS: Final = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "SignatureDoesNotMatch",
        "UnsupportedSignature",
        "InvalidToken",
    }
)


# ------------------------------------------------------------------------------------------ errors
class EdgeStateError(Exception):
    """The drain state could not be read or changed; the message says why and what to do."""


class LastServingRegionError(EdgeStateError):
    """Draining this region would leave no region serving."""


class UnknownRegionError(EdgeStateError):
    """The region is not one the edge routes to."""


class InvalidStoreArnError(EdgeStateError):
    """The KVS ARN is malformed."""


class StoreNotFoundError(EdgeStateError):
    """No KeyValueStore has this ARN."""


class StoreAccessDeniedError(EdgeStateError):
    """IAM denied a KVS action."""


class StoreConflictError(EdgeStateError):
    """Other writers kept changing the store: every attempt hit a stale ETag."""


class MissingCrtError(EdgeStateError):
    """botocore cannot sign SigV4A requests without the AWS CRT."""


class CredentialsError(EdgeStateError):
    """No credentials, or credentials the KVS endpoint rejects."""


# ------------------------------------------------------------------------------------------ model
def drain_key(region: str) -> str:
    return DRAIN_PREFIX + region


def auto_key(region: str) -> str:
    return AUTO_PREFIX + region


def health_key(region: str, checker: str) -> str:
    return f"{HEALTH_PREFIX}{region}:{checker}"


def failover_groups_on(items: Mapping[str, str]) -> bool:
    """The router's rule: only ``off`` (trimmed, any case) turns per-request origin groups off."""
    value = items.get(FAILOVER_GROUPS_KEY)
    return value is None or value.strip().lower() != "off"


def auto_drain_on(items: Mapping[str, str]) -> bool:
    """The checkers' rule: only ``off`` (trimmed, any case) stops automatic drains."""
    value = items.get(AUTO_DRAIN_KEY)
    return value is None or value.strip().lower() != "off"


def automatic_drains(items: Mapping[str, str], regions: Iterable[str]) -> set[str]:
    """The drained regions the health checker drained (and may restore)."""
    return {r for r in regions if is_drained_value(items.get(drain_key(r))) and auto_key(r) in items}


def is_drained_value(value: str | None) -> bool:
    """The router's rule: only ``true`` (trimmed, case-insensitive) drains; anything else serves."""
    return value is not None and value.strip().lower() == DRAINED_VALUE


def state_from_items(items: Mapping[str, str], regions: Iterable[str]) -> dict[str, bool]:
    """Region -> drained, from the store's key/value pairs."""
    return {region: is_drained_value(items.get(drain_key(region))) for region in regions}


def check_drain_allowed(
    region: str, regions: Sequence[str], state: Mapping[str, bool], *, allow_last: bool = False
) -> None:
    """Raise unless ``region`` may be drained given ``state`` (region -> drained)."""
    if region not in regions:
        raise UnknownRegionError(
            f"{region} is not one of the edge's regions ({', '.join(regions)}); check the region name"
        )
    serving = [r for r in regions if not state.get(r, False)]
    if allow_last or serving != [region]:
        return
    others = [r for r in regions if r != region]
    drained = f" ({', '.join(others)} already drained)" if others else ""
    raise LastServingRegionError(
        f"refusing to drain {region}: it is the last serving region{drained}, and with every region "
        "drained the edge still routes each viewer to the nearest one; restore another region first, "
        "or force it (ecommerce edge drain --force)"
    )


@dataclass(frozen=True)
class Change:
    """Outcome of drain/restore: ``changed`` is False when the region already was in that state."""

    region: str
    drained: bool
    changed: bool
    attempts: int


@dataclass(frozen=True)
class Retry:
    """ETag-conflict retries: full-jitter exponential backoff, capped, bounded attempts."""

    attempts: int = 8
    base_seconds: float = 0.05
    cap_seconds: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random  # uniform in [0, 1)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return self.jitter() * min(self.cap_seconds, self.base_seconds * 2.0 ** (attempt - 1))


DEFAULT_RETRY = Retry()


def make_client(**config: Any) -> Any:
    """A ``cloudfront-keyvaluestore`` client (SigV4A: needs ``botocore[crt]`` at call time)."""
    import boto3
    from botocore.config import Config

    # botocore retries throttling and 5xx; ConflictException (409) is this module's own loop.
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 4},
        "connect_timeout": 5,
        "read_timeout": 10,
        **config,
    }
    # An own session: the default one caches credentials process-wide (and is not thread-safe).
    session = boto3.session.Session()
    return session.client("cloudfront-keyvaluestore", region_name=CLIENT_REGION, config=Config(**options))


# ------------------------------------------------------------------------------------- operations
def read_state(client: Any, kvs_arn: str, regions: Iterable[str]) -> dict[str, bool]:
    """Region -> drained, for each of ``regions``."""
    _check_arn(kvs_arn)
    return state_from_items(_items(client, kvs_arn), regions)


def drain(
    client: Any,
    kvs_arn: str,
    region: str,
    regions: Sequence[str],
    *,
    allow_last: bool = False,
    automatic: bool = False,
    retry: Retry | None = None,
) -> Change:
    """Mark ``region`` drained, unless it is the last serving one of ``regions`` (``allow_last``).

    ``automatic``: the health checker's drain, which it may undo. An operator's drain of a region
    the checker drained takes it over (the checker will no longer restore it).
    """
    _check_arn(kvs_arn)
    regions = list(regions)
    check_drain_allowed(region, regions, {}, allow_last=True)  # a bad name fails before any call

    def attempt() -> bool:
        etag = _etag(client, kvs_arn)
        items = _items(client, kvs_arn)
        state = state_from_items(items, regions)
        if state[region]:
            if automatic or auto_key(region) not in items:
                return False
            _call(
                client, "DeleteKey", kvs_arn, Key=auto_key(region), IfMatch=etag
            )  # an operator holds it now
            return True
        check_drain_allowed(region, regions, state, allow_last=allow_last)
        puts = [{"Key": drain_key(region), "Value": DRAINED_VALUE}]
        if automatic:
            puts.append({"Key": auto_key(region), "Value": DRAINED_VALUE})
            _call(client, "UpdateKeys", kvs_arn, Puts=puts, IfMatch=etag)  # both or neither
        else:
            _call(client, "PutKey", kvs_arn, Key=drain_key(region), Value=DRAINED_VALUE, IfMatch=etag)
        return True

    changed, attempts = _with_retries(attempt, retry, kvs_arn, f"drain {region}")
    return Change(region, drained=True, changed=changed, attempts=attempts)


def restore(
    client: Any, kvs_arn: str, region: str, *, automatic: bool = False, retry: Retry | None = None
) -> Change:
    """Let the edge route to ``region`` again (a no-op when it is not drained).

    ``automatic``: the health checker's restore, which undoes only its own drains.
    """
    _check_arn(kvs_arn)
    if not region:
        raise UnknownRegionError("an empty region name cannot be restored; name a region, e.g. us-east-1")

    def attempt() -> bool:
        etag = _etag(client, kvs_arn)
        items = _items(client, kvs_arn)
        marked = auto_key(region) in items
        if not state_from_items(items, [region])[region] or (automatic and not marked):
            return False
        try:
            if marked:
                deletes = [{"Key": drain_key(region)}, {"Key": auto_key(region)}]
                _call(client, "UpdateKeys", kvs_arn, Deletes=deletes, IfMatch=etag, missing_ok=True)
            else:
                _call(client, "DeleteKey", kvs_arn, Key=drain_key(region), IfMatch=etag, missing_ok=True)
        except _Missing:  # deleted by someone else since ListKeys
            return False
        return True

    changed, attempts = _with_retries(attempt, retry, kvs_arn, f"restore {region}")
    return Change(region, drained=False, changed=changed, attempts=attempts)


# ------------------------------------------------------------------------------ health observations
@dataclass(frozen=True)
class Observation:
    """One checker's memory of one region: consecutive failing / healthy runs, and when it last ran
    (``at``: epoch seconds of the run's start, which also makes a retried write idempotent)."""

    fail: int = 0
    ok: int = 0
    at: float = 0.0

    def encode(self) -> str:
        return json.dumps({"fail": self.fail, "ok": self.ok, "at": round(self.at, 3)}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> Observation | None:
        """The stored observation, or None for a missing or unreadable value (no vote)."""
        try:
            data = json.loads(raw or "")
            return cls(int(data["fail"]), int(data["ok"]), float(data["at"]))
        except (ValueError, TypeError, KeyError):
            return None

    def after(self, healthy: bool, at: float, ttl_seconds: float) -> Observation:
        """This observation extended by a run that started at ``at``. A stale one starts over; the
        same run recorded twice (a write retried after it landed, or one scheduled event delivered
        twice) counts once, and a run older than the recorded one (delivered late) is ignored: it
        must not reset the counts of the runs after it."""
        if at <= self.at:
            return self
        previous = self if 0 <= at - self.at <= ttl_seconds else Observation()
        if healthy:
            return Observation(fail=0, ok=previous.ok + 1, at=at)
        return Observation(fail=previous.fail + 1, ok=0, at=at)


@dataclass(frozen=True)
class Policy:
    """When observations drain or restore a region. Defaults: 2 failing runs in a row drain, 3
    healthy runs in a row restore (an automatic drain), a majority of ``checkers`` must agree,
    observations older than 150 s (2.5 one-minute runs) have no vote."""

    checkers: tuple[str, ...]
    fail_threshold: int = 2
    restore_threshold: int = 3
    quorum: int | None = None
    ttl_seconds: float = 150.0

    @property
    def votes_needed(self) -> int:
        return self.quorum if self.quorum is not None else len(self.checkers) // 2 + 1

    def votes(self, items: Mapping[str, str], region: str, now: float) -> tuple[int, int]:
        """(checkers voting to drain, checkers voting to restore) ``region``, from fresh observations."""
        drain = restore = 0
        for checker in self.checkers:
            seen = Observation.decode(items.get(health_key(region, checker)))
            if seen is None or abs(now - seen.at) > self.ttl_seconds:
                continue
            drain += seen.fail >= self.fail_threshold
            restore += seen.ok >= self.restore_threshold
        return drain, restore


@dataclass(frozen=True)
class Decision:
    """What :func:`observe` did for one region (``action``: drained, restored, held-by-operator,
    kept-last-serving or none) and the votes behind it."""

    region: str
    observation: Observation
    drained_before: bool
    action: str
    drain_votes: int
    restore_votes: int
    detail: str = ""


def decide(
    items: Mapping[str, str], regions: Sequence[str], policy: Policy, now: float
) -> dict[str, tuple[str, int, int, str]]:
    """Region -> (action, drain votes, restore votes, detail) from the store's items: restores
    first (a recovered region serves again before a failing one is drained), never the last serving
    region, an operator's drain (no ``auto-drained:`` marker) never restored, no drain while
    ``auto-drain`` is ``off`` (action ``auto-drain-off``). Pure."""
    state = state_from_items(items, regions)
    auto = automatic_drains(items, regions)
    votes = {region: policy.votes(items, region, now) for region in regions}
    need = policy.votes_needed
    out: dict[str, tuple[str, int, int, str]] = {}
    for region in regions:
        drain_votes, restore_votes = votes[region]
        action = "none"
        if state[region] and restore_votes >= need:
            action = "restored" if region in auto else "held-by-operator"
            if action == "restored":
                state[region] = False
        out[region] = (action, drain_votes, restore_votes, "")
    for region in regions:
        drain_votes, restore_votes = votes[region]
        if state[region] or drain_votes < need:
            continue
        if not auto_drain_on(items):
            detail = f"{AUTO_DRAIN_KEY} is off: not drained (ecommerce edge auto-drain on)"
            out[region] = ("auto-drain-off", drain_votes, restore_votes, detail)
            continue
        try:
            check_drain_allowed(region, regions, state)
        except LastServingRegionError as exc:
            out[region] = ("kept-last-serving", drain_votes, restore_votes, str(exc))
            continue
        state[region] = True
        out[region] = ("drained", drain_votes, restore_votes, "")
    return out


def observe(
    client: Any,
    kvs_arn: str,
    checker: str,
    healthy: Mapping[str, bool],
    policy: Policy,
    *,
    at: float,
    regions: Sequence[str] | None = None,
    retry: Retry | None = None,
) -> list[Decision]:
    """Record one run of ``checker`` (region -> healthy, for a run that started at ``at``) and apply
    what every checker's observations decide, in one ``UpdateKeys`` with the ETag read first (a
    concurrent writer makes the whole step start over). Safe to repeat: the same run counts once, and
    a drain or restore another checker already made is not made again."""
    _check_arn(kvs_arn)
    regions = list(regions or healthy)
    if checker not in policy.checkers:
        raise EdgeStateError(f"checker {checker!r} is not one of {list(policy.checkers)}")
    result: list[Decision] = []

    def attempt() -> bool:
        etag = _etag(client, kvs_arn)
        items = _items(client, kvs_arn)
        before = state_from_items(items, regions)
        puts: dict[str, str] = {}
        seen: dict[str, Observation] = {}
        # Every region failing at once for this checker: a shared cause is likelier; no vote.
        abstain = len(regions) > 1 and not any(healthy[region] for region in regions)
        for region in regions:
            key = health_key(region, checker)
            old = Observation.decode(items.get(key)) or Observation()
            seen[region] = old.after(healthy[region], at, policy.ttl_seconds)
            if abstain and seen[region] != old:
                seen[region] = Observation(fail=0, ok=0, at=at)
            if seen[region] != old or key not in items:
                puts[key] = seen[region].encode()
        merged = {**items, **puts}
        decisions = decide(merged, regions, policy, at)
        deletes: list[str] = []
        for region, (action, *_rest) in decisions.items():
            if action == "drained":
                puts[drain_key(region)] = DRAINED_VALUE
                puts[auto_key(region)] = DRAINED_VALUE
            elif action == "restored":
                deletes += [drain_key(region), auto_key(region)]
        no_vote = f"no region answered {checker} healthy: no vote (a cause common to every region?)"
        result[:] = [
            Decision(
                region, seen[region], before[region], action, dv, rv, detail or (no_vote if abstain else "")
            )
            for region, (action, dv, rv, detail) in decisions.items()
        ]
        if not puts and not deletes:
            return False
        changes: dict[str, Any] = {}
        if puts:
            changes["Puts"] = [{"Key": k, "Value": v} for k, v in puts.items()]
        if deletes:
            changes["Deletes"] = [{"Key": k} for k in deletes]
        _call(client, "UpdateKeys", kvs_arn, IfMatch=etag, **changes)
        return True

    _with_retries(attempt, retry, kvs_arn, f"record the observations of {checker}")
    return result


def set_failover_groups(client: Any, kvs_arn: str, on: bool, *, retry: Retry | None = None) -> Change:
    """Turn the router's per-request origin groups on (delete the key) or off (``off``)."""
    return _switch(client, kvs_arn, FAILOVER_GROUPS_KEY, failover_groups_on, on, retry)


def set_auto_drain(client: Any, kvs_arn: str, on: bool, *, retry: Retry | None = None) -> Change:
    """Let the checkers drain (delete the key) or not (``off``; they still record and restore)."""
    return _switch(client, kvs_arn, AUTO_DRAIN_KEY, auto_drain_on, on, retry)


def _switch(
    client: Any,
    kvs_arn: str,
    key: str,
    is_on: Callable[[Mapping[str, str]], bool],
    on: bool,
    retry: Retry | None,
) -> Change:
    _check_arn(kvs_arn)

    def attempt() -> bool:
        etag = _etag(client, kvs_arn)
        items = _items(client, kvs_arn)
        if is_on(items) == on:
            return False
        if on:
            _call(client, "UpdateKeys", kvs_arn, Deletes=[{"Key": key}], IfMatch=etag)
        else:
            _call(client, "UpdateKeys", kvs_arn, Puts=[{"Key": key, "Value": "off"}], IfMatch=etag)
        return True

    changed, attempts = _with_retries(attempt, retry, kvs_arn, f"switch {key}")
    return Change(key, drained=not on, changed=changed, attempts=attempts)


def read_items(client: Any, kvs_arn: str) -> dict[str, str]:
    """Every key of the store (status and tests)."""
    _check_arn(kvs_arn)
    return _items(client, kvs_arn)


# ---------------------------------------------------------------------------------------- plumbing
class _Conflict(Exception):
    """A stale ETag (ConflictException): redo the whole step."""


class _Missing(Exception):
    """The key does not exist (only where that is an expected answer)."""


def _check_arn(kvs_arn: str) -> None:
    if not KVS_ARN.fullmatch(kvs_arn or ""):
        raise InvalidStoreArnError(
            f"{kvs_arn!r} is not a CloudFront KeyValueStore ARN "
            "(arn:aws:cloudfront::<account>:key-value-store/<id>); take it from the edge stack's "
            "EdgeDrainStoreArn output"
        )


def _with_retries(step: Callable[[], bool], retry: Retry | None, kvs_arn: str, what: str) -> tuple[bool, int]:
    retry = retry or DEFAULT_RETRY  # looked up per call, so tests can replace it
    attempts = max(1, retry.attempts)
    for attempt in range(1, attempts + 1):
        try:
            return step(), attempt
        except _Conflict:
            if attempt < attempts:
                retry.sleep(retry.delay(attempt))
    raise StoreConflictError(
        f"could not {what}: the KeyValueStore {kvs_arn} changed under each of {attempts} attempts "
        "(ConflictException: another writer is updating it); retry in a moment"
    )


def _etag(client: Any, kvs_arn: str) -> str:
    return str(_call(client, "DescribeKeyValueStore", kvs_arn)["ETag"])


def _items(client: Any, kvs_arn: str) -> dict[str, str]:
    items: dict[str, str] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"MaxResults": 50, **({"NextToken": token} if token else {})}
        page = _call(client, "ListKeys", kvs_arn, **params)
        items.update({item["Key"]: item["Value"] for item in page.get("Items", [])})
        token = page.get("NextToken")
        if not token:
            return items


_METHODS: Final = {
    "DescribeKeyValueStore": "describe_key_value_store",
    "ListKeys": "list_keys",
    "PutKey": "put_key",
    "DeleteKey": "delete_key",
    "UpdateKeys": "update_keys",
}


def _call(client: Any, action: str, kvs_arn: str, *, missing_ok: bool = False, **params: Any) -> Any:
    """One API call, its failures turned into EdgeStateError subclasses that name the fix."""
    import botocore.exceptions as bce

    try:
        return getattr(client, _METHODS[action])(KvsARN=kvs_arn, **params)
    except bce.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "") or exc)
        if code == "ConflictException":
            raise _Conflict from None
        if code == "ResourceNotFoundException" and missing_ok:
            raise _Missing from None
        raise _client_error(action, kvs_arn, code, message) from None
    except bce.MissingDependencyException:
        raise MissingCrtError(
            "the CloudFront KeyValueStore API is signed with SigV4A, which botocore does only with the "
            "AWS CRT: pip install 'botocore[crt]' (in a Lambda bundle: add awscrt built for the "
            "function's architecture)"
        ) from None
    except (bce.NoCredentialsError, bce.PartialCredentialsError) as exc:
        raise CredentialsError(
            f"no AWS credentials for cloudfront-keyvaluestore:{action} ({exc}); configure credentials "
            "(aws configure, AWS_PROFILE or environment variables) for the account of the edge stack"
        ) from None
    except bce.BotoCoreError as exc:
        raise EdgeStateError(f"cloudfront-keyvaluestore:{action} on {kvs_arn} failed: {exc}") from None


def _client_error(action: str, kvs_arn: str, code: str, message: str) -> EdgeStateError:
    if code == "AccessDeniedException":
        return StoreAccessDeniedError(
            f"access denied: allow cloudfront-keyvaluestore:{action} on {kvs_arn} for the caller's IAM "
            f"identity ({message})"
        )
    if code == "ResourceNotFoundException":
        return StoreNotFoundError(
            f"no CloudFront KeyValueStore {kvs_arn} ({message}); is the edge stack deployed in this "
            "account, and is the ARN its EdgeDrainStoreArn output?"
        )
    if code == "ExpiredTokenException" or code in _TOKEN_ERRORS or "security token" in message.lower():
        return CredentialsError(
            f"the KVS endpoint rejected the credentials ({code}: {message}). SigV4A needs session tokens "
            "valid in every region: refresh expired credentials, get them from a regional STS endpoint "
            "(AWS_STS_REGIONAL_ENDPOINTS=regional), or switch the account's global endpoint to v2 tokens: "
            "aws iam set-security-token-service-preferences --global-endpoint-token-version v2Token"
        )
    if code == "ServiceQuotaExceededException":
        return EdgeStateError(
            f"the KeyValueStore {kvs_arn} is full ({message}); delete keys it no longer needs"
        )
    return EdgeStateError(f"cloudfront-keyvaluestore:{action} on {kvs_arn} failed: {code}: {message}")
