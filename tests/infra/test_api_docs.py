"""The API reference (``make api-docs``) builds from the docstrings without a warning, and covers
every export of the root with its documented defaults."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import ecommerce_constructs

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_reference_builds_without_warnings_and_covers_every_export(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("api_docs", ROOT / "scripts" / "api_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(tmp_path) == 0
    page = (tmp_path / "ecommerce_constructs.html").read_text(encoding="utf-8")
    for name in ecommerce_constructs.__all__:
        assert f'id="{name}"' in page, name
    assert "[RETAIN" in page  # defaults in brackets, as the docstrings state them
