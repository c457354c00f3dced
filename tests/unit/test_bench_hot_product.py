"""bench/sections/hot_product.py's pure parts: the goal's arithmetic and a burst's exactness."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a top-level package of the repository, not of src/
    sys.path.insert(0, str(ROOT))

from bench.sections.hot_product import SPREAD, Burst, goal  # noqa: E402


def rows(single: float, sharded: float, ceiling: float) -> list[dict[str, Any]]:
    return [
        {"buckets": 1, "buyers": 32, "orders_per_second_p50": single},
        {"buckets": 16, "buyers": 32, "orders_per_second_p50": sharded},
        {"buckets": None, "buyers": 32, "orders_per_second_p50": ceiling},
    ]


def test_five_times_one_bucket_meets_the_goal_by_speedup() -> None:
    assert goal(rows(10, 50, 400), 16, 32) == {
        "met": True,
        "by": "speedup",
        "speedup": 5.0,
        "of_ceiling": 0.12,
    }


def test_below_five_times_fails_when_the_ceiling_allowed_it() -> None:
    assert goal(rows(10, 49, 400), 16, 32) == {
        "met": False,
        "by": "speedup",
        "speedup": 4.9,
        "of_ceiling": 0.12,
    }


@pytest.mark.parametrize(("sharded", "met"), [(32, True), (31, False)])
def test_a_low_ceiling_is_judged_at_80_percent_of_it(sharded: float, met: bool) -> None:
    result = goal(rows(10, sharded, 40), 16, 32)  # the machine's ceiling is below 5x one bucket
    assert (result["met"], result["by"]) == (met, "ceiling")


def test_the_draw_per_attempt_arm_is_never_judged() -> None:
    """The A/B arm (the bucket choice the homes replaced) has the same bucket count: the goal must
    judge the shop's own choice, whichever row comes last."""
    drawn = {"buckets": 16, "buyers": 32, "orders_per_second_p50": 500, "draw_per_attempt": True}
    assert goal([*rows(10, 49, 400), drawn], 16, 32)["met"] is False
    assert goal([drawn, *rows(10, 50, 400)[:1], rows(10, 50, 400)[2]], 16, 32)["met"] is None


def test_a_missing_cell_is_not_judged() -> None:
    assert goal(rows(10, 50, 400)[:2], 16, 32) == {"met": None, "reason": "cells missing"}
    assert goal(rows(0, 50, 400), 16, 32)["met"] is None  # no 201 at all with one bucket


def burst(layout: int | str = 4, **changes: Any) -> Burst:
    values: dict[str, Any] = {
        "layout": layout,
        "buyers": 8,
        "seconds": 1.0,
        "statuses": Counter({201: 6, 409: 2}),
        "latencies_ms": [1.0] * 6,
        "conflicts": 0,
        "units_201": 6,
        "units_sold_db": 6,
        "stock_taken_db": 6,
        "stock": 6,
        "left_db": 0,
        "negative_buckets": 0,
    }
    return Burst(**{**values, **changes})


def test_a_hot_burst_is_exact_when_sold_out_at_zero_and_the_counts_agree() -> None:
    assert burst().exact


@pytest.mark.parametrize(
    "changes",
    [
        {"units_201": 7},  # a 201 without a sold unit
        {"units_sold_db": 5},  # a unit sold without its stock taken, or the reverse
        {"stock_taken_db": 7},
        {"left_db": 1},  # a hot product not sold out
        {"left_db": -1},
        {"negative_buckets": 1},  # oversold in a bucket
    ],
)
def test_any_disagreement_makes_a_burst_inexact(changes: dict[str, Any]) -> None:
    assert not burst(**changes).exact


def test_the_spread_catalog_need_not_sell_out() -> None:
    assert burst(SPREAD, left_db=500).exact
    assert not burst(SPREAD, left_db=500, units_sold_db=5).exact
