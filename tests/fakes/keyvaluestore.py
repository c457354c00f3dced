"""A fake CloudFront KeyValueStore data plane that speaks botocore's real wire protocol.

`FakeKeyValueStore.client()` returns a real boto3 ``cloudfront-keyvaluestore`` client. A
``before-send.cloudfront-keyvaluestore.*`` handler answers each HTTP request with an ``AWSResponse``,
so botocore's endpoint rules (``https://<account>.cloudfront-kvs.global.api.aws``), serialisation,
client-side validation, signing and response parsing all run, with no network. The fake routes on
method and path as the service does, parses the wire request back into the operation's input
members and validates it against the botocore model, including the min/max/pattern constraints
botocore skips (then the documented limits: keys 512 bytes, values 1 KB, store 5 MB). It validates
every response and error it emits the same way; an invalid one is a fake bug (AssertionError).

Signing: the API is SigV4A-only. botocore resolves the auth scheme in endpoint resolution, before
any event a fake could answer, and without the AWS CRT (``awscrt``) it raises
MissingDependencyException there. So with the CRT installed (``botocore[crt]``, our dev
dependency) clients sign for real and the fake asserts a SigV4A signature for the region set
``*``; ``signed=False`` (the default when the CRT is missing) builds the client with
``Config(signature_version=UNSIGNED)``, which skips the auth scheme, and the fake asserts the
request is unsigned.

Store semantics: one ETag for the whole store, replaced on every write. Writes need ``If-Match`` equal
to it, else ConflictException (409); GetKey/DeleteKey of a missing key is ResourceNotFoundException
(404). Check order (store, ETag, key) and UpdateKeys' answer for a missing delete key are this
fake's choices; AWS does not document them.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import botocore
import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HAS_CRT
from botocore.config import Config
from botocore.exceptions import ParamValidationError
from botocore.model import OperationModel, ServiceModel
from botocore.validate import validate_parameters

from fakes.wire import Body, botocore_session, check_emitted, check_injection, constraint_problems

SERVICE = "cloudfront-keyvaluestore"
# Documented quotas (CloudFront developer guide, "KeyValueStore quotas").
MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 1024
MAX_STORE_BYTES = 5 * 1024 * 1024
DEFAULT_PAGE = 10  # ListKeys without MaxResults: this fake's page size (AWS does not document it)
WRITES = ("PutKey", "DeleteKey", "UpdateKeys")
_ETAG_CHARS = string.ascii_uppercase + string.digits
_ROUTES: dict[tuple[str, int], str] = {
    ("GET", 0): "DescribeKeyValueStore",
    ("GET", 1): "ListKeys",
    ("POST", 1): "UpdateKeys",
    ("GET", 2): "GetKey",
    ("PUT", 2): "PutKey",
    ("DELETE", 2): "DeleteKey",
}


@dataclass
class FakeStore:
    arn: str
    items: dict[str, str]
    etag: str
    created: datetime
    last_modified: datetime

    @property
    def size(self) -> int:
        return sum(len(k.encode()) + len(v.encode()) for k, v in self.items.items())


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, Any]


@dataclass
class _Injection:
    operations: frozenset[str]
    error: str
    remaining: int
    message: str


@dataclass
class _Hook:
    operation: str
    action: Callable[[], object]
    remaining: int
    running: bool = field(default=False)


class _ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class FakeKeyValueStore:
    def __init__(self, account: str = "123456789012", *, signed: bool | None = None) -> None:
        self.account = account
        self.signed = HAS_CRT if signed is None else signed
        if self.signed and not HAS_CRT:
            raise RuntimeError("signed=True needs the AWS CRT: pip install 'botocore[crt]'")
        self.stores: dict[str, FakeStore] = {}
        self.calls: list[Call] = []
        self._injections: list[_Injection] = []
        self._hooks: list[_Hook] = []
        self._etags = itertools.count(1)
        self._lock = threading.RLock()
        self._session = boto3.session.Session(
            botocore_session=botocore_session(),
            aws_access_key_id="AKIAFAKEKVSTESTING00",
            aws_secret_access_key="fake-kvs-secret",
            aws_session_token="fake-kvs-session-token",
        )
        self._model: ServiceModel = botocore_session().get_service_model(SERVICE)
        self._ops: dict[str, Callable[[FakeStore, dict[str, Any]], dict[str, Any]]] = {
            "DescribeKeyValueStore": self._describe,
            "ListKeys": self._list_keys,
            "GetKey": self._get_key,
            "PutKey": self._put_key,
            "DeleteKey": self._delete_key,
            "UpdateKeys": self._update_keys,
        }

    # ----------------------------------------------------------------------------------- public API
    def create_store(self, items: dict[str, str] | None = None) -> str:
        """A new store (optionally pre-filled, as by an import source); returns its ARN."""
        now = datetime.now(UTC)
        arn = f"arn:aws:cloudfront::{self.account}:key-value-store/{uuid.uuid4()}"
        self.stores[arn] = FakeStore(arn, dict(items or {}), self._new_etag(), now, now)
        return arn

    def client(self, region: str = "us-east-1") -> Any:
        """A real boto3 client whose requests this fake answers (no retries: the caller's loop shows)."""
        options: dict[str, Any] = {
            "retries": {"total_max_attempts": 1},
            "ignore_configured_endpoint_urls": True,
        }
        if not self.signed:
            options["signature_version"] = botocore.UNSIGNED
        client = self._session.client(SERVICE, region_name=region, config=Config(**options))
        client.meta.events.register(f"before-send.{SERVICE}.*", self._on_send)
        return client

    def items(self, arn: str) -> dict[str, str]:
        return dict(self.stores[arn].items)

    def etag(self, arn: str) -> str:
        return self.stores[arn].etag

    def inject(
        self, operation: str | tuple[str, ...], error: str, *, times: int = 1, message: str | None = None
    ) -> None:
        """The next `times` calls of `operation` (a name, a tuple of names, or "writes") fail with `error`."""
        operations = (
            WRITES if operation == "writes" else (operation,) if isinstance(operation, str) else operation
        )
        for op in operations:
            check_injection(self._model, self._ops, op, error, times)
        self._injections.append(
            _Injection(frozenset(operations), error, times, message or f"injected {error}")
        )

    def conflict_next_writes(self, times: int = 1) -> None:
        """The next `times` writes fail as if another writer had changed the store first (409)."""
        self.inject("writes", "ConflictException", times=times, message="Resource is not in expected state")

    def before(self, operation: str, action: Callable[[], object], *, times: int = 1) -> None:
        """Run `action` (e.g. another writer's whole drain) just before the next `times` `operation`s.

        The action may call the fake through its own clients; calls it makes do not re-trigger hooks.
        """
        if operation not in self._ops:
            raise ValueError(f"unknown or unimplemented operation {operation!r}")
        self._hooks.append(_Hook(operation, action, times))

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    # ---------------------------------------------------------------------------------- transport
    def _on_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        sent = event_name.rsplit(".", 1)[-1]
        self._run_hooks(sent)
        url = urlsplit(request.url)
        self._check_auth(request)
        with self._lock:
            segments = url.path.split("/")
            if len(segments) < 3 or segments[:2] != ["", "key-value-stores"] or len(segments) > 5:
                raise AssertionError(f"botocore sent {sent} to an unknown path {url.path}")
            if len(segments) >= 4 and segments[3] != "keys":
                raise AssertionError(f"botocore sent {sent} to an unknown path {url.path}")
            op_name = _ROUTES.get((request.method or "", len(segments) - 3))
            assert op_name == sent, (
                f"fake routed {request.method} {url.path} to {op_name}, botocore sent {sent}"
            )
            op = self._model.operation_model(op_name)
            path = {"KvsARN": unquote(segments[2])}
            if len(segments) == 5:
                path["Key"] = unquote(segments[4])
            try:
                params = self._parse_request(op, path, url.query, request)
            except _ApiError as err:
                self.calls.append(Call(op_name, {}))
                return self._error_response(request.url, op, err)
            self.calls.append(Call(op_name, params))
            try:
                self._validate_request(op, params)
                account = params["KvsARN"].split(":")[4] if params["KvsARN"].count(":") >= 5 else ""
                expected_host = f"{account}.cloudfront-kvs.global.api.aws"
                assert url.hostname == expected_host, (
                    f"{op_name} for {params['KvsARN']} sent to {url.hostname}"
                )
                self._fire_injection(op_name)
                store = self.stores.get(params["KvsARN"])
                if store is None:
                    raise _ApiError(
                        "ResourceNotFoundException", f"Key value store {params['KvsARN']} not found"
                    )
                result = self._ops[op_name](store, params)
            except _ApiError as err:
                return self._error_response(request.url, op, err)
            return self._success_response(request.url, op, result)

    def _run_hooks(self, operation: str) -> None:
        for hook in self._hooks:
            if hook.operation == operation and hook.remaining > 0 and not hook.running:
                hook.remaining -= 1
                hook.running = True
                try:
                    hook.action()
                finally:
                    hook.running = False
                return

    def _check_auth(self, request: AWSPreparedRequest) -> None:
        def header(name: str) -> str:
            value = request.headers.get(name) or b""
            return value.decode() if isinstance(value, bytes) else str(value)

        auth = header("Authorization")
        if not self.signed:
            assert not auth, f"unsigned fake client sent Authorization {auth!r}"
            return
        assert auth.startswith("AWS4-ECDSA-P256-SHA256 "), f"request not SigV4A-signed: {auth!r}"
        assert f"/{SERVICE}/aws4_request" in auth, f"signed for the wrong service: {auth!r}"
        assert header("X-Amz-Region-Set") == "*", f"SigV4A region set {header('X-Amz-Region-Set')!r}, not *"

    def _parse_request(
        self, op: OperationModel, path: dict[str, str], query: str, request: AWSPreparedRequest
    ) -> dict[str, Any]:
        shape = op.input_shape
        body = request.body
        try:
            data = json.loads(body) if body else {}
        except ValueError as err:
            raise _ApiError("ValidationException", f"cannot parse body: {err}") from err
        qs = parse_qs(query, keep_blank_values=True)
        params: dict[str, Any] = {}
        body_members = set()
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri" and wire in path:
                params[name] = path[wire]
            elif location == "header" and wire in request.headers:
                value = request.headers[wire]
                params[name] = value.decode() if isinstance(value, bytes) else str(value)
            elif location == "querystring" and wire in qs:
                value = qs[wire][-1]
                if member.type_name == "integer":
                    try:
                        params[name] = int(value)
                    except ValueError as err:
                        raise _ApiError(
                            "ValidationException", f"{wire}: {value!r} is not an integer"
                        ) from err
                else:
                    params[name] = value
            elif location is None:
                body_members.add(name)
                if name in data:
                    params[name] = data[name]
        if unknown := set(data) - body_members:
            raise _ApiError("ValidationException", f"unknown body members {sorted(unknown)}")
        return params

    def _validate_request(self, op: OperationModel, params: dict[str, Any]) -> None:
        try:
            validate_parameters(params, op.input_shape)
        except ParamValidationError as err:
            raise _ApiError("ValidationException", str(err)) from err
        if problems := constraint_problems(params, op.input_shape):
            raise _ApiError("ValidationException", "; ".join(f"{n}: {m}" for n, m in problems))
        keys = [params["Key"]] if "Key" in params else []
        keys += [p["Key"] for p in params.get("Puts", [])] + [d["Key"] for d in params.get("Deletes", [])]
        for key in keys:
            if len(key.encode()) > MAX_KEY_BYTES:
                raise _ApiError("ValidationException", f"Key is longer than {MAX_KEY_BYTES} bytes")
        values = [params["Value"]] if "Value" in params else [p["Value"] for p in params.get("Puts", [])]
        for value in values:
            if len(value.encode()) > MAX_VALUE_BYTES:
                raise _ApiError("ValidationException", f"Value is longer than {MAX_VALUE_BYTES} bytes")

    def _fire_injection(self, op_name: str) -> None:
        for inj in self._injections:
            if op_name in inj.operations and inj.remaining > 0:
                inj.remaining -= 1
                raise _ApiError(inj.error, inj.message)

    def _success_response(self, url: str, op: OperationModel, result: dict[str, Any]) -> AWSResponse:
        check_emitted(result, op.output_shape, f"{op.name} response", "fake KVS")
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/json"}
        body: dict[str, Any] = {}
        for name, member in op.output_shape.members.items():
            if name not in result:
                continue
            if member.serialization.get("location") == "header":
                headers[member.serialization["name"]] = str(result[name])
            elif member.type_name == "timestamp":
                body[name] = result[name].timestamp()
            else:
                body[name] = result[name]
        return AWSResponse(url, 200, headers, Body(json.dumps(body).encode()))

    def _error_response(self, url: str, op: OperationModel, err: _ApiError) -> AWSResponse:
        # Input validation answers ValidationException for every operation, modeled there or not (as
        # AWS's request validation does); every other error must be one the operation models.
        modeled = {shape.name for shape in op.error_shapes} | {"ValidationException"}
        assert err.code in modeled, f"fake KVS raised {err.code}, not a modeled error of {op.name}"
        shape = self._model.shape_for(err.code)
        check_emitted({"Message": err.message}, shape, f"{err.code} from {op.name}", "fake KVS")
        headers = {
            "x-amzn-ErrorType": f"{err.code}:http://internal.amazon.com/coral/com.amazonaws.cloudfrontkvs/",
            "x-amzn-RequestId": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        status = shape.metadata["error"]["httpStatusCode"]
        return AWSResponse(url, status, headers, Body(json.dumps({"Message": err.message}).encode()))

    # ------------------------------------------------------------------------------- operations
    def _new_etag(self) -> str:
        return f"ET{next(self._etags):04d}" + "".join(secrets.choice(_ETAG_CHARS) for _ in range(8))

    @staticmethod
    def _counts(store: FakeStore) -> dict[str, Any]:
        return {"ItemCount": len(store.items), "TotalSizeInBytes": store.size}

    def _describe(self, store: FakeStore, p: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._counts(store),
            "KvsARN": store.arn,
            "Created": store.created,
            "ETag": store.etag,
            "LastModified": store.last_modified,
            "Status": "READY",
        }

    def _list_keys(self, store: FakeStore, p: dict[str, Any]) -> dict[str, Any]:
        keys = sorted(store.items)
        if "NextToken" in p:
            try:
                arn, after = base64.urlsafe_b64decode(p["NextToken"].encode()).decode().split("\n", 1)
            except ValueError:
                arn, after = "", ""
            if arn != store.arn:
                raise _ApiError("ValidationException", "NextToken is invalid")
            keys = [k for k in keys if k > after]
        page = keys[: p.get("MaxResults", DEFAULT_PAGE)]
        out: dict[str, Any] = {"Items": [{"Key": k, "Value": store.items[k]} for k in page]}
        if len(keys) > len(page):
            out["NextToken"] = base64.urlsafe_b64encode(f"{store.arn}\n{page[-1]}".encode()).decode()
        return out

    def _get_key(self, store: FakeStore, p: dict[str, Any]) -> dict[str, Any]:
        if p["Key"] not in store.items:
            raise _ApiError("ResourceNotFoundException", f"Key {p['Key']} not found")
        return {"Key": p["Key"], "Value": store.items[p["Key"]], **self._counts(store)}

    def _write(
        self, store: FakeStore, if_match: str, change: Callable[[dict[str, str]], None]
    ) -> dict[str, Any]:
        if if_match != store.etag:
            raise _ApiError("ConflictException", "Resource is not in expected state (If-Match is stale)")
        items = dict(store.items)
        change(items)
        if sum(len(k.encode()) + len(v.encode()) for k, v in items.items()) > MAX_STORE_BYTES:
            raise _ApiError("ServiceQuotaExceededException", "Key value store size limit exceeded")
        store.items, store.etag, store.last_modified = items, self._new_etag(), datetime.now(UTC)
        return {**self._counts(store), "ETag": store.etag}

    def _put_key(self, store: FakeStore, p: dict[str, Any]) -> dict[str, Any]:
        return self._write(store, p["IfMatch"], lambda items: items.__setitem__(p["Key"], p["Value"]))

    def _delete_key(self, store: FakeStore, p: dict[str, Any]) -> dict[str, Any]:
        def change(items: dict[str, str]) -> None:
            if p["Key"] not in items:
                raise _ApiError("ResourceNotFoundException", f"Key {p['Key']} not found")
            del items[p["Key"]]

        return self._write(store, p["IfMatch"], change)

    def _update_keys(self, store: FakeStore, p: dict[str, Any]) -> dict[str, Any]:
        puts, deletes = p.get("Puts", []), [d["Key"] for d in p.get("Deletes", [])]
        if not puts and not deletes:
            raise _ApiError("ValidationException", "UpdateKeys needs at least one of Puts and Deletes")
        if both := {put["Key"] for put in puts} & set(deletes):
            raise _ApiError("ValidationException", f"keys both put and deleted: {sorted(both)}")

        def change(items: dict[str, str]) -> None:  # all or nothing: `items` is a copy
            for key in deletes:
                if key not in items:
                    raise _ApiError("ResourceNotFoundException", f"Key {key} not found")
                del items[key]
            items.update({put["Key"]: put["Value"] for put in puts})

        return self._write(store, p["IfMatch"], change)
