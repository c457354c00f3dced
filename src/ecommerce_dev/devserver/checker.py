"""The local edge health checker of ``make dev``: the Lambda's own ``handlers.infra.edge_health.Checker``
run on a schedule against the local edge's file-backed KeyValueStore.

Every ``interval`` seconds (``ecommerce dev --checker-interval``, default 5 s; 0 turns it off) the
checker probes each simulated region's ``GET /health`` and records the run with
:func:`handlers.infra.edge_state.observe`, exactly as a deployed checker does: ``fail_threshold``
failing runs in a row drain a region, ``restore_threshold`` healthy runs in a row restore a drain the
checker made (an operator's ``ecommerce edge drain --local`` holds), and the last serving region is
never drained. Locally there is one checker (quorum 1) and one probe per run; the thresholds are the
loaded configuration's (``edge.health``).

The store is ``<data-dir>/edge/kvs.json`` (what ``ecommerce edge --local`` writes and the local edge
reads), reached through :class:`LocalKvsClient`, which answers the three KeyValueStore calls the
checker makes with the same ETag protocol: a write whose ``IfMatch`` is stale is a
``ConflictException``, and the checker reads and retries.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecommerce_ops.edge import LOCAL_KVS_ARN, LocalKvsClient
from handlers.infra import edge_health

if TYPE_CHECKING:
    from ecommerce_constructs.config import EdgeHealthConfig

__all__ = ["LOCAL_KVS_ARN", "LocalChecker", "LocalKvsClient", "local_checker", "local_get"]
CHECKER_NAME = "local"
DEFAULT_INTERVAL_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 2.0
HISTORY = 50

log = logging.getLogger("ecommerce_dev.edge_checker")


def local_get(url: str, headers: Mapping[str, str], timeout: float) -> edge_health.HttpAnswer:
    """The checker's probe for plain-HTTP local regions (the Lambda's prober pins TLS roots)."""
    request = urllib.request.Request(url, headers={"User-Agent": edge_health.USER_AGENT, **headers})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1
            return edge_health.HttpAnswer(response.status, response.read(edge_health.MAX_BODY_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            return edge_health.HttpAnswer(exc.code, exc.read(edge_health.MAX_BODY_BYTES))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return edge_health.HttpAnswer(None, error=str(getattr(exc, "reason", exc)) or type(exc).__name__)


@dataclass
class LocalChecker:
    """A thread that runs the checker every ``interval`` seconds until :meth:`stop`."""

    checker: edge_health.Checker
    interval: float
    on_change: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edge-health-checker", daemon=True)
        self.runs = 0
        #: The summaries of the latest runs (newest last, at most ``HISTORY``).
        self.history: list[dict[str, Any]] = []

    def start(self) -> LocalChecker:
        self._thread.start()
        return self

    def run_once(self) -> dict[str, Any]:
        summary = self.checker.run()
        self.runs += 1
        self.history = [*self.history[-(HISTORY - 1) :], summary]
        for region in summary["regions"]:
            if region["action"] in ("drained", "restored") and self.on_change is not None:
                self.on_change(
                    f"edge health checker: {region['action']} {region['region']} "
                    f"({region['failing_runs'] or region['healthy_runs']} "
                    f"{'failing' if region['action'] == 'drained' else 'healthy'} runs in a row)"
                )
        return summary

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a broken run must not end the schedule (logged)
                log.exception("edge health checker run failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + PROBE_TIMEOUT_SECONDS * 4)


def _configured_health() -> EdgeHealthConfig:
    from ecommerce_constructs.config import ConfigError, EdgeHealthConfig, load_config

    try:
        return load_config().edge.health
    except ConfigError as exc:
        log.warning(
            "edge health checker: the configuration's thresholds are unavailable (%s); using defaults", exc
        )
        return EdgeHealthConfig()


def local_checker(
    *,
    origins: Mapping[str, str],
    kvs_file: Path,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    fail_threshold: int | None = None,
    restore_threshold: int | None = None,
    on_change: Callable[[str], None] | None = None,
    health: EdgeHealthConfig | None = None,
) -> LocalChecker:
    """The checker for ``origins`` (region -> base URL, the first the primary), not yet started.

    ``health``: the thresholds [``edge.health`` of the configuration ``ecommerce`` loads
    (``ECOMMERCE_CONFIG``, else config/regions.yaml); the model's defaults, with a warning, when it
    cannot be loaded]. ``fail_threshold`` / ``restore_threshold`` override its two thresholds."""
    defaults = health if health is not None else _configured_health()
    settings = edge_health.Settings(
        kvs_arn=LOCAL_KVS_ARN,
        targets=tuple(
            edge_health.Target(region, url.rstrip("/") + "/health") for region, url in origins.items()
        ),
        probes=1,
        interval_seconds=0,
        timeout_seconds=PROBE_TIMEOUT_SECONDS,
        checker=CHECKER_NAME,
        checkers=(CHECKER_NAME,),
        fail_threshold=fail_threshold or defaults.fail_threshold,
        restore_threshold=restore_threshold or defaults.restore_threshold,
        ttl_seconds=max(float(defaults.observation_ttl_seconds), interval * 3),
    )
    checker = edge_health.Checker(settings, LocalKvsClient(kvs_file), prober=local_get)
    return LocalChecker(checker, interval, on_change)
