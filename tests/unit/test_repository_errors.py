"""The repository turns driver and data-layer failures into domain errors (the API maps those)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import psycopg
import pytest

from handlers.db import CommitOutcomeUnknownError, ConfigurationError, RetriesExhaustedError
from handlers.shop import domain
from handlers.shop.repository import ShopRepository


class FailingDatabase:
    """Raises the given error from every unit of work, as the real Database would."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def run_autocommit(self, work: Any, **_: Any) -> Any:
        raise self.error

    run_transaction = run_autocommit


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (psycopg.errors.NumericValueOutOfRange("numeric field overflow"), domain.InvalidValue),
        (psycopg.errors.StringDataRightTruncation("value too long for type"), domain.InvalidValue),
        (psycopg.errors.CheckViolation("new row violates check constraint"), domain.InvalidValue),
        (psycopg.OperationalError("server closed the connection"), domain.Unavailable),
        (ConfigurationError("set DSQL_ENDPOINT"), domain.Unavailable),
        (CommitOutcomeUnknownError(OSError("reset")), domain.OutcomeUnknown),
        (
            RetriesExhaustedError(8, psycopg.errors.SerializationFailure("OC000"), reason="attempts"),
            domain.Busy,
        ),
        (
            RetriesExhaustedError(8, psycopg.OperationalError("refused"), reason="attempts"),
            domain.Unavailable,
        ),
    ],
)
def test_failures_become_domain_errors(error: BaseException, expected: type[domain.ShopError]) -> None:
    repository = ShopRepository(lambda: FailingDatabase(error))  # type: ignore[arg-type,return-value]
    with pytest.raises(expected) as raised:
        repository.get_product(uuid4())
    assert type(raised.value) is expected
    assert str(error) not in raised.value.detail  # driver text never reaches a client


def test_programming_errors_are_not_disguised() -> None:
    repository = ShopRepository(lambda: FailingDatabase(psycopg.errors.UndefinedTable("no table")))  # type: ignore[arg-type,return-value]
    with pytest.raises(psycopg.errors.UndefinedTable):
        repository.get_product(uuid4())
