"""Metric options as aws-cdk-lib's ``metric*()`` methods take them, typed for keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch


class MetricOptions(TypedDict, total=False):
    """``aws_cloudwatch.MetricOptions`` as keyword arguments: every ``metric_*()`` of this library
    takes them, and each method's docstring states its own defaults."""

    account: str
    color: str
    dimensions_map: Mapping[str, str]
    id: str
    label: str
    period: Duration
    region: str
    stack_account: str
    stack_region: str
    statistic: str
    unit: cloudwatch.Unit
    visible: bool


def metric_of(
    namespace: str, metric_name: str, dimensions: Mapping[str, str], options: Mapping[str, Any]
) -> cloudwatch.Metric:
    """A metric with the resource's ``dimensions`` plus any the caller adds; unknown options fail
    here with the name of the option, as aws-cdk-lib's own methods do."""
    given = dict(options)
    extra = dict(given.pop("dimensions_map", None) or {})
    unknown = sorted(set(given) - set(MetricOptions.__annotations__))
    if unknown:
        raise TypeError(
            f"{metric_name}: unknown metric option(s) {unknown}; see aws_cloudwatch.MetricOptions"
        )
    return cloudwatch.Metric(
        namespace=namespace, metric_name=metric_name, dimensions_map={**dimensions, **extra}, **given
    )
