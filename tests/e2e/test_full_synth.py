"""The one full synth, exactly as `make synth` does it (real bundling with pip --platform, CDK's
built-in template validation, cdk-nag, cfn-lint per region): its cloud assembly, read here. Every
other test skips bundling and validation for speed (tests/e2e/conftest.py runs the synth once)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ecommerce_constructs import bundling
from fresh_shell import Synth


@pytest.fixture
def assembly(cdk_out: Path) -> Path:
    return cdk_out


STACKS = {
    "ecommerce-us-east-1": "us-east-1",
    "ecommerce-us-east-2": "us-east-2",
    "ecommerce-edge": "us-east-1",
}


def test_cfn_lint_is_clean_for_every_stack_in_its_region(made_synth: Synth) -> None:
    for name, region in STACKS.items():
        assert f"cfn-lint {name} ({region}): 0 finding(s)" in made_synth.result.stdout, (
            made_synth.result.stdout
        )


def test_templates_for_every_stack(assembly: Path) -> None:
    for name in ("ecommerce-us-east-1", "ecommerce-us-east-2", "ecommerce-edge"):
        assert (assembly / f"{name}.template.json").is_file()
    # cdk-nag ran as a validation plugin; a failing report would have aborted app.synth().
    report = assembly / "validation-report.json"
    if report.exists():
        assert all(p["conclusion"] == "success" for p in json.loads(report.read_text())["pluginReports"])


# The asset's size budget. Measured 2026-11: 29 MiB unzipped, 10.5 MiB zipped with bytecode; 2026-12,
# with the AWS SDK bundled (only the botocore models each asset calls): 39.4 MiB and 13.3 MiB.
# Lambda allows 250 MB unzipped; the budget is here so that growth is a decision, not an accident.
MAX_UNZIPPED = 44 * 2**20
MAX_ZIPPED = 15 * 2**20


def bundles(assembly: Path) -> tuple[Path, Path]:
    """(the API's bundle, the edge health checker's: the same handlers plus boto3 and the CRT). The
    events publisher's bundle (the same handlers with other botocore models) is events_bundle's."""
    # Only the assets this synth's manifests name: a developer's cdk.out keeps older ones.
    current = {
        source["source"]["path"]
        for manifest in assembly.glob("*.assets.json")
        for source in json.loads(manifest.read_text())["files"].values()
    }
    found = [assembly / name for name in sorted(current) if (assembly / name / "handlers").is_dir()]
    (api,) = [p for p in found if not (p / "awscrt").exists() and (p / "botocore/data/dsql").is_dir()]
    (crt,) = [path for path in found if (path / "awscrt").exists()]
    return api, crt


def events_bundle(assembly: Path) -> Path:
    current = {
        source["source"]["path"]
        for manifest in assembly.glob("*.assets.json")
        for source in json.loads(manifest.read_text())["files"].values()
    }
    found = [assembly / name for name in sorted(current) if (assembly / name / "handlers").is_dir()]
    (publisher,) = [p for p in found if (p / "botocore/data/events").is_dir()]
    return publisher


def test_the_events_publisher_bundle_keeps_only_the_models_it_calls(assembly: Path) -> None:
    bundle = events_bundle(assembly)
    models = sorted(p.name for p in (bundle / "botocore" / "data").iterdir() if p.is_dir())
    assert models == ["dynamodb", "events", "sqs"]
    assert (bundle / "handlers" / "events" / "aws.py").is_file()
    assert not (bundle / "ecommerce_dev").exists() and not (bundle / "awscrt").exists()


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
        assert (bundle / "handlers" / "api" / "__pycache__" / "handler.cpython-313.pyc").is_file()
    unzipped = sum(p.stat().st_size for p in files)
    archive = Path(shutil.make_archive(str(tmp_path / "bundle"), "zip", bundle))
    assert unzipped <= MAX_UNZIPPED, f"{unzipped / 2**20:.1f} MiB unzipped"
    assert archive.stat().st_size <= MAX_ZIPPED, f"{archive.stat().st_size / 2**20:.1f} MiB zipped"
