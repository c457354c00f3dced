"""What a request must be before the resolver sees it: the right media type, UTF-8, shallow JSON.

Each failure is a client error with its own problem type (415, 400), decided before Powertools
parses anything: its JSON decoding would otherwise raise (invalid UTF-8, 20,000 nested ``[``)
where only a 4xx is right.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers import contract

# Our bodies nest three levels (order -> items -> item); anything much deeper is not an order.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Rejection:
    code: str
    status: int
    detail: str


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header, case-insensitively (API Gateway keeps the client's spelling)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return str(value)
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == wanted and values:
            return str(values[-1])
    return None


def media_type(value: str | None) -> str | None:
    """``type/subtype`` of a Content-Type, lower-cased, parameters dropped."""
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def check_body(event: dict[str, Any]) -> Rejection | None:
    """For a route that takes a JSON body: 415 unless it is declared JSON, 400 unless it is UTF-8
    JSON of reasonable depth. On success the event carries the body as text and the media type in
    lower case (media types are case-insensitive; the resolver compares them exactly)."""
    declared = media_type(header(event, "Content-Type"))
    if declared != contract.JSON_MEDIA_TYPE:
        what = f"Content-Type {declared}" if declared else "no Content-Type"
        return Rejection(
            "unsupported-media-type", 415, f"{what}: send the body as {contract.JSON_MEDIA_TYPE}"
        )
    _normalize_content_type(event)
    raw: str | bytes = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return Rejection("malformed-body", 400, "the body is not valid base64")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            return Rejection("malformed-body", 400, f"the body is not valid UTF-8 (byte {error.start})")
        event["body"], event["isBase64Encoded"] = raw, False
    try:
        document = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        return Rejection("malformed-json", 400, f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    except ValueError:
        return Rejection("malformed-json", 400, "the request body is not valid JSON")
    if _depth(document) > MAX_JSON_DEPTH:
        return Rejection("malformed-json", 400, f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    return None


def _normalize_content_type(event: dict[str, Any]) -> None:
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key) or {}
        for name in [n for n in headers if n.lower() == "content-type"]:
            value = headers.pop(name)
            normalized = contract.JSON_MEDIA_TYPE
            headers["content-type"] = [normalized] * len(value) if isinstance(value, list) else normalized
        if headers:
            event[key] = headers


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                break
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest
