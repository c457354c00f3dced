"""``ecommerce backup list`` and ``ecommerce backup restore RECOVERY_POINT``.

Recovery points are read from each region's vault (its name comes from the configuration, as the
stacks name it); a restore is one AWS Backup ``StartRestoreJob`` with the restore role the stack
created (output ``BackupRestoreRoleArn``), watched until it ends. AWS Backup "always creates new
clusters" and "the restored cluster won't overwrite the source cluster"
(https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-auroradsql.html): nothing here calls
a mutating API on any cluster, the sources least of all. Pointing the shop at the new clusters is a
configuration change (``database.existing_cluster_identifiers``) and a deploy, printed at the end.

Restore metadata (same page): values are JSON-encoded strings. ``regionalConfig`` lists
``{"region", "isDeletionProtectionEnabled", "kmsKeyId"?}`` per region; a multi-region restore adds
``useMultiRegionOrchestration: "true"``, ``witnessRegion`` and ``peerRegion`` (a JSON list), and
needs an identical copy of the recovery point in the peer region (the plan's copy action makes it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecommerce_constructs.config import EcommerceConfig

Client = Callable[[str], Any]
TERMINAL = frozenset({"COMPLETED", "FAILED", "ABORTED"})


class BackupError(Exception):
    """A backup command cannot go on; the message says why and what to do."""


@dataclass
class Copy:
    region: str
    arn: str
    status: str


@dataclass
class Point:
    """A recovery point in its own region's vault, with its copies in other regions' vaults."""

    region: str
    arn: str
    created: datetime
    status: str
    resource_arn: str
    copies: list[Copy] = field(default_factory=list)

    @property
    def cluster_identifier(self) -> str:
        return self.resource_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Restored:
    """What a finished restore made: the new cluster identifier per region."""

    job_id: str
    clusters: dict[str, str]


def region_of_arn(arn: str) -> str:
    """The region of a recovery point. AWS Backup's own ARNs (``arn:aws:backup:R:A:recovery-point:ID``)
    and the service form its DSQL restore example shows (``arn:aws:dsql:R:A:cluster/C/backup/B``,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-auroradsql.html) are both
    accepted: whichever ``ecommerce backup list`` prints is passed on as it is."""
    parts = arn.split(":")
    backup_form = len(parts) >= 7 and parts[2] == "backup" and parts[5] == "recovery-point"
    service_form = len(parts) >= 6 and parts[2] == "dsql" and "/backup/" in parts[5]
    if parts[0] != "arn" or not (backup_form or service_form) or not parts[3]:
        raise BackupError(
            f"{arn!r} is not a recovery point ARN (arn:aws:backup:<region>:<account>:recovery-point:<id>,"
            " or arn:aws:dsql:<region>:<account>:cluster/<id>/backup/<id>); `ecommerce backup list` "
            "prints them"
        )
    return parts[3]


def _vault_points(client: Any, vault: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"BackupVaultName": vault, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        page = client.list_recovery_points_by_backup_vault(**kwargs)
        out += page.get("RecoveryPoints", [])
        token = page.get("NextToken")
        if not token:
            return out


def list_points(config: EcommerceConfig, backup_client: Client) -> list[Point]:
    """Every region's own recovery points, newest first, each with its copies (a copy has the same
    resource and creation time: AWS Backup's definition of an identical copy)."""
    originals: list[Point] = []
    copies: list[tuple[str, dict[str, Any]]] = []
    UNREACHABLE.clear()
    for region in config.regions:
        for rp in _region_points(backup_client, config, region):
            if rp.get("SourceBackupVaultArn"):
                copies.append((region, rp))
            else:
                originals.append(
                    Point(region, rp["RecoveryPointArn"], rp["CreationDate"], rp["Status"], rp["ResourceArn"])
                )
    for region, rp in copies:
        matches = [
            point
            for point in originals
            if point.resource_arn == rp["ResourceArn"] and point.created == rp["CreationDate"]
        ]
        for point in matches:
            point.copies.append(Copy(region, rp["RecoveryPointArn"], rp["Status"]))
        if not matches:
            # Its original expired, or its region did not answer: the copy is still restorable.
            originals.append(
                Point(region, rp["RecoveryPointArn"], rp["CreationDate"], rp["Status"], rp["ResourceArn"])
            )
    return sorted(originals, key=lambda p: p.created, reverse=True)


#: Regions whose vault could not be read during the last ``list_points`` (region -> reason).
UNREACHABLE: dict[str, str] = {}


def _region_points(backup_client: Client, config: EcommerceConfig, region: str) -> list[dict[str, Any]]:
    """One region's recovery points; a region that does not answer (an outage: when a restore is
    most likely) is reported and skipped, so the other region's copies still show."""
    import botocore.exceptions

    try:
        return _vault_points(backup_client(region), config.backup_vault_name(region))
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        UNREACHABLE[region] = str(exc)
        return []
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500:
            raise  # a missing vault, missing rights: the operator must see and fix it
        UNREACHABLE[region] = str(exc)
        return []


def format_points(points: list[Point]) -> list[str]:
    if not points:
        return ["no recovery points yet (the plan runs daily; see docs/operations.md, Backup and restore)"]
    lines = []
    for p in points:
        lines.append(
            f"{p.created.isoformat()}  {p.region}  {p.status:<9}  cluster {p.cluster_identifier}  {p.arn}"
        )
        for c in p.copies:
            lines.append(f"    copy in {c.region}  {c.status:<9}  {c.arn}")
        if not p.copies:
            lines.append("    no copy (a multi-region restore needs one)")
    return lines


def restore_metadata(config: EcommerceConfig, region: str, *, multi_region: bool) -> dict[str, str]:
    """StartRestoreJob's Metadata: JSON-encoded strings. New clusters keep deletion protection on
    and the configured customer managed key of their region, if any."""
    regions = [region, *([r for r in config.regions if r != region] if multi_region else [])]
    regional = []
    for r in regions:
        entry: dict[str, Any] = {"region": r, "isDeletionProtectionEnabled": True}
        if key := config.database.kms_key_arns.get(r):
            entry["kmsKeyId"] = key
        regional.append(entry)
    metadata = {"regionalConfig": json.dumps(regional)}
    if multi_region:
        assert config.witness_region is not None  # a two-region configuration has one
        metadata |= {
            "useMultiRegionOrchestration": "true",
            "witnessRegion": config.witness_region,
            "peerRegion": json.dumps(regions[1:]),
        }
    return metadata


def restore(
    config: EcommerceConfig,
    recovery_point_arn: str,
    *,
    restore_role_arn: str,
    backup_client: Client,
    dsql_client: Client,
    echo: Callable[[str], None] = print,
    single_region: bool = False,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 4 * 3600,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Restored:
    """Start the restore, report its progress, and return the new clusters' identifiers."""
    region = region_of_arn(recovery_point_arn)
    if region not in config.regions:
        raise BackupError(
            f"{recovery_point_arn} is in {region}, not one of the configured regions {list(config.regions)}"
        )
    multi = config.multi_region and not single_region
    client = backup_client(region)
    point = client.describe_recovery_point(
        BackupVaultName=config.backup_vault_name(region), RecoveryPointArn=recovery_point_arn
    )
    if point["Status"] != "COMPLETED":
        raise BackupError(f"{recovery_point_arn} is {point['Status']}; restore a COMPLETED recovery point")
    if multi:
        peer = next(r for r in config.regions if r != region)
        copies = [
            rp
            for rp in _vault_points(backup_client(peer), config.backup_vault_name(peer))
            if rp["ResourceArn"] == point["ResourceArn"] and rp["CreationDate"] == point["CreationDate"]
        ]
        if not copies:
            raise BackupError(
                f"{peer} has no copy of {recovery_point_arn} yet (the plan copies each backup after it "
                "completes); wait for it, restore another point, or add --single-region"
            )
    metadata = restore_metadata(config, region, multi_region=multi)
    job_id = client.start_restore_job(
        RecoveryPointArn=recovery_point_arn,
        Metadata=metadata,
        IamRoleArn=restore_role_arn,
        ResourceType="DSQL",
        IdempotencyToken=str(uuid.uuid4()),
    )["RestoreJobId"]
    kind = (
        "multi-region (" + ", ".join(config.regions) + f", witness {config.witness_region})"
        if multi
        else region
    )
    echo(f"restore job {job_id} started in {region}: {kind}; new clusters, the source is not touched")
    started = clock()
    last = ""
    while True:
        job = client.describe_restore_job(RestoreJobId=job_id)
        status = job["Status"]
        line = f"{status} {job.get('PercentDone', '')}".strip()
        if line != last:
            echo(f"  {line} ({clock() - started:.0f} s)")
            last = line
        if status in TERMINAL:
            break
        if clock() - started > timeout_seconds:
            raise BackupError(
                f"restore job {job_id} still {status} after {timeout_seconds / 60:.0f} min; it goes on in "
                f"AWS Backup: aws backup describe-restore-job --restore-job-id {job_id} --region {region}"
            )
        sleep(poll_seconds)
    if status != "COMPLETED":
        raise BackupError(
            f"restore job {job_id} {status}: {job.get('StatusMessage', 'no reason given')}; "
            "the source clusters are unchanged"
        )
    created = job["CreatedResourceArn"]
    clusters = {region: created.rsplit("/", 1)[-1]}
    if multi:
        described = dsql_client(region).get_cluster(identifier=clusters[region])
        for arn in described.get("multiRegionProperties", {}).get("clusters", []):
            peer_region, identifier = arn.split(":")[3], arn.rsplit("/", 1)[-1]
            if peer_region != region:
                clusters[peer_region] = identifier
    return Restored(job_id, clusters)


def adoption_instructions(config: EcommerceConfig, restored: Restored, config_path: str) -> list[str]:
    """The configuration change and the deploy that point the shop at the restored clusters."""
    context = "" if config_path.endswith("config/regions.yaml") else f" -c config={config_path}"
    warning = (
        [
            "FIRST set database.removal_policy: retain and deploy: with destroy, the deploy below "
            "removes the old clusters from the stacks and deletes them (deletion protection is off), "
            "and they are the copy to compare against",
            "",
        ]
        if config.database.removal_policy == "destroy"
        else []
    )
    lines = [
        *warning,
        f"restored: {', '.join(f'{r} {c}' for r, c in restored.clusters.items())}",
        f"point the shop at them: in {config_path} set",
        "",
        "database:",
        "  existing_cluster_identifiers:",
        *(f"    {r}: {c}" for r, c in sorted(restored.clusters.items())),
        "",
        f"then deploy: npx cdk deploy --all{context}",
        "and re-run what lives outside the data (docs/operations.md, After a restore): the deploy-time "
        "setup maps the functions' IAM roles in the new clusters; change streams and endpoints are "
        "not restored.",
    ]
    missing = [r for r in config.regions if r not in restored.clusters]
    if missing:
        lines.append(
            f"note: no restored cluster for {', '.join(missing)} (a single-region restore of a two-region "
            "shop); restore its point too, or run the shop from one region until then"
        )
    return lines


# ---- the command line (wired into ``ecommerce`` by cli.py) ---------------------------------------


def _aws_errors(click: Any) -> Any:
    """AWS failures as one line (exit 1), as the other operator commands report them."""
    import contextlib

    import botocore.exceptions

    @contextlib.contextmanager
    def reported() -> Any:
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            raise click.ClickException(f"AWS Backup: {exc.response['Error'].get('Message', exc)}") from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise click.ClickException(
                f"{exc}; configure AWS credentials for the account the app is deployed to"
            ) from None

    return reported()


def _commands() -> Any:
    import click

    @click.group("backup")
    def backup() -> None:
        """AWS Backup of the shop's clusters: list recovery points, restore one into new clusters
        (docs/operations.md, "Backup and restore"). AWS credentials needed."""

    @backup.command("list")
    def list_command() -> None:
        """Recovery points of every configured region, newest first, each with its copies."""
        import boto3

        from ecommerce_constructs.config import load_config

        config = load_config()
        with _aws_errors(click):
            points = list_points(config, lambda r: boto3.client("backup", region_name=r))
        for line in format_points(points):
            click.echo(line)
        for region, reason in sorted(UNREACHABLE.items()):
            click.echo(f"warning: {region} did not answer ({reason}); its points are not listed", err=True)

    @backup.command("restore")
    @click.argument("recovery_point")
    @click.option(
        "--single-region",
        is_flag=True,
        help="Restore only the recovery point's region (a two-region shop restores both by default).",
    )
    @click.option(
        "--poll", type=float, default=30.0, show_default=True, help="Seconds between progress checks."
    )
    def restore_command(recovery_point: str, single_region: bool, poll: float) -> None:
        """Restore RECOVERY_POINT (an ARN from `ecommerce backup list`) into new clusters, wait for
        it, and print the configuration change and deploy that point the shop at them. The source
        clusters are never changed."""
        from ecommerce_constructs.config import load_config, resolve_config_path

        config = load_config()
        with _aws_errors(click):
            _restore_command(config, recovery_point, single_region, poll, resolve_config_path())

    def _restore_command(
        config: Any, recovery_point: str, single_region: bool, poll: float, path: Any
    ) -> None:
        import boto3

        from ecommerce_ops.deployment import DeploymentError, read_deployment
        from handlers.contract import Output

        try:
            region = region_of_arn(recovery_point)
            deployment = read_deployment(config)
            role = deployment.output(config.stack_name(region), Output.BACKUP_RESTORE_ROLE_ARN)
            restored = restore(
                config,
                recovery_point,
                restore_role_arn=role,
                backup_client=lambda r: boto3.client("backup", region_name=r),
                dsql_client=lambda r: boto3.client("dsql", region_name=r),
                echo=click.echo,
                single_region=single_region,
                poll_seconds=poll,
            )
        except (BackupError, DeploymentError) as exc:
            raise click.ClickException(str(exc)) from None
        for line in adoption_instructions(config, restored, str(path)):
            click.echo(line)

    return backup
