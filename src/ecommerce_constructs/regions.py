"""Where Aurora DSQL runs and which regions may peer.

Kept as data so validation can explain itself; ``tests/unit/test_regions.py`` cross-checks the
supported-region list against cfn-lint's CloudFormation specs so it cannot silently rot.
"""

from __future__ import annotations

# Multi-region peering is only possible inside one of these sets (AWS DSQL documentation).
# Members reported as added in 2026-07 but not yet verified on a real cluster are left out on
# purpose: rejecting a valid pair costs a config change, accepting an invalid one fails mid-deploy.
REGION_SETS: dict[str, frozenset[str]] = {
    "US": frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    "Europe": frozenset({"eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3"}),
    "Asia Pacific": frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
}

# Regions where CloudFormation offers AWS::DSQL::Cluster (commercial partition, per cfn-lint 1.58's
# provider schemas, November 2026).
DSQL_REGIONS: frozenset[str] = frozenset(
    {
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-4",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-north-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-2",
    }
)

# CloudFront and its certificates / WAF web ACLs live in us-east-1.
EDGE_REGION = "us-east-1"


def region_set_of(region: str) -> str | None:
    """Name of the multi-region set containing ``region``, if any."""
    for name, members in REGION_SETS.items():
        if region in members:
            return name
    return None


def describe_region_sets() -> str:
    """One line per set, for error messages."""
    return "; ".join(f"{name}: {', '.join(sorted(members))}" for name, members in REGION_SETS.items())
