"""What ``ecommerce dev`` prints once it is ready: URLs, paths and curl commands that run as printed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

from handlers.db.sample import JOHN, LAPTOP

from .options import LOG_FILE
from .regions import RegionRuntime

CURL_COMMENTS = (
    "list products",
    "create a product",
    "place an order for John's laptop (retrying with the same Idempotency-Key never orders twice)",
    "fetch it through the other region (one logical database)",
    "cancel it (the stock goes back)",
)
TRY_IT_HEADER = "Try it (paste into bash or zsh):"


def curl_commands(first: str, second: str, idempotency_key: str) -> list[str]:
    """The recipe's "Testing the Deployment" steps as commands that run as printed (bash/zsh)."""
    json_header = "-H 'Content-Type: application/json'"
    curl = "curl -sS -w '\\n'"  # -w: end each response with a newline
    product = json.dumps(
        {"name": "Desk Lamp", "price": "39.99", "stock_quantity": 25, "category": "Home"},
        separators=(",", ":"),
    )
    order = json.dumps(
        {"customer_id": JOHN, "items": [{"product_id": LAPTOP, "quantity": 1}]}, separators=(",", ":")
    )
    order_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"order_id\"])'"
    return [
        f"{curl} '{first}/products?limit=5'",
        f"{curl} -X POST {first}/products {json_header} -d '{product}'",
        f"ORDER_ID=$({curl} -X POST {first}/orders {json_header} -H 'Idempotency-Key: {idempotency_key}'"
        f" -d '{order}' | {order_id}); echo \"$ORDER_ID\"",
        f"{curl} {second}/orders/$ORDER_ID",
        f"{curl} -X POST {first}/orders/$ORDER_ID/cancel",
    ]


def banner(runtimes: Sequence[RegionRuntime], data_dir: Path, dsn: str, engine_log: Path) -> str:
    first = runtimes[0].url
    second = runtimes[-1].url
    lines = ["", "ecommerce dev is ready", ""]
    for runtime in runtimes:
        lines.append(
            f"  {runtime.region:<10} {runtime.url}   docs {runtime.url}/docs   {runtime.url}/openapi.json"
        )
    lines += [
        "",
        f"  data dir   {data_dir}   (kept across restarts; wipe with: ecommerce dev --reset-only)",
        f"  database   {dsn}",
        f'             psql "{dsn}"   (admin, unguarded; the API connects through the DSQL guard)',
        f"  logs       {data_dir / LOG_FILE} (requests), {engine_log} (PostgreSQL)",
        "",
        TRY_IT_HEADER,
    ]
    for comment, command in zip(CURL_COMMENTS, curl_commands(first, second, str(uuid.uuid4())), strict=True):
        lines += [f"# {comment}", command]
    lines += ["", "Ctrl-C stops the servers and the database.", ""]
    return "\n".join(lines)
