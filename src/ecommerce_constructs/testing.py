"""Snapshot-testing helpers for apps built with these constructs (and for our own tests).

Usage in a project's ``conftest.py``::

    pytest_plugins = ["ecommerce_constructs.testing"]

then in a test::

    def test_stack(template_snapshot):
        app = unit_test_app()
        stack = MyStack(app, "MyStack")
        assert normalized_template(stack) == template_snapshot

``unit_test_app``, ``normalize_template`` and ``normalized_template`` need nothing more than the
library; the ``template_snapshot`` fixture needs the ``testing`` extra (pytest, syrupy), and says so
in one line when it is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

_EXTRA = (
    "ecommerce_constructs.testing: template_snapshot needs pytest and syrupy: "
    "pip install 'ecommerce-constructs[testing]'"
)

ASSET_HASH_PLACEHOLDER = "<ASSET_HASH>"
# Asset hashes are 64 hex characters (sha256); they change with any source byte, so snapshots
# would churn on every handler edit without telling the reviewer anything.
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")

# Context that keeps unit synthesis fast: no asset bundling (hashes come from the source anyway).
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


def cdk_json_context(path: str | Path = "cdk.json") -> dict[str, Any]:
    """The ``context`` block of cdk.json, so tests synthesize exactly what ``cdk synth`` does."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return dict(data.get("context", {}))


def unit_test_app(
    context: Mapping[str, Any] | None = None, *, cdk_json: str | Path | None = "cdk.json"
) -> App:
    """An App with cdk.json's context (plus ``context``), no bundling and no built-in validation."""
    merged: dict[str, Any] = {}
    if cdk_json is not None and Path(cdk_json).is_file():
        merged.update(cdk_json_context(cdk_json))
    merged.update(context or {})
    merged.update(SKIP_BUNDLING)
    return App(context=merged, builtin_cloud_formation_validation=False)


def normalize_template(template: Any) -> Any:
    """Replace asset hashes anywhere in a template (values and keys) with a placeholder."""
    if isinstance(template, str):
        return _ASSET_HASH.sub(ASSET_HASH_PLACEHOLDER, template)
    if isinstance(template, list):
        return [normalize_template(item) for item in template]
    if isinstance(template, dict):
        return {normalize_template(key): normalize_template(value) for key, value in template.items()}
    return template


def normalized_template(stack: Stack) -> Any:
    """``Template.from_stack(stack)`` as JSON with asset hashes normalized."""
    return normalize_template(Template.from_stack(stack).to_json())


try:
    import pytest
except ImportError:  # the pure helpers above still work
    pytest = None  # type: ignore[assignment]
try:
    from syrupy.assertion import SnapshotAssertion
    from syrupy.extensions.json import JSONSnapshotExtension
except ImportError:
    SnapshotAssertion = None  # type: ignore[assignment,misc]
    JSONSnapshotExtension = None  # type: ignore[assignment,misc]

if JSONSnapshotExtension is not None:

    class CdkTemplateExtension(JSONSnapshotExtension):  # type: ignore[misc,valid-type]
        """syrupy's JSON extension, normalizing asset hashes before comparing or writing."""

        def serialize(self, data: Any, **kwargs: Any) -> str:
            return str(super().serialize(normalize_template(data), **kwargs))


if pytest is not None:
    if SnapshotAssertion is not None:

        @pytest.fixture
        def template_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
            """A syrupy snapshot stored as ``.json`` with asset hashes normalized."""
            return snapshot.use_extension(CdkTemplateExtension)

    else:

        @pytest.fixture
        def template_snapshot() -> Any:
            """Fails the test with the extra to install: syrupy is missing."""
            pytest.fail(_EXTRA, pytrace=False)


def __getattr__(name: str) -> Any:
    if name in ("template_snapshot", "CdkTemplateExtension"):
        raise ImportError(_EXTRA)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
