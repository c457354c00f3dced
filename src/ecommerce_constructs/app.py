"""The ready-made app: ``build()`` adds ``<app>-<region>`` stacks plus ``<app>-edge`` (and its
health checkers, ``<app>-edge-health-<region>``) from an
``EcommerceConfig`` (``load_config`` reads ``config/regions.yaml``); ``RegionalStack`` and
``EdgeStack`` are the stacks it composes, usable on their own."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import App, Environment, Validations

from . import topology
from .config import ConfigError, EcommerceConfig, load_config, resolve_config_path
from .edge_health_stack import EdgeHealthStack, add_health_stacks
from .edge_stack import EdgeStack
from .regional_stack import RegionalStack
from .regions import EDGE_REGION

__all__ = [
    "ConfigError",
    "EcommerceApp",
    "EcommerceConfig",
    "EdgeHealthStack",
    "EdgeStack",
    "MissingExtraError",
    "RegionalStack",
    "add_health_stacks",
    "build",
    "load_config",
    "main",
]


@dataclass(frozen=True)
class EcommerceApp:
    """The stacks of one app, by role."""

    regional: dict[str, RegionalStack]
    edge: EdgeStack | None
    #: The edge's health checkers by region: every serving region plus the witness region.
    edge_health: dict[str, EdgeHealthStack] = field(default_factory=dict)

    @property
    def stacks(self) -> list[Any]:
        return [*self.regional.values(), *([self.edge] if self.edge else []), *self.edge_health.values()]


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


def build(app: App, config: EcommerceConfig, *, nag: bool = False, lambda_code: Any = None) -> EcommerceApp:
    """Add every stack for ``config`` to ``app``: ``<app>-<region>`` per region (the primary's first)
    and ``<app>-edge`` when the edge is enabled. Configuration tags go on these stacks only.

    - ``nag``: cdk-nag's AwsSolutions rules gate synth [False]. cdk-nag 3.x validates through the
      app's policy-validation plugins, which see every stack of the app (measured: a plugin added
      to one stack reports another's findings), so True also checks your own stacks. Needs the
      ``nag`` extra; without it, True fails with one line naming it.
    - ``lambda_code``: one ``lambda_.Code`` for every function [None: the bundled handlers].
    """
    checks = _nag_plugin() if nag else None
    if nag and checks is None:
        raise MissingExtraError("build(nag=True) needs cdk-nag: pip install 'ecommerce-constructs[nag]'")
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    regional: dict[str, RegionalStack] = {}
    # The primary region's stack comes first: it holds the user pool the other one's API trusts,
    # and the second stack completes the database pair.
    for region in sorted(config.regions, key=lambda r: r != config.primary):
        first = next(iter(regional.values()), None)
        regional[region] = RegionalStack(
            app,
            config.stack_name(region),
            config=config,
            peer=first,
            identity=first.identity if first is not None else None,
            lambda_code=lambda_code,
            env=Environment(account=account, region=region),
            description=f"{config.app_name}: Aurora DSQL cluster and shop API in {region}",
        )
    stacks = list(regional.values())
    stacks[-1].add_database_setup(
        [stack.api for stack in stacks], peers=[stack.database for stack in stacks[:-1]]
    )
    if config.events.enabled:
        stacks[-1].add_order_events(config)
    edge = None
    health: dict[str, EdgeHealthStack] = {}
    if config.edge.enabled:
        edge = EdgeStack(
            app,
            config.edge_stack_name,
            config=config,
            apis={region: stack.api for region, stack in regional.items()},
            lambda_code=lambda_code,
            env=Environment(account=account, region=EDGE_REGION),
            description=f"{config.app_name}: CloudFront edge in front of the regional APIs",
        )
        health = add_health_stacks(
            app,
            config,
            key_value_store=edge.edge.key_value_store,
            apis={region: stack.api for region, stack in regional.items()},
            account=account,
            lambda_code=lambda_code,
        )
    if checks is not None:
        Validations.of(app).add_plugins(checks(app))
    return EcommerceApp(regional=regional, edge=edge, edge_health=health)


def _nag_plugin() -> Any:
    try:
        from cdk_nag import AwsSolutionsChecks
    except ImportError:
        return None
    return AwsSolutionsChecks


def main() -> None:
    """Entry point of ``app.py`` (cdk.json) and ``python -m ecommerce_constructs``.

    A configuration error is printed alone (it names file, key and fix) with exit status 1: a
    traceback would only bury it.
    """
    warnings.formatwarning = lambda message, category, *_: f"warning: {message}\n"
    app = App()
    context = {key: app.node.try_get_context(key) for key in _context_keys()}
    try:
        config = load_config(context=context)
        # Beside the configuration file: a change of regions or witness fails here, not mid-deploy.
        topology.guard(config, resolve_config_path(context).with_name(topology.LOCK_FILE.name))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    nag = _nag_plugin() is not None
    if not nag:
        print(
            "note: cdk-nag is not installed, so its AwsSolutions checks do not run: "
            "pip install 'ecommerce-constructs[nag]'",
            file=sys.stderr,
        )
    build(app, config, nag=nag)
    app.synth()


def _context_keys() -> list[str]:
    from .config import CONFIG_CONTEXT_KEY, CONTEXT_KEYS

    return [CONFIG_CONTEXT_KEY, *CONTEXT_KEYS]
