"""The README's "use the constructs in your own CDK app" example synthesizes as printed."""

from __future__ import annotations

import re
from pathlib import Path

import cdk_support  # noqa: F401 - quiet jsii banner, test account

README = Path(__file__).resolve().parents[2] / "README.md"


def test_user_app_example_synthesizes(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- example: user-app.*?-->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its user-app example"
    # Skip bundling (a full bundle is covered by test_full_synth) and write into tmp_path;
    # everything else runs as printed.
    code = match.group(1).replace(
        "app = App()", f"app = App(outdir={str(tmp_path)!r}, context={{'aws:cdk:bundling-stacks': []}})"
    )
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "shop.template.json").is_file()
