"""``ecommerce dev events [--follow]``: the local bus's events (make dev), one JSON object a line in
EventBridge's event shape (id, source, detail-type, time, detail, ...). The relay that fills it:
ecommerce_dev/events_relay.py."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from .events_relay import EVENTS_FILE, read_events


@click.command("events")
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they arrive (Ctrl-C stops).")
@click.option(
    "--data-dir",
    "own_data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The dev server's data dir [default: that of `ecommerce dev`, .local].",
)
@click.pass_obj
def events_command(data_dir: Path | None, follow: bool, own_data_dir: Path | None) -> None:
    """Print the events `ecommerce dev` published to its local bus, one JSON object a line.

    Every committed order, cancellation and catalog change becomes one event (docs/events.md), the
    same publisher code as in AWS deciding what is published. For example:

        ecommerce dev events --follow | jq -c '{type: ."detail-type", id: .detail.entityId}'
    """
    path = (own_data_dir or data_dir or Path(".local")) / EVENTS_FILE
    with contextlib.suppress(KeyboardInterrupt):
        for line in read_events(path, follow=follow):
            click.echo(line)
