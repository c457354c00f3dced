"""The public snapshot helper normalizes what must not churn, and nothing else."""

from __future__ import annotations

from ecommerce_constructs.testing import ASSET_HASH_PLACEHOLDER, normalize_template

HASH = "a" * 64


def test_normalizes_hashes_in_values_and_keys() -> None:
    template = {"Resources": {f"Asset{HASH}": {"S3Key": f"{HASH}.zip", "List": [HASH, 3, None]}}}
    assert normalize_template(template) == {
        "Resources": {
            f"Asset{ASSET_HASH_PLACEHOLDER}": {
                "S3Key": f"{ASSET_HASH_PLACEHOLDER}.zip",
                "List": [ASSET_HASH_PLACEHOLDER, 3, None],
            }
        }
    }


def test_leaves_shorter_hex_alone() -> None:
    # Logical-id suffixes (8 hex) and deployment hashes (32/40 hex) carry meaning: keep them.
    for value in ("ApiDeploymentDC05A82D", "e5a87e855141b9cc201dc2818161c976"):
        assert normalize_template(value) == value
