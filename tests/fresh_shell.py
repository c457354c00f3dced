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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


_held = threading.local()


@contextmanager
def project_directory() -> Iterator[None]:
    """Exclusive use of the project directory (its .venv, node_modules and cdk.out, make dev's
    documented ports 8080, 8081, 8090) across pytest-xdist workers and concurrent runs: the CDK CLI
    refuses a second synth into one cdk.out, and make dev binds fixed ports. Re-entrant within a
    thread (a fixture holding it may run a test that takes it again)."""
    depth = getattr(_held, "depth", 0)
    if depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"ecommerce-project-{digest}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
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


def run_directory(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Path:
    """A directory every pytest-xdist worker of this run shares (and only this run)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


@contextmanager
def once_per_run(directory: Path) -> Iterator[bool]:
    """Serialize the workers on ``directory``; yields True for the first, who must build it (and
    leaves ``done`` in it when the block ends without an error)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f"{directory.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            first = not (directory / "done").exists()
            yield first
            if first:
                (directory / "done").touch()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
