"""Every shell command the README and docs/deploy.md show runs as written, in a fresh shell.

"Fresh" is tests/fresh_shell.py: what a user has after `make install` in a new terminal. Commands
that need AWS run with credentials that reach no AWS: they must get through all of our code (the
app synthesizes, the CLI reads its configuration) and then fail at AWS with a readable message,
never a traceback. The three cdk commands run with CDK_VALIDATION=false: they synthesize the very
app `make synth` (run once, here too) validates, so repeating CDK's built-in validation of identical
templates proves nothing and costs ~5 s each; nothing else of the command changes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fresh_shell import ROOT, Synth, fresh_env, no_aws_env, project_directory, shell

DOCUMENTS = ("README.md", "docs/deploy.md")

# How each documented command is exercised. A command found in the documents but missing here fails
# test_every_documented_command_is_exercised: new documentation cannot go untested.
LOCAL_SMOKE = (
    ".venv/bin/ecommerce smoke --base-url http://127.0.0.1:8080 --second-url http://127.0.0.1:8081 "
    '--token "$(.venv/bin/ecommerce dev token --customer smoke@example.com)" '
    '--operator-token "$(.venv/bin/ecommerce dev token --operator)"'
)
RUN = {"make install", LOCAL_SMOKE}
SYNTH = "make synth"  # run once per session by the made_synth fixture (its cloud assembly is shared)
# Expected: our code runs to the end, then AWS is unreachable. The value is the evidence of that.
AWS = {
    "npx cdk bootstrap": "Unable to resolve AWS account",
    "npx cdk deploy --all": "Synthesis time",
    "npx cdk destroy --all": "irreversible action",
    ".venv/bin/ecommerce outputs": "configure AWS credentials",
    ".venv/bin/ecommerce smoke --deployed --username smoke@example.com": "configure AWS credentials",
}
SELF = {"make test"}  # this suite is what it runs
# One area of this suite, each (like `make test`) this suite itself: checked by make's dry run.
AREAS = {f"make test-{area}": area for area in ("unit", "integration", "infra", "e2e", "snapshot")}
DEV = "make dev"
NEEDS_DEV = {LOCAL_SMOKE}


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every line of every ```bash block; `\\` continuations joined,
    comments after two spaces dropped."""
    found: list[tuple[str, str]] = []
    for name in DOCUMENTS:
        text = (ROOT / name).read_text(encoding="utf-8")
        for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.split(r"\s{2,}#", line)[0].strip()
                if command and not command.startswith("#"):
                    found.append((name, " ".join(command.split())))
    return found


def test_every_documented_command_is_exercised() -> None:
    commands = documented_commands()
    assert commands, "no commands found: did the documents lose their bash blocks?"
    known = RUN | set(AWS) | SELF | set(AREAS) | {DEV, SYNTH}
    unknown = sorted({command for _, command in commands} - known)
    assert not unknown, f"documented but not exercised by this module (add them to RUN/AWS/...): {unknown}"


def test_the_fresh_shell_really_lacks_the_project() -> None:
    result = shell("python3 -c 'import ecommerce_constructs'", fresh_env())
    assert result.returncode != 0, "the shell already finds the project: the tests below would prove nothing"


def test_make_synth_runs_as_written(made_synth: Synth) -> None:
    result = made_synth.result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("project")  # make install writes the project's .venv and node_modules
@pytest.mark.parametrize("command", sorted(RUN - NEEDS_DEV))
def test_runs_as_written(command: str) -> None:
    result = shell(command, fresh_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", sorted(AREAS))
def test_each_area_runs_exactly_its_directory(command: str) -> None:
    """Like `make test`, these are this suite: make's dry run shows each runs pytest on its area alone."""
    result = shell(command.replace("make ", "make -n ", 1), fresh_env())
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "pytest" in line]
    assert line.split()[0] == "pytest" and line.endswith(f" tests/{AREAS[command]}"), line
    assert "--numprocesses" in line


@pytest.mark.usefixtures("project")  # the cdk commands write the project's cdk.out
@pytest.mark.parametrize("command", sorted(AWS))
def test_aws_commands_get_through_our_code(command: str, tmp_path: Path) -> None:
    # The cdk commands synthesize the same app as `make synth` (test_make_synth_runs_as_written),
    # whose run keeps CDK's built-in template validation; repeating it on identical templates
    # proves nothing more and costs ~5 s a command.
    result = shell(command, no_aws_env(tmp_path) | {"CDK_VALIDATION": "false"}, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "No module named" not in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert AWS[command] in output, output[-3000:]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def make_dev() -> Iterator[Path]:
    """`make dev` as documented, on a throw-away data dir (yielded: commands that sign in use it)."""
    with project_directory():
        yield from _make_dev()


def _make_dev() -> Iterator[Path]:
    if not (_free(8080) and _free(8081)):
        pytest.skip("ports 8080/8081 are taken; the documented make dev URLs need them")
    data_dir = Path(tempfile.mkdtemp(prefix="docs-make-dev-"))
    output = data_dir.parent / f"{data_dir.name}.out"
    with output.open("w") as sink:
        process = subprocess.Popen(
            ["bash", "-c", DEV], cwd=ROOT, env=fresh_env(ECOMMERCE_DATA_DIR=str(data_dir)),
            stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops" not in output.read_text():
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        yield data_dir
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(60)
        shutil.rmtree(data_dir, ignore_errors=True)
        output.unlink(missing_ok=True)


@pytest.mark.parametrize("command", sorted(NEEDS_DEV))
def test_runs_as_written_against_make_dev(command: str, make_dev: Path) -> None:
    result = shell(command, fresh_env(ECOMMERCE_DATA_DIR=str(make_dev)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
