"""Aurora DSQL's API rules that synthesis can check, so a deploy never fails on them midway.

From botocore's ``dsql`` service model (1.44; the API reference's ``TagResource``/``CreateCluster``):
a tag key is 1-128 characters, a value 0-256, both of ``[a-zA-Z0-9_.:/=+\\-@ ]`` only, at most 200
tags; a cluster identifier is 26 lowercase letters and digits. Standard library only: the
configuration model uses it before any construct exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

TAG_CHARACTERS: Final = r"[a-zA-Z0-9_.:/=+\-@ ]"
_TAG = re.compile(rf"{TAG_CHARACTERS}*")
MAX_TAGS: Final = 200
CLUSTER_IDENTIFIER: Final = re.compile(r"[a-z0-9]{26}")


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """Each tag DSQL would refuse, with the rule it breaks (empty when all are valid)."""
    problems = []
    if len(tags) > MAX_TAGS:
        problems.append(f"{len(tags)} tags: DSQL allows at most {MAX_TAGS}")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128:
            problems.append(f"tag key {key!r}: 1-128 characters")
        elif key.lower().startswith("aws:"):
            problems.append(f"tag key {key!r}: the 'aws:' prefix is reserved")
        elif not _TAG.fullmatch(key):
            problems.append(f"tag key {key!r}: only letters, digits, spaces and _ . : / = + - @")
        if len(value) > 256:
            problems.append(f"tag {key!r}: values are at most 256 characters")
        elif not _TAG.fullmatch(value):
            problems.append(
                f"tag {key!r}: value {value!r} may hold only letters, digits, spaces and _ . : / = + - @"
            )
    return problems
