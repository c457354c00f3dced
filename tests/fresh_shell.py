"""Commands as a user runs them: a fresh shell in the project, with only what a new terminal has.

"Fresh" means what a user has after `make install` in a new terminal: the system PATH (Node, npx,
python3) without the virtualenv or node_modules/.bin, no VIRTUAL_ENV, no variables of ours.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def project_directory() -> Iterator[None]:
    """Exclusive use of the project directory's cdk.out and of make dev's documented ports (8080,
    8081, 8090), across pytest-xdist workers and concurrent runs: the CDK CLI refuses a second
    synth into the same cdk.out, and make dev binds fixed ports."""
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"ecommerce-project-{digest}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fresh_env(**extra: str) -> dict[str, str]:
    venv = str(ROOT / ".venv" / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p) != Path(venv))
    path = os.pathsep.join(p for p in path.split(os.pathsep) if "node_modules" not in p)
    env = {"HOME": os.environ["HOME"], "PATH": path, "LANG": os.environ.get("LANG", "C.UTF-8")}
    for key in ("PYENV_ROOT", "TMPDIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def no_aws_env(home: Path) -> dict[str, str]:
    """Credentials of nobody, endpoints of nothing: any AWS call fails fast."""
    return fresh_env(
        HOME=str(home),
        PYENV_ROOT=os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv")),
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_MAX_ATTEMPTS="1",
        npm_config_update_notifier="false",
    )


def shell(command: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Synth:
    """How `make synth` ended, and a copy of the cloud assembly it left (tests/e2e/conftest.py)."""

    result: subprocess.CompletedProcess[str]
    assembly: Path
