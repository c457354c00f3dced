"""docs/architecture.md embeds the diagram generated from the construct tree; it must not drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecommerce_constructs import diagram

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


@pytest.fixture(scope="module")
def generated() -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # cdk.json and config/regions.yaml are found relative to the project
        patch.delenv("ECOMMERCE_CONFIG", raising=False)
        return diagram.mermaid(diagram.synthesize_app())


def test_committed_diagram_is_current(generated: str) -> None:
    committed = DOC.read_text(encoding="utf-8")
    assert diagram.embed(committed, generated) == committed, (
        f"docs/architecture.md is stale: run `{diagram.REFRESH}` and commit the result"
    )


def test_diagram_shows_stacks_constructs_reference_and_witness(generated: str) -> None:
    for text in (
        "ecommerce-us-east-1 (us-east-1)",
        "ecommerce-edge (us-east-1)",
        "DsqlCluster: Database",
        "EcommerceApi: Api",
        "GlobalEdge: Edge",
        '"/orders"',
        "Fn::GetStackOutput",
        "witness region us-west-2",
        "peered",
    ):
        assert text in generated


def test_output_is_deterministic(generated: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        assert diagram.mermaid(diagram.synthesize_app()) == generated
