"""AWS CDK constructs for a global, active-active e-commerce backend on Aurora DSQL.

The root holds the constructs, their interfaces and their props, nothing else:

- ``DsqlCluster`` (``IDsqlCluster``; ``IClusterAttributes`` accepts an ``aws_dsql_alpha.ICluster``)
  and ``DatabaseSetup``, the schema and database roles; ``DsqlChangeStream`` (DSQL change data
  capture into Kinesis) and ``OrderEvents``, the outbox's events on an EventBridge bus;
- ``EcommerceApi`` (``FunctionSettings``, ``OrderStrategy``) and ``ShopIdentity``
  (``IShopIdentity``), the user pool the APIs trust;
- ``GlobalEdge`` (``EdgeOrigin``) with ``OriginSecret`` and ``OriginGuard``, which let only
  CloudFront call the regional APIs, and ``EdgeHealthChecker``, which drains a failing region;
- ``ShopMonitoring``, alarms and a dashboard; ``MetricOptions``, what every ``metric_*()`` takes;
- ``ShopBackup`` (``CopyTarget``, ``VaultLock``), AWS Backup of a cluster, and ``PruneJob``, which
  keeps the idempotency records (and the outbox) from growing forever.

The ready-made app lives in ``ecommerce_constructs.app``: ``build()``, ``RegionalStack``,
``EdgeStack`` and the configuration model (``EcommerceConfig``, ``load_config``, ``ConfigError``).
``ecommerce_constructs.testing`` has snapshot helpers; ``ecommerce_constructs.wheelhouse`` fills a
directory for offline synth. Imports are lazy so that reading configuration does not start jsii.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DsqlCluster": ".dsql_cluster",
    "IDsqlCluster": ".dsql_cluster",
    "IClusterAttributes": ".dsql_cluster",
    "DatabaseSetup": ".database_setup",
    "DsqlChangeStream": ".dsql_change_stream",
    "OrderEvents": ".order_events",
    "ShopIdentity": ".identity",
    "IShopIdentity": ".identity",
    "EcommerceApi": ".ecommerce_api",
    "FunctionSettings": ".ecommerce_api",
    "OrderStrategy": ".ecommerce_api",
    "GlobalEdge": ".global_edge",
    "EdgeOrigin": ".global_edge",
    "OriginSecret": ".origin_secret",
    "OriginGuard": ".origin_guard",
    "EdgeHealthChecker": ".edge_health",
    "ShopMonitoring": ".monitoring",
    "ShopBackup": ".shop_backup",
    "CopyTarget": ".shop_backup",
    "VaultLock": ".shop_backup",
    "PruneJob": ".prune_job",
    "MetricOptions": "._metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # once imported, a plain attribute (documentation tools look there)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
