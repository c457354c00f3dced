"""PNG plots of bench/results/latest.json into docs/bench/ (matplotlib, no display needed).

Usage: python -m bench.plots [--results PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import PLOTS, RESULTS

SHOP = "#1f77b4"
REFERENCE = "#d62728"
# PNGs without a timestamp or software version, so that a rerun changes them only when numbers do.
METADATA = {"Software": None, "Creation Time": None}


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata=METADATA)
    plt.close(figure)
    return path


def latency(data: dict[str, Any], out: Path) -> Path | None:
    section = data.get("latency_ms")
    if not section:
        return None
    rtts = section["rtts_ms"]
    operations = list(dict.fromkeys(row["operation"] for row in section["operations"]))
    figure, axes = plt.subplots(1, len(rtts), figsize=(4.2 * len(rtts), 4.2), sharey=True)
    axes = list(axes) if len(rtts) > 1 else [axes]
    for axis, rtt in zip(axes, rtts, strict=True):
        rows = {row["operation"]: row for row in section["operations"] if row["rtt_ms"] == rtt}
        positions = range(len(operations))
        width = 0.4
        for offset, arm, color in ((-width / 2, "shop", SHOP), (width / 2, "reference", REFERENCE)):
            values = [(rows[o][arm] or {}).get("p50", 0) or 0 for o in operations]
            errors = [
                max(
                    0.0, ((rows[o][arm] or {}).get("p99", 0) or 0) - ((rows[o][arm] or {}).get("p50", 0) or 0)
                )
                for o in operations
            ]
            axis.bar([p + offset for p in positions], values, width, yerr=[[0] * len(values), errors],
                     color=color, label=arm, capsize=2)  # fmt: skip
        axis.set_xticks(list(positions))
        axis.set_xticklabels(operations, rotation=40, ha="right", fontsize=8)
        axis.set_yscale("log")
        axis.set_title(f"{rtt} ms RTT")
    axes[0].set_ylabel("ms per request (p50, bar to p99)")
    axes[0].legend()
    figure.suptitle("Request time: shop vs the recipe's flow (reference)")
    return _save(figure, out / "latency.png")


def round_trips(data: dict[str, Any], out: Path) -> Path | None:
    section = data.get("round_trips")
    if not section:
        return None
    rows = section["operations"]
    names = [row["operation"] for row in rows]
    figure, axis = plt.subplots(figsize=(7.5, 4))
    positions = range(len(names))
    width = 0.4
    for offset, arm, color in ((-width / 2, "shop", SHOP), (width / 2, "reference", REFERENCE)):
        values = [max(row[arm]) if isinstance(row[arm], list) else (row[arm] or 0) for row in rows]
        bars = axis.bar([p + offset for p in positions], values, width, color=color, label=arm)
        axis.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=8)
    axis.set_xticks(list(positions))
    axis.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    axis.set_yscale("log")
    axis.set_ylabel("round trips per request")
    axis.legend()
    axis.set_title("Round trips on the wire")
    return _save(figure, out / "round_trips.png")


def catalog_scale(data: dict[str, Any], out: Path) -> Path | None:
    section = data.get("catalog_scale")
    if not section:
        return None
    figure, axis = plt.subplots(figsize=(6.5, 4))
    styles = {
        "first page": (SHOP, "o-"),
        "deep page": ("#2ca02c", "s-"),
        "reference, unpaginated": (REFERENCE, "^--"),
    }
    for kind, (color, style) in styles.items():
        rows = sorted((r for r in section["rows"] if r["operation"] == kind), key=lambda r: r["products"])
        if rows:
            axis.plot([r["products"] for r in rows], [r["p50"] for r in rows], style, color=color, label=kind)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("products in the catalog")
    axis.set_ylabel("ms per request (p50)")
    axis.legend()
    axis.set_title("Catalog page time vs catalog size")
    return _save(figure, out / "catalog_scale.png")


def contention(data: dict[str, Any], out: Path) -> Path | None:
    section = data.get("contention")
    if not section:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    for scenario, color in (("hot", REFERENCE), ("spread", SHOP)):
        rows = sorted((r for r in section["rows"] if r["scenario"] == scenario), key=lambda r: r["rtt_ms"])
        rtts = [str(r["rtt_ms"]) for r in rows]
        left.plot(rtts, [r["orders_per_second_p50"] for r in rows], "o-", color=color, label=scenario)
        right.plot(rtts, [r["conflict_retries_per_order"] for r in rows], "o-", color=color, label=scenario)
    left.set_xlabel("injected RTT (ms)")
    left.set_ylabel("orders per second (p50)")
    right.set_xlabel("injected RTT (ms)")
    right.set_ylabel("conflict retries per order")
    left.legend()
    figure.suptitle(f"{section['buyers']} concurrent buyers in two regions")
    return _save(figure, out / "contention.png")


def hot_product(data: dict[str, Any], out: Path) -> Path | None:
    section = data.get("hot_product")
    if not section:
        return None
    rows = section["rows"]
    buyers = sorted({r["buyers"] for r in rows})
    layouts = list(dict.fromkeys(r["layout"] for r in rows))
    cell = {(r["layout"], r["buyers"]): r for r in rows}
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    positions = range(len(layouts))
    width = 0.8 / len(buyers)
    colors = (REFERENCE, SHOP, "#2ca02c", "#9467bd")
    for index, count in enumerate(buyers):
        offset = (index - (len(buyers) - 1) / 2) * width
        rates = [cell[(layout, count)]["orders_per_second_p50"] for layout in layouts]
        retries = [cell[(layout, count)]["conflict_retries_per_order"] for layout in layouts]
        bars = left.bar(
            [p + offset for p in positions], rates, width, color=colors[index], label=f"{count} buyers"
        )
        left.bar_label(bars, fmt="%.0f", fontsize=7)
        right.bar(
            [p + offset for p in positions], retries, width, color=colors[index], label=f"{count} buyers"
        )
    for axis in (left, right):
        axis.set_xticks(list(positions))
        axis.set_xticklabels(layouts, rotation=20, ha="right", fontsize=8)
    left.set_ylabel("orders per second (p50)")
    right.set_ylabel("conflict retries per order")
    left.legend(fontsize=8)
    figure.suptitle(
        f"A hot product, commits held {section['commit_ms']:g} ms, buyers in two regions", fontsize=10
    )
    return _save(figure, out / "hot_product.png")


def cold_start(data: dict[str, Any], out: Path) -> Path | None:
    section = data.get("cold_start")
    if not section or "import_ms" not in section:
        return None
    imports = section["import_ms"]
    modules = list(imports["with_bytecode"])
    figure, axis = plt.subplots(figsize=(6, 3.6))
    positions = range(len(modules))
    width = 0.38
    for offset, label, color in (
        (-width / 2, "without_bytecode", REFERENCE),
        (width / 2, "with_bytecode", SHOP),
    ):
        values = [imports[label][m]["p50"] for m in modules]
        bars = axis.bar(
            [p + offset for p in positions], values, width, color=color, label=label.replace("_", " ")
        )
        axis.bar_label(bars, fmt="%.0f", fontsize=8)
    axis.set_xticks(list(positions))
    axis.set_xticklabels(modules, fontsize=8)
    axis.set_ylabel("import ms (p50)")
    axis.legend()
    axis.set_title(f"Handler import in a fresh Python {section.get('interpreter', '')}")
    return _save(figure, out / "cold_start.png")


def write_all(data: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = [
        plot(data, out) for plot in (latency, round_trips, catalog_scale, contention, hot_product, cold_start)
    ]
    return [path for path in made if path is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--out", type=Path, default=PLOTS)
    args = parser.parse_args()
    for path in write_all(json.loads(args.results.read_text()), args.out):
        print(path)


if __name__ == "__main__":
    main()
