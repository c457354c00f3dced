"""Shared runs of documented commands.

``make synth`` (a full synth with real bundling, cdk-nag and CloudFormation validation, then
cfn-lint per region) runs once per test run, whichever worker asks first: the docs-command test
asserts how it ended, the full-synth tests read a copy of the cloud assembly it left (later
commands, such as ``npx cdk destroy``, rewrite cdk.out without bundling). Whatever writes the
project's cdk.out or binds make dev's ports holds ``fresh_shell.project_directory()`` meanwhile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fresh_shell import ROOT, Synth, fresh_env, project_directory, run_directory, shell


@pytest.fixture(scope="session")
def made_synth(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Synth:
    """`make synth`, as written, in a fresh shell: once per run, shared by the workers."""
    shared = run_directory(tmp_path_factory, request.config) / "made-synth"
    record = shared / "result.json"
    with project_directory():
        if not record.exists():
            result = shell("make synth", fresh_env())
            shared.mkdir(exist_ok=True)
            if result.returncode == 0:
                shutil.copytree(ROOT / "cdk.out", shared / "cdk.out")
            record.write_text(json.dumps([result.returncode, result.stdout, result.stderr]))
    code, stdout, stderr = json.loads(record.read_text())
    return Synth(
        subprocess.CompletedProcess(["bash", "-c", "make synth"], code, stdout, stderr), shared / "cdk.out"
    )


@pytest.fixture
def cdk_out(made_synth: Synth) -> Path:
    output = made_synth.result.stdout[-3000:] + made_synth.result.stderr[-3000:]
    assert made_synth.result.returncode == 0, output
    return made_synth.assembly


@pytest.fixture
def project() -> Iterator[None]:
    """Holds the project directory (its cdk.out, make dev's ports) for one test."""
    with project_directory():
        yield
