"""Database.retry_as_conflict (review B1): a caller's re-run counts as a conflict retry, backs off,
and respects the attempt limit and the deadline like a 40001 would."""

from __future__ import annotations

from handlers.db import Database
from handlers.db.transactions import Backoff


class Fixed:
    def uniform(self, low: float, high: float) -> float:
        return high


def database(now: list[float], slept: list[float]) -> Database:
    def never() -> None:
        raise AssertionError("no connection is needed")

    return Database(
        connector=never,  # type: ignore[arg-type]
        backoff=Backoff(base=0.1, cap=1.0, rng=Fixed()),
        max_attempts=3,
        clock=lambda: now[0],
        sleep=slept.append,
    )


def test_a_re_run_is_counted_and_backs_off() -> None:
    slept: list[float] = []
    db = database([0.0], slept)
    assert db.retry_as_conflict(1, deadline=10.0)
    assert db.retry_as_conflict(2)
    assert (db.stats.conflicts, db.stats.retries, slept) == (2, 2, [0.1, 0.2])


def test_no_re_run_past_the_attempt_limit_or_the_deadline() -> None:
    slept: list[float] = []
    db = database([0.0], slept)
    assert not db.retry_as_conflict(3)  # max_attempts units already ran
    assert not db.retry_as_conflict(1, deadline=0.05)  # the backoff would end past it
    assert (db.stats.conflicts, db.stats.retries, slept) == (0, 0, [])
