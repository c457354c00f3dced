"""``DsqlCluster``: an Aurora DSQL cluster owned by a custom resource, alone or half of a peered pair.

Shaped like an aws-cdk-lib L2 (compare ``aws_sqs.Queue`` / ``IQueue``, and the names of the
official ``aws_dsql_alpha.Cluster``): an ``IDsqlCluster`` interface that consumers accept,
``from_cluster_attributes`` / ``from_cluster_identifier`` for clusters made elsewhere, ``grant*``
and ``metric*`` methods. Why a custom resource instead of ``AWS::DSQL::Cluster``:
docs/dsql-clusters.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, Unpack, runtime_checkable

import jsii
from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    Aws,
    CfnResource,
    CustomResource,
    Duration,
    Fn,
    IStableAnyProducer,
    IStableListProducer,
    IStableStringProducer,
    ITaggable,
    Lazy,
    RemovalPolicy,
    Resource,
    Stack,
    TagManager,
    TagType,
    Token,
    Validations,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IValidation, Node

from ._lambda_parts import nag_form
from ._metrics import MetricOptions, metric_of
from ._references import produce_weakly
from .bundling import contract, handler_code
from .dsql_limits import CLUSTER_IDENTIFIER, tag_problems
from .provider import HandlerProvider

METRIC_NAMESPACE = "AWS/AuroraDSQL"
RESOURCE_TYPE = "Custom::DsqlCluster"
OWNER_TAG_MAX = 256


@runtime_checkable
class IClusterAttributes(Protocol):
    """What the official ``aws_dsql_alpha.ICluster`` has: any such cluster (an
    ``aws_dsql_alpha.Cluster``, for one) can be handed to ``DatabaseSetup``, ``EcommerceApi`` or a
    ``DsqlCluster``'s ``peer``. Its region is read from ``env.region``."""

    @property
    def node(self) -> Node: ...
    @property
    def env(self) -> Any: ...  # aws_cdk.ResourceEnvironment (account, region)
    @property
    def stack(self) -> Stack: ...
    @property
    def cluster_arn(self) -> str: ...
    @property
    def cluster_identifier(self) -> str: ...
    @property
    def cluster_endpoint(self) -> str: ...
    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant: ...
    def grant_connect(self, grantee: iam.IGrantable) -> iam.Grant: ...
    def grant_connect_admin(self, grantee: iam.IGrantable) -> iam.Grant: ...
    def apply_removal_policy(self, policy: RemovalPolicy) -> None: ...


@runtime_checkable
class IDsqlCluster(IClusterAttributes, Protocol):
    """An Aurora DSQL cluster, created by this app (``DsqlCluster``) or elsewhere
    (``DsqlCluster.from_cluster_attributes``): a ``Resource`` with the alpha ``ICluster``'s members,
    its region, and metrics."""

    @property
    def cluster_region(self) -> str: ...
    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...
    def metric_occ_conflicts(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...
    def metric_total_transactions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...
    def metric_commit_latency(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...
    def metric_query_timeouts(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...


def cluster_region_of(cluster: IClusterAttributes) -> str:
    """The cluster's region: ``cluster_region`` where it has one, else its resource environment's."""
    region = getattr(cluster, "cluster_region", None)
    return region if isinstance(region, str) else str(cluster.env.region)


class DsqlClusterBase(Resource):
    """Grants and metrics from the cluster's attributes (shared by created and imported clusters),
    as aws-cdk-lib's ``QueueBase`` is for queues."""

    cluster_arn: str
    cluster_identifier: str
    cluster_endpoint: str

    @property
    def cluster_region(self) -> str:
        """The region the cluster is in (its resource environment's)."""
        return str(self.env.region)

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """``actions`` on this cluster's ARN only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(actions), resource_arns=[self.cluster_arn]
        )

    def grant_connect(self, grantee: iam.IGrantable) -> iam.Grant:
        """Connect as a custom database role (``dsql:DbConnect``): what an application needs."""
        return self.grant(grantee, "dsql:DbConnect")

    def grant_connect_admin(self, grantee: iam.IGrantable) -> iam.Grant:
        """Connect as ``admin`` (``dsql:DbConnectAdmin``): for schema changes and role setup only."""
        return self.grant(grantee, "dsql:DbConnectAdmin")

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """A metric of this cluster in ``AWS/AuroraDSQL`` [Sum over 5 minutes, in the cluster's
        region; ``dimensions_map`` adds to ``ClusterId``]."""
        return metric_of(
            METRIC_NAMESPACE,
            metric_name,
            {"ClusterId": self.cluster_identifier},
            {"statistic": "Sum", "period": Duration.minutes(5), "region": self.cluster_region, **options},
        )

    def metric_occ_conflicts(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Transactions aborted by optimistic-concurrency conflicts (the handlers retry them)."""
        return self.metric("OccConflicts", **options)

    def metric_total_transactions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Transactions committed or aborted [Sum over 5 minutes]."""
        return self.metric("TotalTransactions", **options)

    def metric_commit_latency(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Commit latency in ms [Average]; in a peered pair it includes the cross-region round trip."""
        merged: MetricOptions = {"statistic": "Average", **options}
        return self.metric("CommitLatency", **merged)

    def metric_query_timeouts(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Queries that reached DSQL's time limit [Sum over 5 minutes]."""
        return self.metric("QueryTimeouts", **options)


class _ImportedDsqlCluster(DsqlClusterBase):
    def __init__(
        self, scope: Construct, construct_id: str, *, identifier: str, arn: str, endpoint: str, region: str
    ) -> None:
        super().__init__(scope, construct_id, region=region)
        self.cluster_identifier = identifier
        self.cluster_arn = arn
        self.cluster_endpoint = endpoint

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        raise ValueError(
            f"{self.node.path}: a cluster made elsewhere has no removal policy here; "
            "its lifecycle belongs to whoever created it"
        )


@jsii.implements(ITaggable)
class DsqlCluster(DsqlClusterBase):
    """An Aurora DSQL cluster in the stack's region, owned by the ``Custom::DsqlCluster`` resource.

    Keyword-only props, every one optional (defaults in brackets):

    - ``cluster_name``: value of the ``Name`` tag [the construct path, e.g. ``shop/Db``].
    - ``deletion_protection``: DSQL refuses DeleteCluster while on [follows the removal policy: on
      with RETAIN, off with DESTROY, as ``aws_dsql_alpha.Cluster``; True with DESTROY is an error].
    - ``removal_policy``: RETAIN leaves the cluster when the resource leaves the stack; DESTROY
      deletes it, unless its deletion protection is on when the delete comes (turned on by hand, say):
      then the delete fails and says how to proceed [RETAIN].
    - ``encryption_key``: a customer managed KMS key of this region [AWS-owned key].
    - ``witness_region``: makes the cluster multi-region with this witness; topology is decided at
      creation and cannot change later [None: single-region].
    - ``peer``: the other cluster of the pair, created earlier with the same witness (usually in
      another stack). This cluster's resource then owns the peering: it creates this cluster naming
      the peer, names this cluster on the peer, and waits until both are ACTIVE [None].
    - ``allow_unpeer``: let a later deployment that drops ``peer`` remove it from the pair (the
      other region stops taking writes for this database) [False: such an update fails].
    - ``tags``: tags for the cluster [{}]; ``Tags.of()`` reaches it as well.
    - ``tag_conditions``: the lifecycle functions may change only clusters carrying this resource's
      ``ecommerce:owner`` tag (IAM ``aws:ResourceTag``/``aws:RequestTag``/``aws:TagKeys``
      conditions) [True]. False drops those conditions, so the functions may change any cluster of
      the account in the topology's regions: the fallback should DSQL not evaluate the tag keys as
      the Service Authorization Reference lists them (docs/dsql-clusters.md says how to verify).
    - ``log_retention``: of the lifecycle handler's logs (one provider per stack: the first cluster
      of a stack sets it) [ONE_MONTH].
    - ``architecture``: of the lifecycle handler's functions (set by the first cluster of a stack,
      like ``log_retention``) [ARM_64].

    Attributes: ``cluster_arn``, ``cluster_identifier``, ``cluster_endpoint``, ``cluster_region``,
    ``resource`` (the CustomResource), ``provider`` (the stack's shared lifecycle provider),
    ``owner`` (the value of the ``ecommerce:owner`` tag the lifecycle keeps on the cluster:
    ``<stack name>/<logical id>``; the lifecycle functions may change only clusters tagged so).

    Creates: the cluster (through ``Custom::DsqlCluster``; retained on deletion unless
    ``removal_policy`` is DESTROY), and once per stack the lifecycle provider (two functions, their
    roles and log groups). Costs while kept: DSQL bills DPUs for the work done and storage per
    GB-month, so an idle cluster bills its storage
    (https://docs.aws.amazon.com/aurora-dsql/latest/userguide/billing-metering.html); the provider
    bills only when CloudFormation calls it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str | None = None,
        deletion_protection: bool | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        encryption_key: kms.IKey | None = None,
        witness_region: str | None = None,
        peer: IClusterAttributes | None = None,
        allow_unpeer: bool = False,
        tags: Mapping[str, str] | None = None,
        tag_conditions: bool = True,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        region = stack.region
        if peer is not None and witness_region is None:
            raise ValueError(
                "DsqlCluster: a peer needs a witness_region (peered clusters are multi-region, with one "
                "witness region shared by both)"
            )
        if witness_region is not None and not Token.is_unresolved(region) and witness_region == region:
            raise ValueError(
                f"DsqlCluster: the witness region must differ from the cluster's region ({region})"
            )
        if (
            peer is not None
            and not Token.is_unresolved(cluster_region_of(peer))
            and cluster_region_of(peer) == region
        ):
            raise ValueError(f"DsqlCluster: the peer must be in another region than {region}")
        _check_removal(removal_policy, deletion_protection)
        self._removal_policy = removal_policy
        self._deletion_protection = deletion_protection
        # Tags.of(...) reaches the cluster like any taggable resource; the handler applies them.
        initial = {"Name": cluster_name or self.node.path, **(tags or {})}
        # Early for the props; tags added later by Tags.of() are checked at synthesis (_TagRules).
        if problems := tag_problems({k: v for k, v in initial.items() if not Token.is_unresolved(k + v)}):
            raise ValueError(f"DsqlCluster {self.node.path}: " + "; ".join(problems) + " (DSQL's tag rules)")
        self._tags = TagManager(TagType.MAP, RESOURCE_TYPE, initial)
        self.node.add_validation(_TagRules(self))

        self.witness_region = witness_region
        self.peer = peer
        self.tag_conditions = tag_conditions
        self.provider = _lifecycle_provider(stack, log_retention, architecture)
        terms = contract()
        prop = terms.DsqlClusterProperty
        properties: dict[str, Any] = {
            prop.REGION: region,
            # Lazy: apply_removal_policy() and Tags.of() may still change them after construction.
            prop.DELETION_PROTECTION: _lazy_string(lambda: "true" if self.deletion_protection else "false"),
            prop.REMOVAL_POLICY: _lazy_string(
                lambda: "destroy" if self.removal_policy == RemovalPolicy.DESTROY else "retain"
            ),
            prop.ALLOW_UNPEER: "true" if allow_unpeer else "false",
            prop.TAGS: Lazy.any(_Producer(self.tags.render_tags)),
        }
        if witness_region is not None:
            properties[prop.WITNESS_REGION] = witness_region
        if peer is not None:
            properties[prop.PEER_ARN] = peer.cluster_arn
        if encryption_key is not None:
            properties[prop.KMS_KEY] = encryption_key.key_arn
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            # Deleting is the handler's decision (removal_policy, deletion protection): the
            # resource itself always goes.
            removal_policy=RemovalPolicy.DESTROY,
        )
        cfn = self.resource.node.default_child
        assert isinstance(cfn, CfnResource)
        # Who owns the cluster, stable when the stack is deleted and created again (a new StackId
        # after a failed first create): the handler tags and adopts by it.
        cfn.add_property_override(prop.OWNER, Fn.join("/", [Aws.STACK_NAME, stack.get_logical_id(cfn)]))
        # The same value with the stack's name as a literal: another stack's policy can name it.
        self.owner = f"{stack.stack_name}/{stack.get_logical_id(cfn)}"
        if not Token.is_unresolved(self.owner) and len(self.owner) > OWNER_TAG_MAX:
            # DSQL tag values hold 256 characters; a longer owner could never match its IAM condition.
            raise ValueError(
                f"DsqlCluster {self.node.path}: stack name and logical id ({self.owner!r}) exceed "
                f"{OWNER_TAG_MAX} characters, the longest tag value DSQL stores; use a shorter stack name"
            )
        self._grant_lifecycle(stack, witness_region, peer, encryption_key)
        self._admin_role_arns: list[str] = []
        self.cluster_arn = self.resource.get_att_string("Arn")
        self.cluster_identifier = self.resource.ref
        self.cluster_endpoint = self.resource.get_att_string("Endpoint")
        produce_weakly(self)  # references to these resources never become exports

    @property
    def tags(self) -> TagManager:
        """The cluster's tags: ``Name``, the ``tags`` prop, and whatever ``Tags.of()`` adds."""
        return self._tags

    @property
    def removal_policy(self) -> RemovalPolicy:
        """RETAIN or DESTROY: what the handler does with the cluster when the resource goes."""
        return self._removal_policy

    @property
    def deletion_protection(self) -> bool:
        """Whether DSQL refuses DeleteCluster [follows the removal policy unless set]."""
        if self._deletion_protection is None:
            return self._removal_policy == RemovalPolicy.RETAIN
        return self._deletion_protection

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        """As on any aws-cdk-lib resource; RETAIN and DESTROY only (DSQL has no snapshots), and
        deletion protection that was left unset follows."""
        _check_removal(policy, self._deletion_protection)
        self._removal_policy = policy

    def _tag_values(self) -> dict[str, str]:
        return dict(self.tags.tag_values())

    @property
    def admin_role_arns(self) -> list[str]:
        """The only roles allowed ``dsql:DbConnectAdmin`` by the cluster's resource policy [none:
        no policy, IAM alone decides]."""
        return list(self._admin_role_arns)

    def restrict_admin_to(self, *role_arns: str) -> None:
        """Deny ``dsql:DbConnectAdmin`` on this cluster to every principal whose ARN is not one of
        ``role_arns`` (accumulates over calls): a cluster resource policy the cluster's resource
        attaches at creation (``CreateCluster``'s ``policy``) and keeps with ``PutClusterPolicy``
        (Aurora DSQL user guide, resource-based-policies.html). ``DatabaseSetup`` calls it with its
        own roles. Break-glass access: docs/security.md."""
        if not role_arns:
            raise ValueError("DsqlCluster.restrict_admin_to: name at least one role ARN")
        first = not self._admin_role_arns
        self._admin_role_arns.extend(a for a in role_arns if a not in self._admin_role_arns)
        if not first:
            return
        cfn = self.resource.node.default_child
        assert isinstance(cfn, CfnResource)
        cfn.add_property_override(
            contract().DsqlClusterProperty.ADMIN_ROLE_ARNS,
            Lazy.list(_Producer(lambda: list(self._admin_role_arns))),
        )
        on_event = self.provider.on_event_function
        assert on_event.role is not None
        keep = (lambda s: s) if self.tag_conditions else _without_tag_conditions
        own_region = [_clusters(Stack.of(self), Stack.of(self).region)]
        for statement in (
            iam.PolicyStatement(
                actions=["dsql:GetClusterPolicy", "dsql:PutClusterPolicy", "dsql:DeleteClusterPolicy"],
                resources=own_region,
                conditions=_owned_by(self.owner),
            ),
            # CreateCluster with a policy checks PutClusterPolicy on the cluster it creates. The
            # Service Authorization Reference (list_amazonauroradsql.html) lists no aws:RequestTag
            # for PutClusterPolicy, so the condition applies only if the key is present (IfExists);
            # docs/dsql-clusters.md, "What the fake believes", has the staging check. An existing
            # cluster has aws:ResourceTag (documented for the Cluster type): it must be ours too.
            iam.PolicyStatement(
                actions=["dsql:PutClusterPolicy"],
                resources=own_region,
                conditions={
                    "StringEqualsIfExists": {
                        f"aws:RequestTag/{contract().DSQL_OWNER_TAG}": self.owner,
                        f"aws:ResourceTag/{contract().DSQL_OWNER_TAG}": self.owner,
                    }
                },
            ),
        ):
            on_event.role.add_to_principal_policy(keep(statement))

    @staticmethod
    def from_cluster_attributes(
        scope: Construct,
        construct_id: str,
        *,
        cluster_identifier: str,
        cluster_arn: str | None = None,
        cluster_endpoint: str | None = None,
        cluster_region: str | None = None,
    ) -> IDsqlCluster:
        """A cluster created elsewhere [ARN, endpoint and region derived from the identifier and the
        scope's stack]. A literal identifier must be DSQL's (26 lowercase letters and digits, as
        ``aws dsql list-clusters`` shows it); a token passes through to deploy time."""
        literal = not Token.is_unresolved(cluster_identifier)
        if literal and not CLUSTER_IDENTIFIER.fullmatch(cluster_identifier):
            raise ValueError(
                f"DsqlCluster {construct_id!r}: {cluster_identifier!r} is not a "
                "DSQL "
                "cluster identifier (26 lowercase letters and digits, e.g. the 'identifier' that "
                "`aws dsql list-clusters` prints); pass the identifier, not the cluster's name or ARN"
            )
        stack = Stack.of(scope)
        region = cluster_region or stack.region
        arn = cluster_arn or stack.format_arn(
            service="dsql", resource="cluster", resource_name=cluster_identifier, region=region
        )
        endpoint = cluster_endpoint or contract().dsql_endpoint(cluster_identifier, region)
        return _ImportedDsqlCluster(
            scope, construct_id, identifier=cluster_identifier, arn=arn, endpoint=endpoint, region=region
        )

    @staticmethod
    def from_cluster_identifier(scope: Construct, construct_id: str, cluster_identifier: str) -> IDsqlCluster:
        """A cluster created elsewhere, in the scope's stack's region."""
        return DsqlCluster.from_cluster_attributes(scope, construct_id, cluster_identifier=cluster_identifier)

    def _grant_lifecycle(
        self,
        stack: Stack,
        witness_region: str | None,
        peer: IClusterAttributes | None,
        key: kms.IKey | None,
    ) -> None:
        """Each lifecycle function gets exactly what it calls. Changing or deleting a cluster needs
        this resource's own ``ecommerce:owner`` tag on it, so no other resource, stack or app of the
        account can have its clusters changed by these functions."""
        on_event = self.provider.on_event_function
        complete = self.provider.is_complete_function
        assert on_event.role is not None
        assert complete is not None
        assert complete.role is not None
        regions = [stack.region, *([cluster_region_of(peer)] if peer is not None else [])]
        terms = contract()
        tag_keys = Lazy.list(
            _Producer(lambda: sorted({terms.DSQL_OWNER_TAG, terms.DSQL_MANAGED_BY_TAG, *self._tag_values()}))
        )
        keep = (lambda s: s) if self.tag_conditions else _without_tag_conditions
        for statement in _on_event_statements(stack, regions, witness_region, self.owner, tag_keys):
            on_event.role.add_to_principal_policy(keep(statement))
        for statement in _is_complete_statements(stack, regions, witness_region, self.owner, peer):
            complete.role.add_to_principal_policy(keep(statement))
        if key is not None:
            # Only on_event names the key (CreateCluster, UpdateCluster); DSQL itself uses it through
            # its key policy (docs/dsql-clusters.md, "Customer managed keys").
            key.grant(on_event, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
        witnesses = [witness_region] if witness_region is not None else []
        arns = [_clusters(stack, r) for r in (*regions, *witnesses)] + [_clusters_anywhere(stack)]
        resources = sorted({nag_form(stack, arn) for arn in arns})
        Validations.of(self.provider).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{resource}]",
                    reason="DSQL assigns cluster identifiers at creation, so the lifecycle handler's "
                    "rights name this account's clusters (cluster/*); changing or deleting one needs "
                    "this resource's ecommerce:owner tag on it, and RemovePeerCluster takes the "
                    "documented form arn:aws:dsql:*:<account>:cluster/*.",
                )
                for resource in resources
                if resource
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="dsql:ListClusters has no resource-level permissions; it finds a cluster a retried "
                "create or a rolled-back deploy left behind.",
            ),
        )


_TAG_CONDITION_KEYS = ("aws:ResourceTag/", "aws:RequestTag/", "aws:TagKeys")


def _without_tag_conditions(statement: iam.PolicyStatement) -> iam.PolicyStatement:
    """The statement without its tag conditions (``tag_conditions=False``)."""
    document = dict(statement.to_statement_json())
    conditions = {
        operator: {k: v for k, v in keys.items() if not k.startswith(_TAG_CONDITION_KEYS)}
        for operator, keys in document.pop("Condition", {}).items()
    }
    conditions = {operator: keys for operator, keys in conditions.items() if keys}
    if conditions:
        document["Condition"] = conditions
    return iam.PolicyStatement.from_json(document)


def _check_removal(policy: RemovalPolicy, deletion_protection: bool | None) -> None:
    if policy not in (RemovalPolicy.RETAIN, RemovalPolicy.DESTROY):
        raise ValueError("DsqlCluster: removal_policy must be RETAIN or DESTROY (DSQL has no snapshots)")
    if deletion_protection and policy == RemovalPolicy.DESTROY:
        raise ValueError(
            "DsqlCluster: deletion_protection=True with removal_policy=DESTROY cannot delete the cluster "
            "(DSQL refuses to); leave deletion_protection unset (it follows the removal policy) or "
            "choose RETAIN"
        )


@jsii.implements(IStableAnyProducer, IStableStringProducer, IStableListProducer)
class _Producer:
    """A value computed at synthesis (after every Tags.of() and apply_removal_policy())."""

    def __init__(self, produce: Callable[[], Any]) -> None:
        self._produce = produce

    def produce(self) -> Any:
        return self._produce()


def _lazy_string(produce: Callable[[], str]) -> str:
    return Lazy.string(_Producer(produce))


@jsii.implements(IValidation)
class _TagRules:
    """DSQL's tag rules on the tags the cluster ends up with (a comma would fail CreateCluster)."""

    def __init__(self, cluster: DsqlCluster) -> None:
        self._cluster = cluster

    def validate(self) -> list[str]:
        literal = {
            k: v
            for k, v in self._cluster._tag_values().items()
            if not Token.is_unresolved(k) and not Token.is_unresolved(v)
        }
        problems = tag_problems(literal)
        return (
            [f"DsqlCluster {self._cluster.node.path}: " + "; ".join(problems) + " (DSQL's tag rules)"]
            if problems
            else []
        )


def _clusters(stack: Stack, region: str) -> str:
    return stack.format_arn(
        service="dsql",
        resource="cluster",
        resource_name="*",
        region=region,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def _clusters_anywhere(stack: Stack) -> str:
    """``arn:aws:dsql:*:<account>:cluster/*``: how the DSQL API reference (UpdateCluster) documents
    the resource of ``dsql:RemovePeerCluster``."""
    return stack.format_arn(
        service="dsql",
        resource="cluster",
        resource_name="*",
        region="*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def _owned_by(owner: str) -> dict[str, dict[str, str]]:
    """The cluster carries this resource's owner tag. ``aws:ResourceTag/${TagKey}`` applies to the
    Cluster resource type (Service Authorization Reference, "Actions, resources, and condition keys
    for Amazon Aurora DSQL")."""
    return {"StringEquals": {f"aws:ResourceTag/{contract().DSQL_OWNER_TAG}": owner}}


def _claim(owner: str, tag_keys: list[str]) -> dict[str, Any]:
    """Tagging a cluster for this resource: at creation (CreateCluster's tags are authorized as
    dsql:TagResource too) or when claiming a cluster tagged the old way. The request sets this
    owner (``aws:RequestTag``); a cluster that already has an owner must be this one
    (``...IfExists``: how DSQL fills resource tags during CreateCluster is undocumented, and either
    answer passes); only the ownership keys and the template's tag keys (``aws:TagKeys``)."""
    owner_key = contract().DSQL_OWNER_TAG
    condition: dict[str, Any] = {
        "StringEquals": {f"aws:RequestTag/{owner_key}": owner},
        "StringEqualsIfExists": {f"aws:ResourceTag/{owner_key}": owner},
    }
    condition["ForAllValues:StringEquals"] = {"aws:TagKeys": tag_keys}
    return condition


def _topology_statements(
    stack: Stack, regions: list[str], witness_region: str | None, *, remove: bool
) -> list[iam.PolicyStatement]:
    """What an UpdateCluster that sends a peer list needs (and CreateCluster with one). These
    permission-only actions are checked on the peer's and the witness region's ARNs too, where how
    tags are evaluated is undocumented: they are left to the UpdateCluster or CreateCluster they
    accompany, which is conditioned."""
    clusters = [_clusters(stack, r) for r in regions]
    statements = [
        iam.PolicyStatement(
            actions=["dsql:PutMultiRegionProperties", "dsql:AddPeerCluster"], resources=clusters
        )
    ]
    if remove:
        statements.append(
            iam.PolicyStatement(actions=["dsql:RemovePeerCluster"], resources=[_clusters_anywhere(stack)])
        )
    if witness_region is not None:
        # Checked in the cluster's region and in the witness region (DSQL API reference).
        statements.append(
            iam.PolicyStatement(
                actions=["dsql:PutWitnessRegion"],
                resources=[_clusters(stack, r) for r in (*regions, witness_region)],
                conditions={"StringEquals": {"dsql:WitnessRegion": witness_region}},
            )
        )
    return statements


def _on_event_statements(
    stack: Stack, regions: list[str], witness_region: str | None, owner: str, tag_keys: list[str]
) -> list[iam.PolicyStatement]:
    """create (and adopt), update, delete: reads in the topology's regions, changes only to this
    resource's own cluster."""
    clusters = [_clusters(stack, r) for r in regions]
    own_region = [_clusters(stack, stack.region)]
    return [
        iam.PolicyStatement(actions=["dsql:GetCluster", "dsql:ListTagsForResource"], resources=clusters),
        # Finds a cluster a retried create or a rolled-back deploy left; no resource-level form.
        iam.PolicyStatement(actions=["dsql:ListClusters"], resources=["*"]),
        iam.PolicyStatement(
            actions=["dsql:CreateCluster"],
            resources=own_region,
            conditions={"StringEquals": {f"aws:RequestTag/{contract().DSQL_OWNER_TAG}": owner}},
        ),
        iam.PolicyStatement(
            actions=["dsql:UpdateCluster", "dsql:DeleteCluster", "dsql:TagResource", "dsql:UntagResource"],
            resources=own_region,
            conditions=_owned_by(owner),
        ),
        iam.PolicyStatement(
            actions=["dsql:TagResource"], resources=own_region, conditions=_claim(owner, tag_keys)
        ),
        *_topology_statements(stack, regions, witness_region, remove=True),
        iam.PolicyStatement(
            actions=["iam:CreateServiceLinkedRole"],
            resources=[
                stack.format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name="aws-service-role/dsql.amazonaws.com/AWSServiceRoleForAuroraDsql",
                )
            ],
            conditions={"StringEquals": {"iam:AWSServiceName": "dsql.amazonaws.com"}},
        ),
    ]


def _is_complete_statements(
    stack: Stack, regions: list[str], witness_region: str | None, owner: str, peer: IClusterAttributes | None
) -> list[iam.PolicyStatement]:
    """Reads both clusters; names this cluster on its peer (an UpdateCluster with the full list);
    deletes this resource's own cluster once a busy one settles."""
    clusters = [_clusters(stack, r) for r in regions]
    statements = [
        iam.PolicyStatement(actions=["dsql:GetCluster"], resources=clusters),
        iam.PolicyStatement(
            actions=["dsql:DeleteCluster"],
            resources=[_clusters(stack, stack.region)],
            conditions=_owned_by(owner),
        ),
    ]
    if isinstance(peer, DsqlCluster):
        statements.append(
            iam.PolicyStatement(
                actions=["dsql:UpdateCluster"],
                resources=[_clusters(stack, peer.cluster_region)],
                conditions=_owned_by(peer.owner),
            )
        )
    elif peer is not None:
        # A cluster made elsewhere carries no owner tag of ours: exactly its ARN.
        statements.append(iam.PolicyStatement(actions=["dsql:UpdateCluster"], resources=[peer.cluster_arn]))
    return [*statements, *_topology_statements(stack, regions, witness_region, remove=False)]


def _lifecycle_provider(
    stack: Stack, log_retention: logs.RetentionDays, architecture: lambda_.Architecture
) -> HandlerProvider:
    """One lifecycle provider per stack, shared by its clusters."""
    existing = stack.node.try_find_child("DsqlClusterProvider")
    if isinstance(existing, HandlerProvider):
        return existing
    code, _ = handler_code(architecture.name)
    return HandlerProvider(
        stack,
        "DsqlClusterProvider",
        code=code,
        on_event="handlers.infra.dsql_cluster.on_event",
        is_complete="handlers.infra.dsql_cluster.is_complete",
        architecture=architecture,
        log_retention=log_retention,
        description="Aurora DSQL cluster lifecycle",
    )
