"""Every Python block of docs/library-guide.md runs as printed (bundling skipped, output in tmp)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cdk_support  # noqa: F401 - quiet jsii banner, test account

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "library-guide.md"
BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def test_the_guide_has_code() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_block_runs(code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = code.replace(
        "app = App()", f"app = App(outdir={str(tmp_path)!r}, context={{'aws:cdk:bundling-stacks': []}})"
    )
    exec(compile(code, str(GUIDE), "exec"), {})
    if "print(error)" in code:
        assert "regions: us-east-1 and eu-west-1 cannot be peered" in capsys.readouterr().out
