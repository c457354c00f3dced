"""What ``ecommerce dev`` prints once it is ready: URLs, paths and curl commands that run as printed."""

from __future__ import annotations

import json
import shlex
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from handlers.db.sample import LAPTOP

from .options import DEFAULT_DATA_DIR, LOG_FILE
from .regions import RegionRuntime

CURL_COMMENTS = (
    "sign in as John (a sample customer); the token is the command's last word, valid an hour",
    "sign in as an operator (catalog writes)",
    "list products (anyone)",
    "create a product (operators only)",
    "place an order for John's laptop (retrying with the same Idempotency-Key never orders twice)",
    "fetch it through the other region (one logical database)",
    "cancel it (the stock goes back)",
)
TRY_IT_HEADER = "Try it (paste into bash or zsh):"
JOHN_EMAIL = "john.doe@example.com"


def executable() -> str:
    """How this shell reaches the ``ecommerce`` CLI of this runtime."""
    script = Path(sys.executable).with_name("ecommerce")
    if script.exists():
        return shlex.quote(_relative(script))
    return f"{shlex.quote(sys.executable)} -m ecommerce_ops.cli"


def cli_command(data_dir: Path) -> str:
    """``ecommerce dev`` of this runtime (with its data dir): ``token`` and friends follow."""
    dev = f"{executable()} dev"
    return dev if _data_dir_option(data_dir) == "" else f"{dev} --data-dir {shlex.quote(str(data_dir))}"


EDGE_COMMENT = "through the local edge as a viewer in Chicago: the nearest region answers (us-east-2)"


def edge_command(edge_url: str) -> str:
    """A viewer in Chicago (CloudFront's location headers, which the local edge honours)."""
    viewer = "-H 'CloudFront-Viewer-Latitude: 41.88' -H 'CloudFront-Viewer-Longitude: -87.63'"
    return f"curl -sS -o /dev/null -D - '{edge_url}/products?limit=1' {viewer} | grep -i '^x-edge-region'"


def _data_dir_option(data_dir: Path) -> str:
    return (
        ""
        if data_dir.resolve() == DEFAULT_DATA_DIR.resolve()
        else f" --data-dir {shlex.quote(str(data_dir))}"
    )


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def curl_commands(
    first: str, second: str, idempotency_key: str, data_dir: Path = DEFAULT_DATA_DIR
) -> list[str]:
    """The recipe's "Testing the Deployment" steps as commands that run as printed (bash/zsh)."""
    json_header = "-H 'Content-Type: application/json'"
    curl = "curl -sS -w '\\n'"  # -w: end each response with a newline
    customer = '-H "Authorization: Bearer $CUSTOMER"'
    operator = '-H "Authorization: Bearer $OPERATOR"'
    product = json.dumps(
        {"name": "Desk Lamp", "price": "39.99", "stock_quantity": 25, "category": "Home"},
        separators=(",", ":"),
    )
    order = json.dumps({"items": [{"product_id": LAPTOP, "quantity": 1}]}, separators=(",", ":"))
    order_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"order_id\"])'"
    ecommerce = cli_command(data_dir)
    return [
        f"CUSTOMER=$({ecommerce} token --customer {JOHN_EMAIL})",
        f"OPERATOR=$({ecommerce} token --operator)",
        f"{curl} '{first}/products?limit=5'",
        f"{curl} -X POST {first}/products {json_header} {operator} -d '{product}'",
        f"ORDER_ID=$({curl} -X POST {first}/orders {json_header} {customer} "
        f"-H 'Idempotency-Key: {idempotency_key}'"
        f" -d '{order}' | {order_id}); echo \"$ORDER_ID\"",
        f"{curl} {customer} {second}/orders/$ORDER_ID",
        f"{curl} -X POST {customer} {first}/orders/$ORDER_ID/cancel",
    ]


def banner(
    runtimes: Sequence[RegionRuntime],
    data_dir: Path,
    dsn: str,
    engine_log: Path,
    *,
    edge_url: str | None = None,
    checker_interval: float = 0,
) -> str:
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
        f"  events     {cli_command(data_dir)} events --follow   (every order, cancel and catalog change, "
        "as EventBridge delivers it)",
    ]
    if edge_url is not None:
        lines += [
            f"  edge       {edge_url}   CloudFront's router (the same router.js): nearest region not "
            "drained, reads fail over",
            f"             drain: {executable()} edge drain us-east-2 --local{_data_dir_option(data_dir)}"
            f"   (state {data_dir / 'edge' / 'kvs.json'})",
        ]
        if checker_interval > 0:
            lines.append(
                f"             health checker every {checker_interval:g} s (the deployed checker's code): "
                "drains a region after 2 failing runs, restores it after 3 healthy ones"
            )
    lines += ["", TRY_IT_HEADER]
    commands = curl_commands(first, second, str(uuid.uuid4()), data_dir)
    comments = list(CURL_COMMENTS)
    if edge_url is not None:
        commands.append(edge_command(edge_url))
        comments.append(EDGE_COMMENT)
    for comment, command in zip(comments, commands, strict=True):
        lines += [f"# {comment}", command]
    lines += ["", "Ctrl-C stops the servers and the database.", ""]
    return "\n".join(lines)
