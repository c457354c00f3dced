"""The deployed DSQL topology, recorded so that a change needing new clusters fails at synth.

DSQL decides a cluster's topology (single-region, or which regions and witness) when it is created;
no update changes it. ``cdk synth`` / ``deploy`` therefore compare the configuration with the
topology recorded in ``config/topology.lock.json`` (written by the first synth of an app name;
commit it) and refuse a different one with an explanation, before anything is deployed. The
lifecycle handler refuses the same changes at deploy time, as a second line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import ConfigError, EcommerceConfig

LOCK_FILE = Path("config/topology.lock.json")


def topology(config: EcommerceConfig) -> dict[str, Any]:
    return {
        "regions": list(config.regions),
        "witness_region": config.witness_region,
        "adopted": dict(sorted(config.database.existing_cluster_identifiers.items())),
    }


def guard(config: EcommerceConfig, lock: Path = LOCK_FILE) -> None:
    """Record the topology of a new app name; refuse a changed one for a known app name."""
    recorded: dict[str, Any] = json.loads(lock.read_text(encoding="utf-8")) if lock.is_file() else {}
    wanted = topology(config)
    previous = recorded.get(config.app_name)
    if previous is None:
        recorded[config.app_name] = wanted
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return
    changed = [key for key in wanted if previous.get(key) != wanted[key]]
    if changed and changed != ["adopted"]:
        details = ", ".join(f"{key} {previous.get(key)} -> {wanted[key]}" for key in changed)
        raise ConfigError(
            str(lock),
            config.app_name,
            f"the deployed DSQL topology would change ({details}): DSQL fixes a cluster's regions and "
            "witness at creation, so this needs new clusters. Deploy it under a new app_name and move "
            f"the data, or revert regions/witness_region. If {config.app_name} was never deployed "
            f"(or is destroyed), delete its entry from {lock}",
        )
