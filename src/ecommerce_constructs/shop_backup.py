"""``ShopBackup``: AWS Backup for one Aurora DSQL cluster: vault, daily plan, selection, a copy to
the peer region's vault, an optional vault lock, a restore role, and a deploy-time opt-in check.

AWS Backup supports Aurora DSQL, single- and multi-region; backups are "always full backups" of the
whole cluster (https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-aurora.html). A
multi-region restore needs "a recovery point in one supported Region, and a copy of that recovery
point in another Region within the same" group (same page), hence the copy action. The peer's
vault is named deterministically and its ARN is built from that name, never referenced across
stacks: both regional stacks copy to each other, and references both ways would be a dependency
cycle. docs/operations.md, "Backup and restore", is the runbook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from ._lambda_parts import nag_form
from ._metrics import MetricOptions, metric_of
from .backup_regions import copy_refusal
from .bundling import handler_code
from .dsql_cluster import IClusterAttributes, cluster_region_of
from .provider import HandlerProvider

#: Daily at 05:00 UTC, AWS Backup's own default time for a daily rule.
DEFAULT_SCHEDULE = "cron(0 5 * * ? *)"
RESOURCE_TYPE = "Custom::BackupOptIn"
#: A compliance-mode lock becomes immutable after its grace time: "Backup enforces a 72-hour
#: cooling-off period before Vault Lock takes effect and becomes immutable. Therefore, you must set
#: ChangeableForDays to 3 or greater" (AWS Backup API reference, PutBackupVaultLockConfiguration,
#: https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultLockConfiguration.html).
MIN_CHANGEABLE_DAYS = 3


@dataclass(frozen=True)
class VaultLock:
    """AWS Backup Vault Lock in compliance mode (WORM: "write-once, read-many", DSQL user guide,
    https://docs.aws.amazon.com/aurora-dsql/latest/userguide/backup-aurora-dsql.html).

    - ``min_retention_days``: no recovery point may be kept shorter [required].
    - ``max_retention_days``: nor longer [None: no maximum].
    - ``changeable_for_days``: grace time before the lock becomes immutable; until then it can be
      removed [3, the least AWS Backup accepts]. After it, not even the account root can delete
      the vault or shorten retention.
    """

    min_retention_days: int
    max_retention_days: int | None = None
    changeable_for_days: int = MIN_CHANGEABLE_DAYS


@dataclass(frozen=True)
class CopyTarget:
    """Where the plan copies each recovery point: a vault of this name in ``region`` of the same
    account. Its ARN is built from the name (no cross-stack reference)."""

    region: str
    vault_name: str


class ShopBackup(Construct):
    """Scheduled backups of one DSQL cluster, and what a restore needs.

    Keyword-only props (defaults in brackets):

    - ``cluster``: the cluster to back up (``DsqlCluster`` or any ``IClusterAttributes``) [required].
    - ``vault_name``: the vault's physical name, deterministic so the peer region's plan can copy
      into it [required].
    - ``retention``: how long recovery points (and their copies) are kept [35 days].
    - ``schedule``: AWS Backup cron expression of the daily rule [``cron(0 5 * * ? *)``].
    - ``copy_to``: a ``CopyTarget`` in another region of the same copy group
      (``backup_regions.COPY_GROUPS``); a target no group allows fails at synthesis [None].
    - ``encryption_key``: customer managed key of the vault [AWS Backup's default key].
    - ``vault_lock``: a ``VaultLock`` [None: no lock]; ``retention`` must lie within its bounds.
    - ``opt_in``: ``"check"`` fails the deploy (naming the fixing command) when the region is not
      opted in to AWS Backup for DSQL; ``"enable"`` opts it in (an account setting) ["check"].
    - ``restore_key_arns``: customer managed keys a restore encrypts the new clusters with (the
      clusters' own ``database.kms_key_arns``): the restore role may use them [()].
    - ``log_retention`` / ``architecture``: of the opt-in check's functions [ONE_MONTH / ARM_64].

    Attributes: ``vault``, ``plan``, ``selection``, ``backup_role`` (AWS Backup assumes it to back
    up), ``restore_role`` (what ``ecommerce backup restore`` passes to StartRestoreJob),
    ``copy_target`` (or None), ``opt_in`` (the ``Custom::BackupOptIn`` resource).

    Creates: the vault (retained when the stack is deleted, with its recovery points), the plan and
    its selection, the backup and restore roles, the ``Custom::BackupOptIn`` resource and, once per
    stack, its provider (one function, its role and log groups); ``notify_failures`` adds an
    EventBridge rule.

    Costs while kept: AWS Backup bills the stored backups per GB-month in each region holding a copy,
    and cross-region data transfer for the copies (https://aws.amazon.com/backup/pricing/); the
    check bills only when CloudFormation calls it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: IClusterAttributes,
        vault_name: str,
        retention: Duration = Duration.days(35),  # noqa: B008 - immutable value
        schedule: str = DEFAULT_SCHEDULE,
        copy_to: CopyTarget | None = None,
        encryption_key: kms.IKey | None = None,
        vault_lock: VaultLock | None = None,
        opt_in: str = "check",
        restore_key_arns: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        region = cluster_region_of(cluster)
        if opt_in not in ("check", "enable"):
            raise ValueError(f"ShopBackup: opt_in must be 'check' or 'enable', not {opt_in!r}")
        if (
            copy_to is not None
            and not Token.is_unresolved(region)
            and (refusal := copy_refusal(region, copy_to.region))
        ):
            raise ValueError(f"ShopBackup {self.node.path}: copy_to: {refusal}")
        days = retention.to_days()
        if vault_lock is not None:
            _check_lock(vault_lock, days, self.node.path)
        self.copy_target = copy_to
        self._region = region
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=vault_name,
            encryption_key=encryption_key,
            # A vault holding recovery points cannot be deleted anyway; they outlive the stack.
            removal_policy=RemovalPolicy.RETAIN,
            lock_configuration=backup.LockConfiguration(
                min_retention=Duration.days(vault_lock.min_retention_days),
                max_retention=Duration.days(vault_lock.max_retention_days)
                if vault_lock.max_retention_days is not None
                else None,
                changeable_for=Duration.days(vault_lock.changeable_for_days),
            )
            if vault_lock is not None
            else None,
        )
        copy_actions = []
        if copy_to is not None:
            peer_vault = backup.BackupVault.from_backup_vault_arn(
                self, "CopyVault", vault_arn(stack, copy_to.region, copy_to.vault_name)
            )
            copy_actions.append(
                backup.BackupPlanCopyActionProps(destination_backup_vault=peer_vault, delete_after=retention)
            )
        self.plan = backup.BackupPlan(
            self,
            "Plan",
            backup_plan_name=vault_name,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="Daily",
                    backup_vault=self.vault,
                    schedule_expression=events.Schedule.expression(schedule),
                    delete_after=retention,
                    copy_actions=copy_actions or None,
                )
            ],
        )
        self.backup_role = iam.Role(
            self,
            "BackupRole",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description="AWS Backup: backs up the shop's DSQL cluster",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSBackupServiceRolePolicyForBackup"
                )
            ],
        )
        self.restore_role = iam.Role(
            self,
            "RestoreRole",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description="AWS Backup: restores the shop's DSQL recovery points into new clusters",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSBackupServiceRolePolicyForRestores"
                )
            ],
        )
        # A multi-region restore links the new clusters (AWS Backup developer guide,
        # restore-auroradsql.html: "dsql:UpdateCluster, dsql:AddPeerCluster, dsql:RemovePeerCluster").
        restore_regions = [region, *([copy_to.region] if copy_to is not None else [])]
        peering_resources = [_clusters(stack, r) for r in restore_regions]
        self.restore_role.add_to_policy(
            iam.PolicyStatement(
                actions=["dsql:UpdateCluster", "dsql:AddPeerCluster", "dsql:RemovePeerCluster"],
                resources=peering_resources,
            )
        )
        if restore_key_arns:
            # The restored clusters are created with the key the regionalConfig names: AWS Backup
            # uses it through the role it is passed (AWSBackupServiceRolePolicyForRestores grants
            # kms:DescribeKey only; AWS Backup developer guide, "Encryption for backups in AWS
            # Backup", and restore-auroradsql.html's kmsKeyId).
            self.restore_role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "kms:Decrypt",
                        "kms:Encrypt",
                        "kms:GenerateDataKey*",
                        "kms:CreateGrant",
                        "kms:DescribeKey",
                    ],
                    resources=list(restore_key_arns),
                )
            )
        self.opt_in = self._opt_in(stack, region, opt_in, log_retention, architecture)
        self.selection = backup.BackupSelection(
            self,
            "Selection",
            backup_plan=self.plan,
            backup_selection_name="dsql-cluster",
            resources=[backup.BackupResource.from_arn(cluster.cluster_arn)],
            role=self.backup_role,
        )
        self.selection.node.add_dependency(self.opt_in)
        self._acknowledge(stack, peering_resources)

    @property
    def vault_name(self) -> str:
        return self.vault.backup_vault_name

    @property
    def vault_arn(self) -> str:
        return self.vault.backup_vault_arn

    def notify_failures(self, topic: sns.ITopic) -> events.Rule:
        """Backup and copy jobs of this region that fail, abort or expire notify ``topic``.

        AWS Backup sends "Backup Job State Change" and "Copy Job State Change" events to
        EventBridge, best effort (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-backup.html);
        "some events report status: COMPLETED whereas other events report state: COMPLETED"
        (https://docs.aws.amazon.com/aws-backup/latest/devguide/eventbridge.html), so both fields
        are matched. Every plan of the region is watched, not only this one."""
        bad = ["FAILED", "ABORTED", "EXPIRED"]
        return events.Rule(
            self,
            "FailureEvents",
            description="AWS Backup: a backup or copy job failed (runbook: docs/operations.md)",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Backup Job State Change", "Copy Job State Change"],
                detail={"$or": [{"state": bad}, {"status": bad}]},
            ),
            targets=[targets.SnsTopic(topic)],
        )

    def metric_backup_jobs_completed(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Backup jobs completed into this vault (AWS/Backup ``NumberOfBackupJobsCompleted`` by
        ``BackupVaultName``, https://docs.aws.amazon.com/aws-backup/latest/devguide/cloudwatch.html)
        [sum over one day]. Verify on a staging account that the metric appears under this
        dimension after the first backup: AWS documents the dimensions per metric there."""
        return metric_of(
            "AWS/Backup",
            "NumberOfBackupJobsCompleted",
            {"BackupVaultName": self.vault_name},
            {"period": Duration.days(1), "statistic": "Sum", **options},
        )

    def alarm_on_missing_backups(self, topic: sns.ITopic | None = None) -> cloudwatch.Alarm:
        """Fires when no backup completed into the vault for two days in a row: a plan that runs and
        backs up nothing (the region opted out after the deploy, the selection's role broken) raises
        no failure event, only silence. Missing data counts as breaching."""
        alarm = cloudwatch.Alarm(
            self,
            "NoBackupAlarm",
            metric=self.metric_backup_jobs_completed(),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=2,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description="No DSQL backup completed into this vault for two days (runbook: "
            "docs/operations.md, Backup and restore)",
        )
        if topic is not None:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        return alarm

    def grant_restore(self, grantee: iam.IGrantable) -> iam.Grant:
        """What ``ecommerce backup list|restore`` calls: read the vault's recovery points, start
        and watch restore jobs, read the restored cluster (its peers), and pass the restore role to
        AWS Backup."""
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "backup:ListRecoveryPointsByBackupVault",
                "backup:DescribeRecoveryPoint",
                "backup:StartRestoreJob",
            ],
            resource_arns=[self.vault_arn, f"{self.vault_arn}*"],
        )
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["backup:DescribeRestoreJob"], resource_arns=["*"]
        )
        stack = Stack.of(self)
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dsql:GetCluster"],
            resource_arns=[
                _clusters(stack, self._region),
                *([_clusters(stack, self.copy_target.region)] if self.copy_target else []),
            ],
        )
        self.restore_role.grant_pass_role(grantee.grant_principal)
        return grant

    def _opt_in(
        self,
        stack: Stack,
        region: str,
        mode: str,
        log_retention: logs.RetentionDays,
        architecture: lambda_.Architecture,
    ) -> CustomResource:
        provider = stack.node.try_find_child("BackupOptInProvider")
        if not isinstance(provider, HandlerProvider):
            code, _ = handler_code(architecture.name, aws_services=("backup",))
            provider = HandlerProvider(
                stack,
                "BackupOptInProvider",
                code=code,
                on_event="handlers.infra.backup_opt_in.on_event",
                architecture=architecture,
                log_retention=log_retention,
                timeout=Duration.seconds(30),
                description="AWS Backup opt-in for Aurora DSQL",
            )
            assert provider.on_event_function.role is not None
            actions = ["backup:DescribeRegionSettings"]
            if mode == "enable":
                actions.append("backup:UpdateRegionSettings")
            # Account settings: the Service Authorization Reference lists no resource type for either.
            provider.on_event_function.role.add_to_principal_policy(
                iam.PolicyStatement(actions=actions, resources=["*"])
            )
            Validations.of(provider).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="backup:DescribeRegionSettings and backup:UpdateRegionSettings act on the "
                    "region's account settings and support no resource-level permissions.",
                )
            )
        return CustomResource(
            self,
            "OptIn",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={"Region": region, "Mode": mode},
        )

    def _acknowledge(self, stack: Stack, peering_resources: list[str]) -> None:
        for role, policy in (
            (self.backup_role, "AWSBackupServiceRolePolicyForBackup"),
            (self.restore_role, "AWSBackupServiceRolePolicyForRestores"),
        ):
            Validations.of(role).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{policy}]",
                    reason="AWS Backup's own service-role policy, which AWS keeps current as it adds "
                    "what Aurora DSQL backups and restores call (AWS Backup managed policy history).",
                )
            )
        Validations.of(self.restore_role).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{nag_form(stack, arn)}]",
                    reason="A restore creates clusters with identifiers DSQL assigns, so linking them "
                    "names this account's clusters of the restore regions (cluster/*).",
                )
                for arn in peering_resources
            )
        )


def vault_arn(stack: Stack, region: str, name: str) -> str:
    """The ARN of this account's vault ``name`` in ``region``, from its name alone."""
    return stack.format_arn(
        service="backup",
        region=region,
        resource="backup-vault",
        resource_name=name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def _clusters(stack: Stack, region: str) -> str:
    return stack.format_arn(
        service="dsql",
        resource="cluster",
        resource_name="*",
        region=region,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def _check_lock(lock: VaultLock, retention_days: float, path: str) -> None:
    if lock.changeable_for_days < MIN_CHANGEABLE_DAYS:
        raise ValueError(
            f"ShopBackup {path}: vault_lock.changeable_for_days must be at least {MIN_CHANGEABLE_DAYS} "
            "(compliance mode's shortest grace time)"
        )
    if retention_days < lock.min_retention_days:
        raise ValueError(
            f"ShopBackup {path}: retention ({retention_days:g} days) is below the vault lock's minimum "
            f"({lock.min_retention_days} days): AWS Backup would refuse every backup"
        )
    if lock.max_retention_days is not None and retention_days > lock.max_retention_days:
        raise ValueError(
            f"ShopBackup {path}: retention ({retention_days:g} days) is above the vault lock's maximum "
            f"({lock.max_retention_days} days): AWS Backup would refuse every backup"
        )
