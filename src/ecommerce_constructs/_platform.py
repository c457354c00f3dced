"""What a Lambda bundle is built for, without aws_cdk: shared by ``bundling`` (synth) and
``wheelhouse`` (a download that must not start the jsii runtime)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

# The Lambda runtime, chosen so that its bytecode can be built here: python3.13 is what the
# development machines and CI carry (pyenv); docs/decisions/0005-cold-start.md has the numbers.
LAMBDA_PYTHON_VERSION: Final = "3.13"

#: What every bundle installs (handlers/requirements.txt).
REQUIREMENTS: tuple[str, ...] = ("requirements.txt",)
#: Added for functions that sign requests with SigV4A (CloudFront KeyValueStore).
CRT_REQUIREMENTS: tuple[str, ...] = (*REQUIREMENTS, "requirements-crt.txt")

PLATFORMS: Final = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}

#: A directory of wheels to bundle from instead of the package index (offline synth); fill it with
#: ``python -m ecommerce_constructs.wheelhouse DIR``.
WHEELHOUSE_ENV_VAR: Final = "ECOMMERCE_WHEELHOUSE"


class HandlerSourceError(RuntimeError):
    """The directory beside this package is not this distribution's Lambda code."""


def handlers_source_dir() -> Path:
    """This distribution's Lambda code: ``_lambda/handlers`` inside this package in the wheel (data,
    never a top-level ``handlers`` in a user's environment), or ``src/handlers`` beside this package
    in the repository."""
    here = Path(__file__).resolve().parent
    shipped = here / "_lambda" / "handlers"
    candidate = shipped if shipped.is_dir() else here.parent / "handlers"
    contract = candidate / "contract.py"
    if not contract.is_file() or 'DISTRIBUTION: Final = "ecommerce-constructs"' not in contract.read_text(
        encoding="utf-8"
    ):
        raise HandlerSourceError(
            f"{candidate} is not the Lambda code of ecommerce-constructs; reinstall the package "
            "(pip install --force-reinstall ecommerce-constructs)"
        )
    return candidate


def platform_args(architecture: str) -> list[str]:
    """pip's options selecting Lambda's wheels for ``architecture`` (binary only, CPython 3.13)."""
    platforms = [arg for platform in PLATFORMS[architecture] for arg in ("--platform", platform)]
    return [
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-deps",
    ]


def index_args() -> list[str]:
    """Where pip finds wheels: the wheelhouse when ``$ECOMMERCE_WHEELHOUSE`` is set (and nothing
    else), otherwise pip's own configuration (index, ``PIP_*`` variables)."""
    wheelhouse = os.environ.get(WHEELHOUSE_ENV_VAR)
    if not wheelhouse:
        return []
    return ["--no-index", "--find-links", str(Path(wheelhouse).resolve())]


def pip() -> list[str]:
    # --no-color: the CDK CLI runs apps with FORCE_COLOR=0, which pip reads as "force colour".
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-color"]
