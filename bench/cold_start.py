"""Cold start alone: ``python -m bench.cold_start [--repeat N] [--json PATH]``.

The measurement is ``bench/sections/cold_start.py`` (also part of ``make bench``); this entry point
runs just that section, first requests included.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.common import Lab, Progress, dump, quiet_handlers
from bench.sections import cold_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    progress = Progress()
    progress.begin("cold_start")
    with Lab.open() as lab, quiet_handlers():
        report = cold_start.run(lab, progress, repeat=args.repeat)
    text = dump(report)
    print(text, end="")
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
