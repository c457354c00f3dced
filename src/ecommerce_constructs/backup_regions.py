"""Where AWS Backup may copy an Aurora DSQL recovery point: one table, each row with its source.

A multi-region restore needs "a recovery point in one supported Region, and a copy of that
recovery point in another Region within the same" group (AWS Backup developer guide,
https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-aurora.html). AWS does not publish
the groups consistently (docs/operations.md, "Backups"), so every group any page lists is a row
here, with the page it comes from; a copy is accepted when one row holds both regions, and refused
at synthesis otherwise. Pure data: the configuration model and the constructs both read it.
"""

from __future__ import annotations

from dataclasses import dataclass

RESTORE_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-auroradsql.html"
BACKUP_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-aurora.html"
DSQL_OVERVIEW_PAGE = "https://docs.aws.amazon.com/aurora-dsql/latest/userguide/what-is-aurora-dsql.html"


@dataclass(frozen=True)
class CopyGroup:
    """Regions among which a DSQL recovery point may be copied (and restored multi-region), and
    where that is written (``source``: page, what it says, when read)."""

    name: str
    regions: frozenset[str]
    source: str


COPY_GROUPS: tuple[CopyGroup, ...] = (
    CopyGroup(
        "US (AWS Backup restore page)",
        frozenset({"us-east-1", "us-east-2", "us-west-1"}),
        f"{RESTORE_PAGE}: 'US East (N. Virginia); US East (Ohio); US West (N. California)' (read 2026-12)",
    ),
    CopyGroup(
        "US (DSQL multi-Region set)",
        frozenset({"us-east-1", "us-east-2", "us-west-2"}),
        f"{DSQL_OVERVIEW_PAGE}: DSQL's US multi-Region set is N. Virginia, Ohio, Oregon; the restore "
        "page's own CLI example restores into us-west-2 (read 2026-12)",
    ),
    CopyGroup(
        "Americas (AWS Backup, continent groups)",
        frozenset({"us-east-1", "us-east-2", "us-west-2", "ca-west-1", "ca-central-1"}),
        f"{BACKUP_PAGE} (newer version): Americas group (read 2026-12)",
    ),
    CopyGroup(
        "Europe (AWS Backup restore page)",
        frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"}),
        f"{RESTORE_PAGE}: 'Europe (Ireland); Europe (London); Europe (Paris); Europe (Frankfurt)' "
        "(read 2026-12)",
    ),
    CopyGroup(
        "Europe (AWS Backup, continent groups)",
        frozenset({"eu-central-1", "eu-north-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"}),
        f"{BACKUP_PAGE} (newer version): Europe group (read 2026-12)",
    ),
    CopyGroup(
        "Asia Pacific (AWS Backup restore page)",
        frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
        f"{RESTORE_PAGE}: 'Asia Pacific (Tokyo); Asia Pacific (Seoul); Asia Pacific (Osaka)' (read 2026-12)",
    ),
    CopyGroup(
        "Asia Pacific (AWS Backup, continent groups)",
        frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1"}),
        f"{BACKUP_PAGE} (newer version): Asia-Pacific group (read 2026-12)",
    ),
)


def copy_group(source: str, target: str) -> CopyGroup | None:
    """The first row that allows copying ``source``'s recovery points to ``target``, if any."""
    if source == target:
        return None
    return next((g for g in COPY_GROUPS if source in g.regions and target in g.regions), None)


def copy_refusal(source: str, target: str) -> str | None:
    """Why a copy from ``source`` to ``target`` is refused (None: a row allows it)."""
    if source == target:
        return f"a copy must go to another region than {source}"
    if copy_group(source, target) is not None:
        return None
    rows = "; ".join(f"{g.name}: {', '.join(sorted(g.regions))}" for g in COPY_GROUPS if source in g.regions)
    return (
        f"AWS Backup documents no DSQL copy from {source} to {target}; "
        + (f"copy targets for {source}: {rows}" if rows else f"no page lists {source} in a copy group")
        + " (ecommerce_constructs.backup_regions cites each page)"
    )
