"""``Custom::DsqlCluster``: an Aurora DSQL cluster's whole life, peering included.

CDK's Provider framework calls :func:`on_event` once per CloudFormation request and then
:func:`is_complete` every ``query_interval`` until it says done (each poll gets the same event: all
progress is read back from DSQL, never remembered). The peering procedure is AWS's (user guide,
"Creating multi-Region clusters"): cluster A is created with only a witness region and waits in
PENDING_SETUP; cluster B is created naming A; A is updated to name B; both become ACTIVE.

Topology is owned by exactly one side: the resource that was given a ``PeerArn`` (B). A's own
resource never sends a peer list, so no update of A's stack can drop B. ``UpdateCluster``'s peer
list replaces the old one, so whenever one is sent it is the complete list.

Idempotent under CloudFormation retries: creates carry a client token derived from the request,
and a create first looks for a cluster already tagged with this resource. Failures raise with a
sentence CloudFormation shows as the reason.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.contract import dsql_endpoint

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

RESOURCE_TAG = "ecommerce:cfn-resource"  # StackId/LogicalResourceId of the resource owning the cluster
# Healthy steady states: IDLE and INACTIVE are scale-to-zero, not failures.
READY = frozenset({"ACTIVE", "IDLE", "INACTIVE"})
GONE_OR_GOING = frozenset({"DELETING", "DELETED", "PENDING_DELETE"})
# DSQL takes minutes to create or peer; the Provider's own total timeout is 50 min (CloudFormation
# gives a custom resource at most one hour). Give a reason before that generic timeout fires.
BUDGET_SECONDS = 45 * 60
TRANSIENT = frozenset({"ThrottlingException", "InternalServerException", "ConflictException"})


@functools.cache
def default_client(region: str) -> Any:
    """One client per region and process (a new one costs a session and a model load)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dsql", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


#: Creates the DSQL client of a region (tests substitute a fake control plane).
client_factory: Callable[[str], Any] = default_client


class ClusterError(Exception):
    """A failure CloudFormation should show as it is."""


def _bool(value: Any) -> bool:
    # CloudFormation hands every custom-resource property over as a string.
    return str(value).lower() == "true"


@dataclass(frozen=True)
class Props:
    region: str
    witness_region: str | None
    peer_arn: str | None
    deletion_protection: bool
    kms_key: str | None
    tags: dict[str, str]
    removal_policy: str
    allow_unpeer: bool

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Props:
        return cls(
            region=str(raw["Region"]),
            witness_region=raw.get("WitnessRegion") or None,
            peer_arn=raw.get("PeerArn") or None,
            deletion_protection=_bool(raw.get("DeletionProtection", "true")),
            kms_key=raw.get("KmsKey") or None,
            tags={str(k): str(v) for k, v in (raw.get("Tags") or {}).items()},
            removal_policy=str(raw.get("RemovalPolicy", "retain")),
            allow_unpeer=_bool(raw.get("AllowUnpeer", "false")),
        )

    @property
    def topology(self) -> str:
        return (
            "single-region"
            if self.witness_region is None
            else f"multi-region (witness {self.witness_region})"
        )


@dataclass(frozen=True)
class Cluster:
    identifier: str
    arn: str
    region: str
    status: str
    deletion_protection: bool
    witness_region: str | None
    peers: tuple[str, ...]  # peer ARNs, never the cluster's own
    endpoint: str
    tags: dict[str, str]

    @classmethod
    def of(cls, region: str, reply: Mapping[str, Any]) -> Cluster:
        multi = reply.get("multiRegionProperties") or {}
        arn = str(reply["arn"])
        return cls(
            identifier=str(reply["identifier"]),
            arn=arn,
            region=region,
            status=str(reply["status"]),
            deletion_protection=bool(reply.get("deletionProtectionEnabled", True)),
            witness_region=multi.get("witnessRegion") or None,
            # GetCluster lists the cluster's own ARN among "clusters".
            peers=tuple(sorted(a for a in multi.get("clusters", []) if a != arn)),
            endpoint=str(reply.get("endpoint") or dsql_endpoint(str(reply["identifier"]), region)),
            tags=dict(reply.get("tags") or {}),
        )


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def identifier_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _call(operation: Callable[..., Any], **params: Any) -> Any:
    """Retries what DSQL says is transient (throttling, a busy cluster) a few times, then raises."""
    for attempt in range(4):
        try:
            return operation(**params)
        except Exception as exc:
            code = _error_code(exc)
            if code not in TRANSIENT or attempt == 3:
                raise
            retry_after = getattr(exc, "response", {}).get("retryAfterSeconds") or 0
            time.sleep(min(10.0, max(float(retry_after), 0.5 * 2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, dict) else None


def get_cluster(region: str, identifier: str) -> Cluster | None:
    try:
        return Cluster.of(region, client_factory(region).get_cluster(identifier=identifier))
    except Exception as exc:
        if _error_code(exc) == "ResourceNotFoundException":
            return None
        raise


# ---- the Provider framework's entry points ------------------------------------------------------


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    kind = event["RequestType"]
    props = Props.of(event["ResourceProperties"])
    logger.info("%s %s: %s", kind, event.get("LogicalResourceId"), props)
    try:
        if kind == "Create":
            identifier = _create(event, props)
        elif kind == "Update":
            identifier = str(event["PhysicalResourceId"])
            _update(identifier, Props.of(event["OldResourceProperties"]), props)
        else:
            identifier = str(event["PhysicalResourceId"])
            _delete(identifier, props)
    except ClusterError:
        raise
    except Exception as exc:
        raise ClusterError(_explain(exc)) from exc
    return {"PhysicalResourceId": identifier, "StartedAt": time.time()}


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    props = Props.of(event["ResourceProperties"])
    identifier = str(event["PhysicalResourceId"])
    try:
        done, cluster = _progress(event["RequestType"], identifier, props)
    except ClusterError:
        raise
    except Exception as exc:
        if _error_code(exc) in TRANSIENT:
            logger.info("transient %s; polling again", _error_code(exc))
            return {"IsComplete": False}
        raise ClusterError(_explain(exc)) from exc
    if not done:
        elapsed = time.time() - float(event.get("StartedAt", time.time()))
        if elapsed > BUDGET_SECONDS:
            status = cluster.status if cluster else "unknown"
            raise ClusterError(
                f"DSQL cluster {identifier} in {props.region} is still {status} after {elapsed / 60:.0f} min "
                "(DSQL usually needs about 5); check it with `aws dsql get-cluster`, then retry the deploy"
            )
        return {"IsComplete": False}
    if cluster is None:
        return {"IsComplete": True}
    return {
        "IsComplete": True,
        "Data": {
            "Arn": cluster.arn,
            "Identifier": cluster.identifier,
            "Endpoint": cluster.endpoint,
            "Region": cluster.region,
        },
    }


# ---- create ---------------------------------------------------------------------------------------


def _create(event: Mapping[str, Any], props: Props) -> str:
    client = client_factory(props.region)
    owner = f"{event['StackId']}/{event['LogicalResourceId']}"
    existing = _find_owned(client, props.region, owner)
    if existing is not None:
        logger.info("found %s already created for %s", existing.identifier, owner)
        return existing.identifier
    if props.peer_arn is not None:
        _check_peer_topology(props)
    multi: dict[str, Any] | None = None
    if props.witness_region is not None:
        multi = {"witnessRegion": props.witness_region}
        if props.peer_arn is not None:
            multi["clusters"] = [props.peer_arn]
    params: dict[str, Any] = {
        "deletionProtectionEnabled": props.deletion_protection,
        "tags": {**props.tags, RESOURCE_TAG: owner[-256:]},
        # The same request retried gets the same cluster back, not a second one.
        "clientToken": hashlib.sha256(f"{owner}|{event['RequestId']}".encode()).hexdigest()[:64],
    }
    if multi is not None:
        params["multiRegionProperties"] = multi
    if props.kms_key is not None:
        params["kmsEncryptionKey"] = props.kms_key
    created = _call(client.create_cluster, **params)
    logger.info("created %s (%s) in %s", created["identifier"], created["status"], props.region)
    return str(created["identifier"])


def _find_owned(client: Any, region: str, owner: str) -> Cluster | None:
    """A cluster this resource created before (a retried create): looked up by its tag."""
    for page in client.get_paginator("list_clusters").paginate():
        for item in page.get("clusters", []):
            cluster = get_cluster(region, str(item["identifier"]))
            if (
                cluster
                and cluster.tags.get(RESOURCE_TAG) == owner[-256:]
                and cluster.status not in GONE_OR_GOING
            ):
                return cluster
    return None


def _check_peer_topology(props: Props) -> None:
    assert props.peer_arn is not None
    peer = get_cluster(region_of(props.peer_arn), identifier_of(props.peer_arn))
    if peer is None:
        raise ClusterError(f"peer cluster {props.peer_arn} does not exist; deploy its stack first")
    if peer.witness_region != props.witness_region:
        raise ClusterError(
            f"peer cluster {props.peer_arn} has witness region {peer.witness_region}, this one "
            f"{props.witness_region}: peered clusters share one witness region"
        )


# ---- update ---------------------------------------------------------------------------------------


def _update(identifier: str, old: Props, new: Props) -> None:
    if old.region != new.region or old.witness_region != new.witness_region:
        raise ClusterError(
            f"cluster {identifier} is {old.topology} in {old.region}; {new.topology} in {new.region} needs "
            "new clusters (DSQL decides topology at creation). Deploy the new topology as a new app "
            "(app_name) and move the data, or revert the configuration"
        )
    client = client_factory(new.region)
    cluster = get_cluster(new.region, identifier)
    if cluster is None:
        raise ClusterError(
            f"cluster {identifier} no longer exists in {new.region}; it was deleted outside CloudFormation"
        )
    if old.peer_arn != new.peer_arn:
        _repeer(client, cluster, old, new)
    changes: dict[str, Any] = {}
    if new.deletion_protection != cluster.deletion_protection:
        changes["deletionProtectionEnabled"] = new.deletion_protection
    if new.kms_key != old.kms_key:
        changes["kmsEncryptionKey"] = new.kms_key or "AWS_OWNED_KMS_KEY"
    if changes:
        # No multiRegionProperties here: a peer list is only ever sent complete, by _repeer.
        _call(client.update_cluster, identifier=identifier, **changes)
    _update_tags(client, cluster, old.tags, new.tags)


def _repeer(client: Any, cluster: Cluster, old: Props, new: Props) -> None:
    if old.peer_arn is not None and new.peer_arn is None:
        if not new.allow_unpeer:
            raise ClusterError(
                f"the configuration no longer peers {cluster.identifier} with {old.peer_arn}; removing a "
                "peer needs the explicit opt-in allow_unpeer=True (the other region stops receiving writes)"
            )
        remaining = [arn for arn in cluster.peers if arn != old.peer_arn]
        _call(
            client.update_cluster,
            identifier=cluster.identifier,
            multiRegionProperties={"witnessRegion": cluster.witness_region, "clusters": remaining},
        )
        return
    if old.peer_arn is None and new.peer_arn is not None and cluster.status == "PENDING_SETUP":
        _check_peer_topology(new)
        return  # is_complete peers it, exactly as after a create
    raise ClusterError(
        f"cluster {cluster.identifier} is peered with {old.peer_arn or 'nothing'}; peering it with "
        f"{new.peer_arn or 'nothing'} needs new clusters (a DSQL cluster keeps its peers for life)"
    )


def _update_tags(client: Any, cluster: Cluster, old: Mapping[str, str], new: Mapping[str, str]) -> None:
    removed = [key for key in old if key not in new]
    if removed:
        _call(client.untag_resource, resourceArn=cluster.arn, tagKeys=removed)
    changed = {key: value for key, value in new.items() if cluster.tags.get(key) != value}
    if changed:
        _call(client.tag_resource, resourceArn=cluster.arn, tags=changed)


# ---- delete ---------------------------------------------------------------------------------------


def _delete(identifier: str, props: Props) -> None:
    if identifier.startswith("AWSCDK::"):
        return  # the create never happened
    if props.removal_policy != "destroy":
        logger.info("removal policy retain: cluster %s stays", identifier)
        return
    cluster = get_cluster(props.region, identifier)
    if cluster is None or cluster.status in GONE_OR_GOING:
        return
    if props.deletion_protection:
        raise ClusterError(
            f"cluster {identifier} has deletion protection on, so it is not deleted: set "
            "deletion_protection false and deploy first, or set the removal policy to retain"
        )
    client = client_factory(props.region)
    if cluster.deletion_protection:
        _call(client.update_cluster, identifier=identifier, deletionProtectionEnabled=False)
    _call(client.delete_cluster, identifier=identifier)


# ---- progress -------------------------------------------------------------------------------------


def _progress(kind: str, identifier: str, props: Props) -> tuple[bool, Cluster | None]:
    if kind == "Delete":
        if identifier.startswith("AWSCDK::") or props.removal_policy != "destroy":
            return True, None
        cluster = get_cluster(props.region, identifier)
        # A peered cluster waits in PENDING_DELETE until its peer is deleted too; that is the
        # other stack's delete, which CloudFormation runs next (the stacks depend on each other).
        return cluster is None or cluster.status == "PENDING_DELETE", cluster
    cluster = get_cluster(props.region, identifier)
    if cluster is None:
        raise ClusterError(f"cluster {identifier} disappeared from {props.region} while being set up")
    if cluster.status == "FAILED":
        raise ClusterError(f"DSQL reports cluster {identifier} in {props.region} as FAILED")
    if props.peer_arn is None:
        if props.witness_region is not None:
            # The first cluster of a pair is ready for its peer at PENDING_SETUP; the peer's
            # resource finishes the pair.
            return cluster.status in READY or cluster.status == "PENDING_SETUP", cluster
        return cluster.status in READY, cluster
    return _peer(cluster, props), cluster


def _peer(cluster: Cluster, props: Props) -> bool:
    """Names this cluster on the peer once the peer waits for it; done when both are ready."""
    assert props.peer_arn is not None
    peer_region = region_of(props.peer_arn)
    peer = get_cluster(peer_region, identifier_of(props.peer_arn))
    if peer is None:
        raise ClusterError(f"peer cluster {props.peer_arn} no longer exists")
    if peer.status == "FAILED":
        raise ClusterError(f"DSQL reports peer cluster {props.peer_arn} as FAILED")
    if cluster.arn not in peer.peers:
        if peer.status != "PENDING_SETUP":
            if peer.status in READY:
                raise ClusterError(
                    f"peer cluster {props.peer_arn} is {peer.status} without this cluster as a peer: it "
                    "belongs to another topology; peer only with a cluster created for it"
                )
            return False  # still CREATING or UPDATING: next poll
        # The complete list, as UpdateCluster replaces it.
        peers = sorted({*peer.peers, cluster.arn})
        client_factory(peer_region).update_cluster(
            identifier=peer.identifier,
            multiRegionProperties={"witnessRegion": props.witness_region, "clusters": peers},
        )
        logger.info("named %s as the peer of %s", cluster.arn, props.peer_arn)
        return False
    return cluster.status in READY and peer.status in READY and props.peer_arn in cluster.peers


#: Added to a failure that names DSQL's service-linked role (the first cluster of an account creates
#: it, which needs iam:CreateServiceLinkedRole; an organization's SCP may deny that).
SERVICE_LINKED_ROLE_FIX = (
    " - create DSQL's service-linked role once per account: aws iam create-service-linked-role "
    "--aws-service-name dsql.amazonaws.com (docs/deploy.md, first deploy)"
)


def _explain(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        message = f"DSQL {error.get('Code', 'error')}: {error.get('Message', exc)}"
        if "service-linked role" in message.lower() or "servicelinkedrole" in message.lower():
            message += SERVICE_LINKED_ROLE_FIX
        return message
    return f"{type(exc).__name__}: {exc}"
