"""``Custom::DsqlStream``: an Aurora DSQL change data capture stream into a Kinesis data stream.

CloudFormation has no resource for it (docs/events.md), so CDK's Provider framework calls
:func:`on_event` once per request and :func:`is_complete` until it says done; all progress is read
back from DSQL. Facts relied on (Aurora DSQL user guide, GA text of 2026-07-01):

* CreateStream needs an ACTIVE cluster ("CreateStream returns a validation error if the cluster
  isn't in ACTIVE status", cdc-setup.html) and takes a client token (botocore's ``dsql`` model): a
  retried request gets the same stream back. Creation "typically takes one to three minutes".
* A stream is CREATING, then ACTIVE; FAILED ("A failed stream can't recover", cdc-monitoring.html)
  and IMPAIRED carry a ``statusReason``, which the failure message names with its fix.
* There is no UpdateStream in the API: a changed target, role, cluster or ``Generation`` is a new
  stream (a new physical id), and CloudFormation then deletes the old one. Tags only: nothing to do
  (tags are applied when a stream is created), and an IMPAIRED stream, which still delivers, does
  not fail such an update.
* :func:`check_status` runs on a schedule: a FAILED stream "can't recover" (cdc-monitoring.html)
  and stops publishing its metrics, so silence would look healthy; it publishes
  ``STREAM_DELIVERING_METRIC`` (1 for ACTIVE or IMPAIRED, else 0) for an alarm that treats a
  missing value as failing.
* The physical id is the stream's ARN (``…:cluster/<id>/stream/<id>``), which names both
  identifiers DeleteStream needs; an id that is no stream ARN (a create that never returned one)
  names nothing to delete.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.contract import DsqlStreamProperty

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

P = DsqlStreamProperty
STREAM_ARN = re.compile(
    r"arn:aws(-[^:]+)?:dsql:(?P<region>[a-z0-9-]+):[0-9]{12}:cluster/(?P<cluster>[a-z0-9]{26})"
    r"/stream/(?P<stream>[a-z0-9]{26})"
)
TRANSIENT = frozenset({"ThrottlingException", "InternalServerException", "ConflictException"})
BUDGET_SECONDS = 30 * 60
#: What to do about each StreamFailureErrorCode (cdc-monitoring.html, cdc-iam.html).
FIXES = {
    "ROLE_ACCESS_DENIED": "DSQL could not assume the stream's role: check its trust policy "
    "(dsql.amazonaws.com, aws:SourceAccount, aws:SourceArn cluster/<id>/stream/*)",
    "KINESIS_ACCESS_DENIED": "the role may not write to the Kinesis stream (kinesis:PutRecord, PutRecords, "
    "DescribeStreamSummary, ListShards)",
    "KINESIS_KMS_ACCESS_DENIED": "the role may not use the Kinesis stream's KMS key (kms:GenerateDataKey)",
    "KINESIS_STREAM_NOT_FOUND": "the Kinesis stream is gone; a FAILED stream cannot recover: raise "
    "events.stream_generation by one and deploy (docs/events.md, 'Recreating a failed stream')",
    "KINESIS_THROUGHPUT_EXCEEDED": "the Kinesis stream is throttling; use on-demand capacity",
    "KINESIS_OVERSIZE_RECORD": "a record exceeded the Kinesis stream's MaxRecordSizeInKiB (set it to 10240)",
    "CLUSTER_CMK_INACCESSIBLE": "DSQL cannot use the cluster's KMS key (check the key and its policy)",
    "INTERNAL_ERROR": "an internal DSQL error; raise events.stream_generation by one and deploy, and "
    "contact AWS Support if it persists",
}


class StreamError(Exception):
    """A failure CloudFormation should show as it is."""


@functools.cache
def default_client(region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dsql", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


#: Creates the DSQL client of a region (tests substitute a fake control plane).
client_factory: Callable[[str], Any] = default_client


@dataclass(frozen=True)
class Props:
    region: str
    cluster: str
    kinesis_stream_arn: str
    role_arn: str
    tags: dict[str, str]
    generation: str = "1"

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Props:
        return cls(
            region=str(raw[P.REGION]),
            cluster=str(raw[P.CLUSTER_IDENTIFIER]),
            kinesis_stream_arn=str(raw[P.KINESIS_STREAM_ARN]),
            role_arn=str(raw[P.ROLE_ARN]),
            tags={str(k): str(v) for k, v in (raw.get(P.TAGS) or {}).items()},
            generation=str(raw.get(P.GENERATION) or "1"),
        )

    def replaces(self, old: Props) -> bool:
        """Whether going from ``old`` needs a new stream (everything but the tags)."""
        return (self.region, self.cluster, self.kinesis_stream_arn, self.role_arn, self.generation) != (
            old.region,
            old.cluster,
            old.kinesis_stream_arn,
            old.role_arn,
            old.generation,
        )


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, dict) else None


def _call(operation: Callable[..., Any], **params: Any) -> Any:
    """Retries what DSQL says is transient a few times, then raises."""
    for attempt in range(4):
        try:
            return operation(**params)
        except Exception as exc:
            if _error_code(exc) not in TRANSIENT or attempt == 3:
                raise
            time.sleep(min(10.0, 0.5 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _explain(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        message = f"DSQL {error.get('Code', 'error')}: {error.get('Message', exc)}"
        if error.get("Code") == "ValidationException" and "ACTIVE" in str(error.get("Message", "")):
            message += (
                " - CreateStream needs an ACTIVE cluster; an idle one wakes up when a client connects "
                "(docs/events.md, 'Deploying')"
            )
        return message
    return f"{type(exc).__name__}: {exc}"


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    kind = event["RequestType"]
    props = Props.of(event["ResourceProperties"])
    logger.info("%s %s: %s", kind, event.get("LogicalResourceId"), props)
    try:
        if kind == "Create":
            physical = _create(event, props)
        elif kind == "Update":
            physical = str(event["PhysicalResourceId"])
            if not props.replaces(Props.of(event["OldResourceProperties"])):
                return {"PhysicalResourceId": physical, "Unchanged": True}
            physical = _create(event, props)  # CloudFormation deletes the old stream afterwards
        else:
            physical = str(event["PhysicalResourceId"])
            _delete(physical, event)
    except StreamError:
        raise
    except Exception as exc:
        raise StreamError(_explain(exc)) from exc
    return {"PhysicalResourceId": physical, "StartedAt": time.time()}


def _create(event: Mapping[str, Any], props: Props) -> str:
    client = client_factory(props.region)
    token = hashlib.sha256(
        f"{event.get('StackId')}|{event.get('LogicalResourceId')}|{event['RequestId']}".encode()
    ).hexdigest()
    params: dict[str, Any] = {
        "clusterIdentifier": props.cluster,
        "targetDefinition": {"kinesis": {"streamArn": props.kinesis_stream_arn, "roleArn": props.role_arn}},
        "ordering": "UNORDERED",  # the only ordering DSQL offers
        "format": "JSON",
        # The same request retried gets the same stream back, not a second one.
        "clientToken": token,
    }
    if props.tags:
        params["tags"] = props.tags
    created = _call(client.create_stream, **params)
    logger.info("created stream %s (%s)", created["arn"], created["status"])
    return str(created["arn"])


def _delete(physical: str, event: Mapping[str, Any]) -> None:
    match = STREAM_ARN.fullmatch(physical)
    if match is None:
        logger.info("%s is no stream ARN (a create that never returned one): nothing to delete", physical)
        return
    client = client_factory(match["region"])
    try:
        _call(
            client.delete_stream,
            clusterIdentifier=match["cluster"],
            streamIdentifier=match["stream"],
            clientToken=hashlib.sha256(f"delete|{physical}|{event['RequestId']}".encode()).hexdigest(),
        )
    except Exception as exc:
        code = _error_code(exc)
        if code == "ConflictException":  # mid-change (a rollback right after a create): is_complete retries
            logger.info("stream %s is busy; deleting once it settles", physical)
            return
        if code != "ResourceNotFoundException":
            raise
        logger.info("stream %s (or its cluster) is already gone", physical)


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    physical = str(event["PhysicalResourceId"])
    match = STREAM_ARN.fullmatch(physical)
    deleting = event["RequestType"] == "Delete"
    if event.get("Unchanged") and match is not None:
        # Tags only: the stream is what it was; IMPAIRED still delivers, so the update succeeds.
        return {"IsComplete": True, "Data": {"Arn": physical, "StreamIdentifier": match["stream"]}}
    if match is None:
        if deleting:
            return {"IsComplete": True}
        raise StreamError(f"{physical} is not a DSQL stream ARN")
    client = client_factory(match["region"])
    try:
        stream = client.get_stream(clusterIdentifier=match["cluster"], streamIdentifier=match["stream"])
    except Exception as exc:
        code = _error_code(exc)
        if code == "ResourceNotFoundException" and deleting:
            return {"IsComplete": True}
        if code in TRANSIENT:
            return {"IsComplete": False}
        raise StreamError(_explain(exc)) from exc
    status = stream["status"]
    if deleting:
        if status in ("CREATING", "ACTIVE", "IMPAIRED", "FAILED"):
            _delete(physical, event)  # the first delete met a busy stream
        return {"IsComplete": status == "DELETED"}
    if status == "ACTIVE":
        return {
            "IsComplete": True,
            "Data": {"Arn": stream["arn"], "StreamIdentifier": stream["streamIdentifier"]},
        }
    if status in ("FAILED", "IMPAIRED"):
        error = (stream.get("statusReason") or {}).get("error", "no statusReason")
        raise StreamError(
            f"DSQL stream {stream['arn']} is {status}: {error} - {FIXES.get(error, 'see docs/events.md')}"
        )
    elapsed = time.time() - float(event.get("StartedAt", time.time()))
    if elapsed > BUDGET_SECONDS:
        raise StreamError(
            f"DSQL stream {stream['arn']} is still {status} after {elapsed / 60:.0f} min (DSQL needs one to "
            "three); check it with `aws dsql get-stream`, then retry the deploy"
        )
    return {"IsComplete": False}


#: Statuses in which a stream delivers records (IMPAIRED retries only its failing record).
DELIVERING = frozenset({"ACTIVE", "IMPAIRED"})


def check_status(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Scheduled: the stream's status as a metric (embedded metric format on stdout), 1 while it
    delivers and 0 otherwise; the alarm on it treats a missing value as failing, so a check that
    cannot run pages someone too."""
    import json
    import os

    from handlers.contract import METRICS_NAMESPACE, STREAM_DELIVERING_METRIC

    arn = os.environ["STREAM_ARN"]
    match = STREAM_ARN.fullmatch(arn)
    if match is None:
        raise StreamError(f"STREAM_ARN {arn!r} is not a DSQL stream ARN")
    stream = client_factory(match["region"]).get_stream(
        clusterIdentifier=match["cluster"], streamIdentifier=match["stream"]
    )
    status = str(stream["status"])
    delivering = int(status in DELIVERING)
    reason = (stream.get("statusReason") or {}).get("error")
    print(  # EMF: the function's log is the metric's transport
        json.dumps(
            {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": METRICS_NAMESPACE,
                            "Dimensions": [["StreamId"]],
                            "Metrics": [{"Name": STREAM_DELIVERING_METRIC, "Unit": "Count"}],
                        }
                    ],
                },
                "StreamId": match["stream"],
                STREAM_DELIVERING_METRIC: delivering,
                "status": status,
                "reason": reason,
            }
        )
    )
    if not delivering:
        logger.error(
            "DSQL stream %s is %s (%s): %s", arn, status, reason, FIXES.get(str(reason), "docs/events.md")
        )
    return {"status": status, "delivering": bool(delivering), "reason": reason}
