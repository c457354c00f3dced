"""docs/architecture.md's package diagram names every package under src/, and only those."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_architecture_diagram_names_the_packages_under_src() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r'\["(?:src/)?([a-z_]+)<br/>', section))
    on_disk = {p.name for p in (ROOT / "src").iterdir() if (p / "__init__.py").is_file()}
    assert named - {"bench"} == on_disk
