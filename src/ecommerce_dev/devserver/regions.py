"""One simulated region: worker threads, each with its own catalog and orders handlers.

Handlers are not thread-safe, so every worker thread owns its own (one simulated execution
environment per thread and region), exactly as Lambda scales out with more environments.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ecommerce_dev.apigw import HOST, LambdaContext

from .options import WORKERS_PER_REGION

if TYPE_CHECKING:
    from ecommerce_dev.identity import LocalIdentity
    from handlers.api.handler import ApiHandler


class RegionRuntime:
    """The API of one region on one port."""

    def __init__(self, region: str, port: int, dsn: str, identity: LocalIdentity) -> None:
        self.region = region
        self.port = port
        self.dsn = dsn
        # One user pool for every region, as deployed: a token works against either.
        self.identity = identity
        self.executor = ThreadPoolExecutor(WORKERS_PER_REGION, thread_name_prefix=f"lambda-{region}")
        self._local = threading.local()
        self._created: list[ApiHandler] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _handlers(self) -> dict[str, ApiHandler]:
        handlers: dict[str, ApiHandler] | None = getattr(self._local, "handlers", None)
        if handlers is None:
            import importlib

            from ecommerce_dev.guarded import guarded_database
            from handlers.contract import FUNCTIONS

            def database() -> Any:
                return guarded_database(self.dsn, application_name=f"ecommerce-{self.region}")

            handlers = {
                name: importlib.import_module(f"handlers.api.{name}").build(
                    database=database(), region=self.region
                )
                for name in FUNCTIONS
            }
            self._local.handlers = handlers
            with self._lock:
                self._created.extend(handlers.values())
        return handlers

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Runs on a worker thread: one invocation of the named function's entry point."""
        return self._handlers()[function](event, LambdaContext(function_name=f"{self.region}-{function}"))

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        for handler in self._created:
            with contextlib.suppress(Exception):
                handler.database.close()
        self._created.clear()
