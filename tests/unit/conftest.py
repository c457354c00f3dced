"""tests/unit holds pure tests: no database, no CDK synthesis, no child process (tests/areas.py)."""

from __future__ import annotations

import pytest

from areas import refuse_impure


@pytest.fixture(autouse=True)
def _pure(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_impure(monkeypatch)
