"""Our region tables agree with cfn-lint's CloudFormation provider schemas."""

from __future__ import annotations

import json
from pathlib import Path

import cfnlint

from ecommerce_constructs.regions import DSQL_REGIONS, REGION_SETS


def cfn_lint_dsql_regions() -> set[str]:
    providers = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    return {
        path.stem
        for path in providers.glob("*.json")
        if "AWS::DSQL::Cluster" in json.loads(path.read_text(encoding="utf-8"))
    }


def test_every_dsql_region_offers_the_resource() -> None:
    assert cfn_lint_dsql_regions() >= DSQL_REGIONS


def test_region_set_members_offer_dsql() -> None:
    for members in REGION_SETS.values():
        assert members <= DSQL_REGIONS
