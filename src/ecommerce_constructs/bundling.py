"""Lambda code for the handlers, bundled without Docker.

The source is always *this distribution's* ``handlers`` directory, found beside this package on disk
(a wheel installs both side by side; an editable install keeps both under ``src/``). It is never
found by importing ``handlers``: in a user's CDK app that name often belongs to their own code.

Bundling runs ``pip install --platform`` for the Lambda architecture, copies the handlers, trims
what Lambda never reads, and compiles bytecode with an interpreter of the runtime's exact Python
version when one is available (a warning says so when not: bytecode of another version would be
ignored by Lambda, so none is shipped). The asset hash covers the sources and whether bytecode is
shipped, so a bundle built without bytecode is never mistaken for one built with it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

# The Lambda runtime, chosen so that its bytecode can be built here: python3.13 is what the
# development machines and CI carry (pyenv); docs/decisions/0005-cold-start.md has the numbers.
LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_13
#: An interpreter of LAMBDA_PYTHON_VERSION to compile bytecode with, when it is not on PATH.
PYTHON_ENV_VAR = "ECOMMERCE_LAMBDA_PYTHON"

#: What every bundle installs (handlers/requirements.txt).
REQUIREMENTS: tuple[str, ...] = ("requirements.txt",)
#: Added for functions that sign requests with SigV4A (CloudFront KeyValueStore).
CRT_REQUIREMENTS: tuple[str, ...] = (*REQUIREMENTS, "requirements-crt.txt")

# Never part of the Lambda asset.
_EXCLUDE = ["**/__pycache__", "**/*.pyc", "py.typed"]
# Files of installed distributions that nothing reads at run time (metadata stays: packages such
# as pydantic look up their own version; licences stay).
_TRIM_FILES = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "py.typed")
_TRIM_SUFFIXES = (".pyi",)

_PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


class HandlerSourceError(RuntimeError):
    """The directory beside this package is not this distribution's Lambda code."""


def handlers_source_dir() -> Path:
    """This distribution's ``handlers`` directory (beside ``ecommerce_constructs`` on disk)."""
    candidate = Path(__file__).resolve().parent.parent / "handlers"
    contract = candidate / "contract.py"
    if not contract.is_file() or 'DISTRIBUTION: Final = "ecommerce-constructs"' not in contract.read_text(
        encoding="utf-8"
    ):
        raise HandlerSourceError(
            f"{candidate} is not the Lambda code of ecommerce-constructs; reinstall the package "
            "(pip install --force-reinstall ecommerce-constructs)"
        )
    return candidate


@functools.cache
def contract() -> ModuleType:
    """``handlers/contract.py`` of this distribution, loaded by path (see the module docstring)."""
    path = handlers_source_dir() / "contract.py"
    spec = importlib.util.spec_from_file_location("ecommerce_constructs._handlers_contract", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def pip_install_command(requirements: Path, target: Path, architecture: str) -> list[str]:
    platforms = [arg for platform in _PLATFORMS[architecture] for arg in ("--platform", platform)]
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--requirement", str(requirements), "--target", str(target), "--no-deps",
        *platforms, "--implementation", "cp", "--python-version", LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:", "--no-compile",
    ]  # fmt: skip


@functools.cache
def bytecode_interpreter() -> str | None:
    """A Python of exactly the runtime's version, or None: $ECOMMERCE_LAMBDA_PYTHON, pythonX.Y on
    PATH, then pyenv's versions. Each candidate is run to check what it really is."""
    candidates = [os.environ.get(PYTHON_ENV_VAR), shutil.which(f"python{LAMBDA_PYTHON_VERSION}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [
            str(path / "bin" / f"python{LAMBDA_PYTHON_VERSION}")
            for path in sorted(pyenv.glob(f"{LAMBDA_PYTHON_VERSION}.*"), reverse=True)
        ]
    for candidate in candidates:
        if candidate and _is_version(candidate, LAMBDA_PYTHON_VERSION):
            return candidate
    return None


def _is_version(interpreter: str, version: str) -> bool:
    try:
        result = subprocess.run(  # noqa: S603 - an interpreter path, fixed arguments
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip() == version


def trim(target: Path) -> None:
    """Drop what Lambda never reads: build-interpreter caches, installer records, stubs, tests."""
    scripts = target / "bin"  # console scripts of installed packages: nothing on Lambda runs them
    if scripts.is_dir():
        shutil.rmtree(scripts)
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_dir() and (path.name == "__pycache__" or _is_test_dir(path, target)):
            shutil.rmtree(path)
        elif path.is_file() and (
            (path.name in _TRIM_FILES and path.parent.name.endswith(".dist-info"))
            or path.suffix in _TRIM_SUFFIXES
            or path.name == "py.typed"
        ):
            path.unlink()


def _is_test_dir(path: Path, target: Path) -> bool:
    # A package's own test suite (pkg/tests), never a top-level distribution named like one.
    return path.name in ("tests", "test") and path.parent != target and (path / "__init__.py").exists()


def compile_bytecode(interpreter: str, target: Path) -> None:
    """unchecked-hash: Lambda's code is immutable, so the .pyc never needs the source's mtime."""
    subprocess.run(  # noqa: S603 - fixed argv
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(target),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Installs the pinned requirements for the Lambda platform and copies the handlers package."""

    def __init__(
        self, architecture: str, interpreter: str | None, requirements: Sequence[str] = REQUIREMENTS
    ) -> None:
        self.architecture = architecture
        self.interpreter = interpreter
        self.requirements = tuple(requirements)

    def try_bundle(self, output_dir: str, *, image: Any, **_: Any) -> bool:
        source = handlers_source_dir()
        target = Path(output_dir)
        for requirements in self.requirements:
            command = pip_install_command(source / requirements, target, self.architecture)
            subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
        shutil.copytree(
            source, target / "handlers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "py.typed")
        )
        trim(target)
        if self.interpreter is not None:
            compile_bytecode(self.interpreter, target)
        return True


def _source_hash(source: Path, bytecode: bool, requirements: Sequence[str] = ("requirements.txt",)) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if "__pycache__" in relative or path.suffix == ".pyc":
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"bytecode={LAMBDA_PYTHON_VERSION if bytecode else 'none'}".encode())
    if tuple(requirements) != REQUIREMENTS:  # the API's asset hash stays what it always was
        digest.update(f"requirements={','.join(requirements)}".encode())
    return digest.hexdigest()


def handler_code(
    architecture: str, *, requirements: Sequence[str] = REQUIREMENTS
) -> tuple[lambda_.Code, bool]:
    """The handlers plus their pinned dependencies as a Lambda asset, and whether it has bytecode.

    ``requirements``: files in the handlers directory to install [the API's]; the edge's health
    checker adds ``requirements-crt.txt``.
    """
    source = handlers_source_dir()
    interpreter = bytecode_interpreter()
    code = lambda_.Code.from_asset(
        str(source),
        exclude=_EXCLUDE,
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=_source_hash(source, interpreter is not None, requirements),
        bundling=BundlingOptions(
            # Only used if local bundling declines; local bundling never does.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{LAMBDA_PYTHON_VERSION}"),
            local=LocalPipBundling(architecture, interpreter, requirements),
        ),
    )
    return code, interpreter is not None
