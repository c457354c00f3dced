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


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def test_security_md_states_what_the_authorizer_and_the_pools_really_do() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    enforced = _section(text, "## Where it is enforced")
    gateway = enforced[: enforced.index("2. **The functions**")]
    # API Gateway's Cognito authorizer does not check the audience: any client of a trusted pool.
    assert "does **not** check the\n   audience" in gateway
    assert "issuer, token use and audience" not in gateway
    # ShopIdentity(threat_protection=False) is the default; config/regions.yaml turns Plus on.
    identities = _section(text, "## Identities")
    assert "default is **off**" in identities and "config/regions.yaml" in identities
    # The operators' client keeps refresh tokens 12 hours (identity.py), the storefront 30 days.
    lifetimes = _section(text, "## Token lifetimes")
    assert "**12 hours** for the operators' client" in lifetimes


def test_security_md_does_not_promise_what_the_cluster_policy_cannot_keep() -> None:
    database = _section((ROOT / "docs" / "security.md").read_text(), "## Database roles")
    # dsql:* includes PutClusterPolicy/DeleteClusterPolicy: the policy alone cannot stop it.
    assert "therefore cannot hand out `admin`" not in database
    assert "It does not stop a grant of `dsql:*`" in database and "service control policy" in database
    # CloudFormation calls the custom resource only when its properties change: no "deploy again".
    assert "then deploy again" not in database
    assert "Deploying again does not restore the policy" in database
    assert "--policy file://saved-policy.json" in database
