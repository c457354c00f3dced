"""docs/examples holds complete apps as a new user writes them (make examples synthesizes them)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "docs" / "examples").iterdir() if p.is_dir())


def _checker() -> object:
    spec = importlib.util.spec_from_file_location("check_examples", ROOT / "scripts" / "check_examples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_four_scenarios_and_the_readme_app_are_there() -> None:
    assert [p.name for p in EXAMPLES] == [
        "adopt-existing-cluster",
        "compose-in-own-stacks",
        "own-stack-names",
        "readme-user-app",
        "two-regions-existing-user-pool",
    ]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_is_a_bare_cdk_app_with_a_decoy_handlers_package(example: Path) -> None:
    assert json.loads((example / "cdk.json").read_text()) == {"app": "python app.py"}
    assert (example / "app.py").is_file()
    assert (example / "README.md").is_file()
    assert _checker().DECOY in (example / "handlers" / "__init__.py").read_text()  # type: ignore[attr-defined]
    source = (example / "app.py").read_text()
    assert "cdk_nag" not in source or (example / "extras.txt").read_text().split() == ["nag"]


def test_the_readme_code_is_the_readme_example() -> None:
    assert _checker().readme_is_an_example() == []  # type: ignore[attr-defined]
