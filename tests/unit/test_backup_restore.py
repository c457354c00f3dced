"""`ecommerce backup list|restore` and the deploy-time opt-in check against the botocore-validated
AWS Backup fake (tests/fakes/backup.py), which creates the restored clusters in the DSQL fake."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from ecommerce_constructs.config import validate_config
from ecommerce_ops import backup as ops
from fakes.backup import FakeBackup
from fakes.dsql_control_plane import FakeCluster
from handlers.infra import backup_opt_in

ROLE = "arn:aws:iam::123456789012:role/ecommerce-us-east-1-BackupRestoreRole"
CONFIG = validate_config({"backup": {"enabled": True}})  # us-east-1 + us-east-2, witness us-west-2


def _source(fake: FakeBackup, region: str, identifier: str) -> FakeCluster:
    cluster = FakeCluster(
        region=region,
        identifier=identifier,
        arn=f"arn:aws:dsql:{region}:{fake.account}:cluster/{identifier}",
        status="ACTIVE",
        deletion_protection=True,
        witness_region="us-west-2",
        peers=[],
        kms_key=None,
        tags={"Name": "source"},
        created_at=0.0,
        client_token=None,
        activated=True,
    )
    fake.dsql.clusters[(region, identifier)] = cluster
    return cluster


@pytest.fixture
def fake() -> FakeBackup:
    fake = FakeBackup()
    east1 = _source(fake, "us-east-1", "a" * 26)
    east2 = _source(fake, "us-east-2", "b" * 26)
    east1.peers, east2.peers = [east2.arn], [east1.arn]
    fake.vaults |= {(r, CONFIG.backup_vault_name(r)) for r in CONFIG.regions}  # the stacks made them
    return fake


def _backups(fake: FakeBackup) -> list[Any]:
    """Two days of the plan: each region's backup with its copy in the other region's vault."""
    points = []
    for day in (1, 2):
        at = datetime(2026, 12, day, 5, tzinfo=UTC)
        for region, other, cid in (("us-east-1", "us-east-2", "a"), ("us-east-2", "us-east-1", "b")):
            cluster = fake.dsql.clusters[(region, cid * 26)]
            points.append(
                fake.back_up(
                    cluster,
                    CONFIG.backup_vault_name(region),
                    copy_to=(other, CONFIG.backup_vault_name(other)),
                    at=at + timedelta(minutes=1 if region == "us-east-2" else 0),
                )
            )
    return points


def _restore(fake: FakeBackup, arn: str, **kwargs: Any) -> tuple[ops.Restored, list[str]]:
    lines: list[str] = []
    restored = ops.restore(
        CONFIG,
        arn,
        restore_role_arn=ROLE,
        backup_client=fake.client,
        dsql_client=fake.dsql.client,
        echo=lines.append,
        sleep=lambda _: None,
        **kwargs,
    )
    return restored, lines


def test_list_shows_each_regions_points_newest_first_with_their_copies(fake: FakeBackup) -> None:
    _backups(fake)
    points = ops.list_points(CONFIG, fake.client)
    assert [p.created.day for p in points] == [2, 2, 1, 1]
    assert [p.region for p in points] == ["us-east-2", "us-east-1", "us-east-2", "us-east-1"]
    assert all(len(p.copies) == 1 and p.copies[0].region != p.region for p in points)
    lines = ops.format_points(points)
    assert lines[1].startswith("    copy in us-east-1")


def test_a_multi_region_restore_makes_two_new_peered_clusters_and_never_touches_the_sources(
    fake: FakeBackup,
) -> None:
    point = _backups(fake)[0]
    before = {key: repr(cluster) for key, cluster in fake.dsql.clusters.items()}
    restored, lines = _restore(fake, point.arn)

    start = next(c for c in fake.calls if c.operation == "StartRestoreJob")
    metadata = start.params["Metadata"]
    assert all(isinstance(v, str) for v in metadata.values())  # JSON-encoded strings
    assert json.loads(metadata["regionalConfig"]) == [
        {"region": "us-east-1", "isDeletionProtectionEnabled": True},
        {"region": "us-east-2", "isDeletionProtectionEnabled": True},
    ]
    assert metadata["useMultiRegionOrchestration"] == "true"
    assert metadata["witnessRegion"] == "us-west-2"
    assert json.loads(metadata["peerRegion"]) == ["us-east-2"]
    assert start.params["IamRoleArn"] == ROLE
    assert start.params["ResourceType"] == "DSQL"

    assert set(restored.clusters) == {"us-east-1", "us-east-2"}
    new = [fake.dsql.clusters[(r, i)] for r, i in restored.clusters.items()]
    assert {c.identifier for c in new}.isdisjoint({"a" * 26, "b" * 26})
    assert new[0].peers == [new[1].arn] and new[1].peers == [new[0].arn]
    # The sources: unchanged, and no DSQL call named them.
    assert {k: repr(c) for k, c in fake.dsql.clusters.items() if k in before} == before
    assert [c.operation for c in fake.dsql.calls] == ["GetCluster"]
    assert fake.dsql.calls[0].params["identifier"] == restored.clusters["us-east-1"]
    # Progress while waiting.
    assert any("RUNNING" in line for line in lines) and "COMPLETED" in lines[-1]


def test_the_printed_configuration_change_is_valid_configuration(fake: FakeBackup) -> None:
    restored, _ = _restore(fake, _backups(fake)[0].arn)
    lines = ops.adoption_instructions(CONFIG, restored, "config/regions.yaml")
    snippet = "\n".join(lines)
    block = lines[lines.index("database:") : lines.index("database:") + 4]
    import yaml

    config = validate_config({"backup": {"enabled": True}, **yaml.safe_load("\n".join(block))})
    assert config.database.existing_cluster_identifiers == restored.clusters
    assert "npx cdk deploy --all" in snippet


def test_without_a_copy_in_the_peer_region_a_multi_region_restore_is_refused_before_it_starts(
    fake: FakeBackup,
) -> None:
    cluster = fake.dsql.clusters[("us-east-1", "a" * 26)]
    point = fake.back_up(cluster, CONFIG.backup_vault_name("us-east-1"))  # no copy action ran
    with pytest.raises(ops.BackupError, match="us-east-2 has no copy"):
        _restore(fake, point.arn)
    assert not fake.jobs
    restored, _ = _restore(fake, point.arn, single_region=True)
    assert list(restored.clusters) == ["us-east-1"]
    assert (
        "note: no restored cluster for us-east-2" in ops.adoption_instructions(CONFIG, restored, "c.yaml")[-1]
    )


def test_the_fake_refuses_a_multi_region_restore_without_an_identical_copy(fake: FakeBackup) -> None:
    cluster = fake.dsql.clusters[("us-east-1", "a" * 26)]
    point = fake.back_up(cluster, CONFIG.backup_vault_name("us-east-1"))
    with pytest.raises(ClientError, match="InvalidRequestException"):
        fake.client("us-east-1").start_restore_job(
            RecoveryPointArn=point.arn, Metadata=ops.restore_metadata(CONFIG, "us-east-1", multi_region=True)
        )


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"regionalConfig": "[{region: us-east-1}]"}, "regionalConfig is not JSON"),
        ({"useMultiRegionOrchestration": "true", "witnessRegion": "us-west-2", "peerRegion": "us-east-2"},
         "peerRegion is not JSON"),
        ({"useMultiRegionOrchestration": "true", "peerRegion": '["us-east-2"]'}, "needs witnessRegion"),
    ],
)  # fmt: skip
def test_the_fake_checks_the_multi_region_metadata(
    fake: FakeBackup, metadata: dict[str, str], error: str
) -> None:
    point = _backups(fake)[0]
    with pytest.raises(ClientError, match=error):
        fake.client("us-east-1").start_restore_job(RecoveryPointArn=point.arn, Metadata=metadata)


def test_metadata_values_must_be_strings_as_the_model_says(fake: FakeBackup) -> None:
    point = _backups(fake)[0]
    with pytest.raises(ParamValidationError):
        fake.client("us-east-1").start_restore_job(
            RecoveryPointArn=point.arn, Metadata={"useMultiRegionOrchestration": True}
        )


def test_a_failed_restore_job_says_why_and_that_the_sources_are_unchanged(fake: FakeBackup) -> None:
    point = _backups(fake)[0]
    fake.fail_next_restore = ("FAILED", "Access denied: the restore role cannot call dsql:CreateCluster")
    with pytest.raises(ops.BackupError, match=r"FAILED: Access denied.*source clusters are unchanged"):
        _restore(fake, point.arn)


def test_listing_a_vault_that_does_not_exist_names_it(fake: FakeBackup) -> None:
    fake.vaults.clear()
    with pytest.raises(ClientError, match="ecommerce-us-east-1-dsql does not exist"):
        ops.list_points(CONFIG, fake.client)


def test_not_a_recovery_point_arn_is_refused() -> None:
    with pytest.raises(ops.BackupError, match="not a recovery point ARN"):
        ops.region_of_arn("arn:aws:dsql:us-east-1:123456789012:cluster/abc")


def test_the_opt_in_check_fails_with_the_fixing_command(fake: FakeBackup) -> None:
    with pytest.raises(RuntimeError) as failure:
        backup_opt_in.ensure_opted_in(fake.client("us-east-1"), "us-east-1", enable=False)
    assert (
        "aws backup update-region-settings --resource-type-opt-in-preference DSQL=true --region us-east-1"
        in str(failure.value)
    )
    assert not any(c.operation == "UpdateRegionSettings" for c in fake.calls)


def test_the_opt_in_is_set_when_the_configuration_allows_and_other_types_are_kept(fake: FakeBackup) -> None:
    fake.opt_in["us-east-2"] = {"DynamoDB": True, "RDS": False}
    outcome = backup_opt_in.ensure_opted_in(fake.client("us-east-2"), "us-east-2", enable=True)
    assert outcome == "enabled"
    assert fake.opt_in["us-east-2"] == {"DynamoDB": True, "RDS": False, "DSQL": True}
    assert backup_opt_in.ensure_opted_in(fake.client("us-east-2"), "us-east-2", enable=False) == "opted-in"


def test_the_opt_in_resource_changes_nothing_on_delete(fake: FakeBackup, monkeypatch: Any) -> None:
    monkeypatch.setattr(backup_opt_in, "client_factory", fake.client)
    event = {"RequestType": "Delete", "ResourceProperties": {"Region": "us-east-1", "Mode": "enable"}}
    assert backup_opt_in.on_event(event)["PhysicalResourceId"] == "backup-opt-in-us-east-1"
    assert fake.calls == []
    created = backup_opt_in.on_event({**event, "RequestType": "Create"})
    assert created["Data"] == {"Outcome": "enabled"}


def test_the_commands_fail_in_one_line_without_aws_credentials(monkeypatch: Any, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from ecommerce_ops.cli import main

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(main, ["backup", "list"])
    assert result.exit_code == 1 and "configure AWS credentials" in result.output
    assert "Traceback" not in result.output
    bad = CliRunner().invoke(main, ["backup", "restore", "not-an-arn"])
    assert bad.exit_code == 1 and "not a recovery point ARN" in bad.output


def test_the_service_form_of_a_dsql_recovery_point_arn_is_accepted() -> None:
    """AWS Backup's DSQL restore example uses arn:aws:dsql:...:cluster/C/backup/B
    (restore-auroradsql.html)."""
    arn = "arn:aws:dsql:us-east-2:123456789012:cluster/abcdefghijklmnopqrstuvwxyz/backup/example-backup"
    assert ops.region_of_arn(arn) == "us-east-2"


def test_a_destroy_policy_is_made_safe_before_the_switch_deploy() -> None:
    config = CONFIG.model_copy(
        update={"database": CONFIG.database.model_copy(update={"removal_policy": "destroy"})}
    )
    lines = ops.adoption_instructions(config, ops.Restored("job", {"us-east-1": "a" * 26}), "other.yaml")
    assert lines[0].startswith("FIRST set database.removal_policy: retain")
    assert "npx cdk deploy --all -c config=other.yaml" in "\n".join(lines)


def test_a_region_that_does_not_answer_still_lists_the_other_regions_copies(fake: FakeBackup) -> None:
    """During a regional outage (when a restore is likeliest) the healthy region's points, copies of
    the unreachable region's included, still show; the unreachable region is named."""
    from botocore.exceptions import EndpointConnectionError

    _backups(fake)

    def client(region: str) -> Any:
        if region == "us-east-1":
            raise EndpointConnectionError(endpoint_url="https://backup.us-east-1.amazonaws.com/")
        return fake.client(region)

    points = ops.list_points(CONFIG, client)
    assert {p.region for p in points} == {"us-east-2"}
    assert len(points) == 4  # its own two, and the two copies of us-east-1's points
    assert set(ops.UNREACHABLE) == {"us-east-1"}
