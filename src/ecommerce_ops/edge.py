"""``ecommerce edge``: drain a region out of the edge's routing, restore it, show what the edge does.

Deployed (default): the drain state lives in the CloudFront KeyValueStore of the edge stack (output
``EdgeDrainStoreArn``), changed with the ETag protocol of :mod:`handlers.infra.edge_state` (SigV4A:
needs ``botocore[crt]``). Only the edge stack is asked (DescribeStacks in us-east-1), never a
regional one: drains happen when a region is impaired. The ARN is remembered per account and app
after the first successful lookup (``~/.cache/ecommerce/<account>-<app>-edge.json``, or
``$ECOMMERCE_CACHE_DIR``; the account is the configuration's ``account``, else the caller's from STS),
looked up again once when the remembered store no longer exists, and ``--kvs-arn`` (env
``ECOMMERCE_EDGE_KVS_ARN``) skips CloudFormation entirely.

``--local``: the file ``<data-dir>/edge/kvs.json`` that ``make dev``'s local
edge reads, in CloudFront's KVS import format ``{"data": [{"key": ..., "value": ...}]}``.

``status`` predicts routing with the router's own rule (``ecommerce_constructs/edge/router.js``):
rank regions by great-circle distance to the viewer, take the first one not drained, and if all
are drained take the nearest anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ecommerce_constructs.edge_routing import REGION_COORDINATES  # what router.js is given
from handlers.contract import Output
from handlers.infra import edge_state

CACHE_ENV = "ECOMMERCE_CACHE_DIR"
#: The regions `make dev` simulates (the first is the primary).
LOCAL_REGIONS = ("us-east-1", "us-east-2")
LOCAL_STORE = Path("edge") / "kvs.json"

SAMPLE_VIEWERS: tuple[tuple[str, float, float], ...] = (
    ("New York", 40.71, -74.01),
    ("Chicago", 41.88, -87.63),
    ("London", 51.51, -0.13),
    ("Tokyo", 35.68, 139.69),
    ("São Paulo", -23.55, -46.63),
)

#: Injectable for tests: the KVS client and the CloudFormation client (per region) of the deployed mode.
client_factory: Callable[[], Any] = edge_state.make_client
cloudformation_client_factory: Callable[[str], Any] | None = None
#: Injectable for tests: the caller's account (default: STS GetCallerIdentity).
caller_account_factory: Callable[[], str] | None = None


# ------------------------------------------------------------------------------ routing (router.js)
def arc(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Central angle in radians between two (lat, lon) points: router.js's haversine."""
    r = math.pi / 180
    s1 = math.sin((b[0] - a[0]) * r / 2)
    s2 = math.sin((b[1] - a[1]) * r / 2)
    h = s1 * s1 + math.cos(a[0] * r) * math.cos(b[0] * r) * s2 * s2
    return 2 * math.asin(min(1.0, math.sqrt(h)))


def ranking(
    point: tuple[float, float] | None,
    regions: Sequence[str],
    primary: str,
    coordinates: Mapping[str, tuple[float, float]] = REGION_COORDINATES,
) -> list[str]:
    """Regions in the router's order of preference; ties keep ``regions`` order, unknown places last."""

    def rank(region: str) -> float:
        if point is None:
            return 0.0 if region == primary else 1.0
        where = coordinates.get(region)
        return 4.0 if where is None else arc(point, where)  # 4 > pi: after every real distance

    return [region for _, _, region in sorted((rank(r), i, r) for i, r in enumerate(regions))]


def route(
    point: tuple[float, float] | None, regions: Sequence[str], primary: str, drained: Mapping[str, bool]
) -> str:
    """The region the router picks: the first-ranked one not drained, else the first-ranked one."""
    order = ranking(point, regions, primary)
    return next((r for r in order if not drained.get(r, False)), order[0])


# ---------------------------------------------------------------------------------------- targets
class LocalStoreError(Exception):
    """The local KVS file is unreadable or not in CloudFront's import format."""


def read_local(path: Path) -> dict[str, str]:
    """Key -> value of a KVS import file; a missing file is an empty store."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LocalStoreError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)["data"]
        items = [(item["key"], item["value"]) for item in data]
    except (ValueError, KeyError, TypeError) as exc:
        raise LocalStoreError(
            f'{path} is not a KVS import file ({{"data": [{{"key": ..., "value": ...}}]}}: {exc!r}); '
            "fix it or delete it (a missing file means every region serves)"
        ) from None
    if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in items):
        raise LocalStoreError(f"{path}: every key must be a non-empty string and every value a string")
    if len({k for k, _ in items}) != len(items):
        raise LocalStoreError(f"{path}: a key appears twice; keep one entry per key")
    return dict(items)


def write_local(path: Path, items: Mapping[str, str]) -> None:
    """Atomically replace the file, so the local edge never reads half of it."""
    body = json.dumps({"data": [{"key": k, "value": v} for k, v in items.items()]}, indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".kvs-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise LocalStoreError(f"cannot write {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Target:
    """Where the drain state lives, and the regions the edge routes to."""

    regions: tuple[str, ...]
    primary: str
    description: str
    read: Callable[[], dict[str, bool]]
    drain: Callable[[str, bool], edge_state.Change]
    restore: Callable[[str], edge_state.Change]
    items: Callable[[], dict[str, str]]
    failover_groups: Callable[[bool], edge_state.Change]
    auto_drain: Callable[[bool], edge_state.Change]


#: A syntactically valid ARN for the local store (edge_state checks the form of every ARN).
LOCAL_KVS_ARN = "arn:aws:cloudfront::000000000000:key-value-store/local-dev"


class LocalKvsClient:
    """The KeyValueStore calls :mod:`handlers.infra.edge_state` makes (DescribeKeyValueStore,
    ListKeys, PutKey, DeleteKey, UpdateKeys) over the local KVS import file, with the same ETag
    protocol: the ETag is a digest of the file, so a write whose ``IfMatch`` is stale (any writer in
    between: the local checker, another command) is a ``ConflictException``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _etag(self, items: Mapping[str, str]) -> str:
        return hashlib.sha256(json.dumps(sorted(items.items())).encode()).hexdigest()[:16]

    @staticmethod
    def _error(code: str, message: str, operation: str) -> Exception:
        import botocore.exceptions

        error: Exception = botocore.exceptions.ClientError(
            {"Error": {"Code": code, "Message": message}}, operation
        )
        return error

    def describe_key_value_store(self, *, KvsARN: str) -> dict[str, Any]:
        items = read_local(self.path)
        return {"KvsARN": KvsARN, "ETag": self._etag(items), "ItemCount": len(items)}

    def list_keys(self, *, KvsARN: str, MaxResults: int = 50, NextToken: str | None = None) -> dict[str, Any]:
        items = read_local(self.path)
        return {"Items": [{"Key": k, "Value": v} for k, v in items.items()]}

    def put_key(self, *, KvsARN: str, Key: str, Value: str, IfMatch: str) -> dict[str, Any]:
        return self.update_keys(KvsARN=KvsARN, IfMatch=IfMatch, Puts=[{"Key": Key, "Value": Value}])

    def delete_key(self, *, KvsARN: str, Key: str, IfMatch: str) -> dict[str, Any]:
        with self._lock:
            if Key not in read_local(self.path):
                raise self._error("ResourceNotFoundException", f"no key {Key}", "DeleteKey")
            return self._update(IfMatch, [], [{"Key": Key}], "DeleteKey")

    def update_keys(
        self,
        *,
        KvsARN: str,
        IfMatch: str,
        Puts: list[dict[str, str]] | None = None,
        Deletes: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            return self._update(IfMatch, Puts or [], Deletes or [], "UpdateKeys")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Compare-and-write under an advisory lock on the file's directory, so writers in other
        processes (``make dev``'s checker, an ``ecommerce edge --local`` command) never lose an
        update. The directory, not a lock file: nothing is left next to the store."""
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError as exc:
            raise LocalStoreError(f"cannot lock {self.path.parent}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _update(
        self, if_match: str, puts: list[dict[str, str]], deletes: list[dict[str, str]], operation: str
    ) -> dict[str, Any]:
        with self._exclusive():
            items = read_local(self.path)
            if if_match != self._etag(items):
                raise self._error("ConflictException", "the store changed", operation)
            for put in puts:
                items[put["Key"]] = put["Value"]
            for delete in deletes:
                items.pop(delete["Key"], None)
            write_local(self.path, items)
            return {"ETag": self._etag(items), "ItemCount": len(items)}


def local_target(data_dir: Path) -> Target:
    """The ``make dev`` edge: the same edge_state operations as the deployed one (an operator's
    drain takes over an automatic one, a restore clears its ``auto-drained:`` marker), through
    :class:`LocalKvsClient`."""
    path = data_dir / LOCAL_STORE
    regions = LOCAL_REGIONS
    client = LocalKvsClient(path)
    arn = LOCAL_KVS_ARN
    return Target(
        regions,
        regions[0],
        f"local edge state {path}",
        lambda: edge_state.read_state(client, arn, regions),
        lambda region, force: edge_state.drain(client, arn, region, regions, allow_last=force),
        lambda region: edge_state.restore(client, arn, region),
        lambda: edge_state.read_items(client, arn),
        lambda on: edge_state.set_failover_groups(client, arn, on),
        lambda on: edge_state.set_auto_drain(client, arn, on),
    )


def cache_file(app_name: str, account: str) -> Path:
    """Where the KVS ARN of ``app_name`` in ``account`` is remembered (one file per account and app:
    the same app name deployed to another account has another store)."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "ecommerce"
    )
    return Path(base).expanduser() / f"{account}-{app_name}-edge.json"


def _cached_arn(app_name: str, account: str) -> str | None:
    try:
        arn = json.loads(cache_file(app_name, account).read_text(encoding="utf-8")).get("kvs_arn")
    except (OSError, ValueError, AttributeError):
        return None
    match = edge_state.KVS_ARN.fullmatch(arn) if isinstance(arn, str) else None
    return arn if match and match.group(1) == account else None


def _remember_arn(app_name: str, account: str, arn: str) -> None:
    path = cache_file(app_name, account)
    with contextlib.suppress(OSError):  # a cache: never fail a drain for it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"kvs_arn": arn}) + "\n", encoding="utf-8")


def _caller_account() -> str:
    """The account of the caller's credentials (STS GetCallerIdentity, the client's region, else
    us-east-1)."""
    import boto3

    session = boto3.session.Session()
    sts = session.client("sts", region_name=session.region_name or "us-east-1")
    return str(sts.get_caller_identity()["Account"])


def _account(config: Any) -> str | None:
    """The configuration's ``account``, else the caller's; None when neither can be told."""
    if config.account:
        return str(config.account)
    try:
        return (caller_account_factory or _caller_account)()
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")) or isinstance(exc, OSError):
            return None
        raise


def _cloudformation(region: str) -> Any:
    import boto3

    return boto3.client("cloudformation", region_name=region)


def _edge_stack_output(config: Any, key: str) -> str:
    """One output of the edge stack: DescribeStacks in us-east-1 only."""
    import botocore.exceptions

    from ecommerce_constructs.regions import EDGE_REGION
    from ecommerce_ops.deployment import Deployment, DeploymentError

    make = cloudformation_client_factory or _cloudformation

    stack = config.edge_stack_name
    try:
        described = make(EDGE_REGION).describe_stacks(StackName=stack)["Stacks"][0]
    except botocore.exceptions.ClientError as exc:
        raise DeploymentError(
            f"{stack} ({EDGE_REGION}): {exc.response['Error'].get('Message', exc)}"
        ) from None
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        raise DeploymentError(
            f"{stack} ({EDGE_REGION}): {exc}; configure AWS credentials, or pass --kvs-arn"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return Deployment(config, {stack: outputs}).output(stack, key)


def deployed_arn(config: Any, kvs_arn: str | None = None) -> tuple[str, bool]:
    """(ARN, remembered): ``--kvs-arn``, else the ARN remembered for this account and app, else the
    edge stack's output (then remembered)."""
    if kvs_arn:
        return kvs_arn, False
    account = _account(config)
    cached = _cached_arn(config.app_name, account) if account else None
    if cached is not None:
        return cached, True
    return _lookup_arn(config, account), False


def _lookup_arn(config: Any, account: str | None) -> str:
    arn = _edge_stack_output(config, Output.EDGE_DRAIN_STORE_ARN)
    found = edge_state.KVS_ARN.fullmatch(arn)
    owner = account or (found.group(1) if found else None)
    if owner:
        _remember_arn(config.app_name, owner, arn)
    return arn


def deployed_target(kvs_arn: str | None = None) -> Target:
    from ecommerce_constructs.config import load_config

    config = load_config()
    if not config.edge.enabled:
        raise click.ClickException(
            "the edge is disabled in the configuration (edge.enabled: false): there is nothing to drain; "
            "use --local for the dev server's edge"
        )
    arn, remembered = deployed_arn(config, kvs_arn)
    store: dict[str, Any] = {"arn": arn, "remembered": remembered}
    regions = tuple(config.regions)
    client = client_factory()

    def on_store(operation: Callable[[str], Any]) -> Any:
        """Run ``operation`` on the store; a remembered ARN that names no store (the edge stack was
        replaced) is looked up again once (DescribeStacks) and the operation repeated."""
        try:
            return operation(store["arn"])
        except edge_state.StoreNotFoundError:
            if not store["remembered"]:
                raise
        store["arn"], store["remembered"] = _lookup_arn(config, _account(config)), False
        return operation(store["arn"])

    return Target(
        regions,
        config.primary,
        f"KeyValueStore {arn}",
        lambda: on_store(lambda a: edge_state.read_state(client, a, regions)),
        lambda region, force: on_store(
            lambda a: edge_state.drain(client, a, region, regions, allow_last=force)
        ),
        lambda region: on_store(lambda a: edge_state.restore(client, a, region)),
        lambda: on_store(lambda a: edge_state.read_items(client, a)),
        lambda on: on_store(lambda a: edge_state.set_failover_groups(client, a, on)),
        lambda on: on_store(lambda a: edge_state.set_auto_drain(client, a, on)),
    )


# ------------------------------------------------------------------------------------------- output
def describe_routing(target: Target, drained: Mapping[str, bool]) -> list[str]:
    serving = [r for r in target.regions if not drained.get(r, False)]
    if serving:
        lines = [f"viewers are routed to the nearest of: {', '.join(serving)}"]
    else:
        lines = ["every region is drained: the edge still routes each viewer to the nearest region"]
    places: list[tuple[str, tuple[float, float] | None]] = [(n, (lat, lon)) for n, lat, lon in SAMPLE_VIEWERS]
    places.append(("(no location)", None))
    width = max(len(name) for name, _ in places)
    for name, point in places:
        chosen = route(point, target.regions, target.primary, drained)
        nearest = ranking(point, target.regions, target.primary)[0]
        note = f"  (nearest, {nearest}, is drained)" if nearest != chosen else ""
        lines.append(f"  {name:<{width}}  -> {chosen}{note}")
    return lines


def _state_lines(target: Target, drained: Mapping[str, bool]) -> list[str]:
    width = max(len(r) for r in target.regions)
    return [f"  {r:<{width}}  {'drained' if drained[r] else 'serving'}" for r in target.regions]


# ---------------------------------------------------------------------------------------- commands
@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """Every expected failure becomes one line and exit status 1, never a traceback."""
    from ecommerce_constructs.config import ConfigError
    from ecommerce_ops.deployment import DeploymentError

    try:
        yield
    except (edge_state.EdgeStateError, LocalStoreError, DeploymentError, ConfigError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")):
            raise click.ClickException(f"AWS: {exc}; check your AWS credentials and region") from None
        raise


def _target(local: bool, data_dir: Path, kvs_arn: str | None = None) -> Target:
    return local_target(data_dir.expanduser()) if local else deployed_target(kvs_arn)


def _target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--kvs-arn",
        envvar="ECOMMERCE_EDGE_KVS_ARN",
        metavar="ARN",
        help="The edge's KeyValueStore (output EdgeDrainStoreArn): no CloudFormation call at all. "
        "Default: remembered from the last lookup, else the edge stack's output. "
        "Env: ECOMMERCE_EDGE_KVS_ARN.",
    )(command)
    command = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(".local"),
        envvar="ECOMMERCE_DATA_DIR",
        show_default=True,
        help="With --local: the dev server's data dir (state: DATA_DIR/edge/kvs.json). "
        "Env: ECOMMERCE_DATA_DIR.",
    )(command)
    return click.option(
        "--local",
        is_flag=True,
        help="The `make dev` edge (us-east-1, us-east-2), not the deployed one (needs AWS credentials).",
    )(command)


def _check_region(target: Target, region: str) -> None:
    if region not in target.regions:
        raise click.ClickException(
            f"{region} is not one of the edge's regions ({', '.join(target.regions)}); check the name"
        )


@click.group("edge")
def edge() -> None:
    """Drain a region out of CloudFront's routing, restore it, or show where viewers go."""


@edge.command("drain")
@click.argument("region")
@click.option("--force", is_flag=True, help="Drain even the last serving region.")
@_target_options
def drain_command(region: str, force: bool, local: bool, data_dir: Path, kvs_arn: str | None) -> None:
    """Stop routing viewers to REGION: the edge sends them to the nearest other serving region.

    The last serving region is kept unless --force (with every region drained the edge still
    routes each viewer to the nearest one: it never goes dark)."""
    with _reported():
        target = _target(local, data_dir, kvs_arn)
        _check_region(target, region)
        change = target.drain(region, force)
        drained = target.read()
    click.echo(f"drained {region}" if change.changed else f"{region} was already drained; nothing changed")
    click.echo(describe_routing(target, drained)[0])


@edge.command("restore")
@click.argument("region")
@_target_options
def restore_command(region: str, local: bool, data_dir: Path, kvs_arn: str | None) -> None:
    """Route viewers to REGION again (nothing happens if it is not drained)."""
    with _reported():
        target = _target(local, data_dir, kvs_arn)
        _check_region(target, region)
        change = target.restore(region)
        drained = target.read()
    click.echo(f"restored {region}" if change.changed else f"{region} was not drained; nothing changed")
    click.echo(describe_routing(target, drained)[0])


@edge.command("status")
@_target_options
def status_command(local: bool, data_dir: Path, kvs_arn: str | None) -> None:
    """Show each region serving or drained, and which region serves some sample viewers."""
    with _reported():
        target = _target(local, data_dir, kvs_arn)
        items = target.items()
    drained = edge_state.state_from_items(items, target.regions)
    click.echo(f"{target.description}:")
    for line in _state_lines(target, drained) + describe_routing(target, drained):
        click.echo(line)
    groups = "on" if edge_state.failover_groups_on(items) else "OFF (one origin per request)"
    click.echo(f"per-request failover groups for reads: {groups}")
    auto = "on" if edge_state.auto_drain_on(items) else "OFF (the checkers record and restore, never drain)"
    click.echo(f"automatic drains by the health checkers: {auto}")


@edge.command("failover-groups")
@click.argument("state", type=click.Choice(["on", "off"]))
@_target_options
def failover_groups_command(state: str, local: bool, data_dir: Path, kvs_arn: str | None) -> None:
    """Turn the router's per-request origin groups for reads on or off (KVS key failover-groups):
    off routes every request to one origin with cf.selectRequestOriginById, without a deploy."""
    with _reported():
        target = _target(local, data_dir, kvs_arn)
        change = target.failover_groups(state == "on")
    click.echo(f"failover groups {state}" + ("" if change.changed else " (already; nothing changed)"))


@edge.command("auto-drain")
@click.argument("state", type=click.Choice(["on", "off"]))
@_target_options
def auto_drain_command(state: str, local: bool, data_dir: Path, kvs_arn: str | None) -> None:
    """Let the health checkers drain failing regions, or not (KVS key auto-drain): off when a cause
    shared by every region (a bad CA bundle, a bad /health deploy) makes them drain healthy ones.
    They keep recording, and still restore a region they drained."""
    with _reported():
        target = _target(local, data_dir, kvs_arn)
        change = target.auto_drain(state == "on")
    click.echo(f"automatic drains {state}" + ("" if change.changed else " (already; nothing changed)"))
