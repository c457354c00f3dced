"""AWS CDK constructs for a global, active-active e-commerce backend on Aurora DSQL.

``DsqlCluster``, ``EcommerceApi`` and ``GlobalEdge`` are the L3 constructs (with ``ShopIdentity``,
the user pool the APIs trust, and ``DatabaseSetup``, the schema and roles); ``RegionalStack`` and
``EdgeStack`` compose them; ``config`` holds the deployment model. Imports are lazy so that reading
configuration does not start the jsii runtime.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DsqlCluster": ".dsql_cluster",
    "IDsqlCluster": ".dsql_cluster",
    "DatabaseSetup": ".database_setup",
    "ShopIdentity": ".identity",
    "IShopIdentity": ".identity",
    "EcommerceApi": ".ecommerce_api",
    "FunctionSettings": ".ecommerce_api",
    "GlobalEdge": ".global_edge",
    "EdgeOrigin": ".global_edge",
    "RegionalStack": ".regional_stack",
    "EdgeStack": ".edge_stack",
    "EcommerceConfig": ".config",
    "ConfigError": ".config",
    "load_config": ".config",
    "build": ".app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
