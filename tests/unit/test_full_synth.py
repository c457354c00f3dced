"""One full synth exactly as `cdk synth` does it: real bundling (pip --platform) and CDK's
built-in template validation. Every other test skips both for speed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aws_cdk import App

from cdk_support import CONFIG  # also sets the test account
from ecommerce_constructs import bundling
from ecommerce_constructs.app import build
from ecommerce_constructs.config import load_config
from ecommerce_constructs.testing import cdk_json_context

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(context=cdk_json_context(ROOT / "cdk.json"), outdir=str(outdir))
    build(app, load_config(CONFIG))
    app.synth()
    return outdir


def test_templates_for_every_stack(assembly: Path) -> None:
    for name in ("ecommerce-us-east-1", "ecommerce-us-east-2", "ecommerce-edge"):
        assert (assembly / f"{name}.template.json").is_file()
    # cdk-nag ran as a validation plugin; a failing report would have aborted app.synth().
    report = assembly / "validation-report.json"
    if report.exists():
        assert all(p["conclusion"] == "success" for p in json.loads(report.read_text())["pluginReports"])


# The asset's size budget (measured 2026-11: 29 MiB unzipped, 10.5 MiB zipped with bytecode).
MAX_UNZIPPED = 32 * 2**20
MAX_ZIPPED = 12 * 2**20


def bundles(assembly: Path) -> tuple[Path, Path]:
    """(the API's bundle, the edge health checker's: the same handlers plus boto3 and the CRT)."""
    found = [path for path in assembly.glob("asset.*") if (path / "handlers").is_dir()]
    (api,) = [path for path in found if not (path / "awscrt").exists()]
    (crt,) = [path for path in found if (path / "awscrt").exists()]
    return api, crt


def test_the_health_checker_bundle_carries_the_crt_for_sigv4a(assembly: Path) -> None:
    _, bundle = bundles(assembly)
    (native,) = (bundle / "awscrt").parent.glob("_awscrt*.so")  # an abi3 name says no architecture
    elf = native.read_bytes()[:20]
    assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == 183, "not an aarch64 ELF"
    assert (bundle / "botocore" / "__init__.py").is_file()
    assert (bundle / "handlers" / "infra" / "edge_health.py").is_file()


def test_lambda_bundle_has_handlers_and_linux_arm64_wheels(assembly: Path) -> None:
    bundle, _ = bundles(assembly)
    assert (bundle / "handlers" / "__init__.py").is_file()
    assert not (bundle / "ecommerce_dev").exists(), "dev-only tools must not ship to Lambda"
    assert (bundle / "psycopg" / "__init__.py").is_file()
    assert (bundle / "aws_lambda_powertools").is_dir()
    native = [p.name for p in (bundle / "psycopg_binary").glob("*.so")]
    assert native and all("aarch64" in name for name in native), native
    assert not any(bundle.glob("aws_cdk*")), "Lambda code never ships the CDK"


def test_lambda_bundle_is_trimmed_and_within_budget(assembly: Path, tmp_path: Path) -> None:
    bundle, _ = bundles(assembly)
    files = [p for p in bundle.rglob("*") if p.is_file()]
    build_bytecode = [p for p in files if p.suffix == ".pyc" and "cpython-313" not in p.name]
    assert not build_bytecode, build_bytecode[:5]
    assert not [p for p in files if p.name in ("RECORD", "INSTALLER") or p.suffix == ".pyi"]
    assert not (bundle / "bin").exists()
    if bundling.bytecode_interpreter() is not None:
        assert (bundle / "handlers" / "api" / "__pycache__" / "common.cpython-313.pyc").is_file()
    unzipped = sum(p.stat().st_size for p in files)
    archive = Path(shutil.make_archive(str(tmp_path / "bundle"), "zip", bundle))
    assert unzipped <= MAX_UNZIPPED, f"{unzipped / 2**20:.1f} MiB unzipped"
    assert archive.stat().st_size <= MAX_ZIPPED, f"{archive.stat().st_size / 2**20:.1f} MiB zipped"
