"""Shared CDK test helpers: apps built once per session, with cdk.json's context."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from ecommerce_constructs.app import EcommerceApp, build
from ecommerce_constructs.config import EcommerceConfig, load_config
from ecommerce_constructs.testing import unit_test_app

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "regions.yaml"
CDK_JSON = ROOT / "cdk.json"
ACCOUNT = "123456789012"

# Stacks need a concrete account for cross-region references; CI has no credentials.
os.environ.setdefault("CDK_DEFAULT_ACCOUNT", ACCOUNT)
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def build_app(
    config: EcommerceConfig | None = None, *, context: Mapping[str, Any] | None = None, nag: bool = False
) -> EcommerceApp:
    app = unit_test_app(context, cdk_json=CDK_JSON)
    return build(app, config or load_config(CONFIG, context=context), nag=nag)


@functools.cache
def default_app() -> EcommerceApp:
    """The app exactly as `make synth` configures it (built once per test session)."""
    return build_app()


@functools.cache
def default_template(name: str) -> Template:
    """Template of one stack of ``default_app()`` (synthesized once per session)."""
    stack = next(stack for stack in default_app().stacks if stack.stack_name == name)
    return Template.from_stack(stack)
