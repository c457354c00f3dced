"""Section ``synth``: ``cdk synth`` of the default app (wall time, peak memory), and ``make test``.

``make test`` is timed on two clean checkouts in the same sitting: this commit and the baseline
commit before the fast test loop (docs/decisions/0006-fast-test-loop.md), each a git worktree with
its own ``make install`` (not timed), so both start with cold caches as CI does.

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
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    cwd: Path = ROOT,
    keep_stdout: bool = False,
) -> dict[str, Any]:
    """Wall seconds, peak resident memory of the process tree, exit status."""
    peak = 0
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
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
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        "exit_status": process.returncode,
        "stderr_tail": stderr.strip().splitlines()[-3:] if process.returncode else [],
        # make test ends with the time budget per area: kept with the results.
        "stdout_tail": _budget_block(stdout or ""),
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
        # Cold means an empty bundling cache too (ecommerce_constructs.bundling), as on a new machine.
        cold_cache = tempfile.mkdtemp(prefix="bench-bundling-cache-")
        result["cold"] = measure(base, env={**env, "ECOMMERCE_BUNDLING_CACHE": cold_cache})
        shutil.rmtree(cold_cache, ignore_errors=True)
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
    result["make_test"] = make_test_pair(progress, env) if make_test else None
    return result


#: The last commit before the fast test loop: what its `make test` took is the baseline.
MAKE_TEST_BASELINE = "5bca2b9"
#: Pairs of runs, the order alternating (baseline first, then current first, ...): pip's cache and
#: the page cache warmed by one run then favour neither side on the whole.
MAKE_TEST_PAIRS = 3


def make_test_pair(progress: Progress, env: dict[str, str], pairs: int = MAKE_TEST_PAIRS) -> dict[str, Any]:
    """``make test`` on clean checkouts of the baseline and of HEAD, ``pairs`` times each, interleaved."""
    refs = {"baseline": MAKE_TEST_BASELINE, "current": "HEAD"}
    commits = {name: _rev_parse(ref) for name, ref in refs.items()}
    checkouts: dict[str, Path] = {}
    clean = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    clean["PATH"] = os.pathsep.join(p for p in clean["PATH"].split(os.pathsep) if str(ROOT) not in p)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in refs}
    try:
        for name, commit in commits.items():
            checkout = Path(tempfile.mkdtemp(prefix=f"bench-make-test-{name}-"))
            checkouts[name] = checkout
            subprocess.run(  # noqa: S603 - fixed argv
                ["git", "worktree", "add", "--detach", str(checkout), commit],  # noqa: S607
                cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
            progress.say(f"make install in a clean checkout of {name} ({commit[:7]})")
            installed = subprocess.run(
                ["make", "install"],  # noqa: S607
                cwd=checkout, env=clean, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if installed.returncode != 0:
                return {"error": f"make install failed in the {name} checkout", "commits": commits}
        for pair in range(pairs):
            order = ("baseline", "current") if pair % 2 == 0 else ("current", "baseline")
            for name in order:
                _reset(checkouts[name])
                progress.say(f"make test, pair {pair + 1}/{pairs}: {name} ({commits[name][:7]})")
                timed = measure(
                    ["make", "test"], env=clean, timeout=3600, cwd=checkouts[name], keep_stdout=True
                )
                runs[name].append(
                    {
                        "seconds": timed["seconds"],
                        "exit_status": timed["exit_status"],
                        "tail": timed["stdout_tail"],
                    }
                )
    finally:
        for checkout in checkouts.values():
            subprocess.run(  # noqa: S603 - fixed argv
                ["git", "worktree", "remove", "--force", str(checkout)],  # noqa: S607
                cwd=ROOT, check=False, capture_output=True,
            )  # fmt: skip
            shutil.rmtree(checkout, ignore_errors=True)
    result: dict[str, Any] = {"pairs": pairs, "commits": commits}
    for name, measured in runs.items():
        ok = [r["seconds"] for r in measured if r["exit_status"] == 0]
        result[name] = {
            "ref": commits[name][:7],
            "seconds": round(statistics.median(ok), 1) if ok else None,
            "runs_seconds": [r["seconds"] for r in measured],
            "exit_status": max(r["exit_status"] for r in measured),
            "budget_summary": measured[-1]["tail"],
        }
    current, baseline = result["current"], result["baseline"]
    if current["exit_status"] == 0 and baseline["exit_status"] == 0:
        result["ratio"] = round(current["seconds"] / baseline["seconds"], 2)
        result["pair_ratios"] = [
            round(c / b, 2) for c, b in zip(current["runs_seconds"], baseline["runs_seconds"], strict=True)
        ]
    # The figure the summary has always shown: this commit's make test (median).
    result["seconds"], result["exit_status"], result["n"] = current["seconds"], current["exit_status"], pairs
    return result


def _budget_block(output: str) -> list[str]:
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "time budget" in line), max(0, len(lines) - 30))
    return lines[start : start + 30]


def _rev_parse(ref: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed argv
        ["git", "rev-parse", ref],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _reset(checkout: Path) -> None:
    """What a run leaves in the checkout (cdk.out, caches) goes, so every run starts as CI's does."""
    subprocess.run(
        ["git", "clean", "-fdxq", "-e", ".venv", "-e", "node_modules", "-e", "*.egg-info"],  # noqa: S607
        cwd=checkout, check=False, capture_output=True,
    )  # fmt: skip
