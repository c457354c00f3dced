"""``make bench``: measure what users pay for, in one run, and write the evidence.

Sections (one key each in bench/results/latest.json): ``round_trips`` and ``latency_ms`` (the shop and
the recipe's flow through the same latency proxy at 0, 1 and 10 ms RTT), ``catalog_scale`` (1k, 100k
and 1M products), ``contention`` (concurrent buyers in two simulated regions), ``hot_product`` (a
flash sale with DSQL's commit cost modelled: stock buckets against one stock row), ``cold_start``
and ``synth``. Writes bench/results/latest.json plus a timestamped copy, the plots in docs/bench/, the
generated blocks of docs/performance.md, and prints a summary. Progress goes to stderr; what the
handlers print (Powertools' metric and log lines) is captured, never on the terminal while measuring.

Modes: full (the committed results; ~10 minutes on 2 cores), ``--quick`` (a couple of minutes, same
shape, fewer samples and a smaller catalog), ``--smoke`` (seconds: the test suite's check of the
harness; never written over the committed results unless ``--out`` says so).

Usage: python -m bench [--quick | --smoke] [--sections a,b] [--out DIR] [--plots DIR] [--no-report]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PLOTS, RESULT_KEYS, RESULTS, Lab, Progress, dump, machine, quiet_handlers

# As the Makefile does: jsii (imported by the cold-start and synth sections) warns about Node 20.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

SECTIONS = ("round_trips", "catalog_scale", "contention", "hot_product", "cold_start", "synth")


@dataclass(frozen=True)
class Plan:
    mode: str
    rtts_ms: tuple[float, ...] = (0, 1, 10)
    round_trip_rounds: int = 30
    order_lines: tuple[int, ...] = (1, 10, 50)
    catalog_sizes: tuple[int, ...] = (1_000, 100_000, 1_000_000)
    catalog_rounds: int = 30
    reference_catalog_rounds: int = 5
    contention_rtts_ms: tuple[float, ...] = (0, 1, 10)
    contention_rounds: int = 5
    buyers_per_region: int = 4
    orders_per_buyer: int = 12
    hot_buckets: tuple[int, ...] = (1, 4, 16)
    hot_buyers: tuple[int, ...] = (8, 32)
    hot_demand: int = 384  # orders per burst, whatever the number of buyers
    hot_rounds: int = 3
    hot_commit_ms: float = 20.0  # about one us-east-1 <-> us-east-2 round trip (dsql.md "Multi-region")
    cold_start_repeat: int = 30  # imports are bimodal on a busy machine: 10 samples move a median by ~15 %
    synth_rounds: int = 3
    make_test: bool = True


PLANS = {
    "full": Plan("full"),
    "quick": Plan(
        "quick",
        round_trip_rounds=5,
        catalog_sizes=(1_000, 20_000, 100_000),
        catalog_rounds=10,
        reference_catalog_rounds=2,
        contention_rounds=1,
        cold_start_repeat=3,
        synth_rounds=1,
        make_test=False,
        hot_rounds=1,
    ),
    "smoke": Plan(
        "smoke",
        rtts_ms=(0, 1),
        round_trip_rounds=1,
        order_lines=(1, 10),
        catalog_sizes=(200, 2_000),
        catalog_rounds=2,
        reference_catalog_rounds=1,
        contention_rtts_ms=(0,),
        contention_rounds=1,
        buyers_per_region=1,
        orders_per_buyer=4,
        cold_start_repeat=1,
        synth_rounds=1,
        make_test=False,
        hot_buckets=(1, 4),
        hot_buyers=(2,),
        hot_demand=8,
        hot_rounds=1,
    ),
}


def measure(plan: Plan, sections: tuple[str, ...], progress: Progress) -> tuple[dict[str, Any], int]:
    from bench.sections import catalog_scale, cold_start, contention, hot_product, round_trips, synth

    results: dict[str, Any] = {}
    with Lab.open() as lab, quiet_handlers() as sink:
        results["machine"] = machine(lab.engine)
        if "round_trips" in sections:
            progress.begin("round_trips", f"rtts {list(plan.rtts_ms)} ms, {plan.round_trip_rounds} rounds")
            results["round_trips"], results["latency_ms"] = round_trips.run(
                lab, progress, rtts_ms=plan.rtts_ms, rounds=plan.round_trip_rounds, lines=plan.order_lines
            )
        if "catalog_scale" in sections:
            progress.begin("catalog_scale", f"sizes {list(plan.catalog_sizes)}")
            results["catalog_scale"] = catalog_scale.run(
                lab,
                progress,
                sizes=plan.catalog_sizes,
                rounds=plan.catalog_rounds,
                reference_rounds=plan.reference_catalog_rounds,
            )
        if "contention" in sections:
            progress.begin(
                "contention", f"{2 * plan.buyers_per_region} buyers, {plan.contention_rounds} rounds"
            )
            results["contention"] = contention.run(
                lab,
                progress,
                rtts_ms=plan.contention_rtts_ms,
                buyers_per_region=plan.buyers_per_region,
                orders_per_buyer=plan.orders_per_buyer,
                rounds=plan.contention_rounds,
            )
        if "hot_product" in sections:
            progress.begin(
                "hot_product",
                f"buckets {list(plan.hot_buckets)}, buyers {list(plan.hot_buyers)}, "
                f"commit {plan.hot_commit_ms} ms, {plan.hot_rounds} rounds",
            )
            results["hot_product"] = hot_product.run(
                lab,
                progress,
                buckets=plan.hot_buckets,
                buyers=plan.hot_buyers,
                demand=plan.hot_demand,
                rounds=plan.hot_rounds,
                commit_ms=plan.hot_commit_ms,
            )
        if "cold_start" in sections:
            progress.begin("cold_start", f"{plan.cold_start_repeat} samples")
            results["cold_start"] = cold_start.run(lab, progress, repeat=plan.cold_start_repeat)
        lines = sink.lines
    if "synth" in sections:
        progress.begin("synth", f"{plan.synth_rounds} rounds{', make test' if plan.make_test else ''}")
        results["synth"] = synth.run(progress, rounds=plan.synth_rounds, make_test=plan.make_test)
    return results, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="fewer samples, smaller catalog (a couple of minutes)"
    )
    mode.add_argument("--smoke", action="store_true", help="seconds; checks the harness, not the machine")
    parser.add_argument("--sections", help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument(
        "--out",
        type=Path,
        help="results directory [bench/results]",
    )
    parser.add_argument("--plots", type=Path, help="plot directory [docs/bench]")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-report", action="store_true", help="leave docs/performance.md alone")
    args = parser.parse_args(argv)
    plan = PLANS["quick" if args.quick else "smoke" if args.smoke else "full"]
    sections = tuple(args.sections.split(",")) if args.sections else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.smoke and not args.out:
        parser.error("--smoke needs --out: its numbers must never replace the committed results")
    out = args.out or RESULTS
    progress = Progress()
    started = time.monotonic()
    measured, lines = measure(plan, sections, progress)
    command = (
        "make bench"
        if plan.mode == "full" and sections == SECTIONS
        else "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    )
    previous = json.loads((out / "latest.json").read_text()) if (out / "latest.json").exists() else {}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data: dict[str, Any] = {
        "schema": 1,
        "command": command.strip(),
        "mode": plan.mode,
        "generated_at": stamp,
        "duration_seconds": round(time.monotonic() - started, 1),
        "machine": {**measured.pop("machine"), "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "handler_output_lines": lines,
        "sections_measured": [key for key in RESULT_KEYS if key in measured],
    }
    for key in RESULT_KEYS:
        if key in measured:
            data[key] = measured[key]
        elif args.sections and key in previous:
            data[key] = previous[key]  # a partial run keeps the other sections of the last full one
    out.mkdir(parents=True, exist_ok=True)
    text = dump(data)
    (out / "latest.json").write_text(text)
    (out / f"{stamp.replace(':', '').replace('-', '')}.json").write_text(text)
    progress.section = "done"
    progress.say(f"wrote {out / 'latest.json'}")
    if not args.no_plots:
        from bench import plots

        for path in plots.write_all(data, args.plots or PLOTS):
            progress.say(f"wrote {path}")
    from bench import report

    if not args.no_report:
        report.main([])
    print(report.summary(data, report.load(report.CHAOS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
