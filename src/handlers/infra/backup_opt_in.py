"""``Custom::BackupOptIn``: AWS Backup protects Aurora DSQL only where the account opted in.

"To use AWS Backup to create backups of your Amazon Aurora DSQL clusters, you must enable
protection for Aurora DSQL" (https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-aurora.html):
the ``DSQL`` key of the region's ``ResourceTypeOptInPreference``, an account-level setting that
CloudFormation has no resource for. Without it the plan runs and backs nothing up, silently, so the
deploy checks it:

- ``Mode: check`` (the default): DescribeRegionSettings; a region not opted in fails the deploy
  with the command that fixes it.
- ``Mode: enable``: the configuration lets the app change this account setting, so the resource
  opts in itself (UpdateRegionSettings with the current map plus ``DSQL: true``: the other
  resource types keep their settings).

Deleting the resource changes nothing: other backup plans of the account may rely on the setting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

RESOURCE_TYPE = "DSQL"


def fix_command(region: str) -> str:
    """The command an operator runs to opt the region in."""
    return (
        f"aws backup update-region-settings --resource-type-opt-in-preference {RESOURCE_TYPE}=true "
        f"--region {region}"
    )


def _client(region: str) -> Any:
    import boto3

    return boto3.client("backup", region_name=region)


#: Makes the ``backup`` client of a region; tests substitute the botocore-validated fake.
client_factory: Callable[[str], Any] = _client


def ensure_opted_in(client: Any, region: str, *, enable: bool) -> str:
    """``"opted-in"`` or ``"enabled"``; raises RuntimeError naming the fix when not opted in."""
    settings = client.describe_region_settings()
    preferences: dict[str, bool] = dict(settings.get("ResourceTypeOptInPreference") or {})
    if preferences.get(RESOURCE_TYPE):
        return "opted-in"
    if not enable:
        raise RuntimeError(
            f"AWS Backup is not opted in for Aurora DSQL in {region}, so the backup plan would back up "
            f"nothing. Run: {fix_command(region)} (or set backup.opt_in: enable in the configuration "
            "to let the deployment do it), then deploy again"
        )
    client.update_region_settings(ResourceTypeOptInPreference={**preferences, RESOURCE_TYPE: True})
    logger.info("opted %s in for %s", region, RESOURCE_TYPE)
    return "enabled"


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    props = event["ResourceProperties"]
    region = str(props["Region"])
    physical = str(event.get("PhysicalResourceId") or f"backup-opt-in-{region}")
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": physical}
    outcome = ensure_opted_in(client_factory(region), region, enable=props.get("Mode") == "enable")
    return {"PhysicalResourceId": physical, "Data": {"Outcome": outcome}}
