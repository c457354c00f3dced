"""What the botocore-speaking fakes share: answering a real client with an AWSResponse, and checking
every request and answer against the service model, constraints included."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters


def constraint_problems(value: Any, shape: Shape, path: str = "") -> list[tuple[str, str]]:
    """The min/max/pattern/enum violations botocore's ParamValidator does not report (run it first)."""
    meta, kind = shape.metadata, shape.type_name
    where = path or shape.name
    problems: list[tuple[str, str]] = []
    if kind == "structure":
        for name, member in shape.members.items():
            if value.get(name) is not None:
                problems += constraint_problems(value[name], member, f"{path}.{name}" if path else name)
    elif kind in ("string", "list", "map"):
        if "min" in meta and len(value) < meta["min"]:
            problems.append((where, f"length {len(value)} is below the minimum {meta['min']}"))
        if "max" in meta and len(value) > meta["max"]:
            problems.append((where, f"length {len(value)} is above the maximum {meta['max']}"))
        if kind == "list":
            for i, item in enumerate(value):
                problems += constraint_problems(item, shape.member, f"{where}[{i}]")
        elif kind == "map":
            for key, item in value.items():
                problems += constraint_problems(key, shape.key, f"{where} key {key!r}")
                problems += constraint_problems(item, shape.value, f"{where}[{key!r}]")
        else:
            if meta.get("enum") and value not in meta["enum"]:
                problems.append((where, f"{value!r} is not one of {meta['enum']}"))
            if "pattern" in meta and re.fullmatch(meta["pattern"], value) is None:
                problems.append((where, f"{value!r} does not match the pattern {meta['pattern']}"))
    elif kind in ("integer", "long"):
        if "min" in meta and value < meta["min"]:
            problems.append((where, f"{value} is below the minimum {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            problems.append((where, f"{value} is above the maximum {meta['max']}"))
    return problems


def check_emitted(value: dict[str, Any], shape: Shape, what: str, fake: str = "fake") -> None:
    """Fail loudly (AssertionError) when the fake is about to emit something its model forbids."""
    try:
        validate_parameters(value, shape)
    except ParamValidationError as err:
        raise AssertionError(f"{fake} emitted an invalid {what}: {err}") from err
    if problems := constraint_problems(value, shape):
        raise AssertionError(f"{fake} emitted an invalid {what}: {problems}")


def check_injection(model: Any, implemented: Collection[str], operation: str, error: str, times: int) -> None:
    """An injected failure must be one the real service can send for an operation the fake answers."""
    if operation not in implemented:
        raise ValueError(f"unknown or unimplemented operation {operation!r}")
    modeled = {shape.name for shape in model.operation_model(operation).error_shapes}
    if error not in modeled:
        raise ValueError(f"{error} is not a modeled error of {operation}: {sorted(modeled)}")
    if times < 1:
        raise ValueError("times must be >= 1")


class Body:
    """The `raw` of an AWSResponse: botocore only calls stream() and read()."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


@functools.cache
def botocore_session() -> botocore.session.Session:
    """One shared session (model loading is cached), deaf to AWS_PROFILE/AWS_CONFIG_FILE of the caller."""
    return botocore.session.Session(
        session_vars={"profile": (None, None, None, None), "config_file": (None, None, os.devnull, None)}
    )
