"""The package version and the CHANGELOG's newest entry agree (docs/versioning.md)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def newest_entry(text: str) -> str:
    match = re.search(r"^## \[(\d+\.\d+\.\d+)\]", text, re.M)
    assert match, "CHANGELOG.md has no '## [x.y.z]' entry"
    return match.group(1)


def test_the_package_version_is_the_changelogs_newest_entry() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert newest_entry((ROOT / "CHANGELOG.md").read_text(encoding="utf-8")) == version


def test_the_check_can_fail() -> None:
    assert newest_entry("# Changelog\n\n## [9.9.9] - x\n\n## [0.1.0]\n") == "9.9.9"
