"""Drain state of the edge: which regions the CloudFront router may send viewers to.

The viewer-request function (``ecommerce_constructs/edge/router.js``) reads the KeyValueStore
associated with it: key ``drained:<region>`` with value ``true`` (trimmed, any case) means drained;
a missing key or any other value means serving. This module writes that state through the KVS
data-plane API (boto3 ``cloudfront-keyvaluestore``), for the health checker and the CLI alike.

Every write carries the store-wide ETag (``If-Match``) read by DescribeKeyValueStore *before* the
state is read, so a decision made on stale state cannot land: a concurrent writer (of any key)
turns it into a ConflictException, and the whole describe-read-decide-write step is redone after a
capped, jittered backoff. That is also what keeps two concurrent drains from emptying the edge.

Lambda-safe: standard library and boto3/botocore only. The API is signed with SigV4A, which
botocore can only do with the AWS CRT (``botocore[crt]``, i.e. the ``awscrt`` package).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

DRAIN_PREFIX: Final = "drained:"
DRAINED_VALUE: Final = "true"
#: Marks a drain the health checker made (the router ignores it): the checker restores only its own
#: drains, so an operator's maintenance drain holds until an operator restores it.
AUTO_PREFIX: Final = "auto-drained:"
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
