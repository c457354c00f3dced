"""A fake Secrets Manager that speaks botocore's real wire protocol and models versions, staging labels
and replicas.

Secrets Manager is a JSON 1.1 service: ``POST /`` with ``X-Amz-Target: secretsmanager.<Operation>``
and the input as a JSON body. Like the other fakes it checks the SigV4 signature's service and
region, validates the input against the botocore model (constraints included) and every answer it
emits against the output or error shape. A secret is found by name or by ARN (whose name carries the
six random characters Secrets Manager appends); an unknown one is ResourceNotFoundException, as the
API reference's GetSecretValue page lists.

Operations: GetSecretValue, PutSecretValue, UpdateSecretVersionStage, DescribeSecret. Staging labels
move as the API reference documents them:

- each label is attached to one version at a time; attaching it elsewhere moves it
  (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html);
- ``PutSecretValue`` without ``VersionStages`` moves ``AWSCURRENT`` to the new version; with
  ``VersionStages`` it attaches exactly those; whenever ``AWSCURRENT`` moves, ``AWSPREVIOUS`` moves
  to the version it left; a ``ClientRequestToken`` that names an existing version with the same
  value is ignored (idempotent), with another value it is ResourceExistsException
  (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html);
- ``UpdateSecretVersionStage`` needs ``RemoveFromVersionId`` naming the version that holds the label
  when another version holds it (InvalidParameterException otherwise); ``GetSecretValue`` of a
  label no version holds is ResourceNotFoundException
  (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).

A replica (``add_replica``) answers reads in its own region from a copy of the primary's versions
that catches up ``replica_lag`` reads after each change of the primary (replication is
asynchronous: https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html).
ASSUMPTION, not documented: the copy carries every staging label (``AWSPENDING`` and custom ones
included), so a replica answers ``GetSecretValue(VersionStage="AWSPENDING")``. The documentation
speaks of replicating the secret and its versions; the code under test must not rely on a replica's
labels other than ``AWSCURRENT``/``AWSPREVIOUS`` (the rotation's replica check of ``AWSPENDING`` is
advisory only).
Writes go to the primary only; ``on_change`` callbacks run after every change (tests check
invariants there).
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from fakes.wire import Body, botocore_session, check_emitted, constraint_problems

SERVICE = "secretsmanager"
OPERATIONS = ("GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage", "DescribeSecret")
FAKE = "fake Secrets Manager"


@dataclass
class Version:
    value: str
    stages: set[str]
    created: datetime


@dataclass
class Replica:
    region: str
    versions: dict[str, Version]
    reads_behind: int = 0  # reads still answered from the stale copy


@dataclass
class Secret:
    arn: str
    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    replicas: dict[str, Replica] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return self.arn.split(":")[3]

    def holder(self, stage: str, versions: dict[str, Version] | None = None) -> str | None:
        return next((vid for vid, v in (versions or self.versions).items() if stage in v.stages), None)

    # Compatibility with callers that read the current value directly.
    @property
    def value(self) -> str:
        holder = self.holder("AWSCURRENT")
        assert holder is not None
        return self.versions[holder].value


class _ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeSecretsManager:
    def __init__(self, account: str = "123456789012", replica_lag: int = 0) -> None:
        self.account = account
        self.replica_lag = replica_lag
        self._model = botocore_session().get_service_model(SERVICE)
        self.secrets: dict[str, Secret] = {}  # by the primary's ARN
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []
        self.on_change: list[Callable[[], None]] = []

    # ---- test set-up and inspection

    def create_secret(self, region: str, name: str, value: str) -> str:
        suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))
        arn = f"arn:aws:secretsmanager:{region}:{self.account}:secret:{name}-{suffix}"
        secret = Secret(arn, name)
        secret.versions[str(uuid.uuid4())] = Version(value, {"AWSCURRENT"}, datetime.now(UTC))
        self.secrets[arn] = secret
        return arn

    def add_version(self, arn: str, value: str, stages: set[str], version_id: str | None = None) -> str:
        """Set-up only: a version with these labels, moved as PutSecretValue moves them."""
        secret = self.secrets[arn]
        vid = version_id or str(uuid.uuid4())
        secret.versions[vid] = Version(value, set(), datetime.now(UTC))
        for stage in sorted(stages):
            self._attach(secret, stage, vid)
        self._changed(secret)
        return vid

    def add_replica(self, arn: str, region: str) -> None:
        secret = self.secrets[arn]
        secret.replicas[region] = Replica(region, copy.deepcopy(secret.versions))

    def replicate(self) -> None:
        """Every replica catches up now."""
        for secret in self.secrets.values():
            for replica in secret.replicas.values():
                replica.versions, replica.reads_behind = copy.deepcopy(secret.versions), 0

    def stage_value(self, arn: str, stage: str, region: str | None = None) -> str | None:
        """The value ``stage`` names in ``region`` (the primary's by default), or None."""
        secret = self.secrets[arn]
        versions = secret.versions if region in (None, secret.region) else secret.replicas[region].versions
        holder = secret.holder(stage, versions)
        return versions[holder].value if holder else None

    # ---- the wire

    def answer(self, region: str, request: AWSPreparedRequest) -> AWSResponse:
        """The reply to one request botocore sent to ``secretsmanager.<region>.amazonaws.com``."""
        headers = {
            k.lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()
        }
        target = headers.get("x-amz-target", "")
        name = target.removeprefix(f"{SERVICE}.")
        assert request.method == "POST" and urlsplit(request.url).path == "/", (request.method, request.url)
        assert name in OPERATIONS, f"fake Secrets Manager does not answer {target!r}"
        assert headers.get("content-type") == "application/x-amz-json-1.1", headers.get("content-type")
        auth = headers.get("authorization", "")
        assert auth.startswith("AWS4-HMAC-SHA256 "), f"request not SigV4-signed: {auth!r}"
        assert f"/{region}/{SERVICE}/aws4_request" in auth, f"signed for the wrong scope: {auth!r}"
        op = self._model.operation_model(name)
        params = json.loads(request.body or b"{}")
        self.calls.append((name, params))
        try:
            try:
                validate_parameters(params, op.input_shape)
            except ParamValidationError as err:
                raise _ApiError("InvalidParameterException", str(err)) from err
            if problems := constraint_problems(params, op.input_shape):
                raise _ApiError("InvalidParameterException", "; ".join(f"{n}: {m}" for n, m in problems))
            result = getattr(self, f"_{_snake(name)}")(region, params)
        except _ApiError as err:
            self.errors.append(err.code)
            return self._error(request.url, op, err)
        check_emitted(result, op.output_shape, f"{name} response", FAKE)
        body = {k: (v.timestamp() if isinstance(v, datetime) else v) for k, v in result.items()}
        return AWSResponse(
            request.url,
            200,
            {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/x-amz-json-1.1"},
            Body(json.dumps(body).encode()),
        )

    def client(self, region: str) -> Any:
        """A real botocore client for ``region`` whose requests this fake answers (no network)."""
        client = botocore_session().create_client(
            SERVICE, region_name=region, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
        )

        def on_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            return self.answer(region, request)

        client.meta.events.register(f"before-send.{SERVICE}.*", on_send)
        return client

    # ---- operations

    def _find(self, region: str, wanted: str) -> tuple[Secret, dict[str, Version], Replica | None]:
        for secret in self.secrets.values():
            arns = {secret.arn.replace(f":{secret.region}:", f":{r}:", 1): r for r in secret.replicas}
            arns[secret.arn] = secret.region
            if arns.get(wanted) == region or (secret.name == wanted and region in arns.values()):
                if region == secret.region:
                    return secret, secret.versions, None
                replica = secret.replicas[region]
                return secret, replica.versions, replica
        raise _ApiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")

    def _primary(self, region: str, wanted: str) -> Secret:
        secret, _, replica = self._find(region, wanted)
        if replica is not None:
            raise _ApiError("InvalidRequestException", "Operation is not permitted on a replica secret.")
        return secret

    def _get_secret_value(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        secret, versions, replica = self._find(region, params["SecretId"])
        if replica is not None:
            if replica.reads_behind > 0:
                replica.reads_behind -= 1
            else:
                replica.versions = copy.deepcopy(secret.versions)
            versions = replica.versions
        vid = params.get("VersionId") or secret.holder(params.get("VersionStage", "AWSCURRENT"), versions)
        if vid is None or vid not in versions:
            raise _ApiError(
                "ResourceNotFoundException", "Secrets Manager can't find the specified secret value."
            )
        if params.get("VersionStage") and params["VersionStage"] not in versions[vid].stages:
            raise _ApiError(
                "ResourceNotFoundException", "Secrets Manager can't find the specified secret value."
            )
        version = versions[vid]
        arn = secret.arn if replica is None else secret.arn.replace(f":{secret.region}:", f":{region}:", 1)
        return {
            "ARN": arn,
            "Name": secret.name,
            "VersionId": vid,
            "SecretString": version.value,
            "VersionStages": sorted(version.stages),
            "CreatedDate": version.created,
        }

    def _put_secret_value(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        secret = self._primary(region, params["SecretId"])
        if "SecretString" not in params:
            raise _ApiError("InvalidParameterException", "this fake stores SecretString only")
        token = params.get("ClientRequestToken") or str(uuid.uuid4())
        stages = set(params.get("VersionStages") or ["AWSCURRENT"])
        if token in secret.versions:
            if secret.versions[token].value != params["SecretString"]:
                raise _ApiError(
                    "ResourceExistsException",
                    "You can't modify an existing version, you can only create a new version.",
                )
            return {
                "ARN": secret.arn,
                "Name": secret.name,
                "VersionId": token,
                "VersionStages": sorted(secret.versions[token].stages),
            }
        new = Version(params["SecretString"], set(), datetime.now(UTC))
        secret.versions[token] = new
        for stage in sorted(stages):
            self._attach(secret, stage, token)
        self._changed(secret)
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": token,
            "VersionStages": sorted(new.stages),
        }

    def _update_secret_version_stage(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        secret = self._primary(region, params["SecretId"])
        stage = params["VersionStage"]
        move_to, remove_from = params.get("MoveToVersionId"), params.get("RemoveFromVersionId")
        holder = secret.holder(stage)
        for vid in (move_to, remove_from):
            if vid is not None and vid not in secret.versions:
                raise _ApiError("ResourceNotFoundException", f"no version {vid} of the secret")
        if holder is not None and holder != move_to and remove_from != holder:
            raise _ApiError(
                "InvalidParameterException",
                f"The staging label {stage} is currently attached to version {holder}, so you must "
                "explicitly reference that version in RemoveFromVersionId.",
            )
        if remove_from is not None and stage not in secret.versions[remove_from].stages:
            raise _ApiError(
                "InvalidParameterException", f"version {remove_from} does not hold the label {stage}"
            )
        if move_to is None and remove_from is None:
            raise _ApiError("InvalidParameterException", "name MoveToVersionId or RemoveFromVersionId")
        if move_to is not None:
            self._attach(secret, stage, move_to)
        elif remove_from is not None:
            if stage == "AWSCURRENT":
                raise _ApiError("InvalidParameterException", "AWSCURRENT cannot be removed, only moved")
            secret.versions[remove_from].stages.discard(stage)
        self._changed(secret)
        return {"ARN": secret.arn, "Name": secret.name}

    def _describe_secret(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        secret, _, _ = self._find(region, params["SecretId"])
        result: dict[str, Any] = {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionIdsToStages": {vid: sorted(v.stages) for vid, v in secret.versions.items() if v.stages},
            "PrimaryRegion": secret.region,
        }
        if secret.replicas:
            result["ReplicationStatus"] = [
                {
                    "Region": r,
                    "KmsKeyId": "alias/aws/secretsmanager",
                    "Status": "InSync",
                    "StatusMessage": "Replication succeeded",
                }
                for r in sorted(secret.replicas)
            ]
        return result

    # ---- label moves

    def _attach(self, secret: Secret, stage: str, vid: str) -> None:
        holder = secret.holder(stage)
        if holder == vid:
            return
        if holder is not None:
            secret.versions[holder].stages.discard(stage)
        secret.versions[vid].stages.add(stage)
        if stage == "AWSCURRENT" and holder is not None:
            previous = secret.holder("AWSPREVIOUS")
            if previous is not None:
                secret.versions[previous].stages.discard("AWSPREVIOUS")
            secret.versions[holder].stages.add("AWSPREVIOUS")

    def _changed(self, secret: Secret) -> None:
        for replica in secret.replicas.values():
            if self.replica_lag:
                replica.reads_behind = self.replica_lag
            else:
                replica.versions = copy.deepcopy(secret.versions)
        for callback in self.on_change:
            callback()

    def _error(self, url: str, op: Any, err: _ApiError) -> AWSResponse:
        modeled = {shape.name for shape in op.error_shapes}
        assert err.code in modeled, f"{FAKE} raised {err.code}, not a modeled error of {op.name}"
        check_emitted(
            {"Message": err.message}, self._model.shape_for(err.code), err.code, "fake Secrets Manager"
        )
        return AWSResponse(
            url,
            400,
            {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/x-amz-json-1.1"},
            Body(json.dumps({"__type": err.code, "Message": err.message}).encode()),
        )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
