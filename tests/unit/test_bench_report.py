"""docs/performance.md shows the committed results, regenerated, never hand-typed."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a top-level package of the repository, not of src/
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402

DOCUMENT = ROOT / "docs" / "performance.md"
SECTION_KEYS = ("round_trips", "latency_ms", "catalog_scale", "contention", "cold_start", "synth")


def test_the_document_matches_the_committed_results() -> None:
    current = DOCUMENT.read_text()
    expected = report.render(current, report.blocks(report.load(report.LATEST), report.load(report.CHAOS)))
    assert current == expected, "docs/performance.md is stale: run .venv/bin/python -m bench.report"


def test_every_block_is_generated_and_every_figure_is_committed() -> None:
    text = DOCUMENT.read_text()
    names = report.block_names(text)
    assert sorted(names) == sorted(report.blocks(None, None))
    for image in re.findall(r"!\[[^\]]*\]\((bench/[\w.]+\.png)\)", text):
        assert (ROOT / "docs" / image).is_file(), image


def test_committed_results_have_one_self_describing_key_per_section() -> None:
    data = json.loads(report.LATEST.read_text())
    assert {"schema", "command", "mode", "generated_at", "machine", "duration_seconds"} <= set(data)
    assert {"cpu", "cores", "python", "postgresql", "load_average_1m_at_start"} <= set(data["machine"])
    for key in SECTION_KEYS:
        assert key in data, key
        assert "description" in data[key], key
    assert data["latency_ms"]["unit"] == "ms"
    assert data["round_trips"]["unit"] == "round trips"
    assert data["latency_ms"]["samples_per_cell"] >= 1
    trips = {row["operation"]: row for row in data["round_trips"]["operations"]}
    assert all(trips[name]["shop"] == 1 for name in trips if name.startswith("order"))
    assert all(row["units_exact"] for row in data["contention"]["rows"])
    chaos = json.loads(report.CHAOS.read_text())
    assert chaos["ok"] is True
    assert all(invariant["holds"] for invariant in chaos["invariants"])


def _prose(text: str) -> str:
    return report.BLOCK.sub("", text)


def test_the_prose_types_no_measured_figure() -> None:
    """Measurements (ms with decimals, ratios, throughput, sizes, durations) live in generated blocks only."""
    prose = _prose(DOCUMENT.read_text())
    measured = re.compile(
        r"\d+\.\d+\s?ms\b|\d+(\.\d+)?\s?\N{MULTIPLICATION SIGN}|\d[\d,.]*\s?(orders/s|MiB|MB|GiB)\b"
        r"|~\s?\d+\s?(s|seconds|minutes)\b"
    )
    assert not [m.group(0) for m in measured.finditer(prose)]


def test_rendering_without_results_leaves_placeholders() -> None:
    generated = report.blocks(None, None)
    assert "make bench" in generated["latency"]
    assert "make chaos" in generated["chaos"]
    text = "<!-- generated:chaos -->\nold\n<!-- /generated:chaos -->\n"
    assert (
        report.render(text, generated)
        == f"<!-- generated:chaos -->\n{generated['chaos']}<!-- /generated:chaos -->\n"
    )


def test_a_missing_first_wave_baseline_is_said_not_hidden() -> None:
    assert report._first_wave(None) == ""
    assert "not measured: not a git checkout" in report._first_wave({"skipped": "not a git checkout"})


def test_a_partial_run_says_which_sections_are_its_own() -> None:
    bench = {key: {} for key in report.RESULT_KEYS} | {"sections_measured": ["cold_start"]}
    text = report._partial(bench)
    assert "This run measured `cold_start`" in text and "`synth` are kept from earlier runs" in text
    assert report._partial(bench | {"sections_measured": list(report.RESULT_KEYS)}) == ""
