"""What every section shares: statistics, quiet output, progress, the machine, the local shop."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg

from bench.latency import ProxyProcess
from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.identity import LocalIdentity
from ecommerce_dev.invoker import claims_for
from ecommerce_dev.invoker import quiet_handlers as quiet_handlers  # re-exported for the sections
from handlers.db.migrate import apply_migrations

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PLOTS = ROOT / "docs" / "bench"
#: One key per section in the results file, in the order the page shows them.
RESULT_KEYS = (
    "round_trips",
    "latency_ms",
    "catalog_scale",
    "contention",
    "hot_product",
    "cold_start",
    "synth",
)
#: The sample data's John (docs and tests name him): his identity places the benchmark's orders.
JOHN_EMAIL = "john.doe@example.com"
#: Modelled handshakes of a new DSQL connection that the local unix socket does not have:
#: TCP (1 RTT), TLS 1.3 with sslnegotiation=direct (1 RTT; dsql.md "Connecting"), and the
#: password exchange that carries the IAM token (1 RTT; local trust auth skips it).
CONNECT_ROUND_TRIPS = 3


# ---- statistics ----------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples_ms: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """n, p50, p99, min, max, iqr of samples in milliseconds."""
    if not samples_ms:
        return {"n": 0}

    def r(value: float) -> float:
        return round(value, digits)

    return {
        "n": len(samples_ms),
        "p50": r(statistics.median(samples_ms)),
        "p99": r(percentile(samples_ms, 0.99)),
        "min": r(min(samples_ms)),
        "max": r(max(samples_ms)),
        "iqr": r(percentile(samples_ms, 0.75) - percentile(samples_ms, 0.25)),
    }


def ratio(numerator: float, denominator: float, digits: int = 2) -> float | None:
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return None
    return round(numerator / denominator, digits)


# ---- output ----------------------------------------------------------------------------------------


class Progress:
    """One line per step on stderr (the terminal), with the elapsed time."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.__stderr__ or sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self.section = ""

    def begin(self, section: str, detail: str = "") -> None:
        self.section = section
        self.say(f"start {detail}".strip())

    def say(self, message: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            print(f"[{elapsed:6.1f}s] {self.section:<14} {message}", file=self.stream, flush=True)


# ---- the machine -----------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def _git(*args: str) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            ["git", *args],  # noqa: S607 - git from PATH, like make
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip()


def machine(engine: LocalEngine | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "libpq": psycopg.pq.version(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }
    if engine is not None:
        with psycopg.connect(engine.dsn) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = str(row[0]) if row else "unknown"
    return info


# ---- the local shop ----------------------------------------------------------------------------


@dataclass
class Lab:
    """One embedded PostgreSQL (not durable: speed, not crash safety), the local user pool and the
    latency proxies the sections share. Everything lives in a temporary directory."""

    engine: LocalEngine
    directory: Path
    identity: LocalIdentity
    proxies: list[ProxyProcess] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def open(cls) -> Iterator[Lab]:
        directory = Path(tempfile.mkdtemp(prefix="ecommerce-bench-"))
        engine = LocalEngine.start(directory / "engine", durable=False)
        lab = cls(engine, directory, LocalIdentity.open(directory))
        try:
            yield lab
        finally:
            for proxy in lab.proxies:
                with contextlib.suppress(Exception):
                    proxy.close()
            engine.stop()
            shutil.rmtree(directory, ignore_errors=True)

    def database(self, name: str, *, sample_data: bool = True) -> str:
        dsn = self.engine.create_database(name)
        apply_migrations(
            lambda: self.engine.connect(dsn=dsn, autocommit=True),
            include_sample_data=sample_data,
            poll_interval=0.01,
        )
        return dsn

    def proxy(self, dsn: str, *, connect_round_trips: int = CONNECT_ROUND_TRIPS) -> ProxyProcess:
        proxy = ProxyProcess(dsn, connect_round_trips=connect_round_trips)
        self.proxies.append(proxy)
        return proxy

    def claims(self, email: str = JOHN_EMAIL, *, operator: bool = False) -> dict[str, str]:
        return claims_for(self.identity, email, operator=operator)


def new_products(
    dsn: str, count: int, *, stock: int, price: str = "10.00", category: str = "Bench"
) -> list[str]:
    """Products inserted directly (setup, never measured)."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        rows = cur.execute(
            "INSERT INTO products (name, price, stock_quantity, category) "
            "SELECT 'bench ' || n, %s, %s, %s FROM generate_series(1, %s) AS n RETURNING product_id",
            (price, stock, category, count),
        ).fetchall()
    return [str(row[0]) for row in rows]


def interleaved(rounds: int, arms: Sequence[Any], seed: int = 7) -> Iterator[tuple[int, Any]]:
    """Each round visits every arm once, in an order shuffled per round (no arm always goes first)."""
    rng = random.Random(seed)  # noqa: S311 - a measurement order, not a secret
    for index in range(rounds):
        order = list(arms)
        rng.shuffle(order)
        for arm in order:
            yield index, arm


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
