"""A fake AWS Backup (the operations the shop's backups use) speaking botocore's real wire protocol.

``FakeBackup.client(region)`` returns a real boto3 ``backup`` client whose requests a
``before-send.backup.*`` handler answers, as tests/fakes/dsql_control_plane.py does for DSQL: the
request is routed on method and path, parsed back into the operation's input members, and validated
against botocore's model (constraints included); every answer and error is validated before it is
sent, so an invalid one is a bug of the fake (AssertionError).

What it believes of AWS Backup for Aurora DSQL (docs/operations.md, "Backup and restore", cites
each page):

- Region settings hold ``ResourceTypeOptInPreference``; ``DSQL`` is the key.
- A restore always creates new clusters (``regionalConfig``: one entry per region; values of the
  Metadata map are JSON-encoded strings). A multi-region restore (``useMultiRegionOrchestration``
  ``"true"``) needs ``witnessRegion`` and ``peerRegion`` (a JSON list with one region) and an
  identical copy - same resource and creation time - of the recovery point in the peer region's
  vault; the clusters it creates are peered with each other (through the DSQL fake).
- Restore jobs go PENDING -> RUNNING (PercentDone rising) -> COMPLETED (``CreatedResourceArn``) one
  step per DescribeRestoreJob, or FAILED / ABORTED with a ``StatusMessage`` when a failure was
  injected (``fail_next_restore``).
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ParamValidationError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import validate_parameters

from fakes.dsql_control_plane import FakeCluster, FakeDsql, _new_identifier, region_set
from fakes.wire import Body, botocore_session, check_emitted, constraint_problems

FAKE = "fake AWS Backup"
_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", r"/account-settings", "DescribeRegionSettings"),
    ("PUT", r"/account-settings", "UpdateRegionSettings"),
    ("GET", r"/backup-vaults/(?P<backupVaultName>[^/]+)/recovery-points/", "ListRecoveryPointsByBackupVault"),
    (
        "GET",
        r"/backup-vaults/(?P<backupVaultName>[^/]+)/recovery-points/(?P<recoveryPointArn>[^/]+)",
        "DescribeRecoveryPoint",
    ),
    ("PUT", r"/restore-jobs", "StartRestoreJob"),
    ("GET", r"/restore-jobs/(?P<restoreJobId>[^/]+)", "DescribeRestoreJob"),
)


@dataclass
class RecoveryPoint:
    arn: str
    region: str
    vault: str
    resource_arn: str
    created: datetime
    status: str = "COMPLETED"
    source_vault_arn: str | None = None  # set on a copy

    @property
    def cluster_identifier(self) -> str:
        return self.resource_arn.rsplit("/", 1)[-1]


@dataclass
class RestoreJob:
    job_id: str
    region: str
    point: RecoveryPoint
    role_arn: str | None
    metadata: dict[str, str]
    created: datetime
    status: str = "PENDING"
    percent: int = 0
    message: str | None = None
    created_arn: str | None = None
    fail_with: tuple[str, str] | None = None  # (status, message) at the RUNNING -> end step


@dataclass
class Call:
    region: str
    operation: str
    params: dict[str, Any]


class _ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class FakeBackup:
    dsql: FakeDsql = field(default_factory=FakeDsql)
    account: str = "123456789012"
    #: Region -> ResourceTypeOptInPreference.
    opt_in: dict[str, dict[str, bool]] = field(default_factory=dict)
    #: (region, name) of every vault (the stacks create them; ``back_up`` adds its vaults).
    vaults: set[tuple[str, str]] = field(default_factory=set)
    points: list[RecoveryPoint] = field(default_factory=list)
    jobs: dict[str, RestoreJob] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    #: The next restore job ends so: (status FAILED or ABORTED, StatusMessage).
    fail_next_restore: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._session = boto3.session.Session(
            botocore_session=botocore_session(),
            aws_access_key_id="AKIAFAKEBACKUPTEST00",
            aws_secret_access_key="fake-backup-secret",
        )
        self._model: ServiceModel = botocore_session().get_service_model("backup")
        self._ops: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
            "DescribeRegionSettings": self._describe_region_settings,
            "UpdateRegionSettings": self._update_region_settings,
            "ListRecoveryPointsByBackupVault": self._list_recovery_points,
            "DescribeRecoveryPoint": self._describe_recovery_point,
            "StartRestoreJob": self._start_restore_job,
            "DescribeRestoreJob": self._describe_restore_job,
        }

    # ------------------------------------------------------------------------------ public API
    def client(self, region: str) -> Any:
        config = Config(retries={"total_max_attempts": 1}, ignore_configured_endpoint_urls=True)
        client = self._session.client("backup", region_name=region, config=config)
        client.meta.events.register("before-send.backup.*", functools.partial(self._on_send, region))
        return client

    def vault_arn(self, region: str, vault: str) -> str:
        return f"arn:aws:backup:{region}:{self.account}:backup-vault:{vault}"

    def back_up(
        self,
        cluster: FakeCluster,
        vault: str,
        *,
        copy_to: tuple[str, str] | None = None,
        at: datetime | None = None,
    ) -> RecoveryPoint:
        """A completed backup of ``cluster`` into ``vault`` (and its identical copy, as the plan's
        copy action makes it, into ``copy_to`` = (region, vault))."""
        created = at or datetime.now(UTC).replace(microsecond=0)
        self.vaults.add((cluster.region, vault))
        if copy_to is not None:
            self.vaults.add(copy_to)
        point = RecoveryPoint(
            arn=self._point_arn(cluster.region),
            region=cluster.region,
            vault=vault,
            resource_arn=cluster.arn,
            created=created,
        )
        self.points.append(point)
        if copy_to is not None:
            region, target = copy_to
            self.points.append(
                RecoveryPoint(
                    arn=self._point_arn(region),
                    region=region,
                    vault=target,
                    resource_arn=cluster.arn,
                    created=created,
                    source_vault_arn=self.vault_arn(cluster.region, vault),
                )
            )
        return point

    # ------------------------------------------------------------------------------- transport
    def _on_send(self, region: str, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        import re

        url = urlsplit(request.url)
        assert url.hostname == f"backup.{region}.amazonaws.com", f"request for {region} sent to {request.url}"
        auth = request.headers.get("Authorization") or b""
        auth = auth.decode() if isinstance(auth, bytes) else auth
        assert f"/{region}/backup/aws4_request" in auth, f"request not SigV4-signed for {region}"
        sent = event_name.rsplit(".", 1)[-1]
        with self._lock:
            route = next(
                (
                    (op, m.groupdict())
                    for method, path, op in _ROUTES
                    if method == request.method and (m := re.fullmatch(path, url.path))
                ),
                None,
            )
            assert route is not None, f"{FAKE} does not answer {request.method} {url.path} ({sent})"
            op_name, path_params = route
            assert op_name == sent, (
                f"{FAKE} routed {request.method} {url.path} to {op_name}, botocore sent {sent}"
            )
            op = self._model.operation_model(op_name)
            try:
                params = self._parse(op, path_params, url.query, request.body)
                self.calls.append(Call(region, op_name, params))
                self._validate(op, params)
                result = self._ops[op_name](region, params)
            except _ApiError as err:
                return self._error(request.url, op, err)
            return self._success(request.url, op, result)

    def _parse(
        self, op: OperationModel, path_params: dict[str, str], query: str, body: bytes | str | None
    ) -> dict[str, Any]:
        shape = op.input_shape
        if shape is None:
            return {}
        data = json.loads(body) if body else {}
        qs = parse_qs(query, keep_blank_values=True)
        params: dict[str, Any] = {}
        body_members = set()
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri" and wire in path_params:
                params[name] = unquote(path_params[wire])
            elif location == "querystring" and wire in qs:
                value = qs[wire][-1]
                if member.type_name == "integer":
                    params[name] = int(value)
                elif member.type_name == "boolean":
                    params[name] = value == "true"
                elif member.type_name == "timestamp":
                    params[name] = datetime.fromisoformat(value.replace("Z", "+00:00"))
                else:
                    params[name] = value
            elif location is None:
                body_members.add(name)
                if name in data:
                    params[name] = data[name]
        if unknown := set(data) - body_members:
            raise _ApiError("InvalidParameterValueException", f"unknown body members {sorted(unknown)}")
        return params

    def _validate(self, op: OperationModel, params: dict[str, Any]) -> None:
        if op.input_shape is None:
            return
        try:
            validate_parameters(params, op.input_shape)
        except ParamValidationError as err:
            raise _ApiError("InvalidParameterValueException", str(err)) from err
        if problems := constraint_problems(params, op.input_shape):
            raise _ApiError("InvalidParameterValueException", "; ".join(f"{n}: {m}" for n, m in problems))

    def _success(self, url: str, op: OperationModel, result: dict[str, Any]) -> AWSResponse:
        if op.output_shape is None:
            assert result == {}, f"{op.name} has no output shape"
            body = b""
        else:
            check_emitted(result, op.output_shape, f"{op.name} response", FAKE)
            body = json.dumps(_to_wire(result, op.output_shape)).encode()
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/json"}
        return AWSResponse(url, 200, headers, Body(body))

    def _error(self, url: str, op: OperationModel, err: _ApiError) -> AWSResponse:
        modeled = {shape.name for shape in op.error_shapes}
        assert err.code in modeled, f"{FAKE} raised {err.code}, not a modeled error of {op.name}"
        fields = {"Code": err.code, "Message": err.message}
        check_emitted(fields, self._model.shape_for(err.code), f"{err.code} from {op.name}", FAKE)
        headers = {"x-amzn-ErrorType": err.code, "x-amzn-RequestId": str(uuid.uuid4())}
        return AWSResponse(url, err.status, headers, Body(json.dumps(fields).encode()))

    # ------------------------------------------------------------------------------ operations
    def _describe_region_settings(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"ResourceTypeOptInPreference": dict(self.opt_in.get(region, {}))}

    def _update_region_settings(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        if "ResourceTypeOptInPreference" in p:
            # Replaces the map it is given (the handler sends the whole map back).
            self.opt_in[region] = dict(p["ResourceTypeOptInPreference"])
        return {}

    def _vault_points(self, region: str, vault: str) -> list[RecoveryPoint]:
        return [rp for rp in self.points if rp.region == region and rp.vault == vault]

    def _list_recovery_points(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        vault = p["BackupVaultName"]
        points = sorted(self._vault_points(region, vault), key=lambda rp: rp.created, reverse=True)
        if (region, vault) not in self.vaults:
            raise _ApiError("ResourceNotFoundException", f"Backup vault {vault} does not exist", 404)
        start = int(p.get("NextToken") or 0)
        size = p.get("MaxResults", 1000)
        page = points[start : start + size]
        out: dict[str, Any] = {"RecoveryPoints": [self._describe(rp) for rp in page]}
        if start + size < len(points):
            out["NextToken"] = str(start + size)
        return out

    def _describe(self, rp: RecoveryPoint) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RecoveryPointArn": rp.arn,
            "BackupVaultName": rp.vault,
            "BackupVaultArn": self.vault_arn(rp.region, rp.vault),
            "ResourceArn": rp.resource_arn,
            "ResourceType": "DSQL",
            "Status": rp.status,
            "CreationDate": rp.created,
            "ResourceName": rp.cluster_identifier,
        }
        if rp.source_vault_arn is not None:
            out["SourceBackupVaultArn"] = rp.source_vault_arn
        return out

    def _point(self, region: str, arn: str) -> RecoveryPoint:
        found = next((rp for rp in self.points if rp.arn == arn and rp.region == region), None)
        if found is None:
            raise _ApiError("ResourceNotFoundException", f"Recovery point {arn} not found in {region}", 404)
        return found

    def _describe_recovery_point(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        rp = self._point(region, p["RecoveryPointArn"])
        if rp.vault != p["BackupVaultName"]:
            raise _ApiError(
                "ResourceNotFoundException", f"{rp.arn} is not in vault {p['BackupVaultName']}", 404
            )
        return self._describe(rp)

    def _start_restore_job(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        rp = self._point(region, p["RecoveryPointArn"])
        if rp.status != "COMPLETED":
            raise _ApiError("InvalidRequestException", f"recovery point {rp.arn} is {rp.status}")
        meta = p["Metadata"]
        try:
            regional = json.loads(meta["regionalConfig"]) if "regionalConfig" in meta else []
        except ValueError as err:
            raise _ApiError("InvalidParameterValueException", f"regionalConfig is not JSON: {err}") from err
        if not isinstance(regional, list) or not all(isinstance(c, dict) and "region" in c for c in regional):
            raise _ApiError(
                "InvalidParameterValueException",
                "regionalConfig must be a JSON list of objects with a region",
            )
        for entry in regional:
            flag = entry.get("isDeletionProtectionEnabled", True)
            if not isinstance(flag, bool):
                raise _ApiError(
                    "InvalidParameterValueException", "isDeletionProtectionEnabled must be a boolean"
                )
        multi = meta.get("useMultiRegionOrchestration")
        if multi not in (None, "true", "false"):
            raise _ApiError(
                "InvalidParameterValueException", "useMultiRegionOrchestration must be 'true' or 'false'"
            )
        if multi == "true":
            self._check_multi_region(region, rp, meta, regional)
        elif regional and [c["region"] for c in regional] != [region]:
            raise _ApiError(
                "InvalidParameterValueException", f"a single-region restore configures {region} only"
            )
        job = RestoreJob(
            job_id=str(uuid.uuid4()).upper(),
            region=region,
            point=rp,
            role_arn=p.get("IamRoleArn"),
            metadata=dict(meta),
            created=datetime.now(UTC),
            fail_with=self.fail_next_restore,
        )
        self.fail_next_restore = None
        self.jobs[job.job_id] = job
        return {"RestoreJobId": job.job_id}

    def _check_multi_region(
        self, region: str, rp: RecoveryPoint, meta: dict[str, str], regional: list[dict[str, Any]]
    ) -> None:
        for key in ("witnessRegion", "peerRegion"):
            if key not in meta:
                raise _ApiError("MissingParameterValueException", f"multi-Region restore needs {key}")
        try:
            peers = json.loads(meta["peerRegion"])
        except ValueError as err:
            raise _ApiError("InvalidParameterValueException", f"peerRegion is not JSON: {err}") from err
        if not (isinstance(peers, list) and len(peers) == 1 and isinstance(peers[0], str)):
            raise _ApiError(
                "InvalidParameterValueException",
                'peerRegion must be a JSON list of one region: ["us-east-2"]',
            )
        peer, witness = peers[0], meta["witnessRegion"]
        group = region_set(region)
        if group is None or peer not in group or witness not in group or len({region, peer, witness}) != 3:
            raise _ApiError(
                "InvalidParameterValueException",
                f"{region}, peer {peer} and witness {witness} must be three regions of one DSQL region set",
            )
        if sorted(c["region"] for c in regional) not in ([], sorted([region, peer])):
            raise _ApiError(
                "InvalidParameterValueException", "regionalConfig must name the region and its peer"
            )
        identical = [
            c for c in self.points
            if c.region == peer and c.resource_arn == rp.resource_arn and c.created == rp.created
        ]  # fmt: skip
        if not identical:
            raise _ApiError(
                "InvalidRequestException",
                f"no identical copy of {rp.arn} in {peer}: a multi-Region restore needs one",
            )

    def _describe_restore_job(self, region: str, p: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(p["RestoreJobId"])
        if job is None or job.region != region:
            raise _ApiError("ResourceNotFoundException", f"restore job {p['RestoreJobId']} not found", 404)
        self._advance(job)
        out: dict[str, Any] = {
            "AccountId": self.account,
            "RestoreJobId": job.job_id,
            "RecoveryPointArn": job.point.arn,
            "SourceResourceArn": job.point.resource_arn,
            "BackupVaultArn": self.vault_arn(job.point.region, job.point.vault),
            "CreationDate": job.created,
            "Status": job.status,
            "PercentDone": f"{job.percent}.00%",
            "ResourceType": "DSQL",
            "RecoveryPointCreationDate": job.point.created,
        }
        if job.role_arn:
            out["IamRoleArn"] = job.role_arn
        if job.message:
            out["StatusMessage"] = job.message
        if job.created_arn:
            out["CreatedResourceArn"] = job.created_arn
        if job.status in ("COMPLETED", "FAILED", "ABORTED"):
            out["CompletionDate"] = job.created + timedelta(minutes=5)
        return out

    # ---------------------------------------------------------------------------- state machine
    def _advance(self, job: RestoreJob) -> None:
        if job.status == "PENDING":
            job.status = "RUNNING"
        elif job.status == "RUNNING" and job.percent < 100:
            job.percent = min(100, job.percent + 50)
            if job.percent == 100:
                if job.fail_with is not None:
                    job.status, job.message = job.fail_with
                    job.percent = 0
                else:
                    self._complete(job)

    def _complete(self, job: RestoreJob) -> None:
        """New clusters, never the source: one per region of the restore, peered when multi-region."""
        meta = job.metadata
        regional = {c["region"]: c for c in json.loads(meta.get("regionalConfig", "[]"))}
        regions = [job.region]
        witness = None
        if meta.get("useMultiRegionOrchestration") == "true":
            regions.append(json.loads(meta["peerRegion"])[0])
            witness = meta["witnessRegion"]
        created: list[FakeCluster] = []
        for region in regions:
            identifier = _new_identifier()
            config = regional.get(region, {})
            cluster = FakeCluster(
                region=region,
                identifier=identifier,
                arn=f"arn:aws:dsql:{region}:{self.account}:cluster/{identifier}",
                status="ACTIVE",
                deletion_protection=bool(config.get("isDeletionProtectionEnabled", True)),
                witness_region=witness,
                peers=[],
                kms_key=config.get("kmsKeyId"),
                tags={},
                created_at=job.created.timestamp(),
                client_token=None,
                activated=True,
                seq=next(self._seq) + 10_000,
            )
            self.dsql.clusters[(region, identifier)] = cluster
            created.append(cluster)
        for cluster in created:
            cluster.peers = [c.arn for c in created if c is not cluster]
        job.status = "COMPLETED"
        job.created_arn = created[0].arn

    def _point_arn(self, region: str) -> str:
        return f"arn:aws:backup:{region}:{self.account}:recovery-point:{uuid.uuid4()}"


def _to_wire(value: Any, shape: Shape) -> Any:
    if shape.type_name == "structure":
        return {name: _to_wire(value[name], m) for name, m in shape.members.items() if name in value}
    if shape.type_name == "list":
        return [_to_wire(item, shape.member) for item in value]
    if shape.type_name == "map":
        return {key: _to_wire(item, shape.value) for key, item in value.items()}
    if shape.type_name == "timestamp":
        return value.timestamp()
    return value
