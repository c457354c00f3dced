"""mypy reads only the aws_cdk modules we use: aws_cdk's package imports all ~300 of its modules for
type checkers, which cost mypy ~85 s of a cold ~105 s run. Every module our code imports must stay
on the followed list, or its types would silently become Any."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def followed_modules() -> set[str]:
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    followed = {
        module
        for override in overrides
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    }
    skipped = [o for o in overrides if o.get("follow_imports") == "skip" and "aws_cdk.*" in o["module"]]
    assert skipped, "the aws_cdk.* skip rule is gone: then this test guards nothing"
    return followed


def imported_modules() -> set[str]:
    """aws_cdk submodules imported anywhere in src/ or app.py (``from aws_cdk import aws_x`` too)."""
    found: set[str] = set()
    for path in [*ROOT.glob("src/**/*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.startswith("aws_cdk.")}
            elif isinstance(node, ast.ImportFrom) and node.module == "aws_cdk":
                found |= {f"aws_cdk.{alias.name}" for alias in node.names if alias.name.islower()}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aws_cdk."):
                found.add(str(node.module))
    return found


def test_every_aws_cdk_module_we_import_is_type_checked() -> None:
    missing = sorted(imported_modules() - followed_modules())
    assert not missing, f"add to the follow_imports = 'normal' override in pyproject.toml: {missing}"


def test_the_scan_finds_the_modules_we_use() -> None:
    assert {"aws_cdk.aws_lambda", "aws_cdk.aws_iam", "aws_cdk.custom_resources"} <= imported_modules()
