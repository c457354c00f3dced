"""Origin-secret rotation against stateful fakes: Secrets Manager (tests/fakes/secretsmanager.py: the
wire protocol, versions, staging labels, lagging replicas) and in-file WAF and CloudFront fakes that
answer real botocore clients; every request and answer is validated against the service models.

After every call the fakes answer (and every injected sleep) the world is checked: no web ACL refuses
a value CloudFront may be sending (the distribution's value and, until Deployed, the one before), and
a checker reading AWSCURRENT then AWSPREVIOUS from its region's replica is accepted by every web ACL,
as is the AWSCURRENT an edge-stack deploy in us-east-1 would resolve. A rotation is interrupted
before and after each change and during each wait, then run again: it completes with the same value.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from ecommerce_constructs.config import EcommerceConfig
from ecommerce_ops import origin_secret
from ecommerce_ops.deployment import Deployment
from ecommerce_ops.origin_secret import (  # noqa: F401 - the modules tests patch
    RotationIncomplete,
    RotationRefused,
    _rotation,
    check_origin_protection,
    commands,
    rotate_origin_secret,
)
from fakes.secretsmanager import FakeSecretsManager
from fakes.wire import botocore_session, check_emitted, constraint_problems

GENERATE = origin_secret._rotation._new_header_value  # the real generator (tests replace it)

ACCOUNT = "123456789012"
PRIMARY = "us-east-2"
SECOND = "us-west-2"
WITNESS = "us-east-1"  # also CloudFront's region
REPLICAS = ["us-east-1", "us-west-2"]  # the other API region, the witness and CloudFront's
DISTRIBUTION = "E2QWRUHEXAMPLE"
HEALTH_TWIN = f"{PRIMARY}-health"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

# Distinct, recognisable values; none may ever appear in output, logs or exception messages.
PREVIOUS = "prev" + "P" * 39
CURRENT = "curr" + "C" * 39
NEW = "newv" + "N" * 39
OTHER = "othr" + "O" * 39  # what a second fresh rotation would generate
ALL_VALUES = (PREVIOUS, CURRENT, NEW, OTHER)

ACLS = {
    region: (f"ecommerce-{region}-origin", f"{n}a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    for n, region in enumerate((PRIMARY, SECOND), 1)
}
APIS = {
    region: f"https://api{n}.execute-api.{region}.amazonaws.com/prod/" for n, region in enumerate(ACLS, 1)
}
MUTATIONS = ("PutSecretValue", "UpdateSecretVersionStage", "UpdateWebACL", "UpdateDistribution")


def acl_arn(region: str) -> str:
    name, acl_id = ACLS[region]
    return f"arn:aws:wafv2:{region}:{ACCOUNT}:regional/webacl/{name}/{acl_id}"


def deployment(secret_arn: str) -> Deployment:
    config = EcommerceConfig(regions=(PRIMARY, SECOND), witness_region=WITNESS)
    outputs = {
        f"ecommerce-{PRIMARY}": {
            "OriginSecretArn": secret_arn,
            "OriginWebAclArn": acl_arn(PRIMARY),
            "EcommerceApiEndpoint": APIS[PRIMARY],
        },
        f"ecommerce-{SECOND}": {"OriginWebAclArn": acl_arn(SECOND), "EcommerceApiEndpoint": APIS[SECOND]},
        "ecommerce-edge": {
            "DistributionId": DISTRIBUTION,
            "EcommerceDistributionDomainName": "d111111abcdef8.cloudfront.net",
        },
    }
    return Deployment(config, outputs)


def lock(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"  # WAF lock tokens are UUIDs


def doc(value: str) -> str:
    return json.dumps({"HEADERVALUE": value})


def web_acl(region: str, values: tuple[str, str]) -> dict[str, Any]:
    """The regional web ACL as the design builds it: Block by default (403 problem+json), one
    Allow rule OR-ing two exact matches of the x-origin-verify header."""
    name, acl_id = ACLS[region]

    def match(value: str) -> dict[str, Any]:
        return {
            "ByteMatchStatement": {
                "SearchString": value.encode(),
                "FieldToMatch": {"SingleHeader": {"Name": "x-origin-verify"}},
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                "PositionalConstraint": "EXACTLY",
            }
        }

    visibility = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}
    return {
        "Name": name,
        "Id": acl_id,
        "ARN": acl_arn(region),
        "DefaultAction": {
            "Block": {"CustomResponse": {"ResponseCode": 403, "CustomResponseBodyKey": "forbidden"}}
        },
        "Description": "Only requests that came through CloudFront",
        "Rules": [
            {
                "Name": "AllowFromEdge",
                "Priority": 0,
                "Statement": {"OrStatement": {"Statements": [match(values[0]), match(values[1])]}},
                "Action": {"Allow": {}},
                "VisibilityConfig": {**visibility, "MetricName": "AllowFromEdge"},
            }
        ],
        "VisibilityConfig": {**visibility, "MetricName": name},
        "Capacity": 4,
        "ManagedByFirewallManager": False,
        "LabelNamespace": f"awswaf:{ACCOUNT}:webacl:{name}:",
        "CustomResponseBodies": {
            "forbidden": {
                "ContentType": "APPLICATION_JSON",
                "Content": '{"type":"about:blank","title":"Forbidden","status":403}',
            }
        },
        "RetrofittedByFirewallManager": False,
    }


def update_fields(acl: dict[str, Any]) -> dict[str, Any]:
    """What UpdateWebACL must receive: every settable field, so nothing is reset."""
    keep = ("Name", "Id", "DefaultAction", "Description", "Rules", "VisibilityConfig", "CustomResponseBodies")
    return {"Scope": "REGIONAL", **{key: acl[key] for key in keep}}


def origin(region: str, value: str) -> dict[str, Any]:
    return {
        "Id": region,
        "DomainName": APIS[region].split("/")[2],
        "OriginPath": "/prod",
        "CustomHeaders": {"Quantity": 1, "Items": [{"HeaderName": "X-Origin-Verify", "HeaderValue": value}]},
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "https-only",
            "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
            "OriginReadTimeout": 30,
            "OriginKeepaliveTimeout": 5,
        },
        "ConnectionAttempts": 3,
        "ConnectionTimeout": 10,
        "OriginShield": {"Enabled": False},
        "OriginAccessControlId": "",
    }


def health_twin(value: str) -> dict[str, Any]:
    """The primary's twin, the /health origin group's primary (global_edge.py): carries the header."""
    twin = origin(PRIMARY, value)
    twin["Id"] = HEALTH_TWIN
    return twin


def distribution_config(value: str, twin: str | None = None) -> dict[str, Any]:
    # A non-region origin with its own header proves that only region origins are touched.
    other = origin(PRIMARY, "untouched")
    other.update(
        Id="maintenance",
        CustomHeaders={"Quantity": 1, "Items": [{"HeaderName": "X-Api-Key", "HeaderValue": "k"}]},
    )
    return {
        "CallerReference": "ecommerce-edge-Distribution-1700000000",
        "Aliases": {"Quantity": 0},
        "DefaultRootObject": "",
        "Origins": {
            "Quantity": 4,
            "Items": [origin(PRIMARY, value), origin(SECOND, value), health_twin(twin or value), other],
        },
        "OriginGroups": {"Quantity": 0},
        "DefaultCacheBehavior": {
            "TargetOriginId": PRIMARY,
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
            "TrustedKeyGroups": {"Enabled": False, "Quantity": 0},
            "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": {
                "Quantity": 7,
                "Items": ["HEAD", "DELETE", "POST", "GET", "OPTIONS", "PUT", "PATCH"],
                "CachedMethods": {"Quantity": 2, "Items": ["HEAD", "GET"]},
            },
            "SmoothStreaming": False,
            "Compress": True,
            "LambdaFunctionAssociations": {"Quantity": 0},
            "FunctionAssociations": {
                "Quantity": 1,
                "Items": [
                    {
                        "FunctionARN": f"arn:aws:cloudfront::{ACCOUNT}:function/ecommerce-router",
                        "EventType": "viewer-request",
                    }
                ],
            },
            "FieldLevelEncryptionId": "",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
            "OriginRequestPolicyId": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        },
        "CacheBehaviors": {"Quantity": 0},
        "CustomErrorResponses": {"Quantity": 0},
        "Comment": "ecommerce edge",
        "Logging": {"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""},
        "PriceClass": "PriceClass_100",
        "Enabled": True,
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": True,
            "SSLSupportMethod": "vip",
            "MinimumProtocolVersion": "TLSv1",
            "CertificateSource": "cloudfront",
        },
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        "WebACLId": "",
        "HttpVersion": "http2and3",
        "IsIPV6Enabled": True,
    }


def distribution(status: str, value: str, twin: str | None = None) -> dict[str, Any]:
    return {
        "Id": DISTRIBUTION,
        "ARN": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{DISTRIBUTION}",
        "Status": status,
        "LastModifiedTime": NOW,
        "InProgressInvalidationBatches": 0,
        "DomainName": "d111111abcdef8.cloudfront.net",
        "DistributionConfig": distribution_config(value, twin),
    }


# ---- the world: Secrets Manager, two web ACLs, one distribution -----------------------------------


class Crash(BaseException):
    """The operator's process dies (Ctrl-C, a lost laptop): nothing after it runs."""


class World:
    """Live AWS state behind real botocore clients, checked for the no-window invariant throughout.

    ``deploy_polls``: GetDistribution calls answered InProgress after an update. ``replica_lag``:
    reads a replica answers stale after each change of the primary. ``crash_at`` = (n, "before" or
    "after"): raise Crash around the n-th change (or during the n-th sleep with "sleep")."""

    def __init__(
        self,
        *,
        replica_lag: int = 0,
        deploy_polls: int = 1,
        replicas: tuple[str, ...] = tuple(REPLICAS),
        acl_values: tuple[str, str] = (CURRENT, CURRENT),
        live: str = CURRENT,
        status: str = "Deployed",
    ) -> None:
        self.sm = FakeSecretsManager(ACCOUNT, replica_lag=replica_lag)
        self.arn = self.sm.create_secret(PRIMARY, "ecommerce-origin-verify", doc(PREVIOUS))
        self.sm.add_version(self.arn, doc(CURRENT), {"AWSCURRENT"})  # the first one becomes AWSPREVIOUS
        for region in replicas:
            self.sm.add_replica(self.arn, region)
        self.acls = {region: [acl_values[0], acl_values[1]] for region in ACLS}
        self.locks = dict.fromkeys(ACLS, lock(0))
        self.live, self.status, self.in_flight = live, status, {live}
        self.etag, self.deploy_polls = "ETAG0", deploy_polls
        self.twin: str | None = None  # the /health twin's value when it differs from the others
        self.polls_left = deploy_polls if status == "InProgress" else 0
        self.calls: list[tuple[str, ...]] = []
        self.changes = 0
        self.sleeps = 0
        self.crash_at: tuple[int, str] | None = None
        self.fail: dict[tuple[str, str], list[str]] = {}  # (operation, region) -> error codes to raise
        # Called before each change the code under test makes: (operation, its parameters).
        self.on_change: Callable[[str, dict[str, Any]], None] | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._params: dict[str, Any] = {}

    # -- what the code under test sees

    def client(self, service_name: str, region_name: str) -> Any:
        key = (service_name, region_name)
        if key not in self._clients:
            if service_name == "secretsmanager":
                client = self.sm.client(region_name)
            else:
                client = botocore_session().create_client(
                    service_name,
                    region_name=region_name,
                    aws_access_key_id="AKIDEXAMPLE",
                    aws_secret_access_key="x",
                )
                client.meta.events.register(f"before-call.{service_name}.*", self._answer(region_name))
            client.meta.events.register_first(
                f"before-parameter-build.{service_name}.*", self._before(service_name, region_name)
            )
            client.meta.events.register(f"after-call.{service_name}.*", self._after)
            self._clients[key] = client
        return self._clients[key]

    def sleep(self, seconds: float) -> None:
        self.calls.append(("sleep", str(seconds)))
        self.sleeps += 1
        if self.crash_at == (self.sleeps, "sleep"):
            raise Crash(f"sleep {self.sleeps}")
        # time passes: replicas catch up, a deploying distribution gets closer to Deployed
        self.invariant()

    # -- hooks

    def _before(self, service: str, region: str) -> Callable[..., None]:
        def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.calls.append((service, region, model.name))
            self._params = dict(params)
            if model.name in MUTATIONS:
                self.changes += 1
                if self.crash_at == (self.changes, "before"):
                    raise Crash(f"before change {self.changes}")
                if self.on_change is not None:
                    self.on_change(model.name, dict(params))

        return hook

    def _after(self, model: Any, **_: Any) -> None:
        self.invariant()
        if model.name in MUTATIONS and self.crash_at == (self.changes, "after"):
            raise Crash(f"after change {self.changes}")  # the change happened, its answer is lost

    def _answer(self, region: str) -> Callable[..., Any]:
        def hook(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            params = self._params
            problems = constraint_problems(params, model.input_shape)
            assert not problems, problems
            errors = self.fail.get((model.name, region))
            if errors:
                code = errors.pop(0)
                modeled = {shape.name for shape in model.error_shapes}
                assert code in modeled, (code, modeled)
                message = f"injected {code} ({', '.join(str(v) for v in self.acls[PRIMARY])})"
                parsed = {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                }
                return AWSResponse("https://fake", 400, {}, None), parsed
            result = getattr(self, model.name)(region, params)
            check_emitted(result, model.output_shape, f"{model.name} response")
            return AWSResponse("https://fake", 200, {}, None), {
                **result,
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }

        return hook

    # -- WAF

    def GetWebACL(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        assert (params["Name"], params["Id"], params["Scope"]) == (*ACLS[region], "REGIONAL")
        values = self.acls[region]
        return {"WebACL": web_acl(region, (values[0], values[1])), "LockToken": self.locks[region]}

    def UpdateWebACL(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params["LockToken"] == self.locks[region], "stale lock token (WAFOptimisticLockException)"
        values = self.acls[region]
        # Nothing but the two values may change: every other field is written back as read.
        expected = update_fields(web_acl(region, (values[0], values[1])))
        statements = params["Rules"][0]["Statement"]["OrStatement"]["Statements"]
        written = [s["ByteMatchStatement"]["SearchString"] for s in statements]
        written = [w.decode() if isinstance(w, bytes) else w for w in written]
        for key, value in expected.items():
            if key != "Rules":
                assert params[key] == value, key
        self.acls[region] = written
        self.locks[region] = lock(int(self.locks[region].rsplit("-", 1)[1]) + 1)
        return {"NextLockToken": self.locks[region]}

    # -- CloudFront

    def GetDistribution(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params["Id"] == DISTRIBUTION
        if self.status == "InProgress":
            if self.polls_left <= 0:
                self.status, self.in_flight = "Deployed", {self.live}
            else:
                self.polls_left -= 1
        return {"Distribution": distribution(self.status, self.live, self.twin), "ETag": self.etag}

    def GetDistributionConfig(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params["Id"] == DISTRIBUTION
        return {"DistributionConfig": distribution_config(self.live, self.twin), "ETag": self.etag}

    def UpdateDistribution(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params["Id"] == DISTRIBUTION and params["IfMatch"] == self.etag
        config = params["DistributionConfig"]
        values = {o["Id"]: o["CustomHeaders"]["Items"][0]["HeaderValue"] for o in config["Origins"]["Items"]}
        assert values["maintenance"] == "k", "a non-region origin was touched"
        assert values[PRIMARY] == values[SECOND]
        assert values[HEALTH_TWIN] == values[PRIMARY], "the /health twin origin was left on another value"
        assert config == distribution_config(values[PRIMARY]), "only the header may change"
        self.live, self.twin = values[PRIMARY], None
        self.in_flight.add(self.live)
        self.status, self.polls_left = "InProgress", self.deploy_polls
        self.etag = f"ETAG{int(self.etag[4:]) + 1}"
        return {"Distribution": distribution("InProgress", self.live), "ETag": self.etag}

    def edge_deploy(self, value: str) -> None:
        """A `cdk deploy` of the edge stack: CloudFormation writes the distribution with the
        AWSCURRENT it resolved (``value``) into every region origin's header."""
        self.live = value
        self.in_flight.add(value)
        self.status, self.polls_left = "InProgress", self.deploy_polls
        self.etag = f"ETAG{int(self.etag[4:]) + 1}"
        self.invariant()

    # -- the invariant

    def value(self, stage: str, region: str | None = None) -> str | None:
        raw = self.sm.stage_value(self.arn, stage, region)
        return json.loads(raw)["HEADERVALUE"] if raw else None

    def invariant(self) -> None:
        for acl_region, values in self.acls.items():
            accepted = set(values)
            refused = self.in_flight - accepted
            assert not refused, f"web ACL {acl_region} refuses a value CloudFront sends"
            for view in (PRIMARY, *self.sm.secrets[self.arn].replicas):
                tried = [self.value("AWSCURRENT", view), self.value("AWSPREVIOUS", view)]
                assert accepted & set(tried), f"a checker in {view} is refused by web ACL {acl_region}"
            edge = WITNESS if WITNESS in self.sm.secrets[self.arn].replicas else PRIMARY
            assert self.value("AWSCURRENT", edge) in accepted, (
                f"an edge-stack deploy would send a value web ACL {acl_region} refuses"
            )

    def settled(self) -> str:
        """The state a finished rotation leaves; returns the value in use."""
        value = self.live
        assert self.status == "Deployed" and self.in_flight == {value}
        assert all(values == [value, value] for values in self.acls.values())
        assert self.value("AWSCURRENT") == value and self.value("AWSPENDING") is None
        self.sm.replicate()
        assert all(self.value("AWSCURRENT", r) == value for r in self.sm.secrets[self.arn].replicas)
        return value


class Apis:
    """GET /health answers 200 when X-Origin-Verify is one of the region's web ACL values, else WAF's
    403. Requests to the CloudFront domain arrive with the header CloudFront adds."""

    def __init__(self, world: World, open_door: bool = False, broken: bool = False) -> None:
        self.world, self.open_door, self.broken = world, open_door, broken
        self.requests: list[tuple[str, str | None]] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Any:
        value = request.get_header("X-origin-verify")
        self.requests.append((request.full_url, value))
        region = next(
            (r for r, api in APIS.items() if request.full_url.startswith(api.split("/prod")[0])), None
        )
        if region is None:  # through CloudFront: the edge adds the header, to the nearest region
            region, value = PRIMARY, self.world.live
        accepted = set(self.world.acls[region])
        if self.open_door or (value in accepted and not self.broken):
            return Response(200, {"status": "healthy", "database": "connected"})
        headers = Message()
        headers["Content-Type"] = "application/problem+json"
        body = json.dumps({"type": "about:blank", "title": "Forbidden", "status": 403}).encode()
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", headers, io.BytesIO(body))


class Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.headers = {"Content-Type": "application/json", "x-serving-region": "?"}
        self._body = json.dumps(body).encode()

    def read(self) -> bytes:
        return self._body

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


# ---- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def generated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The values the rotation generates, in order: NEW first, then OTHER."""
    made: list[str] = []

    def generate() -> str:
        made.append((NEW, OTHER)[min(len(made), 1)])
        return made[-1]

    monkeypatch.setattr(origin_secret._rotation, "_new_header_value", generate)
    return made


def run(
    world: World, lines: list[str] | None = None, apis: Apis | None = None, **kwargs: Any
) -> origin_secret.RotationReport:
    options: dict[str, Any] = {"propagation_wait": 0.0, "sleep": world.sleep}
    options["echo"] = (lines if lines is not None else []).append
    options.update(kwargs)
    return rotate_origin_secret(deployment(world.arn), clients=world, opener=apis or Apis(world), **options)


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        for value in ALL_VALUES:
            assert value not in text


def changes(world: World) -> list[tuple[str, ...]]:
    return [c for c in world.calls if c[-1] in MUTATIONS or c[0] == "sleep"]


# ---- the rotation ------------------------------------------------------------------------------------


def test_a_rotation_stages_moves_cloudfront_then_promotes_and_drops_the_old_value() -> None:
    world = World()
    lines: list[str] = []

    report = run(world, lines, propagation_wait=75.0)

    sm, waf, cf = "secretsmanager", "wafv2", "cloudfront"
    assert changes(world) == [
        (sm, PRIMARY, "PutSecretValue"),
        (waf, PRIMARY, "UpdateWebACL"),
        (waf, SECOND, "UpdateWebACL"),
        ("sleep", "75.0"),
        (cf, "us-east-1", "UpdateDistribution"),
        ("sleep", "20.0"),
        (sm, PRIMARY, "UpdateSecretVersionStage"),
        (waf, PRIMARY, "UpdateWebACL"),
        (waf, SECOND, "UpdateWebACL"),
        (sm, PRIMARY, "UpdateSecretVersionStage"),
    ]
    put = next(p for name, p in world.sm.calls if name == "PutSecretValue")
    assert put["VersionStages"] == ["AWSPENDING"] and len(put["ClientRequestToken"]) == 36
    promote, unstage = [p for name, p in world.sm.calls if name == "UpdateSecretVersionStage"]
    assert promote["VersionStage"] == "AWSCURRENT" and promote["MoveToVersionId"] == report.version_id
    assert unstage == {
        "SecretId": world.arn,
        "VersionStage": "AWSPENDING",
        "RemoveFromVersionId": report.version_id,
    }
    assert world.settled() == NEW
    assert world.value("AWSPREVIOUS") == CURRENT  # Secrets Manager moved it when AWSCURRENT moved
    assert report.ok and report.finished and report.deployed and not report.resumed
    assert report.replicas == REPLICAS
    assert report.web_acls_updated == [acl_arn(PRIMARY), acl_arn(SECOND)]
    assert report.probes == {PRIMARY: 200, SECOND: 200}
    assert all(line.startswith("✓") for line in lines[1:-1]), lines
    assert lines[-1] == f"origin secret rotated (version {report.version_id})"
    assert_secret_free(*lines, repr(report))


def test_lagging_replicas_are_waited_for_only_before_the_old_value_goes() -> None:
    # Step 2 (AWSPENDING in the replicas) is advisory: nothing reads AWSPENDING from a replica.
    world = World(replica_lag=2)
    lines: list[str] = []

    report = run(world, lines)

    assert report.ok and world.settled() == NEW
    order = [c[-1] if c[0] != "sleep" else "sleep" for c in changes(world)]
    assert "sleep" not in order[: order.index("UpdateDistribution")]  # no replica wait before CloudFront
    promoted = order.index("UpdateSecretVersionStage")
    assert "sleep" in order[promoted : order.index("UpdateWebACL", promoted)]  # step 8 waits
    assert any("replicas (pending value, advisory)" in line and "not waited for" in line for line in lines)


def test_the_old_value_stays_accepted_until_the_replicas_serve_the_promoted_one() -> None:
    # Without step 8 a checker whose replica still said AWSCURRENT=old would be refused: the
    # world's invariant fails the test if the web ACLs drop the old value too early.
    world = World(replica_lag=3, deploy_polls=3)
    assert run(world).ok
    assert world.settled() == NEW


def test_a_replica_that_never_catches_up_stops_before_the_old_value_goes() -> None:
    world = World(replica_lag=1000)
    lines: list[str] = []

    with pytest.raises(RotationIncomplete) as raised:
        run(world, lines, replica_timeout=10.0)

    message = str(raised.value)
    assert raised.value.step == "replicas have the promoted value"
    assert "us-east-1, us-west-2: AWSCURRENT was not the new value after 10 s" in message
    assert "no traffic is blocked" in message and "finishes the rotation" in message
    assert "\n" not in message
    assert all(set(values) == {NEW, CURRENT} for values in world.acls.values())  # the old value stays
    assert_secret_free(message, *lines)


def test_waf_lock_conflict_reads_the_acl_again_and_retries() -> None:
    world = World()
    world.fail[("UpdateWebACL", PRIMARY)] = ["WAFOptimisticLockException"]
    lines: list[str] = []

    assert run(world, lines).ok

    waf = [c[2] for c in world.calls if c[:2] == ("wafv2", PRIMARY)][:5]
    assert waf == ["GetWebACL", "GetWebACL", "UpdateWebACL", "GetWebACL", "UpdateWebACL"]
    assert any(f"({PRIMARY})" in line and "(attempt 2)" in line for line in lines)
    assert world.settled() == NEW


def test_cloudfront_precondition_failed_reads_the_config_again_and_retries() -> None:
    world = World()
    world.fail[("UpdateDistribution", "us-east-1")] = ["PreconditionFailed"]
    lines: list[str] = []

    assert run(world, lines).ok

    cloudfront = [c[2] for c in world.calls if c[0] == "cloudfront"]
    assert cloudfront[1:5] == ["GetDistributionConfig", "UpdateDistribution"] * 2
    assert any("CloudFront origin header" in line and "(attempt 2)" in line for line in lines)


def test_refuses_to_start_while_the_distribution_is_in_progress() -> None:
    world = World(status="InProgress")

    with pytest.raises(RotationRefused) as raised:
        run(world)

    assert "is InProgress, not Deployed" in str(raised.value)
    assert "--force" in str(raised.value) and "nothing was changed" in str(raised.value)
    assert not any(c[-1] in MUTATIONS for c in world.calls)


def test_force_rotates_while_the_distribution_is_in_progress() -> None:
    world = World(status="InProgress")
    lines: list[str] = []

    assert run(world, lines, force=True).ok
    assert any("InProgress, --force" in line for line in lines)
    assert world.settled() == NEW


def test_no_wait_deployed_stops_before_promoting_and_a_rerun_finishes() -> None:
    world = World(deploy_polls=5)
    lines: list[str] = []

    report = run(world, lines, wait_deployed=False)

    assert report.ok and not report.finished and not report.deployed
    assert world.value("AWSCURRENT") == CURRENT and world.value("AWSPENDING") == NEW
    assert "run `ecommerce edge rotate-origin-secret` again" in lines[-1].replace("Run", "run")
    report = run(world, lines)
    assert report.ok and report.finished and report.resumed
    assert world.settled() == NEW


def crash_points() -> list[tuple[int, str]]:
    world = World(replica_lag=1)
    try:
        run(world)
    except AssertionError:  # a broken rotation: the other tests say why; crash somewhere anyway
        return [(1, "after")]
    points = [(n, when) for n in range(1, world.changes + 1) for when in ("before", "after")]
    return points + [(n, "sleep") for n in range(1, world.sleeps + 1)]


@pytest.mark.parametrize("crash_at", crash_points(), ids=lambda p: f"{p[1]}-{p[0]}")
def test_an_interrupted_rotation_is_completed_by_running_it_again(
    crash_at: tuple[int, str], generated: list[str]
) -> None:
    world = World(replica_lag=1)
    world.crash_at = crash_at
    lines: list[str] = []

    with pytest.raises(Crash):
        run(world, lines)
    staged = world.value("AWSPENDING")
    # Crashing after the last change leaves a finished rotation: running it again is a new one.
    finished = staged is None and world.value("AWSCURRENT") == NEW
    world.crash_at = None

    report = run(world, lines)

    assert report.ok and report.finished
    value = world.settled()
    if finished or crash_at == (1, "before"):  # nothing staged yet, or the rotation had finished
        assert value == OTHER and not report.resumed
        assert generated == [NEW, OTHER]
    else:  # the staged value is kept: a rerun never makes another one while a rotation is unfinished
        assert value == NEW and report.resumed
        assert generated == [NEW]
        assert [c[-1] for c in world.calls].count("PutSecretValue") == 1
        assert world.value("AWSPREVIOUS") == CURRENT
    assert_secret_free(*lines)


def test_a_rerun_of_a_finished_rotation_starts_a_new_one() -> None:
    world = World()
    run(world)
    assert run(world).ok
    assert world.settled() == OTHER and world.value("AWSPREVIOUS") == NEW


def test_a_rotation_left_by_the_old_command_is_finished_with_its_value() -> None:
    # The previous version of this command made the new value AWSCURRENT first and could stop with
    # CloudFront still sending AWSPREVIOUS and the web ACLs accepting both.
    world = World(acl_values=(NEW, CURRENT))
    world.sm.add_version(world.arn, doc(NEW), {"AWSCURRENT"})
    world.in_flight = {CURRENT}
    lines: list[str] = []

    report = run(world, lines)

    assert report.ok and report.resumed
    assert world.settled() == NEW
    assert not any(c[-1] == "PutSecretValue" for c in world.calls)
    assert any("finishing it" in line for line in lines)


def test_an_unknown_live_value_is_refused() -> None:
    world = World(live="x" * 43, acl_values=("x" * 43, CURRENT))

    with pytest.raises(RotationRefused, match="neither AWSCURRENT nor"):
        run(world)
    assert not any(c[-1] in MUTATIONS for c in world.calls)


def test_the_health_twin_origin_is_rotated_with_the_region_origins() -> None:
    # The /health origin group's primary is a twin origin "<primary>-health" carrying the header:
    # left on the old value it would be refused once the web ACLs drop it (the fake refuses an
    # UpdateDistribution that leaves it behind).
    world = World()
    lines: list[str] = []

    assert run(world, lines).ok

    assert world.settled() == NEW and world.twin is None
    assert any("CloudFront origin header" in line and "3 origin(s)" in line for line in lines), lines


def test_a_health_twin_sending_an_unknown_value_is_refused_in_the_preflight() -> None:
    world = World()
    world.twin = "x" * 43

    with pytest.raises(RotationRefused, match="neither AWSCURRENT nor"):
        run(world)
    assert not any(c[-1] in MUTATIONS for c in world.calls)


def test_a_missing_rule_is_refused_before_anything_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    original = World.GetWebACL

    def renamed(self: World, region: str, params: dict[str, Any]) -> dict[str, Any]:
        got = original(self, region, params)
        got["WebACL"]["Rules"][0]["Name"] = "SomethingElse"
        return got

    monkeypatch.setattr(World, "GetWebACL", renamed)

    with pytest.raises(RotationRefused, match="has no rule AllowFromEdge"):
        run(world)
    assert not any(c[-1] in MUTATIONS for c in world.calls)


def test_a_missing_replica_is_refused() -> None:
    world = World(replicas=("us-west-2",))

    with pytest.raises(RotationRefused, match="no replica in us-east-1"):
        run(world)


def test_a_failed_probe_is_reported_not_raised() -> None:
    world = World()
    lines: list[str] = []

    report = run(world, lines, Apis(world, broken=True))

    assert not report.ok and report.finished
    assert any(line.startswith(f"✗ probe {PRIMARY} (new header)") and "got 403" in line for line in lines)
    assert "a probe FAILED" in lines[-1]


def test_secret_values_never_reach_output_logs_or_errors(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # botocore's own wire log (DEBUG) prints every response body, secrets included, for any caller;
    # what is checked here is this command's output and logging.
    caplog.set_level(logging.INFO, logger="botocore")
    world = World()
    # The injected error message quotes the web ACL's values: they must still not leak.
    world.fail[("UpdateWebACL", PRIMARY)] = ["WAFInvalidParameterException"]

    with pytest.raises(RotationIncomplete) as raised:
        rotate_origin_secret(
            deployment(world.arn), clients=world, propagation_wait=0, sleep=world.sleep, opener=Apis(world)
        )

    captured = capsys.readouterr()
    assert "<redacted>" in str(raised.value)
    assert_secret_free(str(raised.value), captured.out, captured.err, caplog.text)


def test_the_invariant_catches_the_old_order() -> None:
    """The check has teeth: making the new value AWSCURRENT first (the old command) is caught."""
    world = World()
    client = world.client("secretsmanager", PRIMARY)
    with pytest.raises(AssertionError, match="an edge-stack deploy would send a value web ACL"):
        client.put_secret_value(SecretId=world.arn, SecretString=doc(NEW), ClientRequestToken="t" * 32)


# ---- check-origin ------------------------------------------------------------------------------------


def test_check_origin_protection_passes_when_the_acls_hold() -> None:
    world = World()
    apis, lines = Apis(world), list[str]()

    assert check_origin_protection(deployment(world.arn), clients=world, opener=apis, echo=lines.append)

    assert [value for _, value in apis.requests] == [None, CURRENT, None, CURRENT, None]
    assert apis.requests[-1][0] == "https://d111111abcdef8.cloudfront.net/health"
    assert lines[-1] == "origin protection holds"
    assert_secret_free(*lines)


def test_check_origin_protection_fails_when_an_api_is_open() -> None:
    world = World()
    lines: list[str] = []

    assert not check_origin_protection(
        deployment(world.arn), clients=world, opener=Apis(world, open_door=True), echo=lines.append
    )

    assert any(
        line.startswith(f"✗ direct {PRIMARY} without header") and "expected 403" in line for line in lines
    )
    assert lines[-1] == "origin protection check FAILED"


# ---- commands ------------------------------------------------------------------------------------


ARN = f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:ecommerce-origin-verify-AbCdEf"


def fake_rotation(
    monkeypatch: pytest.MonkeyPatch, behaviour: Callable[..., origin_secret.RotationReport]
) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(deployment: Deployment, **kwargs: Any) -> origin_secret.RotationReport:
        calls.append(kwargs)
        return behaviour()

    monkeypatch.setattr(origin_secret.commands, "_load_deployment", lambda: deployment(ARN))
    monkeypatch.setattr(origin_secret.commands, "rotate_origin_secret", fake)
    return calls


def test_command_passes_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_rotation(monkeypatch, lambda: origin_secret.RotationReport(DISTRIBUTION, ok=True))
    command = origin_secret.rotate_origin_secret_command

    assert CliRunner().invoke(command, []).exit_code == 0
    result = CliRunner().invoke(command, ["--no-wait-deployed", "--propagation-wait", "0", "--force"])

    assert result.exit_code == 0, result.output
    assert [(c["wait_deployed"], c["propagation_wait"], c["force"]) for c in calls] == [
        (True, 75.0, False),
        (False, 0.0, True),
    ]


def test_command_prints_the_one_line_reason_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> origin_secret.RotationReport:
        raise RotationRefused("distribution status failed: it is InProgress. nothing was changed")

    fake_rotation(monkeypatch, refuse)

    result = CliRunner().invoke(origin_secret.rotate_origin_secret_command, [])

    assert result.exit_code == 1
    assert "Error: distribution status failed: it is InProgress. nothing was changed" in result.output
    assert "Traceback" not in result.output


def test_check_command_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(origin_secret.commands, "_load_deployment", lambda: deployment(ARN))
    monkeypatch.setattr(origin_secret.commands, "check_origin_protection", lambda *a, **k: False)

    assert CliRunner().invoke(origin_secret.check_origin_command, []).exit_code == 1


def test_generated_values_are_header_and_waf_safe() -> None:
    values = {GENERATE() for _ in range(50)}
    assert len(values) == 50
    assert all(len(v) == 48 and v.isascii() and v.isalnum() for v in values)


def test_status_tells_whether_a_rotation_is_in_progress() -> None:
    world = World(deploy_polls=5)
    lines: list[str] = []

    def status() -> str:
        return origin_secret.rotation_status(deployment(world.arn), clients=world, echo=lines.append)

    assert status() == "none"
    run(world, wait_deployed=False)  # stops after moving CloudFront: staged
    assert status() == "staged"
    assert "Do not deploy the regional stacks" in lines[-1]
    world.crash_at = (world.changes + 1, "after")  # the promotion lands, then the operator's laptop dies
    with pytest.raises(Crash):
        run(world)
    assert status() == "promoted"
    world.crash_at = None
    run(world)
    assert status() == "none"
    assert_secret_free(*lines)
    before = len(world.calls)
    status()
    assert [c[-1] for c in world.calls[before:]] == ["DescribeSecret"]  # labels only, never a value


def test_status_option_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    calls = fake_rotation(monkeypatch, lambda: origin_secret.RotationReport(DISTRIBUTION, ok=True))
    monkeypatch.setattr(origin_secret.commands, "_load_deployment", lambda: deployment(world.arn))
    monkeypatch.setattr(origin_secret._rotation, "_boto3", lambda: world)

    result = CliRunner().invoke(origin_secret.rotate_origin_secret_command, ["--status"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("no origin-secret rotation in progress")
    assert calls == [] and not any(c[-1] in MUTATIONS for c in world.calls)
