"""schemathesis against the generated OpenAPI document on a local runtime: a bounded run (the long
one is `make fuzz`). Zero server errors, schema violations, undocumented statuses, accepted
invalid input or rejected valid input."""

from __future__ import annotations

from pathlib import Path

from ecommerce_dev import fuzz

ROOT = Path(__file__).resolve().parents[2]
MIN_CASES = 500


def test_the_api_holds_its_openapi_contract_under_fuzzing() -> None:
    result = fuzz.run(max_examples=15, seed=42, config=ROOT / "schemathesis.toml")
    assert result.exit_code == 0, result.output[-6000:]
    assert result.failures == 0, result.output[-6000:]
    assert result.cases >= MIN_CASES, f"only {result.cases} requests generated"
