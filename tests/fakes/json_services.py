"""Fakes of the JSON-protocol AWS APIs the events publisher calls (EventBridge PutEvents, DynamoDB
PutItem/UpdateItem/DeleteItem, SQS SendMessage), speaking botocore's real wire protocol.

As tests/fakes/dsql_control_plane.py does for DSQL: ``client(service)`` returns a real boto3 client whose
requests a ``before-send`` hook answers, so botocore's serialization and response parsing run; every
request is validated against the operation's input shape (constraints included) and every answer
against its output or error shape. ``answer(service, region, request)`` serves the same fakes behind
tests/lambda_check/awsfront.py for a function running in another process.

What they model: EventBridge accepts every entry of a bus it knows (``buses``) and records it;
DynamoDB keeps items per table with the two condition expressions the publisher sends (evaluated
here by name, not parsed: an unknown expression is an AssertionError, a fake bug or a new caller);
SQS records message bodies per queue URL.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from fakes.wire import Body, botocore_session, check_emitted, constraint_problems

CLAIMABLE = "attribute_not_exists(event_id) OR (#s = :claimed AND lease_until < :now)"
CLAIMED = "#s = :claimed"


class _Error(Exception):
    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.fields = code, {"message": message, **fields}


@dataclass
class JsonServices:
    account: str = "123456789012"
    buses: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    queues: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def client(self, service: str, region: str = "us-east-1") -> Any:
        session = boto3.session.Session(
            botocore_session=botocore_session(), aws_access_key_id="AKIAFAKE", aws_secret_access_key="x"
        )
        client = session.client(service, region_name=region, config=Config(retries={"total_max_attempts": 1}))
        client.meta.events.register(
            f"before-send.{client.meta.service_model.service_id.hyphenize()}.*",
            functools.partial(self._on_send, service, region),
        )
        return client

    def answer(self, service: str, region: str, request: AWSPreparedRequest) -> AWSResponse:
        return self._on_send(service, region, request)

    # ---- wire --------------------------------------------------------------------------------
    def _on_send(self, service: str, region: str, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        model = botocore_session().get_service_model(service)
        target = request.headers.get("X-Amz-Target")
        target = target.decode() if isinstance(target, bytes) else target
        assert target and target.startswith(model.metadata["targetPrefix"] + "."), f"bad target {target!r}"
        operation = model.operation_model(target.split(".", 1)[1])
        body = request.body or b"{}"
        params = json.loads(body.decode() if isinstance(body, bytes) else body)
        self.calls.append((service, operation.name, params))
        try:
            try:
                validate_parameters(params, operation.input_shape)
            except ParamValidationError as err:
                raise _Error("ValidationException", str(err)) from err
            if problems := constraint_problems(params, operation.input_shape):
                raise _Error("ValidationException", str(problems))
            result = getattr(self, f"_{service}_{operation.name}")(region, params)
        except _Error as err:
            shapes = {s.name: s for s in operation.error_shapes}
            if err.code in shapes:
                check_emitted(err.fields, shapes[err.code], err.code, f"fake {service}")
            body_out = {"__type": err.code, **err.fields}
            return AWSResponse(
                request.url, 400, {"x-amzn-RequestId": str(uuid.uuid4())}, Body(json.dumps(body_out).encode())
            )
        check_emitted(result, operation.output_shape, f"{operation.name} response", f"fake {service}")
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 200, headers, Body(json.dumps(result).encode()))

    # ---- EventBridge --------------------------------------------------------------------------
    def _events_PutEvents(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        entries = []
        for entry in p["Entries"]:
            bus = entry.get("EventBusName", "default")
            name = bus.rsplit("/", 1)[-1]
            if name not in self.buses:
                entries.append({"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"no bus {bus}"})
                continue
            json.loads(entry["Detail"])  # PutEvents refuses a Detail that is not JSON
            self.events.append(entry)
            entries.append({"EventId": str(uuid.uuid4())})
        failed = sum("ErrorCode" in e for e in entries)
        return {"FailedEntryCount": failed, "Entries": entries}

    # ---- DynamoDB -----------------------------------------------------------------------------
    def _table(self, name: str) -> dict[str, dict[str, Any]]:
        if name not in self.tables:
            raise _Error("ResourceNotFoundException", f"Requested resource not found: {name}")
        return self.tables[name]

    @staticmethod
    def _key(item: dict[str, Any]) -> str:
        return str(item["event_id"]["S"])

    def _condition(self, p: dict[str, Any], current: dict[str, Any] | None) -> None:
        expression = p.get("ConditionExpression")
        if expression is None:
            return
        values = p.get("ExpressionAttributeValues", {})
        if expression == CLAIMABLE:
            ok = current is None or (
                current.get("state") == {"S": "claimed"}
                and int(current.get("lease_until", {"N": "0"})["N"]) < int(values[":now"]["N"])
            )
        elif expression == CLAIMED:
            ok = current is not None and current.get("state") == {"S": "claimed"}
        else:
            raise AssertionError(f"fake DynamoDB does not model the condition {expression!r}")
        if not ok:
            fields: dict[str, Any] = {}
            if p.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                fields["Item"] = current
            raise _Error("ConditionalCheckFailedException", "The conditional request failed", **fields)

    def _dynamodb_PutItem(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self._table(p["TableName"])
        key = self._key(p["Item"])
        self._condition(p, table.get(key))
        table[key] = dict(p["Item"])
        return {}

    def _dynamodb_UpdateItem(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self._table(p["TableName"])
        key = self._key(p["Key"])
        self._condition(p, table.get(key))
        item = dict(table.get(key) or p["Key"])
        expression = p["UpdateExpression"]
        assert expression == "SET #s = :published, expires_at = :ttl REMOVE lease_until", expression
        values = p["ExpressionAttributeValues"]
        item.update(state=values[":published"], expires_at=values[":ttl"])
        item.pop("lease_until", None)
        table[key] = item
        return {}

    def _dynamodb_DeleteItem(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        table = self._table(p["TableName"])
        key = self._key(p["Key"])
        self._condition(p, table.get(key))
        table.pop(key, None)
        return {}

    # ---- SQS ----------------------------------------------------------------------------------
    def _sqs_SendMessage(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        if p["QueueUrl"] not in self.queues:
            raise _Error("QueueDoesNotExist", f"no queue {p['QueueUrl']}")
        self.queues[p["QueueUrl"]].append(p["MessageBody"])
        return {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": "0" * 32}
