"""``DsqlCluster``: one Aurora DSQL cluster in the stack's region, optionally half of a peered pair."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dsql as dsql
from aws_cdk import aws_iam as iam
from constructs import Construct

from .bundling import contract

METRIC_NAMESPACE = "AWS/AuroraDSQL"


class DsqlCluster(Construct):
    """An Aurora DSQL cluster, created here or adopted by identifier.

    Keyword-only props (defaults in brackets):

    - ``cluster_name``: value of the cluster's ``Name`` tag [the construct's path, e.g. ``shop/Db``].
    - ``deletion_protection``: refuse DeleteCluster until turned off [True].
    - ``removal_policy``: what happens to the cluster when it leaves the stack [RETAIN].
    - ``kms_key_arn``: customer managed KMS key in this region [AWS-owned key].
    - ``witness_region``: makes the cluster multi-region capable with this witness; it must be set
      when the cluster is created, because DSQL decides topology at creation [None: single-region].
    - ``existing_cluster_identifier``: adopt this cluster instead of creating one [None].

    Peering the two regional clusters (``UpdateCluster`` with the peer's ARN) is the job of the
    peering custom resource, which attaches to this construct under the id ``Peering``; until it
    exists a two-region deployment creates both clusters with their witness, in ``PENDING_SETUP``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster_name: str | None = None,
        deletion_protection: bool = True,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        kms_key_arn: str | None = None,
        witness_region: str | None = None,
        existing_cluster_identifier: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.region = stack.region
        self.witness_region = witness_region
        self.resource: dsql.CfnCluster | None = None

        if existing_cluster_identifier is not None:
            if kms_key_arn is not None or witness_region is not None:
                raise ValueError(
                    "an adopted cluster keeps its own encryption and topology; remove kms_key_arn and "
                    "witness_region, or drop existing_cluster_identifier to create a new cluster"
                )
            self.cluster_identifier = existing_cluster_identifier
            self.cluster_arn = stack.format_arn(
                service="dsql", resource="cluster", resource_name=existing_cluster_identifier
            )
            # CloudFormation's Endpoint attribute is only available for clusters it created.
            self.endpoint = contract().dsql_endpoint(existing_cluster_identifier, self.region)
            return

        multi_region = (
            dsql.CfnCluster.MultiRegionPropertiesProperty(witness_region=witness_region)
            if witness_region is not None
            else None
        )
        self.resource = dsql.CfnCluster(
            self,
            "Resource",
            deletion_protection_enabled=deletion_protection,
            kms_encryption_key=kms_key_arn,
            multi_region_properties=multi_region,
        )
        self.resource.apply_removal_policy(removal_policy)
        Tags.of(self.resource).add("Name", cluster_name or self.node.path)
        self.cluster_identifier = self.resource.attr_identifier
        self.cluster_arn = self.resource.attr_resource_arn
        self.endpoint = self.resource.attr_endpoint

    # ---- grants: least privilege on this cluster's ARN only, never "*" -----------------------

    def grant_connect(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow connecting as a custom database role (``dsql:DbConnect``): the application's right."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["dsql:DbConnect"], resource_arns=[self.cluster_arn]
        )

    def grant_connect_admin(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow connecting as ``admin`` (``dsql:DbConnectAdmin``): for migrations only."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["dsql:DbConnectAdmin"], resource_arns=[self.cluster_arn]
        )

    # ---- metrics ---------------------------------------------------------------------------

    def metric(
        self, metric_name: str, *, statistic: str = "Sum", period: Duration | None = None
    ) -> cloudwatch.Metric:
        """A metric of this cluster in the ``AWS/AuroraDSQL`` namespace."""
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"ClusterId": self.cluster_identifier},
            statistic=statistic,
            period=period or Duration.minutes(5),
            region=self.region,
        )

    def metric_occ_conflicts(self) -> cloudwatch.Metric:
        """Transactions aborted by optimistic concurrency conflicts (retried by the handlers)."""
        return self.metric("OccConflicts")

    def metric_total_transactions(self) -> cloudwatch.Metric:
        return self.metric("TotalTransactions")

    def metric_commit_latency(self) -> cloudwatch.Metric:
        """P50 commit latency in ms; in a peered pair it includes the cross-region round trip."""
        return self.metric("CommitLatency", statistic="Average")

    def metric_query_timeouts(self) -> cloudwatch.Metric:
        return self.metric("QueryTimeouts")
