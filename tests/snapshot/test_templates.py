"""One snapshot per stack (asset hashes normalized), built once with cdk.json's context.

Accept an intentional change with `pytest tests/snapshot --snapshot-update` and say in the commit
message why the template changed.
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

from cdk_support import default_app
from ecommerce_constructs.testing import normalized_template


@pytest.mark.parametrize(
    "name",
    ["ecommerce-us-east-1", "ecommerce-us-east-2", "ecommerce-edge", "ecommerce-edge-health-us-west-2"],
)
def test_stack_template(name: str, template_snapshot: SnapshotAssertion) -> None:
    stack = next(stack for stack in default_app().stacks if stack.stack_name == name)
    assert normalized_template(stack) == template_snapshot
