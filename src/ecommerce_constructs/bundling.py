"""Lambda code for the handlers, bundled without Docker.

The asset source is the installed ``handlers`` package (found through importlib, so an app that only
``pip install``-ed this project can synthesize). Bundling runs ``pip install --platform`` for the
Lambda architecture and copies the package; the asset hash is computed from the source (and the
pinned requirements file inside it), so templates do not depend on whether bundling ran.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

# Python version of the Lambda runtime below; wheels are chosen for it.
LAMBDA_PYTHON_VERSION = "3.14"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14

# Dev-only parts of the package: never shipped to Lambda.
_EXCLUDE = ["tools", "tools/**", "**/__pycache__", "**/*.pyc", "py.typed"]

_PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


def handlers_source_dir() -> Path:
    """Directory of the installed ``handlers`` package."""
    return Path(str(resources.files("handlers")))


def pip_install_command(requirements: Path, target: Path, architecture: str) -> list[str]:
    platforms = [arg for platform in _PLATFORMS[architecture] for arg in ("--platform", platform)]
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--requirement", str(requirements), "--target", str(target),
        *platforms, "--implementation", "cp", "--python-version", LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:", "--no-compile",
    ]  # fmt: skip


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Installs the pinned requirements for the Lambda platform and copies the handlers package."""

    def __init__(self, architecture: str) -> None:
        self.architecture = architecture

    def try_bundle(self, output_dir: str, *, image: Any, **_: Any) -> bool:
        source = handlers_source_dir()
        target = Path(output_dir)
        command = pip_install_command(source / "requirements.txt", target, self.architecture)
        subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
        shutil.copytree(
            source, target / "handlers", ignore=shutil.ignore_patterns("tools", "__pycache__", "*.pyc")
        )
        # No precompiled .pyc: bytecode must come from the runtime's own Python (3.14), which the
        # build machine does not have; 3.11 bytecode would be ignored. See docs/decisions.
        return True


def handler_code(architecture: str) -> lambda_.Code:
    """The handlers package plus its pinned dependencies, as a Lambda asset."""
    return lambda_.Code.from_asset(
        str(handlers_source_dir()),
        exclude=_EXCLUDE,
        bundling=BundlingOptions(
            # Only used if local bundling declines; local bundling never does.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{LAMBDA_PYTHON_VERSION}"),
            local=LocalPipBundling(architecture),
        ),
    )
