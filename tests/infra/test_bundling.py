"""The Lambda asset: always this distribution's handlers, trimmed, with bytecode of the right Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Annotations, Match

from ecommerce_constructs import _platform, bundling

ROOT = Path(__file__).resolve().parents[2]


def test_the_source_is_the_directory_beside_the_constructs() -> None:
    assert bundling.handlers_source_dir() == ROOT / "src" / "handlers"
    assert bundling.contract().DISTRIBUTION == "ecommerce-constructs"


def test_a_wrong_directory_is_refused_with_a_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_package = tmp_path / "ecommerce_constructs" / "_platform.py"
    fake_package.parent.mkdir()
    (tmp_path / "handlers").mkdir()
    monkeypatch.setattr(_platform, "__file__", str(fake_package))
    with pytest.raises(bundling.HandlerSourceError, match="reinstall"):
        bundling.handlers_source_dir()


def test_an_interpreter_of_another_version_is_never_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """This machine's own Python is not the runtime's: offered explicitly, it is still refused."""
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" != bundling.LAMBDA_PYTHON_VERSION
    monkeypatch.setenv(bundling.PYTHON_ENV_VAR, sys.executable)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path))
    bundling.bytecode_interpreter.cache_clear()
    try:
        assert bundling.bytecode_interpreter() is None
        app = App(context={"aws:cdk:bundling-stacks": []})
        stack = Stack(app, "s")
        from ecommerce_constructs import DsqlCluster, EcommerceApi

        EcommerceApi(stack, "Api", cluster=DsqlCluster(stack, "Db"))
        warnings = Annotations.from_stack(stack).find_warning(
            "*", Match.string_like_regexp("without bytecode")
        )
        assert warnings, "a bundle without bytecode must say so"
    finally:
        bundling.bytecode_interpreter.cache_clear()


def test_the_asset_hash_covers_bytecode_architecture_and_what_is_installed() -> None:
    source = bundling.handlers_source_dir()

    def digest(**changes: object) -> str:
        kwargs: dict[str, object] = {"architecture": "arm64", "bytecode": True} | changes
        return bundling.asset_hash(source, **kwargs)  # type: ignore[arg-type]

    variants = [
        digest(),
        digest(bytecode=False),
        digest(architecture="x86_64"),  # one app with both must never share a bundle
        digest(requirements=bundling.CRT_REQUIREMENTS),
        digest(aws_services=("dsql", "secretsmanager")),
    ]
    assert len(set(variants)) == len(variants)


def test_only_the_named_service_models_stay(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    for name in ("dsql", "s3", "secretsmanager"):
        (data / name / "2018-05-10").mkdir(parents=True)
    (data / "endpoints.json").write_text("{}")
    bundling.keep_service_models(tmp_path, ("dsql",))
    assert sorted(p.name for p in data.iterdir()) == ["dsql", "endpoints.json"]
    with pytest.raises(ValueError, match="no model for"):
        bundling.keep_service_models(tmp_path, ("kinesis",))


def test_trim_removes_what_lambda_never_reads(tmp_path: Path) -> None:
    files = [
        "pkg/__init__.py",
        "pkg/__pycache__/x.cpython-311.pyc",
        "pkg/core.pyi",
        "pkg/py.typed",
        "pkg/tests/__init__.py",
        "pkg/tests/test_x.py",
        "pkg-1.0.dist-info/RECORD",
        "pkg-1.0.dist-info/METADATA",
        "pkg-1.0.dist-info/INSTALLER",
        "pkg-1.0.dist-info/licenses/LICENSE",
        "bin/jp.py",
        "tests/__init__.py",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    bundling.trim(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "pkg-1.0.dist-info/METADATA",
        "pkg-1.0.dist-info/licenses/LICENSE",
        "pkg/__init__.py",
        "tests/__init__.py",
    ]


def test_installed_dependencies_are_built_once_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip runs once per content (requirements, architecture, models kept); every asset after that
    copies the cached tree. ``ECOMMERCE_BUNDLING_CACHE=off`` installs every time."""
    installs: list[list[str]] = []

    def fake_run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        installs.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "botocore" / "data" / "dsql").mkdir(parents=True, exist_ok=True)
        (target / "botocore" / "data" / "s3").mkdir(parents=True, exist_ok=True)
        (target / "pkg.py").write_text("x = 1\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bundling.subprocess, "run", fake_run)
    monkeypatch.setenv(bundling.CACHE_ENV_VAR, str(tmp_path / "cache"))
    for n in range(2):
        bundling.LocalPipBundling("arm64", None).try_bundle(str(tmp_path / f"asset{n}"), image=None)
        assert (tmp_path / f"asset{n}" / "pkg.py").is_file()
        assert not (tmp_path / f"asset{n}" / "botocore" / "data" / "s3").exists()
    assert len(installs) == 1
    bundling.LocalPipBundling("x86_64", None).try_bundle(str(tmp_path / "other-arch"), image=None)
    assert len(installs) == 2
    monkeypatch.setenv(bundling.CACHE_ENV_VAR, "off")
    bundling.LocalPipBundling("arm64", None).try_bundle(str(tmp_path / "uncached"), image=None)
    assert len(installs) == 3
    assert not (tmp_path / "asset0" / ".bundle-manifest.json").exists()  # the manifest stays in the cache


def test_a_cache_entry_that_no_longer_matches_its_manifest_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installs: list[list[str]] = []

    def fake_run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        installs.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "botocore" / "data" / "dsql").mkdir(parents=True, exist_ok=True)
        (target / "pkg.py").write_text("x = 1\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bundling.subprocess, "run", fake_run)
    monkeypatch.setenv(bundling.CACHE_ENV_VAR, str(tmp_path / "cache"))
    bundling.LocalPipBundling("arm64", None).try_bundle(str(tmp_path / "first"), image=None)
    (entry,) = (tmp_path / "cache").iterdir()
    (entry / "pkg.py").write_text("x = 'tampered'\n")  # or truncated by a full disk
    bundling._verified.clear()  # a later synth (another process)
    bundling.LocalPipBundling("arm64", None).try_bundle(str(tmp_path / "second"), image=None)
    assert len(installs) == 2
    assert (tmp_path / "second" / "pkg.py").read_text() == "x = 1\n"


def test_the_bundlers_own_code_is_part_of_every_asset_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to how bundles are built (what trim drops, say) must never reuse an old bundle."""
    source = bundling.handlers_source_dir()
    before = bundling.asset_hash(source, architecture="arm64", bytecode=True)
    monkeypatch.setattr(bundling, "BUNDLER_DIGEST", "0" * 64)
    assert bundling.asset_hash(source, architecture="arm64", bytecode=True) != before


def test_a_wheelhouse_replaces_the_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_platform.WHEELHOUSE_ENV_VAR, str(tmp_path))
    command = bundling.pip_install_command(Path("requirements.txt"), tmp_path / "t", "arm64")
    assert command[command.index("--find-links") + 1] == str(tmp_path.resolve())
    assert "--no-index" in command
    monkeypatch.delenv(_platform.WHEELHOUSE_ENV_VAR)
    assert "--no-index" not in bundling.pip_install_command(Path("requirements.txt"), tmp_path / "t", "arm64")


@pytest.mark.parametrize("wheelhouse", [True, False], ids=["empty-wheelhouse", "no-index"])
def test_bundling_without_wheels_fails_in_one_line_that_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wheelhouse: bool
) -> None:
    """No index (PIP_NO_INDEX, as offline) and no usable wheelhouse: one line naming the fix, not
    pip's report inside a jsii traceback."""
    if wheelhouse:
        monkeypatch.setenv(_platform.WHEELHOUSE_ENV_VAR, str(tmp_path))
    else:
        monkeypatch.delenv(_platform.WHEELHOUSE_ENV_VAR, raising=False)
        monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv(bundling.CACHE_ENV_VAR, "off")
    monkeypatch.setenv("FORCE_COLOR", "0")  # what the CDK CLI sets for an app: pip then colours
    local = bundling.LocalPipBundling("arm64", None)
    with pytest.raises(bundling.BundlingError) as raised:
        local.try_bundle(str(tmp_path / "out"), image=None)
    message = str(raised.value.code)
    assert "\n" not in message
    assert "requirements.txt" in message
    assert "\x1b" not in message
    assert "No matching distribution" in message or "Could not find a version" in message  # pip's own
    assert "python -m ecommerce_constructs.wheelhouse" in message
    assert ("lacks a wheel" in message) == wheelhouse
