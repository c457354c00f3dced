"""How configuration errors reach a person through the real programs: the message alone, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cdk_support import CONFIG

BAD = "regions: [us-east-1, eu-west-1]\n"
EXPECTED = "regions: us-east-1 and eu-west-1 cannot be peered"


def test_cdk_synth_prints_only_the_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    root = CONFIG.parent.parent
    result = subprocess.run(
        [str(root / "node_modules" / ".bin" / "cdk"), "synth", "-c", f"config={bad}", "-o", str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": os.environ["PATH"],
            "HOME": os.environ["HOME"],
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        },
    )
    assert result.returncode != 0
    assert f"{bad}: {EXPECTED}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_cli_prints_only_the_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = subprocess.run(
        [sys.executable, "-m", "ecommerce_ops.cli", "config", "--file", str(bad)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}: {EXPECTED}")
    assert "Traceback" not in result.stderr
    good = subprocess.run(
        [sys.executable, "-m", "ecommerce_ops.cli", "config", "--file", str(CONFIG)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '"witness_region": "us-west-2"' in good.stdout
