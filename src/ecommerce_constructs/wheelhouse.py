"""``python -m ecommerce_constructs.wheelhouse DIR``: every wheel the Lambda bundles install, for
both architectures, downloaded into DIR so that a later synth needs no package index
(``ECOMMERCE_WHEELHOUSE=DIR cdk synth``). Run it where the index is reachable; copy DIR along.

Imports no aws_cdk: it runs before any synth, on machines that only prepare the directory.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from ._platform import CRT_REQUIREMENTS, PLATFORMS, handlers_source_dir, pip, platform_args


def download(destination: Path) -> list[Path]:
    """Fill ``destination`` (created if missing) and return the wheels it then holds. Raises
    ``SystemExit`` with pip's own error line when a download fails."""
    destination.mkdir(parents=True, exist_ok=True)
    source = handlers_source_dir()
    for architecture in sorted(PLATFORMS):
        for requirements in CRT_REQUIREMENTS:
            command = [
                *pip(),
                "download",
                "--quiet",
                "--requirement",
                str(source / requirements),
                "--dest",
                str(destination),
                *platform_args(architecture),
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if result.returncode != 0:
                error = _last_error(result.stderr)
                raise SystemExit(f"error: pip download of {requirements} for {architecture} failed: {error}")
    return sorted(destination.glob("*.whl"))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _last_error(stderr: str) -> str:
    lines = [_ANSI.sub("", line).strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["(no output)"])[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ecommerce_constructs.wheelhouse", description=__doc__)
    parser.add_argument("directory", type=Path, help="where the wheels go (created if missing)")
    args = parser.parse_args(argv)
    wheels = download(args.directory)
    print(f"{len(wheels)} wheels in {args.directory}; offline synth: ECOMMERCE_WHEELHOUSE={args.directory}")


if __name__ == "__main__":
    main(sys.argv[1:])
