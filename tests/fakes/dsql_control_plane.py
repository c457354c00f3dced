"""A fake Aurora DSQL control plane that speaks botocore's real wire protocol.

`FakeDsql.client(region)` returns a real boto3 ``dsql`` client. A ``before-send.dsql.*`` handler answers
each HTTP request with an ``AWSResponse``, so botocore's own serialisation, client-side validation and
response parsing all run, with no network. The fake routes on method and path, as the service does. It
parses the wire request back into the operation's input members and validates every request against the
botocore model, enforcing the pattern/max/enum constraints that botocore itself skips. It validates every
response and error it emits in the same way; an invalid response is a fake bug and raises
AssertionError.

Status simulation follows the AWS docs: multi-Region peering via a witness Region stays PENDING_SETUP until
both clusters list each other, and PENDING_DELETE until every peer is deleted too. Transitions (CREATING,
UPDATING, DELETING) complete after `ticks` GetCluster polls of that cluster, or through `settle()`.

Permissions are opt-in: after `enforce(policies)`, a call made while `principal` (or `acting_as(name)`)
names one of them is authorized as tests/fakes/iam.py's `dsql_requests` says, after request validation
and before the operation runs. A denial answers the modeled AccessDeniedException (HTTP 403) with the
message IAM gives for identity-based denials, and is recorded in `denials`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import itertools
import json
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ParamValidationError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import validate_parameters

from fakes.iam import PLACEHOLDER_ID, AuthRequest, Policy, dsql_requests
from fakes.wire import Body, botocore_session, check_emitted, check_injection, constraint_problems

FAKE = "fake DSQL"
REGION_SETS: tuple[frozenset[str], ...] = (
    frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    frozenset({"eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3"}),
    frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
)
TRANSITIONAL = frozenset({"CREATING", "UPDATING", "DELETING"})
BUSY = frozenset({"CREATING", "UPDATING", "DELETING", "PENDING_DELETE"})
GOING = frozenset({"DELETING", "PENDING_DELETE"})
CLUSTER_ARN = re.compile(r"arn:aws:dsql:([a-z0-9-]+):([0-9]{12}):cluster/([a-z0-9]{26})")
AWS_OWNED = "AWS_OWNED_KMS_KEY"
_ID_CHARS = string.ascii_lowercase + string.digits
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(path), op)
    for method, path, op in (
        ("POST", r"/cluster", "CreateCluster"),
        ("GET", r"/cluster", "ListClusters"),
        ("GET", r"/cluster/(?P<identifier>[^/]+)", "GetCluster"),
        ("POST", r"/cluster/(?P<identifier>[^/]+)", "UpdateCluster"),
        ("DELETE", r"/cluster/(?P<identifier>[^/]+)", "DeleteCluster"),
        ("POST", r"/cluster/(?P<identifier>[^/]+)/policy", "PutClusterPolicy"),
        ("GET", r"/cluster/(?P<identifier>[^/]+)/policy", "GetClusterPolicy"),
        ("DELETE", r"/cluster/(?P<identifier>[^/]+)/policy", "DeleteClusterPolicy"),
        ("GET", r"/clusters/(?P<identifier>[^/]+)/vpc-endpoint-service-name", "GetVpcEndpointServiceName"),
        ("POST", r"/tags/(?P<resourceArn>[^/]+)", "TagResource"),
        ("DELETE", r"/tags/(?P<resourceArn>[^/]+)", "UntagResource"),
        ("GET", r"/tags/(?P<resourceArn>[^/]+)", "ListTagsForResource"),
        ("POST", r"/stream/(?P<clusterIdentifier>[^/]+)", "CreateStream"),
        ("GET", r"/stream/(?P<clusterIdentifier>[^/]+)", "ListStreams"),
        ("GET", r"/stream/(?P<clusterIdentifier>[^/]+)/(?P<streamIdentifier>[^/]+)", "GetStream"),
        ("DELETE", r"/stream/(?P<clusterIdentifier>[^/]+)/(?P<streamIdentifier>[^/]+)", "DeleteStream"),
    )
)


@dataclass
class FakeCluster:
    region: str
    identifier: str
    arn: str
    status: str
    deletion_protection: bool
    witness_region: str | None
    peers: list[str]  # peer ARNs, never the cluster's own
    kms_key: str | None
    tags: dict[str, str]
    created_at: float
    client_token: str | None
    encryption_status: str = "ENABLED"
    polls_left: int = 0  # GetCluster polls until the current transition completes
    activated: bool = False  # has been ACTIVE once (a peer removal then settles back to ACTIVE)
    seq: int = 0  # creation order, used for ListClusters pagination
    policy: str | None = None  # the resource-based policy (PutClusterPolicy, CreateCluster's policy)
    policy_version: int = 0  # bumped by every put and delete

    @property
    def endpoint(self) -> str:
        return f"{self.identifier}.dsql.{self.region}.on.aws"


@dataclass
class FakeStream:
    """A CDC stream (user guide, cdc-streams.html, cdc-monitoring.html): CREATING for `ticks` GetStream
    polls, then ACTIVE, or FAILED with a statusReason when its target was marked failing
    (``FakeDsql.failing_targets``); DELETING for `ticks` polls, then gone."""

    region: str
    cluster: str
    identifier: str
    arn: str
    status: str
    target: dict[str, Any]
    tags: dict[str, str]
    created_at: float
    seq: int
    polls_left: int = 0
    reason: str | None = None
    reason_at: float = 0.0


#: At most 5 streams per cluster (user guide, "Cluster quotas and database limits", CHAP_quotas.html).
MAX_STREAMS_PER_CLUSTER = 5
STREAM_LIVE = frozenset({"CREATING", "ACTIVE", "IMPAIRED", "FAILED"})


@dataclass(frozen=True)
class Call:
    region: str
    operation: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Denial:
    """A call refused with AccessDeniedException: who, which check failed, and why (Policy.explain)."""

    region: str
    operation: str
    principal: str
    request: AuthRequest
    reason: str


@dataclass
class _Injection:
    operation: str
    error: str
    remaining: int
    region: str | None
    retry_after: int | None


class _ApiError(Exception):
    """A modeled error the fake answers with (code = error shape name)."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.fields: dict[str, Any] = {"message": message, **fields}


def _invalid(name: str, message: str) -> _ApiError:
    return _ApiError(
        "ValidationException",
        f"{name}: {message}",
        reason="fieldValidationFailed",
        fieldList=[{"name": name, "message": message}],
    )


def _not_found(identifier: str) -> _ApiError:
    return _ApiError(
        "ResourceNotFoundException",
        f"Cluster not found: {identifier}",
        resourceId=identifier,
        resourceType="cluster",
    )


def region_set(region: str) -> frozenset[str] | None:
    return next((regions for regions in REGION_SETS if region in regions), None)


def _to_wire(value: Any, shape: Shape) -> Any:
    """rest-json body encoding: timestamps as epoch seconds, everything else as is."""
    if shape.type_name == "structure":
        return {name: _to_wire(value[name], m) for name, m in shape.members.items() if name in value}
    if shape.type_name == "list":
        return [_to_wire(item, shape.member) for item in value]
    if shape.type_name == "map":
        return {key: _to_wire(item, shape.value) for key, item in value.items()}
    if shape.type_name == "timestamp":
        return value.timestamp()
    return value


def _new_identifier() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(26))


def _route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for route_method, pattern, operation in _ROUTES:
        if route_method == method and (match := pattern.fullmatch(path)):
            return operation, match.groupdict()
    return None


class FakeDsql:
    def __init__(
        self,
        account: str = "123456789012",
        *,
        ticks: int = 2,
        protected_delete_error: str = "ValidationException",
    ) -> None:
        if protected_delete_error not in ("ValidationException", "ConflictException"):
            raise ValueError("protected_delete_error must be ValidationException or ConflictException")
        if ticks < 0:
            raise ValueError("ticks must be >= 0")
        self.account = account
        self.ticks = ticks
        self.protected_delete_error = protected_delete_error
        self.clusters: dict[tuple[str, str], FakeCluster] = {}
        #: KMS keys DSQL cannot use (disabled, or a key policy without DSQL): a cluster switched to
        #: one ends its transition with encryptionStatus KMS_KEY_INACCESSIBLE (DSQL user guide,
        #: "Encryption at rest"; what status the cluster itself shows then is not documented).
        self.inaccessible_keys: set[str] = set()
        self.calls: list[Call] = []
        #: Identity-based policies by principal name; None while permissions are not enforced.
        self.policies: dict[str, Policy] | None = None
        #: The principal the current calls are made as (enforced only when set and `policies` is).
        self.principal: str | None = None
        self.denials: list[Denial] = []
        #: Whether CreateCluster's PutClusterPolicy check carries the request's tags (assumed; the
        #: Service Authorization Reference lists no aws:RequestTag for PutClusterPolicy).
        self.create_policy_request_tags = True
        self._next_identifier: str | None = None  # a CreateCluster's identifier, chosen to authorize it
        self._injections: list[_Injection] = []
        self._tokens: dict[tuple[str, str], tuple[dict[str, Any], str, dict[str, Any]]] = {}
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self._session = boto3.session.Session(
            botocore_session=botocore_session(),
            aws_access_key_id="AKIAFAKEDSQLTESTING0",
            aws_secret_access_key="fake-dsql-secret",
        )
        self._model: ServiceModel = botocore_session().get_service_model("dsql")
        self._ops: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
            "CreateCluster": self._create_cluster,
            "GetCluster": self._get_cluster,
            "UpdateCluster": self._update_cluster,
            "DeleteCluster": self._delete_cluster,
            "ListClusters": self._list_clusters,
            "GetVpcEndpointServiceName": self._get_vpc_endpoint_service_name,
            "TagResource": self._tag_resource,
            "UntagResource": self._untag_resource,
            "ListTagsForResource": self._list_tags_for_resource,
            "PutClusterPolicy": self._put_cluster_policy,
            "GetClusterPolicy": self._get_cluster_policy,
            "DeleteClusterPolicy": self._delete_cluster_policy,
            "CreateStream": self._create_stream,
            "GetStream": self._get_stream,
            "ListStreams": self._list_streams,
            "DeleteStream": self._delete_stream,
        }
        self.streams: dict[tuple[str, str, str], FakeStream] = {}
        #: Kinesis stream ARN -> the StreamFailureErrorCode a stream writing to it ends its creation
        #: with (FAILED), e.g. ROLE_ACCESS_DENIED or KINESIS_STREAM_NOT_FOUND.
        self.failing_targets: dict[str, str] = {}
        self._stream_tokens: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}

    # ----------------------------------------------------------------------------------- public API
    def client(self, region: str) -> Any:
        """A real boto3 'dsql' client for `region` whose requests this fake answers."""
        config = Config(
            retries={"total_max_attempts": 1},
            ignore_configured_endpoint_urls=True,
            use_fips_endpoint=False,
            use_dualstack_endpoint=False,
        )
        client = self._session.client("dsql", region_name=region, config=config)
        client.meta.events.register("before-send.dsql.*", functools.partial(self._on_send, region))
        return client

    def inject(
        self,
        operation: str,
        error: str,
        *,
        times: int = 1,
        region: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next `times` calls of `operation` (in `region`, or any) fail with `error`."""
        check_injection(self._model, self._ops, operation, error, times)
        self._injections.append(_Injection(operation, error, times, region, retry_after))

    def enforce(self, policies: Mapping[str, Policy]) -> None:
        """From now on, authorize each call made as `principal` against `policies[principal]`."""
        self.policies = dict(policies)

    @contextlib.contextmanager
    def acting_as(self, name: str) -> Iterator[None]:
        """Calls inside the block are made as `name` (one of the enforced policies' names)."""
        if self.policies is not None and name not in self.policies:
            raise KeyError(f"no policy for principal {name!r}; enforced: {sorted(self.policies)}")
        previous, self.principal = self.principal, name
        try:
            yield
        finally:
            self.principal = previous

    def settle(self, max_rounds: int = 100) -> None:
        """Advance every cluster through its pending transitions as if polled until stable."""
        with self._lock:
            for _ in range(max_rounds):
                moving = [c for c in self.clusters.values() if c.status in TRANSITIONAL]
                streams = [s for s in self.streams.values() if s.status in ("CREATING", "DELETING")]
                if not moving and not streams:
                    return
                for cluster in moving:
                    self._advance(cluster)
                for stream in streams:
                    self._advance_stream(stream)
            raise AssertionError(f"fake DSQL did not settle within {max_rounds} rounds")

    def cluster(self, region: str, identifier: str) -> FakeCluster:
        try:
            return self.clusters[(region, identifier)]
        except KeyError:
            raise KeyError(f"no fake DSQL cluster {identifier} in {region}") from None

    def find(self, region: str, *, tag: tuple[str, str] | None = None) -> list[FakeCluster]:
        found = [c for c in self.clusters.values() if c.region == region]
        if tag is not None:
            found = [c for c in found if c.tags.get(tag[0]) == tag[1]]
        return sorted(found, key=lambda c: c.seq)

    # ---------------------------------------------------------------------------------- transport
    def _on_send(self, region: str, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        assert url.hostname == f"dsql.{region}.api.aws", f"request for {region} sent to {request.url}"
        auth = request.headers.get("Authorization") or b""
        auth = auth.decode() if isinstance(auth, bytes) else auth
        assert f"/{region}/dsql/aws4_request" in auth, f"request not SigV4-signed for {region}: {auth!r}"
        sent = event_name.rsplit(".", 1)[-1]
        with self._lock:
            route = _route(request.method, url.path)
            if route is None:
                self.calls.append(Call(region, sent, {}))
                err = _ApiError("ValidationException", f"Unknown operation {sent}", reason="unknownOperation")
                return self._error_response(request.url, self._model.operation_model(sent), err)
            op_name, path_params = route
            assert op_name == sent, (
                f"fake routed {request.method} {url.path} to {op_name}, botocore sent {sent}"
            )
            op = self._model.operation_model(op_name)
            try:
                params = self._parse_request(op, path_params, url.query, request.body)
            except _ApiError as err:
                self.calls.append(Call(region, op_name, {}))
                return self._error_response(request.url, op, err)
            self.calls.append(Call(region, op_name, params))
            try:
                self._fire_injection(op_name, region, params)
                self._validate_request(op, params)
                self._authorize(region, op_name, params)
                result = self._ops[op_name](region, params)
            except _ApiError as err:
                return self._error_response(request.url, op, err)
            finally:
                self._next_identifier = None
            response = self._success_response(request.url, op, result)
            if self.ticks == 0:
                self.settle()
            return response

    def _parse_request(
        self, op: OperationModel, path_params: dict[str, str], query: str, body: bytes | str | None
    ) -> dict[str, Any]:
        shape = op.input_shape
        try:
            data = json.loads(body) if body else {}
        except ValueError as err:
            raise _ApiError("ValidationException", f"cannot parse body: {err}", reason="cannotParse") from err
        qs = parse_qs(query, keep_blank_values=True)
        params: dict[str, Any] = {}
        body_members = set()
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri" and wire in path_params:
                params[name] = unquote(path_params[wire])
            elif location == "querystring" and wire in qs:
                values = qs[wire]
                if member.type_name == "list":
                    params[name] = values
                elif member.type_name == "integer":
                    try:
                        params[name] = int(values[-1])
                    except ValueError as err:
                        raise _ApiError(
                            "ValidationException", f"{wire}: not an integer", reason="cannotParse"
                        ) from err
                else:
                    params[name] = values[-1]
            elif location is None:
                body_members.add(name)
                if name in data:
                    params[name] = data[name]
        if unknown := set(data) - body_members:
            raise _ApiError(
                "ValidationException", f"unknown body members {sorted(unknown)}", reason="cannotParse"
            )
        return params

    def _validate_request(self, op: OperationModel, params: dict[str, Any]) -> None:
        try:
            validate_parameters(params, op.input_shape)
        except ParamValidationError as err:
            raise _invalid(op.input_shape.name, str(err)) from err
        if problems := constraint_problems(params, op.input_shape):
            raise _ApiError(
                "ValidationException",
                "; ".join(f"{name}: {message}" for name, message in problems),
                reason="fieldValidationFailed",
                fieldList=[{"name": name, "message": message} for name, message in problems],
            )

    def _authorize(self, region: str, op_name: str, params: dict[str, Any]) -> None:
        """Every check the call makes must be allowed; the first that is not answers AccessDenied."""
        if self.policies is None or self.principal is None:
            return
        policy = self.policies.get(self.principal)
        assert policy is not None, f"principal {self.principal!r} has no enforced policy"
        if op_name == "CreateCluster":
            self._next_identifier = _new_identifier()

        def tags_of(arn: str) -> dict[str, str] | None:
            cluster = self._by_arn(arn)
            return None if cluster is None else dict(cluster.tags)

        checks = dsql_requests(
            op_name,
            params,
            region=region,
            account=self.account,
            tags_of=tags_of,
            cluster_of=lambda in_region, identifier: self.clusters.get((in_region, identifier)),
            new_identifier=self._next_identifier or PLACEHOLDER_ID,
            create_policy_request_tags=self.create_policy_request_tags,
        )
        for check in checks:
            decision = policy.decide(check.action, check.resource, check.context)
            if decision.allowed:
                continue
            self.denials.append(Denial(region, op_name, self.principal, check, decision.reason))
            # IAM's wording for identity-based denials ("Troubleshoot access denied error messages").
            why = (
                "with an explicit deny in an identity-based policy"
                if decision.explicit_deny
                else f"because no identity-based policy allows the {check.action} action"
            )
            raise _ApiError(
                "AccessDeniedException",
                f"User: {self.principal} is not authorized to perform: {check.action} on resource: "
                f"{check.resource} {why}",
            )

    def _fire_injection(self, op_name: str, region: str, params: dict[str, Any]) -> None:
        for inj in self._injections:
            if inj.operation == op_name and inj.remaining > 0 and inj.region in (None, region):
                inj.remaining -= 1
                resource = (
                    params.get("identifier")
                    or params.get("resourceArn")
                    or params.get("clusterIdentifier")
                    or "cluster"
                )
                fields: dict[str, dict[str, Any]] = {
                    "ThrottlingException": {
                        "serviceCode": "dsql",
                        "quotaCode": "fake-rate-limit",
                        "retryAfterSeconds": 1 if inj.retry_after is None else inj.retry_after,
                    },
                    "ServiceQuotaExceededException": {
                        "resourceId": resource,
                        "resourceType": "cluster",
                        "serviceCode": "dsql",
                        "quotaCode": "fake-cluster-limit",
                    },
                    "InternalServerException": (
                        {} if inj.retry_after is None else {"retryAfterSeconds": inj.retry_after}
                    ),
                    "ResourceNotFoundException": {"resourceId": resource, "resourceType": "cluster"},
                    "ConflictException": {"resourceId": resource, "resourceType": "cluster"},
                    "ValidationException": {"reason": "other"},
                }
                raise _ApiError(inj.error, f"injected {inj.error} for {op_name}", **fields.get(inj.error, {}))

    def _success_response(self, url: str, op: OperationModel, result: dict[str, Any]) -> AWSResponse:
        if op.output_shape is None:
            assert result == {}, f"{op.name} has no output shape but the fake returned {result}"
            body = b""
        else:
            check_emitted(result, op.output_shape, f"{op.name} response", FAKE)
            body = json.dumps(_to_wire(result, op.output_shape)).encode()
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/json"}
        return AWSResponse(url, 200, headers, Body(body))

    def _error_response(self, url: str, op: OperationModel, err: _ApiError) -> AWSResponse:
        modeled = {shape.name for shape in op.error_shapes}
        assert err.code in modeled, f"fake DSQL raised {err.code}, not a modeled error of {op.name}"
        shape = self._model.shape_for(err.code)
        check_emitted(err.fields, shape, f"{err.code} from {op.name}", FAKE)
        headers = {
            "x-amzn-ErrorType": f"{err.code}:http://internal.amazon.com/coral/com.amazon.dsql/",
            "x-amzn-RequestId": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        body: dict[str, Any] = {}
        for name, member in shape.members.items():
            if name in err.fields:
                if member.serialization.get("location") == "header":
                    headers[member.serialization["name"]] = str(err.fields[name])
                else:
                    body[name] = err.fields[name]
        status = shape.metadata["error"]["httpStatusCode"]
        return AWSResponse(url, status, headers, Body(json.dumps(body).encode()))

    # ---------------------------------------------------------------------------- state machine
    def _by_arn(self, arn: str) -> FakeCluster | None:
        match = CLUSTER_ARN.fullmatch(arn)
        if match is None or match.group(2) != self.account:
            return None
        return self.clusters.get((match.group(1), match.group(3)))

    def _get(self, region: str, identifier: str) -> FakeCluster:
        cluster = self.clusters.get((region, identifier))
        if cluster is None:
            raise _not_found(identifier)
        return cluster

    def _mutual(self, cluster: FakeCluster) -> list[FakeCluster]:
        peers = (self._by_arn(arn) for arn in cluster.peers)
        return [p for p in peers if p is not None and cluster.arn in p.peers]

    def _begin(self, cluster: FakeCluster, status: str) -> None:
        cluster.status, cluster.polls_left = status, self.ticks

    def _settled_status(self, cluster: FakeCluster) -> str:
        if cluster.witness_region is None:
            return "ACTIVE"
        if cluster.peers:
            return "ACTIVE" if len(self._mutual(cluster)) == len(cluster.peers) else "PENDING_SETUP"
        return "ACTIVE" if cluster.activated else "PENDING_SETUP"

    def _advance(self, cluster: FakeCluster) -> None:
        """One GetCluster poll's worth of progress."""
        if cluster.status not in TRANSITIONAL:
            return
        cluster.polls_left -= 1
        if cluster.polls_left > 0:
            return
        if cluster.status == "DELETING":
            del self.clusters[(cluster.region, cluster.identifier)]
            for other in self.clusters.values():
                if cluster.arn in other.peers:
                    other.peers.remove(cluster.arn)
            return
        cluster.status = self._settled_status(cluster)
        inaccessible = cluster.kms_key is not None and cluster.kms_key in self.inaccessible_keys
        cluster.encryption_status = "KMS_KEY_INACCESSIBLE" if inaccessible else "ENABLED"
        cluster.activated = cluster.activated or cluster.status == "ACTIVE"

    def _activate_mutual(self, cluster: FakeCluster) -> None:
        """Once two clusters list each other, both start the transition to ACTIVE."""
        for peer in self._mutual(cluster):
            for side in (cluster, peer):
                if side.status in ("PENDING_SETUP", "ACTIVE"):
                    self._begin(side, "UPDATING")

    def _check_multi_region(
        self, region: str, own_arn: str | None, props: dict[str, Any]
    ) -> tuple[str, list[str]]:
        witness = props.get("witnessRegion")
        if witness is None:
            raise _invalid("multiRegionProperties.witnessRegion", "witnessRegion is required with clusters")
        regions = region_set(region)
        if witness == region:
            raise _invalid("multiRegionProperties.witnessRegion", "must differ from the cluster's Region")
        if regions is None or witness not in regions:
            raise _invalid(
                "multiRegionProperties.witnessRegion", f"{witness!r} is not a witness for {region}"
            )
        peers: list[str] = []
        for i, arn in enumerate(props.get("clusters", [])):
            name = f"multiRegionProperties.clusters[{i}]"
            if arn == own_arn or arn in peers:
                continue
            match = CLUSTER_ARN.fullmatch(arn)
            if match is None:
                raise _invalid(name, f"{arn} is not a DSQL cluster ARN")
            peer_region, account, _ = match.groups()
            if account != self.account:
                raise _invalid(name, f"peer {arn} is in another account")
            if peer_region in (region, witness) or peer_region not in regions:
                raise _invalid(
                    name, f"peer {arn} must be in another Region of {sorted(regions)}, not {witness}"
                )
            peer = self._by_arn(arn)
            if peer is None or peer.status in GOING:
                raise _invalid(name, f"peer cluster {arn} does not exist")
            if peer.witness_region != witness:
                raise _invalid(name, f"peer {arn} has witness Region {peer.witness_region}, not {witness}")
            peers.append(arn)
        return witness, peers

    def _describe(self, cluster: FakeCluster, *, tags: bool) -> dict[str, Any]:
        encryption: dict[str, Any] = {
            "encryptionType": AWS_OWNED if cluster.kms_key is None else "CUSTOMER_MANAGED_KMS_KEY",
            "encryptionStatus": cluster.encryption_status,
        }
        if cluster.kms_key is not None:
            encryption["kmsKeyArn"] = cluster.kms_key
        out: dict[str, Any] = {
            **self._summary(cluster),
            "deletionProtectionEnabled": cluster.deletion_protection,
            "encryptionDetails": encryption,
            "endpoint": cluster.endpoint,
        }
        if cluster.witness_region is not None:
            out["multiRegionProperties"] = {
                "witnessRegion": cluster.witness_region,
                "clusters": sorted([cluster.arn, *cluster.peers]),
            }
        if tags:
            out["tags"] = dict(cluster.tags)
        return out

    @staticmethod
    def _summary(cluster: FakeCluster) -> dict[str, Any]:
        return {
            "identifier": cluster.identifier,
            "arn": cluster.arn,
            "status": cluster.status,
            "creationTime": datetime.fromtimestamp(cluster.created_at, UTC),
        }

    def _tagged(self, region: str, arn: str) -> FakeCluster:
        match = CLUSTER_ARN.fullmatch(arn)
        cluster = self._by_arn(arn)
        if match is None or match.group(1) != region or cluster is None:
            raise _ApiError(
                "ResourceNotFoundException", f"No resource {arn}", resourceId=arn, resourceType="cluster"
            )
        return cluster

    # ------------------------------------------------------------------------------- operations
    def _create_cluster(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        token = p.get("clientToken")
        request = {k: v for k, v in p.items() if k != "clientToken"}
        if token is not None and (region, token) in self._tokens:
            earlier, identifier, first_response = self._tokens[(region, token)]
            if earlier != request:
                raise _ApiError(
                    "ConflictException",
                    "A cluster was already created with this client token and different parameters.",
                    resourceId=identifier,
                    resourceType="cluster",
                )
            existing = self.clusters.get((region, identifier))
            return first_response if existing is None else self._describe(existing, tags=False)
        props = p.get("multiRegionProperties") or {}
        witness, peers = (
            (None, []) if props in ({}, {"clusters": []}) else self._check_multi_region(region, None, props)
        )
        kms = p.get("kmsEncryptionKey")
        identifier = self._next_identifier or _new_identifier()
        cluster = FakeCluster(
            region=region,
            identifier=identifier,
            arn=f"arn:aws:dsql:{region}:{self.account}:cluster/{identifier}",
            status="CREATING" if witness is None else "PENDING_SETUP",
            deletion_protection=p.get("deletionProtectionEnabled", True),
            witness_region=witness,
            peers=peers,
            kms_key=None if kms in (None, AWS_OWNED) else kms,
            tags=dict(p.get("tags") or {}),
            created_at=time.time(),
            client_token=token,
            polls_left=self.ticks,
            seq=next(self._seq),
        )
        if "policy" in p:
            self._check_policy(p["policy"])
            cluster.policy, cluster.policy_version = p["policy"], 1
        self.clusters[(region, identifier)] = cluster
        self._activate_mutual(cluster)
        response = self._describe(cluster, tags=False)
        if token is not None:
            self._tokens[(region, token)] = (request, identifier, response)
        return response

    @staticmethod
    def _check_policy(policy: str) -> None:
        """What a policy document must be at least: JSON with a Version and Statements (the service's
        own grammar checks are not modelled)."""
        try:
            document = json.loads(policy)
        except ValueError as err:
            raise _invalid("policy", f"not a JSON policy document: {err}") from err
        if not isinstance(document, dict) or "Version" not in document or not document.get("Statement"):
            raise _invalid("policy", "a policy document needs Version and Statement")

    def _policy_version_matches(self, cluster: FakeCluster, p: dict[str, Any]) -> None:
        expected = p.get("expectedPolicyVersion")
        if expected is not None and expected != str(cluster.policy_version):
            raise _ApiError(
                "ConflictException",
                f"policy version is {cluster.policy_version}, not {expected}",
                resourceId=cluster.identifier,
                resourceType="cluster",
            )

    def _put_cluster_policy(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["identifier"])
        self._check_policy(p["policy"])
        self._policy_version_matches(cluster, p)
        cluster.policy, cluster.policy_version = p["policy"], cluster.policy_version + 1
        return {"policyVersion": str(cluster.policy_version)}

    def _get_cluster_policy(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["identifier"])
        if cluster.policy is None:
            raise _ApiError(
                "ResourceNotFoundException",
                f"cluster {cluster.identifier} has no policy",
                resourceId=cluster.identifier,
                resourceType="cluster",
            )
        return {"policy": cluster.policy, "policyVersion": str(cluster.policy_version)}

    def _delete_cluster_policy(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["identifier"])
        if cluster.policy is None:
            raise _ApiError(
                "ResourceNotFoundException",
                f"cluster {cluster.identifier} has no policy",
                resourceId=cluster.identifier,
                resourceType="cluster",
            )
        self._policy_version_matches(cluster, p)
        cluster.policy, cluster.policy_version = None, cluster.policy_version + 1
        return {"policyVersion": str(cluster.policy_version)}

    def _get_cluster(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["identifier"])
        self._advance(cluster)
        if (region, cluster.identifier) not in self.clusters:
            raise _not_found(cluster.identifier)
        return self._describe(cluster, tags=True)

    def _update_cluster(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["identifier"])
        if cluster.status in BUSY:
            raise _ApiError(
                "ConflictException",
                f"Cluster {cluster.identifier} is {cluster.status}",
                resourceId=cluster.identifier,
                resourceType="cluster",
            )
        new_peers: list[str] | None = None
        if "multiRegionProperties" in p:
            props = p["multiRegionProperties"]
            if cluster.witness_region is None:
                raise _invalid("multiRegionProperties", "cannot make a single-Region cluster multi-Region")
            if props.get("witnessRegion", cluster.witness_region) != cluster.witness_region:
                raise _invalid("multiRegionProperties.witnessRegion", "the witness Region cannot change")
            _, new_peers = self._check_multi_region(region, cluster.arn, props)
        kms = p.get("kmsEncryptionKey")
        kms = None if kms == AWS_OWNED else kms
        changed = "kmsEncryptionKey" in p and kms != cluster.kms_key
        if "deletionProtectionEnabled" in p:
            cluster.deletion_protection = p["deletionProtectionEnabled"]
        if changed:
            cluster.kms_key, cluster.encryption_status = kms, "UPDATING"
        if new_peers is not None and set(new_peers) != set(cluster.peers):
            removed = [arn for arn in cluster.peers if arn not in new_peers]
            cluster.peers, changed = new_peers, True
            for gone in filter(None, map(self._by_arn, removed)):
                if cluster.arn in gone.peers:
                    gone.peers.remove(cluster.arn)
                    if gone.status == "ACTIVE":
                        self._begin(gone, "UPDATING")
        if changed:
            self._begin(cluster, "UPDATING")
            self._activate_mutual(cluster)
        return self._summary(cluster)

    def _delete_cluster(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["identifier"])
        if cluster.status in GOING:
            return self._summary(cluster)
        if cluster.status in ("CREATING", "UPDATING"):
            # Assumed (docs/dsql-clusters.md, "What the fake believes"; live check `peering`).
            raise _ApiError(
                "ConflictException",
                f"Cluster {cluster.identifier} is {cluster.status}",
                resourceId=cluster.identifier,
                resourceType="cluster",
            )
        if cluster.deletion_protection:
            message = f"Cluster {cluster.identifier} has deletion protection enabled"
            if self.protected_delete_error == "ConflictException":
                raise _ApiError(
                    "ConflictException", message, resourceId=cluster.identifier, resourceType="cluster"
                )
            raise _ApiError("ValidationException", message, reason="deletionProtectionEnabled")
        mutual = self._mutual(cluster)
        if any(peer.status not in GOING for peer in mutual):
            cluster.status, cluster.polls_left = "PENDING_DELETE", 0
        else:
            self._begin(cluster, "DELETING")
            for peer in mutual:
                if peer.status == "PENDING_DELETE":
                    self._begin(peer, "DELETING")
        return self._summary(cluster)

    def _list_clusters(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        after = 0
        if "nextToken" in p:
            try:
                token_region, seq = base64.urlsafe_b64decode(p["nextToken"]).decode().split("|")
                after = int(seq)
            except ValueError:
                token_region = ""
            if token_region != region:
                raise _invalid("nextToken", "invalid pagination token")
        remaining = [c for c in self.find(region) if c.seq > after]
        page = remaining[: p.get("maxResults", 100)]
        out: dict[str, Any] = {"clusters": [{"identifier": c.identifier, "arn": c.arn} for c in page]}
        if len(remaining) > len(page):
            out["nextToken"] = base64.urlsafe_b64encode(f"{region}|{page[-1].seq}".encode()).decode()
        return out

    def _get_vpc_endpoint_service_name(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["identifier"])
        return {"serviceName": f"com.amazonaws.{region}.dsql-{cluster.identifier[:4]}"}

    def _tag_resource(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._tagged(region, p["resourceArn"])
        merged = {**cluster.tags, **p["tags"]}
        if len(merged) > 200:
            raise _ApiError(
                "ServiceQuotaExceededException",
                "Too many tags",
                resourceId=cluster.identifier,
                resourceType="cluster",
                serviceCode="dsql",
                quotaCode="fake-tags-per-resource",
            )
        cluster.tags = merged
        return {}

    def _untag_resource(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._tagged(region, p["resourceArn"])
        for key in p["tagKeys"]:
            cluster.tags.pop(key, None)
        return {}

    def _list_tags_for_resource(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"tags": dict(self._tagged(region, p["resourceArn"]).tags)}

    # ------------------------------------------------------------------------------------ streams
    def _stream(self, region: str, cluster: str, identifier: str) -> FakeStream:
        stream = self.streams.get((region, cluster, identifier))
        if stream is None:
            raise _ApiError(
                "ResourceNotFoundException",
                f"Stream not found: {identifier}",
                resourceId=identifier,
                resourceType="stream",
            )
        return stream

    def _advance_stream(self, stream: FakeStream) -> None:
        if stream.status not in ("CREATING", "DELETING"):
            return
        stream.polls_left -= 1
        if stream.polls_left > 0:
            return
        if stream.status == "DELETING":
            del self.streams[(stream.region, stream.cluster, stream.identifier)]
            return
        failure = self.failing_targets.get(stream.target["kinesis"]["streamArn"])
        stream.status = "FAILED" if failure else "ACTIVE"
        if failure:
            stream.reason, stream.reason_at = failure, time.time()

    def _describe_stream(self, stream: FakeStream, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "clusterIdentifier": stream.cluster,
            "streamIdentifier": stream.identifier,
            "arn": stream.arn,
            "status": stream.status,
            "creationTime": datetime.fromtimestamp(stream.created_at, UTC),
            "ordering": "UNORDERED",
            "format": "JSON",
        }
        if full:
            out["targetDefinition"] = stream.target
            out["tags"] = dict(stream.tags)
            if stream.reason is not None and stream.status in ("FAILED", "IMPAIRED"):
                out["statusReason"] = {
                    "error": stream.reason,
                    "updatedAt": datetime.fromtimestamp(stream.reason_at, UTC),
                }
        return out

    def _create_stream(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        cluster = self._get(region, p["clusterIdentifier"])
        token = p.get("clientToken")
        request = {k: v for k, v in p.items() if k != "clientToken"}
        if token is not None and (region, token) in self._stream_tokens:
            earlier, identifier = self._stream_tokens[(region, token)]
            if earlier != request:
                raise _ApiError(
                    "ConflictException",
                    "A stream was already created with this client token and different parameters.",
                    resourceId=identifier,
                    resourceType="stream",
                )
            return self._describe_stream(self._stream(region, cluster.identifier, identifier), full=False)
        # "CreateStream returns a validation error if the cluster isn't in ACTIVE status" (cdc-setup.html).
        if cluster.status != "ACTIVE":
            raise _ApiError(
                "ValidationException",
                f"Cluster {cluster.identifier} is {cluster.status}, not ACTIVE",
                reason="other",
            )
        kinesis = p["targetDefinition"].get("kinesis")
        if kinesis is None:
            raise _invalid("targetDefinition", "kinesis is required")
        # Same account and Region for the Kinesis stream and the role (cdc-setup.html).
        stream_region, stream_account = kinesis["streamArn"].split(":")[3:5]
        if (stream_region, stream_account) != (region, self.account):
            raise _invalid(
                "targetDefinition.kinesis.streamArn", "must be in the cluster's account and Region"
            )
        if kinesis["roleArn"].split(":")[4] != self.account:
            raise _invalid("targetDefinition.kinesis.roleArn", "must be in the cluster's account")
        live = [
            s
            for s in self.streams.values()
            if (s.region, s.cluster) == (region, cluster.identifier) and s.status in STREAM_LIVE
        ]
        if len(live) >= MAX_STREAMS_PER_CLUSTER:
            raise _ApiError(
                "ServiceQuotaExceededException",
                "You have reached the stream limit.",
                resourceId=cluster.identifier,
                resourceType="stream",
                serviceCode="dsql",
                quotaCode="fake-stream-limit",
            )
        identifier = _new_identifier()
        stream = FakeStream(
            region=region,
            cluster=cluster.identifier,
            identifier=identifier,
            arn=f"{cluster.arn}/stream/{identifier}",
            status="CREATING",
            target={"kinesis": dict(kinesis)},
            tags=dict(p.get("tags") or {}),
            created_at=time.time(),
            seq=next(self._seq),
            polls_left=self.ticks,
        )
        self.streams[(region, cluster.identifier, identifier)] = stream
        if token is not None:
            self._stream_tokens[(region, token)] = (request, identifier)
        return self._describe_stream(stream, full=False)

    def _get_stream(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        stream = self._stream(region, p["clusterIdentifier"], p["streamIdentifier"])
        described = self._describe_stream(stream, full=True)
        self._advance_stream(stream)  # the next poll sees the progress
        return described

    def _list_streams(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        self._get(region, p["clusterIdentifier"])
        streams = sorted(
            (s for s in self.streams.values() if (s.region, s.cluster) == (region, p["clusterIdentifier"])),
            key=lambda s: s.seq,
        )
        start = int(p.get("nextToken") or 0)
        size = p.get("maxResults", 10)
        page = streams[start : start + size]
        out: dict[str, Any] = {
            "streams": [
                {
                    k: v
                    for k, v in self._describe_stream(s, full=False).items()
                    if k not in ("ordering", "format")
                }
                for s in page
            ]
        }
        if start + size < len(streams):
            out["nextToken"] = str(start + size)
        return out

    def _delete_stream(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        stream = self._stream(region, p["clusterIdentifier"], p["streamIdentifier"])
        if stream.status != "DELETING":
            stream.status, stream.polls_left = "DELETING", self.ticks
        return {
            k: v
            for k, v in self._describe_stream(stream, full=False).items()
            if k not in ("ordering", "format")
        }
