"""Lambda code for the handlers, bundled without Docker.

The source is always *this distribution's* ``handlers`` directory, found beside this package on disk
(a wheel installs both side by side; an editable install keeps both under ``src/``). It is never
found by importing ``handlers``: in a user's CDK app that name often belongs to their own code.

Bundling runs ``pip install --platform`` for the Lambda architecture, copies the handlers, trims
what Lambda never reads, and compiles bytecode with an interpreter of the runtime's exact Python
version when one is available (a warning says so when not: bytecode of another version would be
ignored by Lambda, so none is shipped). The asset hash covers the sources, the architecture, the
requirement files, the AWS service models kept and whether bytecode is shipped, so no bundle ever
stands in for another (an x86_64 function never receives arm64 wheels).

Every asset carries the AWS SDK it was tested with (boto3 pinned in requirements.txt) instead of
the one Lambda's runtime happens to include, which AWS says varies by runtime version and Region
(Lambda developer guide, "Building Lambda functions with Python": runtime-included SDK versions;
"Best practices": "package all of your dependencies"). botocore reads a service's model only when a
client of that service is created, so an asset keeps just the models of the services it calls
(``aws_services``): a missing one fails at once in ``make lambda-check``, never silently.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

# Re-exported: these names were public here before _platform existed.
from ._platform import CRT_REQUIREMENTS as CRT_REQUIREMENTS
from ._platform import LAMBDA_PYTHON_VERSION as LAMBDA_PYTHON_VERSION
from ._platform import PLATFORMS, WHEELHOUSE_ENV_VAR, index_args, pip, platform_args
from ._platform import REQUIREMENTS as REQUIREMENTS
from ._platform import HandlerSourceError as HandlerSourceError
from ._platform import handlers_source_dir as handlers_source_dir
from .wheelhouse import _last_error

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_13  # LAMBDA_PYTHON_VERSION: bytecode is built for it
#: An interpreter of LAMBDA_PYTHON_VERSION to compile bytecode with, when it is not on PATH.
PYTHON_ENV_VAR = "ECOMMERCE_LAMBDA_PYTHON"

#: botocore service models the shop's functions and the DSQL custom resources call (IAM tokens and
#: the control plane); other assets name theirs.
DSQL_SERVICES: tuple[str, ...] = ("dsql",)

# Never part of the Lambda asset.
_EXCLUDE = ["**/__pycache__", "**/*.pyc", "py.typed"]
# Files of installed distributions that nothing reads at run time (metadata stays: packages such
# as pydantic look up their own version; licences stay).
_TRIM_FILES = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "py.typed")
_TRIM_SUFFIXES = (".pyi",)

_PLATFORMS = PLATFORMS


#: What this module does to a bundle: its own source, so any change to how bundles are built (trim,
#: kept models, layout) gives new asset hashes and new cache entries instead of reusing old output.
BUNDLER_DIGEST = hashlib.sha256(
    Path(__file__).read_bytes() + Path(__file__).with_name("_platform.py").read_bytes()
).hexdigest()
#: Beside the packages in each cache entry: every file's SHA-256, checked before the entry is used.
_MANIFEST = ".bundle-manifest.json"


class BundlingError(SystemExit):
    """Bundling could not install the Lambda dependencies. A ``SystemExit`` so that ``cdk synth``
    ends with its one-line message instead of a jsii traceback around it."""


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
    return [
        *pip(), "install", "--quiet", "--requirement", str(requirements), "--target", str(target),
        *platform_args(architecture), *index_args(), "--no-compile",
    ]  # fmt: skip


def _install(requirements: Path, target: Path, architecture: str) -> None:
    command = pip_install_command(requirements, target, architecture)
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if result.returncode == 0:
        return
    wheelhouse = os.environ.get(WHEELHOUSE_ENV_VAR)
    hint = (
        f"the wheelhouse {wheelhouse} ({WHEELHOUSE_ENV_VAR}) lacks a wheel: refill it with "
        f"`python -m ecommerce_constructs.wheelhouse {wheelhouse}`"
        if wheelhouse
        else f"without a package index, fill a wheelhouse where one is reachable "
        f"(`python -m ecommerce_constructs.wheelhouse DIR`) and set {WHEELHOUSE_ENV_VAR}=DIR"
    )
    raise BundlingError(
        f"error: bundling Lambda code ({architecture}) could not install {requirements.name}: "
        f"{_last_error(result.stderr)}; {hint}"
    )


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


def keep_service_models(target: Path, services: Sequence[str]) -> None:
    """Drop botocore's models of every service but ``services`` (the shared files stay: endpoints,
    partitions, retry and default-configuration data)."""
    data = target / "botocore" / "data"
    if not data.is_dir():
        return
    unknown = [name for name in services if not (data / name).is_dir()]
    if unknown:
        raise ValueError(f"botocore in the bundle has no model for {unknown}")
    for path in data.iterdir():
        if path.is_dir() and path.name not in services:
            shutil.rmtree(path)


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Installs the pinned requirements for the Lambda platform and copies the handlers package."""

    def __init__(
        self,
        architecture: str,
        interpreter: str | None,
        requirements: Sequence[str] = REQUIREMENTS,
        aws_services: Sequence[str] = DSQL_SERVICES,
    ) -> None:
        self.architecture = architecture
        self.interpreter = interpreter
        self.requirements = tuple(requirements)
        self.aws_services = tuple(aws_services)

    def try_bundle(self, output_dir: str, *, image: Any, **_: Any) -> bool:
        source = handlers_source_dir()
        target = Path(output_dir)
        packages, temporary = self._packages(source)
        shutil.copytree(packages, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_MANIFEST))
        if temporary:
            shutil.rmtree(packages, ignore_errors=True)
        shutil.copytree(
            source, target / "handlers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "py.typed")
        )
        if self.interpreter is not None:
            compile_bytecode(self.interpreter, target)
        return True

    def _packages(self, source: Path) -> tuple[Path, bool]:
        """The installed, trimmed dependencies: built once per content in the bundling cache and
        copied from there (every asset of a synth, and every later synth, reuses them). An entry
        whose files no longer match its manifest (edited, truncated by a full disk) is rebuilt."""
        key = hashlib.sha256()
        for requirements in self.requirements:
            key.update(requirements.encode() + b"\0" + (source / requirements).read_bytes())
        key.update(
            f"{self.architecture}|{LAMBDA_PYTHON_VERSION}|{','.join(sorted(self.aws_services))}|"
            f"{BUNDLER_DIGEST}".encode()
        )
        cache = bundling_cache_dir()
        built = cache / key.hexdigest()[:32] if cache is not None else None
        if built is not None and built.is_dir():
            if _intact(built):
                return built, False
            shutil.rmtree(built, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix="packages-", dir=cache))
        for requirements in self.requirements:
            _install(source / requirements, staging, self.architecture)
        trim(staging)
        keep_service_models(staging, self.aws_services)
        if built is None:
            return staging, True
        (staging / _MANIFEST).write_text(json.dumps(_digests(staging), sort_keys=True))
        try:
            staging.rename(built)  # atomic: a concurrent synth that finished first wins
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
        _verified.add(built)
        return built, False


def _digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != _MANIFEST
    }


_verified: set[Path] = set()  # cache entries checked by this process (once each)


def _intact(entry: Path) -> bool:
    if entry in _verified:
        return True
    try:
        expected = json.loads((entry / _MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if _digests(entry) != expected:
        return False
    _verified.add(entry)
    return True


#: Where installed dependencies are cached between bundles: ``$ECOMMERCE_BUNDLING_CACHE`` (``off``
#: disables it) or ``$XDG_CACHE_HOME/ecommerce-constructs/lambda-packages`` [~/.cache/…].
CACHE_ENV_VAR = "ECOMMERCE_BUNDLING_CACHE"


def bundling_cache_dir() -> Path | None:
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured == "off":
        return None
    if configured:
        root = Path(configured)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        root = base / "ecommerce-constructs" / "lambda-packages"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: bundle without a cache
    return root


def asset_hash(
    source: Path,
    *,
    architecture: str,
    bytecode: bool,
    requirements: Sequence[str] = REQUIREMENTS,
    aws_services: Sequence[str] = DSQL_SERVICES,
) -> str:
    """Everything the bundle is built from: sources, architecture, requirement files, kept models
    and this bundler's own code."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if "__pycache__" in relative or path.suffix == ".pyc":
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"bytecode={LAMBDA_PYTHON_VERSION if bytecode else 'none'}".encode())
    digest.update(f"architecture={architecture}".encode())
    digest.update(f"requirements={','.join(requirements)}".encode())
    digest.update(f"aws-services={','.join(sorted(aws_services))}".encode())
    digest.update(f"bundler={BUNDLER_DIGEST}".encode())
    return digest.hexdigest()


def handler_code(
    architecture: str,
    *,
    requirements: Sequence[str] = REQUIREMENTS,
    aws_services: Sequence[str] = DSQL_SERVICES,
) -> tuple[lambda_.Code, bool]:
    """The handlers plus their pinned dependencies as a Lambda asset, and whether it has bytecode.

    ``architecture``: ``arm64`` or ``x86_64`` (the wheels installed). ``requirements``: files in the
    handlers directory to install [the API's]; the edge's health checker adds
    ``requirements-crt.txt``. ``aws_services``: botocore models to keep [``dsql``].
    """
    if architecture not in _PLATFORMS:
        raise ValueError(f"architecture must be one of {sorted(_PLATFORMS)}, not {architecture!r}")
    source = handlers_source_dir()
    interpreter = bytecode_interpreter()
    code = lambda_.Code.from_asset(
        str(source),
        exclude=_EXCLUDE,
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(
            source,
            architecture=architecture,
            bytecode=interpreter is not None,
            requirements=requirements,
            aws_services=aws_services,
        ),
        bundling=BundlingOptions(
            # Only used if local bundling declines; local bundling never does.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{LAMBDA_PYTHON_VERSION}"),
            local=LocalPipBundling(architecture, interpreter, requirements, aws_services),
        ),
    )
    return code, interpreter is not None
