"""Signals: Ctrl-C and SIGTERM stop everything, before and after the servers take over."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Until the servers take over, SIGTERM unwinds like Ctrl-C so the database is still stopped."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def stop_servers_on_signal(servers: Sequence[Any]) -> Iterator[Callable[[], None]]:
    """One handler for SIGINT/SIGTERM that stops every region's server together; yields it."""

    def stop() -> None:
        for server in servers:
            server.force_exit = server.should_exit  # a second Ctrl-C skips waiting for open connections
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        yield stop
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
