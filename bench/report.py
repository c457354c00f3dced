"""docs/performance.md's figures, regenerated from the committed results (never typed by hand).

The document keeps its prose; every figure lives between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->`` and is rewritten from bench/results/latest.json (``make bench``) and
bench/results/chaos-latest.json (``make chaos``). ``--check`` fails when the document is stale
(tests/unit/test_bench_report.py runs the same check).

Usage: python -m bench.report [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RESULT_KEYS, RESULTS, ROOT

DOCUMENT = ROOT / "docs" / "performance.md"
LATEST = RESULTS / "latest.json"
CHAOS = RESULTS / "chaos-latest.json"
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S
)


def load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):  # round trips that varied between samples
        return f"{_num(min(value))}{DASH}{_num(max(value))}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _x(value: Any) -> str:
    return "—" if value is None else f"{value:.1f}{TIMES}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _missing(name: str) -> str:
    return f"*No `{name}` results yet: run `make bench`.*\n"


# ---- blocks ----------------------------------------------------------------------------------------


def machine(bench: dict[str, Any]) -> str:
    m = bench["machine"]
    return (
        f"Measured by `{bench['command']}` ({bench['mode']} mode) on {bench['generated_at']}, commit "
        f"`{m.get('git_commit') or '?'}`{' (with local changes)' if m.get('git_dirty') else ''}, in "
        f"{_num(bench.get('duration_seconds'), 0)} s: {m['cpu']}, {m['cores']} cores, "
        f"{m.get('memory_gib')} GiB, "
        f"{m['os']}, Python {m['python']}, PostgreSQL {m.get('postgresql', '?')}, psycopg {m['psycopg']} "
        f"(libpq {m['libpq']}). Load average at the start: {m['load_average_1m_at_start']}, at the end: "
        f"{m.get('load_average_1m_at_end', '?')} (other work on the machine widens the spread, not the "
        f"medians' order). Handler output captured outside the terminal: "
        f"{_num(bench.get('handler_output_lines'))} lines.{_partial(bench)}\n"
    )


def _partial(bench: dict[str, Any]) -> str:
    """A partial run keeps the other sections of earlier runs: say which numbers are this run's."""
    measured = bench.get("sections_measured")
    kept = [key for key in RESULT_KEYS if key in bench and key not in (measured or RESULT_KEYS)]
    if not kept:
        return ""
    return (
        f" This run measured {', '.join(f'`{k}`' for k in measured or [])}; "
        f"{', '.join(f'`{k}`' for k in kept)} are kept from earlier runs (their timestamped copies are in "
        "`bench/results/`)."
    )


def summary(bench: dict[str, Any], chaos: dict[str, Any] | None) -> str:
    lines = []
    trips = {row["operation"]: row for row in bench.get("round_trips", {}).get("operations", [])}
    orders = [row for name, row in trips.items() if name.startswith("order")]
    if orders:
        shop = sorted({str(row["shop"]) for row in orders})
        reference = ", ".join(f"{row['reference']} ({row['operation'].split(', ')[1]})" for row in orders)
        plural = "" if shop == ["1"] else "s"
        lines.append(
            f"- **Round trips.** Placing an order costs the shop {' or '.join(shop)} round trip{plural} "
            f"whatever its lines; the reference's flow costs {reference}."
        )
    latency = bench.get("latency_ms", {}).get("operations", [])
    if latency:
        worst = max(latency, key=lambda row: row.get("rtt_ms", 0))["rtt_ms"]
        picks = [r for r in latency if r["rtt_ms"] == worst and r.get("reference_over_shop_p50")]
        parts = [
            f"{r['operation']}: {_num(r['shop']['p50'])} ms vs {_num(r['reference']['p50'])} ms "
            f"({_x(r['reference_over_shop_p50'])})"
            for r in picks
        ]
        if parts:
            lines.append(f"- **At {_num(worst)} ms RTT** (p50, shop vs reference): " + "; ".join(parts) + ".")
    scale = bench.get("catalog_scale")
    if scale and scale.get("rows"):
        rows = scale["rows"]
        largest = max(r["products"] for r in rows)
        first = next(r for r in rows if r["operation"] == "first page" and r["products"] == largest)
        deep = next(r for r in rows if r["operation"] == "deep page" and r["products"] == largest)
        stop = scale.get("reference_stopped")
        lines.append(
            f"- **Catalog at {largest:,} products**: first page {_num(first['p50'])} ms "
            f"({_x(first['ratio_to_smallest'])} the smallest catalog's), deep page {_num(deep['p50'])} ms "
            f"({_x(deep['ratio_to_smallest'])})"
            + (f"; the reference stopped: {stop['reason']}." if stop else ".")
        )
    contention = bench.get("contention")
    if contention and contention.get("rows"):
        hot = [r for r in contention["rows"] if r["scenario"] == "hot"]
        worst_hot = max(hot, key=lambda r: r["rtt_ms"])
        exact = all(r["units_exact"] for r in contention["rows"])
        lines.append(
            f"- **Contention** ({contention['buyers']} buyers, both regions, hot product at "
            f"{_num(worst_hot['rtt_ms'])} ms RTT): {_num(worst_hot['orders_per_second_p50'])} orders/s, "
            f"{worst_hot['conflict_retries_per_order']} conflict retries per order, "
            f"{worst_hot['status_503']} {TIMES} 503; units sold equal stock taken in every burst: "
            f"{'yes' if exact else 'NO'}."
        )
    cold = bench.get("cold_start")
    if cold and cold.get("import_ms"):
        imports = cold["import_ms"]
        catalog = "handlers.api.catalog"
        first = cold.get("first_request", {}).get("phases", {})
        lines.append(
            f"- **Cold start** (Python {cold.get('interpreter', cold['python'])}): importing the catalog "
            f"handler takes {_num(imports['with_bytecode'][catalog]['p50'], 0)} ms with bytecode, "
            f"{_num(imports['without_bytecode'][catalog]['p50'], 0)} ms without"
            + (
                f"; the first request {_num(first['first_request_ms']['p50'])} ms (then "
                f"{_num(first['second_request_ms']['p50'])} ms), the first IAM token "
                f"{_num(first['first_token_ms']['p50'], 0)} ms."
                if first
                else "."
            )
        )
        baseline = cold.get("first_wave") or {}
        if "ratio_to_first_wave" in baseline:
            lines.append(
                f"  The first wave's catalog handler, imported beside it: "
                f"{_num(baseline['import_ms'][catalog]['p50'], 0)} ms (ours "
                f"{baseline['ratio_to_first_wave'][catalog]['p50']:.2f}{TIMES} of it by the medians, "
                f"{baseline['ratio_to_first_wave'][catalog]['min']:.2f}{TIMES} by the minimums); the issue's "
                f"{_num(baseline['issue_target_ms'], 0)} ms target, set where that baseline took "
                f"{_num(baseline['issue_baseline_ms'], 0)} ms, is "
                f"{_num(baseline['target_on_this_machine_ms'][catalog], 0)} ms here."
            )
    synth = bench.get("synth")
    if synth and synth.get("warm"):
        make_test = synth.get("make_test")
        test_text = "."
        if make_test and make_test["exit_status"] == 0:
            test_text = f"; `make test` {_num(make_test['seconds'], 0)} s" + (
                f", {make_test['ratio']:.2f}{TIMES} the baseline's "
                f"{_num(make_test['baseline']['seconds'], 0)} s ({make_test['baseline']['ref']}) "
                "on clean checkouts in the same run."
                if "ratio" in make_test
                else "."
            )
        elif make_test:  # a failed run's time says nothing about the suite
            test_text = (
                f"; `make test` FAILED (exit status {make_test['exit_status']}): rerun the synth section."
            )
        lines.append(
            f"- **Synth**: `cdk synth` {_num(synth['warm']['seconds_p50'])} s warm, "
            f"{_num(synth['bundling_skipped']['seconds_p50'])} s with bundling skipped "
            f"(peak {_num(synth['warm']['peak_rss_mib_p50'], 0)} MiB)" + test_text
        )
    if chaos:
        failed = [i["name"] for i in chaos["invariants"] if not i["holds"]]
        injected = sum(chaos["faults"].values())
        lines.append(
            f"- **Chaos** (`{chaos['command']}`): {chaos['requests']['total']:,} requests, "
            f"{injected:,} faults "
            f"injected; " + ("every invariant held." if not failed else f"FAILED: {', '.join(failed)}.")
        )
    return "\n".join(lines) + "\n"


def round_trips(bench: dict[str, Any]) -> str:
    section = bench.get("round_trips")
    if not section:
        return _missing("round_trips")
    rows = [
        [
            row["operation"],
            _num(row["shop"]),
            _num(row["reference"]) if row["reference"] is not None else "n/a",
            _x(row["reference_over_shop"]),
        ]
        for row in section["operations"]
    ]  # fmt: skip
    return (
        _table(["operation", "shop", "reference", "reference ÷ shop"], rows)
        + f"\n{section['catalog'][0].upper()}{section['catalog'][1:]}. A new connection is charged "
        f"{section['connect_round_trips_modelled']} modelled round trips "
        f"({section['connect_model'].split(': ')[1]}).\n"
    )


def latency(bench: dict[str, Any]) -> str:
    section = bench.get("latency_ms")
    if not section:
        return _missing("latency_ms")
    rows = []
    for row in section["operations"]:
        shop, reference = row["shop"] or {}, row["reference"] or {}
        rows.append(
            [
                row["operation"],
                _num(row["rtt_ms"]),
                _num(shop.get("p50"), 2),
                _num(shop.get("p99"), 2),
                _num(reference.get("p50"), 2) if reference else "n/a",
                _num(reference.get("p99"), 2) if reference else "n/a",
                _x(row.get("reference_over_shop_p50")),
            ]
        )
    header = ["operation", "RTT ms", "shop p50", "shop p99", "reference p50", "reference p99", "ratio p50"]
    return (
        _table(header, rows) + f"\nMilliseconds; {section['samples_per_cell']} interleaved samples per cell; "
        f"{section['percentiles']}.\n"
    )


def catalog_scale(bench: dict[str, Any]) -> str:
    section = bench.get("catalog_scale")
    if not section:
        return _missing("catalog_scale")
    by = {(r["operation"], r["products"]): r for r in section["rows"]}
    sizes = sorted({r["products"] for r in section["rows"]})
    rows = []
    for size in sizes:
        cells = [f"{size:,}"]
        for kind in ("first page", "deep page", "reference, unpaginated"):
            row = by.get((kind, size))
            if row is None:
                cells.append("not measured")
                continue
            text = f"{_num(row['p50'], 2)} ms ({_x(row['ratio_to_smallest'])})"
            if "response_bytes" in row:
                text += f", {row['response_bytes'] / 2**20:.1f} MiB"
            cells.append(text)
        rows.append(cells)
    stopped = section.get("reference_stopped")
    note = (
        f"\nThe reference stopped after {stopped['after_size']:,} products: {stopped['reason']}.\n"
        if stopped
        else ""
    )
    load = ", ".join(f"{int(k):,} in {v} s" for k, v in section["load_seconds"].items())
    return (
        _table(
            [
                "products",
                f"first page p50 ({TIMES} smallest)",
                f"deep page p50 ({TIMES} smallest)",
                "reference p50, body",
            ],
            rows,
        )
        + note
        + f"\n{section['samples_per_cell']} interleaved samples per page cell, "
        f"{section['reference_samples_per_cell']} per reference cell, at {section['rtt_ms']:g} ms "
        f"injected RTT. Loaded with {section['load_method']}: {load}.\n"
    )


def contention(bench: dict[str, Any]) -> str:
    section = bench.get("contention")
    if not section:
        return _missing("contention")
    rows = [
        [
            row["scenario"],
            _num(row["rtt_ms"]),
            f"{_num(row['orders_per_second_p50'], 0)} ({_num(row['orders_per_second_min'], 0)}{DASH}"
            f"{_num(row['orders_per_second_max'], 0)})",
            f"{row['conflict_retries_per_order']:.3f}",
            _num(row["status_201"]),
            _num(row["status_409"]),
            _num(row["status_503"]),
            f"{_num(row['units_sold'])}"
            + (f" of {_num(row['stock_offered'])}" if row["stock_offered"] else ""),
            "yes" if row["units_exact"] else "**NO**",
        ]
        for row in section["rows"]
    ]
    header = [
        "scenario",
        "RTT ms",
        f"orders/s p50 (min{DASH}max)",
        "conflict retries / order",
        "201",
        "409",
        "503",
        "units sold",
        "exact",
    ]
    return (
        _table(header, rows) + f"\n{section['buyers']} buyers ({', '.join(section['regions'])}), "
        f"{section['orders_per_buyer_per_burst']} "
        f"orders each per burst, {section['rounds']} bursts per cell. Hot: {section['hot_stock']}; spread: "
        f"{section['spread_catalog']}. {section['database']}.\n"
    )


def hot_product(bench: dict[str, Any]) -> str:
    section = bench.get("hot_product")
    if not section:
        return _missing("hot_product")
    rows = [
        [
            row["layout"],
            _num(row["buyers"]),
            f"{_num(row['orders_per_second_p50'], 0)} ({_num(row['orders_per_second_min'], 0)}{DASH}"
            f"{_num(row['orders_per_second_max'], 0)})",
            f"{row['conflict_retries_per_order']:.3f}",
            f"{_num(row['latency_201_ms']['p50'])} / {_num(row['latency_201_ms']['p99'])}",
            _num(row["status_201"]),
            _num(row["status_409"]),
            _num(row["status_503"]),
            f"{_num(row['units_sold'])}"
            + (f" of {_num(row['stock_offered'])}" if row["stock_offered"] else ""),
            "yes" if row["units_exact"] else "**NO**",
        ]
        for row in section["rows"]
    ]
    header = [
        "stock",
        "buyers",
        f"orders/s p50 (min{DASH}max)",
        "conflict retries / order",
        "201 latency ms p50 / p99",
        "201",
        "409",
        "503",
        "units sold",
        "exact",
    ]
    goal = section["goal"]
    verdict = {True: "met", False: "**not met**", None: "not measured"}[goal.get("met")]
    judged = "the 5x speed-up" if goal.get("by") == "speedup" else "80 % of the ceiling"
    how = (
        f"{goal['speedup']}x the orders/s of 1 bucket, {round(100 * goal['of_ceiling'])} % of the spread "
        f"catalog's ceiling; judged by {judged}"
        if goal.get("met") is not None
        else goal.get("reason", "")
    )
    return (
        _table(header, rows)
        + f"\nCommit model {_num(section['commit_ms'])} ms per COMMIT, {_num(section['rtt_ms'])} ms RTT "
        f"otherwise; buyers split over {', '.join(section['regions'])}; {section['demand_per_burst']} "
        f"orders per burst, {section['rounds']} bursts per cell. Hot: {section['hot_stock']}; spread: "
        f"{section['spread_catalog']}. {section['database']}.\n\n"
        f"Goal (16 buckets, 32 buyers): {verdict} ({how}).\n"
    )


def cold_start(bench: dict[str, Any]) -> str:
    section = bench.get("cold_start")
    if not section:
        return _missing("cold_start")
    parts = []
    if "import_ms" in section:
        imports = section["import_ms"]
        rows = [
            [f"`{module}`", _num(imports["without_bytecode"][module]["p50"], 0),
             _num(imports["with_bytecode"][module]["p50"], 0), _x(section["bytecode_speedup"][module])]
            for module in imports["with_bytecode"]
        ]  # fmt: skip
        parts.append(
            _table(["handler", "import ms, no bytecode (p50)", "with bytecode (p50)", "speed-up"], rows)
            + f"\nPython {section.get('interpreter')}, {section['samples']} interleaved samples each, "
            f"bundle built for {section['architecture']}: {section['note']}.\n"
        )
    else:
        parts.append(f"Imports not measured: {section.get('skipped')}.\n")
    parts.append(_first_wave(section.get("first_wave")))
    first = section.get("first_request")
    if first:
        rows = [
            [key.removesuffix("_ms").replace("_", " "), _num(stats["p50"], 2), _num(stats["p99"], 2),
             first["meaning"][key]]
            for key, stats in first["phases"].items()
        ]  # fmt: skip
        parts.append(
            f"\nA new execution environment's first request ({first['request']}, {_num(first['rtt_ms'])} ms "
            f"injected RTT, bundle with bytecode):\n\n" + _table(["phase", "p50 ms", "p99 ms", "what"], rows)
        )
    sizes = section.get("size", {})
    rows = [
        [
            label.replace("_", " "),
            f"{s['unzipped_bytes'] / 2**20:.1f} MiB",
            f"{s['zipped_bytes'] / 2**20:.1f} MiB",
        ]
        for label, s in sizes.items()
    ]
    parts.append("\nAsset size:\n\n" + _table(["bundle", "unzipped", "zipped"], rows))
    return "".join(parts)


def _first_wave(baseline: dict[str, Any] | None) -> str:
    """The issue's target (set on another machine) read through the first wave's handlers."""
    if not baseline:
        return ""
    if "skipped" in baseline:
        return f"\nFirst-wave baseline not measured: {baseline['skipped']}.\n"
    rows = [
        [f"`{module}`", _num(stats["p50"], 0), f"{baseline['ratio_to_first_wave'][module]['p50']:.2f}{TIMES}",
         f"{baseline['ratio_to_first_wave'][module]['min']:.2f}{TIMES}",
         _num(baseline["projected_on_issue_machine_ms"][module], 0),
         _num(baseline["target_on_this_machine_ms"][module], 0)]
        for module, stats in baseline["import_ms"].items()
    ]  # fmt: skip
    return (
        f"\nThe cold-start target ({_num(baseline['issue_target_ms'], 0)} ms) was set on a machine where the "
        f"first wave's handlers (commit `{baseline['commit']}`) imported in "
        f"~{_num(baseline['issue_baseline_ms'], 0)} ms with bytecode. The same run imports those handlers, "
        "from the same dependencies and bytecode, beside ours (the projection uses the larger of the two "
        "ratios):\n\n"
        + _table(
            [
                "handler",
                "first wave, with bytecode (p50 ms)",
                "ours / first wave (p50)",
                "(min)",
                "ours projected on the issue's machine (ms)",
                "target carried to this machine (ms)",
            ],
            rows,
        )
    )


def synth(bench: dict[str, Any]) -> str:
    section = bench.get("synth")
    if not section:
        return _missing("synth")
    if "skipped" in section:
        return f"Not measured: {section['skipped']}.\n"
    rows = [["cold (empty output directory, bundle built)", _num(section["cold"]["seconds"]),
             _num(section["cold"]["peak_rss_mib"], 0), "1"]]  # fmt: skip
    for name, label in (("warm", "warm (asset already staged)"), ("bundling_skipped", "bundling skipped")):
        run = section[name]
        rows.append(
            [
                label,
                f"{_num(run['seconds_p50'])} ({_num(run['seconds_min'])}{DASH}{_num(run['seconds_max'])})",
                _num(run["peak_rss_mib_p50"], 0),
                str(run["n"]),
            ]
        )
    make_test = section.get("make_test")
    tail = "\n`make test` was not timed in this run.\n"
    if make_test and "baseline" in make_test:
        lines = []
        for name in ("baseline", "current"):
            run = make_test.get(name) or {}
            runs = run.get("runs_seconds") or ([run["seconds"]] if run.get("seconds") else [])
            median = _num(run["seconds"], 0) if run.get("seconds") else DASH
            lines.append(
                f"| {name} ({run.get('ref', DASH)}) | {median} | "
                f"{', '.join(_num(x, 0) for x in runs) or DASH} | {run.get('exit_status', DASH)} |"
            )
        ratio = f"{make_test['ratio']:.2f}{TIMES}" if "ratio" in make_test else DASH
        pairs = ", ".join(f"{r:.2f}{TIMES}" for r in make_test.get("pair_ratios", []))
        how = (
            "`git clean` between runs), interleaved with the order alternating"
            if make_test.get("pairs")
            else "one run each, the baseline first)"
        )
        tail = (
            "\n`make test` on clean checkouts (git worktrees, `make install` untimed, " + how + ":\n\n"
            "| checkout | median wall s | runs | exit status |\n|---|---|---|---|\n"
            + "\n".join(lines)
            + f"\n\nCurrent over baseline: {ratio} by the medians"
            + (f" (each pair: {pairs})" if pairs else "")
            + ".\n"
        )
    elif make_test:
        tail = (
            f"\n`make test` (lint, types, every test, once): {_num(make_test['seconds'], 0)} s, exit status "
            f"{make_test['exit_status']}.\n"
        )
    return _table(["cdk synth", f"wall s (p50, min{DASH}max)", "peak MiB", "runs"], rows) + tail


def chaos_block(chaos: dict[str, Any] | None) -> str:
    if not chaos:
        return "*No chaos results yet: run `make chaos`.*\n"
    config = chaos["config"]
    outcome_rows = [
        [kind, ", ".join(f"{status}: {count}" for status, count in counts.items())]
        for kind, counts in chaos["requests"]["outcomes"].items()
    ]
    fault_rows = [[name, _num(count)] for name, count in chaos["faults"].items()]
    retry_rows = [[name.replace("_", " "), _num(value)] for name, value in chaos["retries"].items()]
    invariant_rows = [
        [i["name"], "holds" if i["holds"] else "**VIOLATED**", i["detail"]] for i in chaos["invariants"]
    ]
    deadline = chaos["deadline"]
    return (
        f"`{chaos['command']}` on {chaos['generated_at']}: {chaos['requests']['total']:,} requests "
        f"({chaos['requests']['load']:,} under load, {chaos['requests']['resolution']:,} resolving unknown "
        f"outcomes) by {2 * config['workers_per_region']} workers in two regions over {config['products']} "
        f"products of stock "
        f"{config['stock']}, seed {config['seed']}, {chaos['seconds']} s.\n\n"
        + _table(["request (phase)", "answers"], outcome_rows)
        + "\nInjected faults:\n\n"
        + _table(["fault", "count"], fault_rows)
        + "\nThe data layer's own counters (all execution environments):\n\n"
        + _table(["counter", "value"], retry_rows)
        + f"\nDeadlines: function timeout {deadline['function_timeout_seconds']} s (handler deadline "
        f"{deadline['handler_deadline_seconds']} s); slowest answer a function gave "
        f"{deadline['slowest_function_answer_seconds']} s; {deadline['killed_at_the_function_timeout']} "
        f"invocation(s) killed at the timeout (a stalled response), {deadline['hung_after_kill']} hung "
        "after it.\n\n" + _table(["invariant", "verdict", "detail"], invariant_rows)
    )


def blocks(bench: dict[str, Any] | None, chaos: dict[str, Any] | None) -> dict[str, str]:
    if bench is None:
        empty = _missing("bench")
        result = dict.fromkeys(
            (
                "machine",
                "summary",
                "round-trips",
                "latency",
                "catalog-scale",
                "contention",
                "hot-product",
                "cold-start",
                "synth",
            ),
            empty,
        )
    else:
        makers: dict[str, Callable[[dict[str, Any]], str]] = {
            "machine": machine,
            "round-trips": round_trips,
            "latency": latency,
            "catalog-scale": catalog_scale,
            "contention": contention,
            "hot-product": hot_product,
            "cold-start": cold_start,
            "synth": synth,
        }
        result = {name: make(bench) for name, make in makers.items()}
        result["summary"] = summary(bench, chaos)
    result["chaos"] = chaos_block(chaos)
    return result


def render(document: str, generated: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in generated:
            raise KeyError(f"docs/performance.md has an unknown generated block {name!r}")
        return f"{match.group(1)}{generated[name]}{match.group(4)}"

    return BLOCK.sub(replace, document)


def block_names(document: str) -> list[str]:
    return [match["name"] for match in BLOCK.finditer(document)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/performance.md is stale")
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    parser.add_argument("--results", type=Path, default=LATEST)
    parser.add_argument("--chaos", type=Path, default=CHAOS)
    args = parser.parse_args(argv)
    current = args.document.read_text()
    updated = render(current, blocks(load(args.results), load(args.chaos)))
    if args.check:
        if updated != current:
            print(f"{args.document} is stale: run python -m bench.report", file=sys.stderr)
            return 1
        return 0
    if updated != current:
        args.document.write_text(updated)
        print(f"updated {args.document}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
