"""What ``ecommerce dev`` is asked to run, and the one error it reports to the user."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGIONS = ("us-east-1", "us-east-2")
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = Path(".local")
LOCK_FILE = "dev.lock"
LOG_FILE = "dev.log"
PGDATA = "pgdata"
WORKERS_PER_REGION = 8  # concurrent simulated execution environments per region


class DevError(Exception):
    """A problem the user can fix; the message says how."""


@dataclass(frozen=True)
class DevOptions:
    data_dir: Path = DEFAULT_DATA_DIR
    regions: tuple[str, ...] = DEFAULT_REGIONS
    ports: tuple[int, ...] = (DEFAULT_PORT, DEFAULT_PORT + 1)
    sample_data: bool = True
    durable: bool = True
    #: The local edge's port (the CloudFront router in Node between the regions); None: no edge.
    edge_port: int | None = 8090
    #: Seconds between runs of the local edge health checker (with the edge); 0: no checker.
    checker_interval: float = 5.0
