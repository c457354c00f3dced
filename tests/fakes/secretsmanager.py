"""A fake Secrets Manager (GetSecretValue only) that speaks botocore's real wire protocol.

Secrets Manager is a JSON 1.1 service: ``POST /`` with ``X-Amz-Target: secretsmanager.<Operation>``
and the input as a JSON body. Like the other fakes it checks the SigV4 signature's service and
region, validates the input against the botocore model (constraints included) and every answer it
emits against the output or error shape. A secret is found by name or by ARN (whose name carries the
six random characters Secrets Manager appends); an unknown one is ResourceNotFoundException, as the
API reference's GetSecretValue page lists.
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from fakes.wire import Body, botocore_session, check_emitted, constraint_problems

SERVICE = "secretsmanager"
OPERATIONS = ("GetSecretValue",)
FAKE = "fake Secrets Manager"


@dataclass
class Secret:
    arn: str
    name: str
    value: str
    version_id: str
    created: datetime


class _ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeSecretsManager:
    def __init__(self, account: str = "123456789012") -> None:
        self.account = account
        self._model = botocore_session().get_service_model(SERVICE)
        self.secrets: dict[str, Secret] = {}  # by ARN
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []

    def create_secret(self, region: str, name: str, value: str) -> str:
        suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))
        arn = f"arn:aws:secretsmanager:{region}:{self.account}:secret:{name}-{suffix}"
        self.secrets[arn] = Secret(arn, name, value, str(uuid.uuid4()), datetime.now(UTC))
        return arn

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
            result = self._get_secret_value(region, params)
        except _ApiError as err:
            return self._error(request.url, op, err)
        check_emitted(result, op.output_shape, f"{name} response", FAKE)
        body = {**result, "CreatedDate": result["CreatedDate"].timestamp()}
        return AWSResponse(
            request.url,
            200,
            {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/x-amz-json-1.1"},
            Body(json.dumps(body).encode()),
        )

    def _get_secret_value(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params["SecretId"]
        found = self.secrets.get(wanted) or next(
            (s for s in self.secrets.values() if s.name == wanted and s.arn.split(":")[3] == region), None
        )
        if found is None or found.arn.split(":")[3] != region:
            raise _ApiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        return {
            "ARN": found.arn,
            "Name": found.name,
            "VersionId": found.version_id,
            "SecretString": found.value,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": found.created,
        }

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
