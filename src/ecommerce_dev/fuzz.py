"""Property-based fuzzing of the API against its own OpenAPI document, on a local runtime.

Starts ``ecommerce dev`` on free ports with a throw-away data directory, runs schemathesis (every
check, positive and negative data, the examples/coverage/fuzzing/stateful phases, a fixed seed)
against the first region, and stops everything. ``make test`` runs a bounded pass, ``make fuzz`` a
long one. Requests carry an operator's ID token from the runtime's own user pool (the operator has a
customer profile, so orders can succeed); schemathesis' ``ignored_auth`` check also sends them
without it and expects every secured operation to refuse. schemathesis.toml at the project root
says which 4xx answers to schema-valid requests the document describes (a cursor the API never
issued, an order naming unknown products).

Usage: python -m ecommerce_dev.fuzz [--max-examples N] [--seed N] [--min-cases N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CONFIG = Path("schemathesis.toml")  # the project root's, from where make runs


@dataclass(frozen=True)
class FuzzResult:
    exit_code: int
    cases: int
    failures: int
    output: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ecommerce dev exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"ecommerce dev did not answer on {url} within {timeout:g}s")


def _operator_with_profile(url: str, data_dir: Path) -> str:
    from ecommerce_dev.identity import LocalIdentity

    email = "fuzz.operator@example.com"
    token = LocalIdentity.open(data_dir).issue(email=email, operator=True)
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}/customers",
        data=json.dumps({"email": email, "first_name": "Fuzz", "last_name": "Operator"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        assert response.status == 201
    return token


def _start_dev(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``ecommerce dev`` on two free ports. A port found free can be taken by another process before
    the server binds it (other test workers start servers too): then try new ports."""
    log = data_dir.parent / f"{data_dir.name}.log"
    for _ in range(3):
        ports = (_free_port(), _free_port())
        with log.open("wb") as sink:
            dev = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "ecommerce_ops.cli", "dev", "--fast", "--data-dir", str(data_dir),
                 "--port", str(ports[0]), "--second-port", str(ports[1]), "--no-edge"],
                stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        url = f"http://127.0.0.1:{ports[0]}"
        try:
            _wait_ready(url, dev)
            return dev, url
        except RuntimeError:
            if dev.poll() is None:
                dev.kill()
            output = log.read_text(errors="replace")
            if "cannot listen on" not in output:
                raise RuntimeError(f"ecommerce dev did not start: {output[-2000:]}") from None
    raise RuntimeError(f"ecommerce dev found no free ports: {log.read_text(errors='replace')[-2000:]}")


def run(*, max_examples: int, seed: int = 42, workers: int = 2, config: Path = CONFIG) -> FuzzResult:
    data_dir = Path(tempfile.mkdtemp(prefix="ecommerce-fuzz-"))
    report = data_dir / "schemathesis.json"
    dev: subprocess.Popen[bytes] | None = None
    try:
        dev, url = _start_dev(data_dir)
        token = _operator_with_profile(url, data_dir)
        schemathesis = Path(sys.executable).with_name("schemathesis")
        command = [
            str(schemathesis), "--config-file", str(config.resolve()), "run", f"{url}/openapi.json",
            "--checks", "all", "--mode", "all", "--max-examples", str(max_examples), "--seed", str(seed),
            "--workers", str(workers), "--header", f"Authorization: Bearer {token}",
            "--suppress-health-check", "all", "--generation-database", "none",
            "--no-color", "--output-truncate", "false", "--report", "json", "--report-json-path", str(report),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, cwd=data_dir, check=False)  # noqa: S603
        summary = json.loads(report.read_text()) if report.exists() else {}
        cases = summary.get("test_cases", {})
        return FuzzResult(
            result.returncode,
            int(cases.get("generated", 0)),
            int(cases.get("unique_failures", 0)) + len(summary.get("errors", [])),
            result.stdout + result.stderr,
        )
    finally:
        if dev is not None:
            dev.send_signal(signal.SIGINT)
            try:
                dev.wait(60)
            except subprocess.TimeoutExpired:
                dev.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
        (data_dir.parent / f"{data_dir.name}.log").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "42")))
    parser.add_argument("--min-cases", type=int, default=0, help="fail unless at least this many cases ran")
    args = parser.parse_args()
    result = run(max_examples=args.max_examples, seed=args.seed)
    print(result.output)
    print(f"fuzz: {result.cases} generated requests, {result.failures} failures, exit {result.exit_code}")
    if result.exit_code or result.failures or result.cases < args.min_cases:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
