"""Cold start of the bundled handlers: import time in a fresh interpreter of the runtime's Python.

The bundle is built exactly as for Lambda (``ecommerce_constructs.bundling``), but for this
machine's architecture so that its native wheels load here. Each handler module is imported in a
new process (``-I -B``: isolated, no bytecode written, so every run starts cold) ``--repeat`` times;
medians and spread are reported. Without a Python of the runtime's version the numbers would not
describe Lambda, and the run says so instead of measuring something else.

Usage: python -m bench.cold_start [--repeat N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ecommerce_constructs import bundling

ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
HANDLER_MODULES = ("handlers.api.catalog", "handlers.api.orders")
IMPORT = (
    "import sys, time; sys.path.insert(0, {path!r}); t = time.perf_counter(); import {module}; "
    "print((time.perf_counter() - t) * 1000)"
)


def build_bundle(target: Path, *, bytecode: bool) -> None:
    interpreter = bundling.bytecode_interpreter() if bytecode else None
    bundling.LocalPipBundling(ARCH, interpreter).try_bundle(str(target), image=None)


def import_ms(interpreter: str, bundle: Path, module: str) -> float:
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "DSQL_ENDPOINT": "x.dsql.us-east-1.on.aws"}
    result = subprocess.run(  # noqa: S603 - fixed argv
        [interpreter, "-I", "-B", "-c", IMPORT.format(path=str(bundle), module=module)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(result.stdout.strip())


def size(bundle: Path) -> dict[str, int]:
    unzipped = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "bundle.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(bundle.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(bundle).as_posix())
        return {"unzipped_bytes": unzipped, "zipped_bytes": archive.stat().st_size}


def measure(repeat: int) -> dict[str, Any]:
    interpreter = bundling.bytecode_interpreter()
    report: dict[str, Any] = {
        "python": bundling.LAMBDA_PYTHON_VERSION,
        "architecture": ARCH,
        "samples": repeat,
        "unit": "ms",
    }
    if interpreter is None:
        report["skipped"] = f"no Python {bundling.LAMBDA_PYTHON_VERSION} interpreter on this machine"
        return report
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        for label, bytecode in (("with_bytecode", True), ("without_bytecode", False)):
            bundle = Path(scratch) / label
            build_bundle(bundle, bytecode=bytecode)
            report[label] = {"size": size(bundle)}
            for module in HANDLER_MODULES:
                import_ms(interpreter, bundle, module)  # warm the page cache, not the interpreter
                samples = sorted(import_ms(interpreter, bundle, module) for _ in range(repeat))
                report[label][module] = {
                    "median": round(statistics.median(samples), 1),
                    "min": round(samples[0], 1),
                    "max": round(samples[-1], 1),
                }
            shutil.rmtree(bundle)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = measure(args.repeat)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
