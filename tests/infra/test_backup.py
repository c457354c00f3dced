"""Backups in the regional stacks: vault, plan, selection and copy action, no cross-stack cycle,
copy targets no page allows refused at synth, the vault lock, opt-in for library users."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk.assertions import Match, Template

from cdk_support import ACCOUNT, build_app, default_app, default_template
from ecommerce_constructs import DsqlCluster
from ecommerce_constructs.backup_regions import COPY_GROUPS, copy_refusal
from ecommerce_constructs.config import ConfigError, validate_config
from ecommerce_constructs.shop_backup import CopyTarget, ShopBackup, VaultLock

REGIONS = {"us-east-1": "us-east-2", "us-east-2": "us-east-1"}
LOCK = {"min_retention_days": 7, "max_retention_days": 365}


@pytest.mark.parametrize(("region", "peer"), REGIONS.items())
def test_each_regional_stack_backs_up_its_cluster_and_copies_to_the_peer_vault(
    region: str, peer: str
) -> None:
    template = default_template(f"ecommerce-{region}")
    template.has_resource(
        "AWS::Backup::BackupVault",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like({"BackupVaultName": f"ecommerce-{region}-dsql"}),
        },
    )
    plans = template.find_resources("AWS::Backup::BackupPlan")
    assert len(plans) == 1
    (rule,) = next(iter(plans.values()))["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 5 * * ? *)"
    assert rule["Lifecycle"] == {"DeleteAfterDays": 35}
    (copy,) = rule["CopyActions"]
    # The peer vault's ARN from its name, not a reference to the other stack.
    assert (
        copy["DestinationBackupVaultArn"]
        == f"arn:aws:backup:{peer}:{ACCOUNT}:backup-vault:ecommerce-{peer}-dsql"
    )
    assert copy["Lifecycle"] == {"DeleteAfterDays": 35}
    (selection,) = template.find_resources("AWS::Backup::BackupSelection").values()
    cluster = next(iter(template.find_resources("Custom::DsqlCluster")))
    assert selection["Properties"]["BackupSelection"]["Resources"] == [{"Fn::GetAtt": [cluster, "Arn"]}]
    template.resource_count_is("Custom::BackupOptIn", 1)
    template.has_resource_properties("Custom::BackupOptIn", {"Region": region, "Mode": "check"})
    # The selection waits for the opt-in check: a region not opted in fails before it.
    assert any(d.startswith("BackupOptIn") for d in selection["DependsOn"])
    outputs = template.find_outputs("*")
    assert {"BackupVaultName", "BackupRestoreRoleArn"} <= set(outputs)


def test_no_stack_depends_on_the_other_through_the_backups() -> None:
    app = default_app()
    first, second = app.regional["us-east-1"], app.regional["us-east-2"]
    assert second not in first.dependencies  # us-east-2 may depend on us-east-1 (peering), never back
    for stack in (first, second):
        plan = Template.from_stack(stack).find_resources("AWS::Backup::BackupPlan")
        text = json.dumps(plan)
        assert "Fn::ImportValue" not in text and "SSM" not in text


def test_the_restore_role_is_assumed_by_aws_backup_with_its_restore_policy() -> None:
    template = default_template("ecommerce-us-east-1")
    roles = template.find_resources(
        "AWS::IAM::Role",
        {"Properties": {"AssumeRolePolicyDocument": Match.object_like({"Statement": [Match.object_like(
            {"Principal": {"Service": "backup.amazonaws.com"}})]})}},
    )  # fmt: skip
    policies = json.dumps(roles)
    assert "AWSBackupServiceRolePolicyForRestores" in policies
    assert "AWSBackupServiceRolePolicyForBackup" in policies


def test_backups_are_opt_in_for_library_users() -> None:
    config = validate_config({})
    assert config.backup.enabled is False
    stack = build_app(config).regional["us-east-1"]
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Backup::BackupVault", 0)
    template.resource_count_is("Custom::BackupOptIn", 0)


def _cluster_stack(region: str = "us-east-1") -> tuple[Stack, DsqlCluster]:
    stack = Stack(App(), "Shop", env=Environment(account=ACCOUNT, region=region))
    return stack, DsqlCluster(stack, "Db")


@pytest.mark.parametrize("target", ["eu-west-1", "us-east-1", "sa-east-1"])
def test_a_copy_target_no_page_allows_fails_at_synth(target: str) -> None:
    stack, cluster = _cluster_stack()
    with pytest.raises(ValueError, match="copy_to") as failure:
        ShopBackup(
            stack, "Backup", cluster=cluster, vault_name="shop-vault", copy_to=CopyTarget(target, "peer")
        )
    assert copy_refusal("us-east-1", target) in str(failure.value)


def test_every_group_cites_its_page_and_oregon_and_n_california_are_both_accepted() -> None:
    assert all(group.source.startswith("https://docs.aws.amazon.com/") for group in COPY_GROUPS)
    assert copy_refusal("us-east-1", "us-west-2") is None  # DSQL's own set, the restore page's example
    assert copy_refusal("us-east-1", "us-west-1") is None  # the restore page's list
    assert copy_refusal("eu-west-1", "ap-northeast-1") is not None


def test_the_configuration_refuses_a_copy_region_no_group_allows() -> None:
    with pytest.raises(ConfigError, match=r"backup\.copy_region.*no DSQL copy from eu-west-1 to us-east-1"):
        validate_config({"regions": ["eu-west-1"], "backup": {"enabled": True, "copy_region": "us-east-1"}})
    single = validate_config(
        {"regions": ["eu-west-1"], "backup": {"enabled": True, "copy_region": "eu-west-2"}}
    )
    assert single.backup_copy_region("eu-west-1") == "eu-west-2"


def test_a_vault_lock_is_compliance_mode_and_the_retention_must_fit_it() -> None:
    stack, cluster = _cluster_stack()
    ShopBackup(
        stack,
        "Backup",
        cluster=cluster,
        vault_name="shop-vault",
        vault_lock=VaultLock(min_retention_days=7, max_retention_days=365),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::Backup::BackupVault",
        {"LockConfiguration": {"MinRetentionDays": 7, "MaxRetentionDays": 365, "ChangeableForDays": 3}},
    )
    with pytest.raises(ValueError, match="below the vault lock's minimum"):
        ShopBackup(
            stack, "Short", cluster=cluster, vault_name="short-vault", retention=Duration.days(3),
            vault_lock=VaultLock(min_retention_days=7),
        )  # fmt: skip
    with pytest.raises(ConfigError, match="backup: retention_days"):
        validate_config({"backup": {"enabled": True, "retention_days": 400, "vault_lock": LOCK}})


def test_without_a_lock_the_vault_has_none_and_opt_in_enable_may_update_settings() -> None:
    stack, cluster = _cluster_stack()
    ShopBackup(stack, "Backup", cluster=cluster, vault_name="shop-vault", opt_in="enable")
    template = Template.from_stack(stack)
    (vault,) = template.find_resources("AWS::Backup::BackupVault").values()
    assert "LockConfiguration" not in vault["Properties"]
    assert "backup:UpdateRegionSettings" in json.dumps(template.find_resources("AWS::IAM::Policy"))


def test_grant_restore_gives_an_operator_what_the_restore_command_calls() -> None:
    from aws_cdk import aws_iam as iam

    stack, cluster = _cluster_stack()
    shop_backup = ShopBackup(stack, "Backup", cluster=cluster, vault_name="shop-vault")
    operator = iam.Role(stack, "Operator", assumed_by=iam.AccountRootPrincipal())
    shop_backup.grant_restore(operator)
    policies = json.dumps(Template.from_stack(stack).find_resources("AWS::IAM::Policy"))
    for action in ("backup:StartRestoreJob", "backup:ListRecoveryPointsByBackupVault",
                   "backup:DescribeRestoreJob", "iam:PassRole", "dsql:GetCluster"):  # fmt: skip
        assert action in policies


def test_a_restore_may_use_the_clusters_customer_managed_key() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    stack, cluster = _cluster_stack()
    ShopBackup(stack, "Backup", cluster=cluster, vault_name="shop-vault", restore_key_arns=[key])
    statements = [
        st
        for policy in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if st.get("Resource") == key
    ]
    assert statements and "kms:CreateGrant" in statements[0]["Action"]


@pytest.mark.parametrize("region", REGIONS)
def test_silence_pages_someone_when_no_backup_completes_for_two_days(region: str) -> None:
    """A plan that backs up nothing raises no failure event: the missing metric is the signal."""
    template = default_template(f"ecommerce-{region}")
    (alarm,) = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "NumberOfBackupJobsCompleted"}}
    ).values()
    props = alarm["Properties"]
    assert (props["Namespace"], props["TreatMissingData"], props["EvaluationPeriods"]) == (
        "AWS/Backup",
        "breaching",
        2,
    )
    assert props["Dimensions"][0]["Name"] == "BackupVaultName" and props["AlarmActions"]


@pytest.mark.parametrize("region", REGIONS)
def test_failed_backup_and_copy_jobs_notify_the_alarm_topic(region: str) -> None:
    template = default_template(f"ecommerce-{region}")
    (rule,) = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": Match.object_like({"source": ["aws.backup"]})}}
    ).values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Backup Job State Change", "Copy Job State Change"]
    bad = ["FAILED", "ABORTED", "EXPIRED"]
    assert pattern["detail"] == {"$or": [{"state": bad}, {"status": bad}]}
    (target,) = rule["Properties"]["Targets"]
    topic = next(iter(template.find_resources("AWS::SNS::Topic")))
    assert target["Arn"] == {"Ref": topic}
