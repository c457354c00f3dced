"""``Custom::DsqlCluster``: an Aurora DSQL cluster's whole life, peering included.

CDK's Provider framework calls :func:`on_event` once per CloudFormation request and then
:func:`is_complete` every ``query_interval`` until it says done (each poll gets the same event: all
progress is read back from DSQL, never remembered). The peering procedure is AWS's (user guide,
"Creating multi-Region clusters"): cluster A is created with only a witness region and waits in
PENDING_SETUP; cluster B is created naming A; A is updated to name B; both become ACTIVE.

Topology is owned by exactly one side: the resource that was given a ``PeerArn`` (B). A's own
resource never sends a peer list, so no update of A's stack can drop B. ``UpdateCluster``'s peer
list replaces the old one, so whenever one is sent it is the complete list.

What CloudFormation does around it (docs/dsql-clusters.md, "Failures and rollbacks"; replayed by
tests/fakes/cloudformation.py):

- **Ownership outlives the stack.** A cluster carries ``ecommerce:owner`` = ``<stack name>/<logical
  id>`` (the ``Owner`` property), which a stack deleted after a failed first create and created again
  (a new StackId) still matches. A create first looks for a cluster it owns: one whose topology is
  what is asked is adopted (a retained cluster of a rolled-back create, or a retried request),
  never one in PENDING_DELETE (the failure says how to proceed); clusters tagged the old way
  (``ecommerce:cfn-resource`` = StackId/LogicalResourceId) are recognised by stack name and
  re-tagged. The lifecycle functions' IAM policies let them change or delete only a cluster that
  carries this resource's owner tag (``ecommerce:managed-by`` marks every cluster of this library,
  for people and tools).
- **Updates converge on the cluster as it is.** A rollback sends the old properties as new ones;
  whatever already holds on the real cluster succeeds, so a refused update never leaves the stack
  in UPDATE_ROLLBACK_FAILED. Only what would change data or topology is refused.
- **Deletes respect the live cluster.** Deletion protection found on (set by hand, or by the
  template) refuses the delete with the command that turns it off; DELETED and gone are the same; a
  cluster mid-change (a rollback right after a create) is deleted by ``is_complete`` once it
  settles; a physical id that is no cluster identifier (a create that never returned one) names
  nothing to delete.
- Encryption changes complete when DSQL reports the key ENABLED; KMS_KEY_INACCESSIBLE fails with
  the key policy DSQL needs.

Idempotent under retries: creates carry a client token derived from the request, and every step is
read back from DSQL before it is taken. Failures raise with a sentence CloudFormation shows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.contract import (
    DSQL_MANAGED_BY_TAG,
    DSQL_MANAGED_BY_VALUE,
    DSQL_OWNER_TAG,
    DsqlClusterProperty,
    dsql_endpoint,
)

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

#: How clusters were tagged before ownership outlived the stack: ``StackId/LogicalResourceId``.
LEGACY_OWNER_TAG = "ecommerce:cfn-resource"
#: Marks a peer this resource removed itself (allow_unpeer), so that a rollback asking for it back
#: succeeds instead of failing on a peering DSQL cannot restore.
UNPEERED_TAG = "ecommerce:unpeered"
# Healthy steady states: IDLE and INACTIVE are scale-to-zero, not failures.
READY = frozenset({"ACTIVE", "IDLE", "INACTIVE"})
GONE = frozenset({"DELETED"})
GONE_OR_GOING = frozenset({"DELETING", "DELETED", "PENDING_DELETE"})
ENCRYPTION_BUSY = frozenset({"UPDATING", "ENABLING"})
# A delete reaching one of these waits for it to settle (DSQL answers ConflictException meanwhile).
BUSY = frozenset({"CREATING", "UPDATING"})
#: DSQL's cluster identifiers (API reference, ClusterId: ``[a-z0-9]{26}``). A Delete whose physical id
#: is anything else comes after a create that never returned one (CloudFormation invents one).
CLUSTER_ID = re.compile(r"[a-z0-9]{26}")
# DSQL takes minutes to create or peer; the Provider's own total timeout is 50 min (CloudFormation
# gives a custom resource at most one hour). Give a reason before that generic timeout fires.
BUDGET_SECONDS = 45 * 60
TRANSIENT = frozenset({"ThrottlingException", "InternalServerException", "ConflictException"})
KEY_POLICY_HELP = (
    "the key policy must let dsql.amazonaws.com use the key (kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, "
    "kms:GenerateDataKey, kms:DescribeKey) for this account's clusters: docs/dsql-clusters.md, "
    '"Customer managed keys"'
)


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


P = DsqlClusterProperty


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
    owner: str | None  # None in templates older than the Owner property
    admin_role_arns: tuple[str, ...] = ()  # () : no cluster policy managed

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Props:
        return cls(
            region=str(raw[P.REGION]),
            witness_region=raw.get(P.WITNESS_REGION) or None,
            peer_arn=raw.get(P.PEER_ARN) or None,
            deletion_protection=_bool(raw.get(P.DELETION_PROTECTION, "true")),
            kms_key=raw.get(P.KMS_KEY) or None,
            tags={str(k): str(v) for k, v in (raw.get(P.TAGS) or {}).items()},
            removal_policy=str(raw.get(P.REMOVAL_POLICY, "retain")),
            allow_unpeer=_bool(raw.get(P.ALLOW_UNPEER, "false")),
            owner=raw.get(P.OWNER) or None,
            admin_role_arns=tuple(sorted(str(a) for a in raw.get(P.ADMIN_ROLE_ARNS) or ())),
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
    kms_key: str | None  # None: an AWS owned key
    encryption_status: str | None
    created: float = 0.0  # epoch seconds

    @classmethod
    def of(cls, region: str, reply: Mapping[str, Any]) -> Cluster:
        multi = reply.get("multiRegionProperties") or {}
        encryption = reply.get("encryptionDetails") or {}
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
            kms_key=encryption.get("kmsKeyArn")
            if encryption.get("encryptionType") == "CUSTOMER_MANAGED_KMS_KEY"
            else None,
            encryption_status=encryption.get("encryptionStatus"),
            created=_epoch(reply.get("creationTime")),
        )


def _epoch(value: Any) -> float:
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value or 0)


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def identifier_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def stack_name_of(stack_id: str) -> str:
    """``arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`` -> ``<name>``."""
    return stack_id.split(":stack/", 1)[-1].split("/", 1)[0]


def owner_of(event: Mapping[str, Any], props: Props) -> str:
    """Who owns the cluster: the same after the stack is deleted and created again."""
    owner = props.owner or f"{stack_name_of(str(event['StackId']))}/{event['LogicalResourceId']}"
    return owner[-256:]


def owned_by(cluster: Cluster, owner: str) -> bool:
    """Tagged for ``owner`` now, or the old way by a stack of the same name and logical id."""
    if cluster.tags.get(DSQL_OWNER_TAG) == owner:
        return True
    legacy = cluster.tags.get(LEGACY_OWNER_TAG)
    if not legacy:
        return False
    stack, _, logical_id = owner.rpartition("/")
    return f":stack/{stack}/" in legacy and legacy.endswith(f"/{logical_id}")


def ownership_tags(owner: str) -> dict[str, str]:
    return {DSQL_OWNER_TAG: owner, DSQL_MANAGED_BY_TAG: DSQL_MANAGED_BY_VALUE}


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
        cluster = Cluster.of(region, client_factory(region).get_cluster(identifier=identifier))
    except Exception as exc:
        if _error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return None if cluster.status in GONE else cluster


# ---- the Provider framework's entry points ------------------------------------------------------


# ---- the cluster resource policy ------------------------------------------------------------------
#: Its one statement's Sid: how this resource recognizes a policy it wrote.
ADMIN_POLICY_SID = "OnlyTheDatabaseSetupConnectsAsAdmin"


def admin_policy(admin_role_arns: tuple[str, ...]) -> str:
    """A cluster resource policy that denies ``dsql:DbConnectAdmin`` to every principal whose ARN is
    not one of ``admin_role_arns`` (the database setup's roles), so a later IAM mistake cannot hand
    out ``admin``. A Deny in a resource-based policy wins over any Allow in an identity-based one;
    ``aws:PrincipalArn`` of an assumed-role session is the role's ARN (Aurora DSQL user guide,
    resource-based-policies.html; IAM user guide, reference_policies_condition-keys.html
    "aws:PrincipalArn", read 2026-12). It denies nothing else: ``dsql:DbConnect`` stays with IAM."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": ADMIN_POLICY_SID,
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": "dsql:DbConnectAdmin",
                    "Resource": "*",
                    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": list(admin_role_arns)}},
                }
            ],
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _ours(policy: str | None) -> bool:
    try:
        statements = json.loads(policy or "{}").get("Statement") or []
    except ValueError:
        return False
    return any(isinstance(s, dict) and s.get("Sid") == ADMIN_POLICY_SID for s in statements)


def _statements(policy: str) -> list[Any]:
    """The policy's statements as a list (IAM's grammar allows one statement object)."""
    statements = json.loads(policy).get("Statement") or []
    return statements if isinstance(statements, list) else [statements]


def _others(policy: str | None) -> list[Any]:
    """The statements of ``policy`` that are not ours (another Sid, or none)."""
    if policy is None:
        return []
    return [s for s in _statements(policy) if not (isinstance(s, dict) and s.get("Sid") == ADMIN_POLICY_SID)]


def _merged(current: str | None, ours: str | None) -> str | None:
    """``current`` with our statement replaced by ``ours``'s (or dropped when ``ours`` is None),
    every other statement kept in place; None when nothing is left."""
    if current is None:
        return ours
    document = json.loads(current)
    statements = _others(current) + (_statements(ours) if ours is not None else [])
    if not statements:
        return None
    return json.dumps({**document, "Statement": statements}, separators=(",", ":"), sort_keys=True)


def _current_policy(client: Any, identifier: str) -> tuple[str | None, str | None]:
    """(policy, version), or (None, None) when the cluster has none."""
    try:
        reply = _call(client.get_cluster_policy, identifier=identifier)
    except Exception as exc:
        if _error_code(exc) == "ResourceNotFoundException":
            return None, None
        raise
    return reply.get("policy"), reply.get("policyVersion")


def _converge_policy(client: Any, cluster: Cluster, old: Props, new: Props) -> None:
    """Keep our statement (``ADMIN_POLICY_SID``) in the cluster's policy while the template names
    admin roles, and take it out when a template no longer does. Statements someone else wrote (any
    other Sid) are merged, never overwritten or removed: only our statement is replaced, and the
    policy is deleted only when ours was its last statement."""
    current, version = _current_policy(client, cluster.identifier)
    if new.admin_role_arns:
        wanted = _merged(current, admin_policy(new.admin_role_arns))
        assert wanted is not None
        if current is None or json.loads(current) != json.loads(wanted):
            params: dict[str, Any] = {"identifier": cluster.identifier, "policy": wanted}
            if version is not None:
                params["expectedPolicyVersion"] = version
            _call(client.put_cluster_policy, **params)
            logger.info("cluster %s: only %s may connect as admin", cluster.identifier, new.admin_role_arns)
    elif current is not None and _ours(current):
        rest = _merged(current, None)
        if rest is None:
            _remove_policy(client, cluster.identifier, version)
            return
        params = {"identifier": cluster.identifier, "policy": rest}
        if version is not None:
            params["expectedPolicyVersion"] = version
        _call(client.put_cluster_policy, **params)
        logger.info("cluster %s: admin-only statement removed, other statements kept", cluster.identifier)


def _remove_policy(client: Any, identifier: str, version: str | None) -> None:
    params: dict[str, Any] = {"identifier": identifier}
    if version is not None:
        params["expectedPolicyVersion"] = version
    try:
        _call(client.delete_cluster_policy, **params)
    except Exception as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
    logger.info("cluster %s: admin-only policy removed", identifier)


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    kind = event["RequestType"]
    props = Props.of(event["ResourceProperties"])
    logger.info("%s %s: %s", kind, event.get("LogicalResourceId"), props)
    try:
        if kind == "Create":
            identifier = _create(event, props)
        elif kind == "Update":
            identifier = str(event["PhysicalResourceId"])
            _update(identifier, Props.of(event["OldResourceProperties"]), props, owner_of(event, props))
        else:
            identifier = str(event["PhysicalResourceId"])
            _delete(identifier, props, owner_of(event, props))
    except ClusterError:
        raise
    except Exception as exc:
        raise ClusterError(_explain(exc)) from exc
    return {"PhysicalResourceId": identifier, "StartedAt": time.time()}


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    props = Props.of(event["ResourceProperties"])
    identifier = str(event["PhysicalResourceId"])
    try:
        done, cluster = _progress(event["RequestType"], identifier, props, owner_of(event, props))
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
            if cluster is not None and cluster.encryption_status in (
                *ENCRYPTION_BUSY,
                "KMS_KEY_INACCESSIBLE",
            ):
                status += (
                    f", encryption {cluster.encryption_status} with key {cluster.kms_key or '(AWS owned)'}"
                    f" (asked: {props.kms_key or '(AWS owned)'}; {KEY_POLICY_HELP})"
                )
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
    owner = owner_of(event, props)
    owned = _owned(client, props.region, owner)
    usable = [c for c in owned if c.status not in GONE_OR_GOING]
    if usable:
        cluster = _adoptable(usable, props)
        logger.info("adopting %s (%s), which %s already owns", cluster.identifier, cluster.status, owner)
        _own(client, cluster, owner)
        _converge(client, cluster, props, props, owner)
        return cluster.identifier
    pending = [c for c in owned if c.status == "PENDING_DELETE"]
    if pending:
        raise ClusterError(_pending_delete_help(pending[0], props))
    if props.peer_arn is not None:
        _check_peer_topology(props)
    multi: dict[str, Any] | None = None
    if props.witness_region is not None:
        multi = {"witnessRegion": props.witness_region}
        if props.peer_arn is not None:
            multi["clusters"] = [props.peer_arn]
    params: dict[str, Any] = {
        "deletionProtectionEnabled": props.deletion_protection,
        "tags": {**props.tags, **ownership_tags(owner)},
        # The same request retried gets the same cluster back, not a second one.
        "clientToken": hashlib.sha256(f"{owner}|{event['RequestId']}".encode()).hexdigest()[:64],
    }
    if multi is not None:
        params["multiRegionProperties"] = multi
    if props.kms_key is not None:
        params["kmsEncryptionKey"] = props.kms_key
    if props.admin_role_arns:
        # Attached at creation: there is no moment in which any principal IAM allows may be admin.
        params["policy"] = admin_policy(props.admin_role_arns)
    created = _call(client.create_cluster, **params)
    logger.info("created %s (%s) in %s", created["identifier"], created["status"], props.region)
    return str(created["identifier"])


def _owned(client: Any, region: str, owner: str) -> list[Cluster]:
    """Clusters ``owner`` created before (a retried create, a rolled-back first deploy), newest first
    (by creationTime: ListClusters documents no order)."""
    found = []
    for page in client.get_paginator("list_clusters").paginate():
        for item in page.get("clusters", []):
            cluster = get_cluster(region, str(item["identifier"]))
            if cluster is not None and owned_by(cluster, owner):
                found.append(cluster)
    return sorted(found, key=lambda c: c.created, reverse=True)


def _adoptable(owned: list[Cluster], props: Props) -> Cluster:
    """The one cluster left behind that is what this resource asks for; several is a choice an
    operator makes, none says why each one does not fit."""
    problems = {c.identifier: _adoption_problems(c, props) for c in owned}
    fitting = [c for c in owned if not problems[c.identifier]]
    if len(fitting) == 1:
        return fitting[0]
    if len(fitting) > 1:
        listed = ", ".join(f"{c.identifier} ({c.status})" for c in fitting)
        raise ClusterError(
            f"several clusters in {props.region} belong to this resource (tag {DSQL_OWNER_TAG}) and fit "
            f"the template: {listed}. Keep one: delete the others (aws dsql update-cluster --identifier "
            "<id> --no-deletion-protection-enabled, then aws dsql delete-cluster --identifier <id>), "
            "then deploy again"
        )
    cluster = owned[0]
    raise ClusterError(
        f"cluster {cluster.identifier} in {cluster.region} belongs to this resource (tag "
        f"{DSQL_OWNER_TAG}) but cannot be adopted: {'; '.join(problems[cluster.identifier])}. Delete it "
        f"(aws dsql update-cluster --identifier {cluster.identifier} --no-deletion-protection-enabled, "
        f"then aws dsql delete-cluster --identifier {cluster.identifier}) or restore the configuration "
        "it was made with, then deploy again"
        + (f" ({len(owned) - 1} more owned cluster(s) do not fit either)" if len(owned) > 1 else "")
    )


def _adoption_problems(cluster: Cluster, props: Props) -> list[str]:
    """Why a cluster left behind is not what this resource asks for (nothing: adopt it)."""
    problems = []
    if cluster.status == "FAILED":
        problems.append("DSQL reports it FAILED, and a failed cluster does not recover")
    if cluster.witness_region != props.witness_region:
        problems.append(f"it is {_topology_of(cluster)}, the template asks for {props.topology}")
    # The second cluster of a pair must be peered with the one named, or not yet with any; the
    # first one's peers are the other resource's business.
    if props.peer_arn is not None and cluster.peers and props.peer_arn not in cluster.peers:
        problems.append(f"it is peered with {', '.join(cluster.peers)}, the template names {props.peer_arn}")
    return problems


def _pending_delete_help(cluster: Cluster, props: Props) -> str:
    peers = ", ".join(cluster.peers) or "its peer"
    return (
        f"this resource's cluster {cluster.identifier} in {cluster.region} is PENDING_DELETE: DSQL deletes "
        f"a peered cluster only together with its peer ({peers}) and cannot cancel that. Either delete the "
        "peer too (its stack with removal_policy destroy, or aws dsql delete-cluster in its region), wait "
        "until both are gone and deploy both regions again; or deploy this stack under another app name. "
        'docs/dsql-clusters.md, "After a failed first deploy"'
    )


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


def _own(client: Any, cluster: Cluster, owner: str) -> None:
    """Tag the cluster for ``owner`` (first, so that the lifecycle's IAM conditions hold), then drop
    the old-style tag."""
    wanted = ownership_tags(owner)
    if any(cluster.tags.get(k) != v for k, v in wanted.items()):
        _call(client.tag_resource, resourceArn=cluster.arn, tags=wanted)
    if LEGACY_OWNER_TAG in cluster.tags:
        _call(client.untag_resource, resourceArn=cluster.arn, tagKeys=[LEGACY_OWNER_TAG])


# ---- update ---------------------------------------------------------------------------------------


def _update(identifier: str, old: Props, new: Props, owner: str) -> None:
    """Converge the real cluster on ``new``; refuse only what would change data or topology.

    ``old`` says what the template changed; the cluster says what is true. A rollback (``new`` is
    the previous template) therefore succeeds whenever the forward update was refused or changed
    nothing that cannot be restored.
    """
    cluster = get_cluster(new.region, identifier)
    if cluster is None:
        raise ClusterError(
            f"cluster {identifier} no longer exists in {new.region}; it was deleted outside CloudFormation. "
            "Remove it from the stack (or set database.existing_cluster_identifiers) and deploy again"
        )
    if cluster.witness_region != new.witness_region:
        raise ClusterError(
            f"cluster {identifier} is {_topology_of(cluster)} in {cluster.region}; {new.topology} needs new "
            "clusters (DSQL decides topology at creation). Deploy the new topology as a new app "
            "(app_name) and move the data, or revert the configuration"
        )
    client = client_factory(new.region)
    _own(client, cluster, owner)
    _converge(client, cluster, old, new, owner)


def _topology_of(cluster: Cluster) -> str:
    if cluster.witness_region is None:
        return "single-region"
    return f"multi-region (witness {cluster.witness_region})"


def _converge(client: Any, cluster: Cluster, old: Props, new: Props, owner: str) -> None:
    _converge_peers(client, cluster, old, new)
    changes: dict[str, Any] = {}
    if _protection_wanted(cluster, old, new) != cluster.deletion_protection:
        changes["deletionProtectionEnabled"] = not cluster.deletion_protection
    if new.kms_key != cluster.kms_key:
        changes["kmsEncryptionKey"] = new.kms_key or "AWS_OWNED_KMS_KEY"
    if changes:
        # No multiRegionProperties here: a peer list is only ever sent complete, by _converge_peers.
        _call(client.update_cluster, identifier=cluster.identifier, **changes)
    _converge_tags(client, cluster, old.tags, new.tags)
    if old.admin_role_arns or new.admin_role_arns:
        _converge_policy(client, cluster, old, new)


def _protection_wanted(cluster: Cluster, old: Props, new: Props) -> bool:
    """Deletion protection after this request. The template's value where the template changed it
    (a rollback included: its old and new differ); otherwise protection is only ever raised, so one
    an operator turned on by hand survives every unrelated update (and the delete that follows)."""
    if old.deletion_protection != new.deletion_protection:
        return new.deletion_protection
    return cluster.deletion_protection or new.deletion_protection


def _converge_peers(client: Any, cluster: Cluster, old: Props, new: Props) -> None:
    if new.peer_arn is None:
        if old.peer_arn is None or old.peer_arn not in cluster.peers:
            return  # this side manages no peer, or the peer is already gone
        if not new.allow_unpeer:
            raise ClusterError(
                f"the configuration no longer peers {cluster.identifier} with {old.peer_arn}; removing a "
                "peer needs the explicit opt-in allow_unpeer=True (the other region stops receiving writes)"
            )
        remaining = [arn for arn in cluster.peers if arn != old.peer_arn]
        _call(client.tag_resource, resourceArn=cluster.arn, tags={UNPEERED_TAG: old.peer_arn})
        _call(
            client.update_cluster,
            identifier=cluster.identifier,
            multiRegionProperties={"witnessRegion": cluster.witness_region, "clusters": remaining},
        )
        return
    if new.peer_arn in cluster.peers:
        return  # already peered as asked
    if cluster.status == "PENDING_SETUP" and not cluster.peers:
        _check_peer_topology(new)
        return  # is_complete peers it, exactly as after a create
    if cluster.tags.get(UNPEERED_TAG) == new.peer_arn:
        # A rollback of our own unpeer: DSQL cannot restore a removed peer, and refusing would leave
        # the stack in UPDATE_ROLLBACK_FAILED. The next deploy without the peer converges.
        logger.warning(
            "%s was unpeered from %s by this resource; a rollback cannot peer them again",
            cluster.identifier,
            new.peer_arn,
        )
        return
    raise ClusterError(
        f"cluster {cluster.identifier} is peered with {', '.join(cluster.peers) or 'nothing'}; peering it "
        f"with {new.peer_arn} needs new clusters (a DSQL cluster keeps its peers for life)"
    )


def _converge_tags(client: Any, cluster: Cluster, old: Mapping[str, str], new: Mapping[str, str]) -> None:
    removed = [key for key in old if key not in new and key in cluster.tags]
    if removed:
        _call(client.untag_resource, resourceArn=cluster.arn, tagKeys=removed)
    changed = {key: value for key, value in new.items() if cluster.tags.get(key) != value}
    if changed:
        _call(client.tag_resource, resourceArn=cluster.arn, tags=changed)


# ---- delete ---------------------------------------------------------------------------------------


def _delete(identifier: str, props: Props, owner: str) -> None:
    if not CLUSTER_ID.fullmatch(identifier):
        # The create failed before returning a cluster (the Provider framework's marker, or an id
        # CloudFormation made up after a create that never answered): nothing was made under it.
        logger.info("physical id %s names no cluster: nothing to delete", identifier)
        return
    if props.removal_policy != "destroy":
        logger.info("removal policy retain: cluster %s stays", identifier)
        if props.admin_role_arns:
            # The setup roles the policy names go with the stack: left in place, the policy would
            # deny admin to everyone. The retained cluster is then gated by IAM alone, as before.
            cluster = get_cluster(props.region, identifier)
            if cluster is not None and cluster.status not in GONE_OR_GOING:
                client = client_factory(props.region)
                current, version = _current_policy(client, identifier)
                if _ours(current):
                    _remove_policy(client, identifier, version)
        return
    cluster = get_cluster(props.region, identifier)
    if cluster is None or cluster.status in GONE_OR_GOING:
        return
    if cluster.status in BUSY:
        # A rollback right after a create or an update: DSQL refuses to delete a cluster mid-change,
        # so is_complete deletes it once it settles.
        logger.info("cluster %s is %s; it is deleted once it settles", identifier, cluster.status)
        return
    _delete_now(cluster, owner)


def _delete_now(cluster: Cluster, owner: str, *, claim: bool = True) -> None:
    """Delete this resource's cluster. ``claim``: re-tag a cluster tagged the old way first (on_event
    may tag; is_complete's role may not, so there such a cluster fails with the command instead)."""
    if cluster.deletion_protection:
        # Whoever turned it on (the template, or an operator by hand), it means "do not delete".
        raise ClusterError(
            f"cluster {cluster.identifier} in {cluster.region} has deletion protection on, so it is not "
            f"deleted. To delete it: aws dsql update-cluster --region {cluster.region} --identifier "
            f"{cluster.identifier} --no-deletion-protection-enabled, then delete the stack again; to keep "
            "it: set the removal policy to retain (database.removal_policy: retain) and deploy before "
            "deleting the stack"
        )
    if not owned_by(cluster, owner):
        raise ClusterError(
            f"cluster {cluster.identifier} in {cluster.region} does not carry this resource's tag "
            f"{DSQL_OWNER_TAG}={owner}, so it is not deleted (its tags were changed outside the stack). "
            f"Tag it back (aws dsql tag-resource --resource-arn {cluster.arn} --tags "
            f"'{DSQL_OWNER_TAG}={owner}') or delete it yourself, then delete the stack again"
        )
    client = client_factory(cluster.region)
    if claim:
        _own(client, cluster, owner)  # a cluster tagged the old way gets the tag the delete right needs
    elif cluster.tags.get(DSQL_OWNER_TAG) != owner:
        raise ClusterError(
            f"cluster {cluster.identifier} in {cluster.region} carries this resource's old-style tag only, "
            "and the delete right needs the new one. Tag it (aws dsql tag-resource --resource-arn "
            f"{cluster.arn} --tags '{DSQL_OWNER_TAG}={owner}') and delete the stack again"
        )
    _call(client.delete_cluster, identifier=cluster.identifier)


# ---- progress -------------------------------------------------------------------------------------


def _progress(kind: str, identifier: str, props: Props, owner: str) -> tuple[bool, Cluster | None]:
    if kind == "Delete":
        if not CLUSTER_ID.fullmatch(identifier) or props.removal_policy != "destroy":
            return True, None
        cluster = get_cluster(props.region, identifier)
        if cluster is None or cluster.status == "PENDING_DELETE":
            # A peered cluster waits in PENDING_DELETE until its peer is deleted too; that is the
            # other stack's delete, which CloudFormation runs next (the stacks depend on each other).
            return True, cluster
        if cluster.status in BUSY or cluster.status == "DELETING":
            return False, cluster
        _delete_now(cluster, owner, claim=False)  # on_event left it: it was mid-change then
        return False, cluster
    cluster = get_cluster(props.region, identifier)
    if cluster is None:
        raise ClusterError(f"cluster {identifier} disappeared from {props.region} while being set up")
    if cluster.status == "FAILED":
        raise ClusterError(f"DSQL reports cluster {identifier} in {props.region} as FAILED")
    if not _encryption_ready(cluster, props):
        return False, cluster
    if props.peer_arn is None:
        if props.witness_region is not None:
            # The first cluster of a pair is ready for its peer at PENDING_SETUP; the peer's
            # resource finishes the pair.
            return cluster.status in READY or cluster.status == "PENDING_SETUP", cluster
        return cluster.status in READY, cluster
    return _peer(cluster, props), cluster


def _encryption_ready(cluster: Cluster, props: Props) -> bool:
    """False while DSQL switches keys; the requested key DSQL cannot use fails with what to fix.

    KMS_KEY_INACCESSIBLE about another key (the one a rollback moves away from, before DSQL has
    taken the request) is waited out: failing there would fail the rollback itself."""
    if cluster.encryption_status == "KMS_KEY_INACCESSIBLE" and cluster.kms_key != props.kms_key:
        logger.info("key %s is inaccessible; waiting for the switch to %s", cluster.kms_key, props.kms_key)
        return False
    if cluster.encryption_status == "KMS_KEY_INACCESSIBLE":
        raise ClusterError(
            f"DSQL cannot use KMS key {cluster.kms_key or '(AWS owned)'} of cluster {cluster.identifier} "
            f"(encryption status KMS_KEY_INACCESSIBLE): {KEY_POLICY_HELP}; the key must also be enabled"
        )
    return cluster.encryption_status not in ENCRYPTION_BUSY


def _peer(cluster: Cluster, props: Props) -> bool:
    """Names this cluster on the peer once the peer waits for it; done when both are ready."""
    assert props.peer_arn is not None
    if props.peer_arn not in cluster.peers and cluster.tags.get(UNPEERED_TAG) == props.peer_arn:
        return cluster.status in READY  # a rollback of our own unpeer (see _converge_peers)
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
