"""The docs describe the identity model the code has: operators are the users of the operators'
pool, decided by the token's issuer. No page may still send readers to an ``operators`` group
(a group a customers' pool could carry too)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# "the `operators` group", "its operators group", "cognito:groups" as the thing to check.
GROUP_MODEL = re.compile(r"`?operators`? group|in the operators group|and `cognito:groups`", re.I)


def test_no_page_describes_operators_as_a_group() -> None:
    stale = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()}"
        for page in PAGES
        for number, line in enumerate(page.read_text().splitlines(), 1)
        if GROUP_MODEL.search(line) and "groups grant nothing" not in line
    ]
    assert not stale, "\n".join(stale)


def test_the_pages_that_name_operators_name_the_operators_pool() -> None:
    for name in ("api.md", "library-guide.md", "operations.md", "security.md"):
        text = (ROOT / "docs" / name).read_text()
        assert "operators' pool" in text, name
