"""Section ``synth``: ``cdk synth`` of the default app (wall time, peak memory), and ``make test``.

Runs the project's own CDK CLI (node_modules/.bin/cdk) into a scratch output directory: one cold
synth (empty output directory: the Lambda bundle is built, pip included), then interleaved rounds of
a warm synth (same directory: the asset is already staged under its hash, so bundling is skipped by
CDK itself) and a synth with bundling skipped for every stack (the CLI's ``aws:cdk:bundling-stacks``
context set to none by bench/synth_no_bundling.py, which wraps app.py). Peak memory is the largest
sum of the resident memory of the CLI and all its children (node, python), sampled every 50 ms.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import ROOT, Progress, interleaved

CDK = ROOT / "node_modules" / ".bin" / "cdk"
WRAPPER = ROOT / "bench" / "synth_no_bundling.py"


def measure(
    command: list[str], *, env: dict[str, str] | None = None, timeout: float = 1800
) -> dict[str, Any]:
    """Wall seconds, peak resident memory of the process tree, exit status."""
    peak = 0
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    done = threading.Event()
    parent = psutil.Process(process.pid)

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                total = 0
                for member in tree:
                    try:
                        total += member.memory_info().rss
                    except psutil.Error:
                        continue
                peak = max(peak, total)
            except psutil.Error:
                pass
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        "exit_status": process.returncode,
        "stderr_tail": stderr.strip().splitlines()[-3:] if process.returncode else [],
    }


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, str(ROOT / "node_modules" / ".bin"), env.get("PATH", "")])
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    return env


def run(progress: Progress, *, rounds: int = 3, make_test: bool = True) -> dict[str, Any]:
    env = _environment()
    result: dict[str, Any] = {
        "description": "cdk synth of the default app (config/regions.yaml): wall time and peak memory of the "
        "whole "
        "process tree; make test's wall time",
        "unit": {"seconds": "s", "peak_rss_mib": "MiB"},
        "rounds": rounds,
    }
    if not CDK.exists():
        result["skipped"] = "node_modules/.bin/cdk is missing (run make install)"
        return result
    outdir = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        base = [str(CDK), "synth", "--quiet", "--output", str(outdir)]
        commands = {
            "warm": base,
            "bundling_skipped": [*base, "--app", f"{sys.executable} {WRAPPER}"],
        }
        progress.say("cold synth (builds the Lambda bundle)")
        result["cold"] = measure(base, env=env)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
        for _, name in interleaved(rounds, list(commands), seed=23):
            samples[name].append(measure(commands[name], env=env))
            progress.say(f"{name}: {samples[name][-1]['seconds']} s")
        for name, runs in samples.items():
            result[name] = {
                "n": len(runs),
                "seconds_p50": round(statistics.median(r["seconds"] for r in runs), 2),
                "seconds_min": min(r["seconds"] for r in runs),
                "seconds_max": max(r["seconds"] for r in runs),
                "peak_rss_mib_p50": round(statistics.median(r["peak_rss_mib"] for r in runs), 1),
                "exit_status": max(r["exit_status"] for r in runs),
            }
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    if make_test:
        progress.say("make test (the whole suite, once)")
        run_make = measure(["make", "test"], env=env, timeout=3600)
        result["make_test"] = {"seconds": run_make["seconds"], "exit_status": run_make["exit_status"], "n": 1}
    else:
        result["make_test"] = None
    return result
