"""Origin-secret rotation against botocore Stubbers: every request and response is validated against
the service models, the order of calls is recorded across services, sleeps are injected."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from ecommerce_constructs.config import EcommerceConfig
from ecommerce_dev import origin_secret
from ecommerce_dev.deployment import Deployment
from ecommerce_dev.origin_secret import (
    RotationIncomplete,
    RotationRefused,
    check_origin_protection,
    rotate_origin_secret,
)

GENERATE = origin_secret._new_header_value  # the real generator (tests replace it with NEW)

ACCOUNT = "123456789012"
PRIMARY = "us-east-2"
SECOND = "us-west-2"
REPLICAS = ["us-east-1", "us-west-2"]  # the other API region and CloudFront's
SECRET_ARN = f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:ecommerce-origin-verify-AbCdEf"
DISTRIBUTION = "E2QWRUHEXAMPLE"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

# Distinct, recognisable values; none may ever appear in output, logs or exception messages.
PREVIOUS = "prev" + "P" * 39
CURRENT = "curr" + "C" * 39
NEW = "newv" + "N" * 39
ALL_VALUES = (PREVIOUS, CURRENT, NEW)

V_PREVIOUS = "a1a1a1a1-0000-4000-8000-000000000001"
V_CURRENT = "b2b2b2b2-0000-4000-8000-000000000002"
V_NEW = "c3c3c3c3-0000-4000-8000-000000000003"

ACLS = {
    region: (f"ecommerce-{region}-origin", f"{n}a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    for n, region in enumerate((PRIMARY, SECOND), 1)
}
APIS = {
    region: f"https://api{n}.execute-api.{region}.amazonaws.com/prod/" for n, region in enumerate(ACLS, 1)
}


def acl_arn(region: str) -> str:
    name, acl_id = ACLS[region]
    return f"arn:aws:wafv2:{region}:{ACCOUNT}:regional/webacl/{name}/{acl_id}"


def deployment() -> Deployment:
    config = EcommerceConfig(regions=(PRIMARY, SECOND), witness_region="us-east-1")
    outputs = {
        f"ecommerce-{PRIMARY}": {
            "OriginSecretArn": SECRET_ARN,
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


# ---- fake AWS: one stubbed client per (service, region), calls recorded in order -------------------


class Aws:
    def __init__(self) -> None:
        self.session = botocore.session.Session()
        self.clients: dict[tuple[str, str], Any] = {}
        self.stubbers: dict[tuple[str, str], Stubber] = {}
        self.calls: list[tuple[str, ...]] = []

    def client(self, service_name: str, region_name: str) -> Any:
        self.stub(service_name, region_name)
        return self.clients[(service_name, region_name)]

    def stub(self, service: str, region: str) -> Stubber:
        key = (service, region)
        if key not in self.stubbers:
            client = self.session.create_client(
                service, region_name=region, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
            )

            def record(model: Any, **_: Any) -> None:
                self.calls.append((service, region, model.name))

            client.meta.events.register("before-parameter-build.*.*", record)
            self.clients[key], self.stubbers[key] = client, Stubber(client)
            self.stubbers[key].activate()
        return self.stubbers[key]

    def sleep(self, seconds: float) -> None:
        self.calls.append(("sleep", str(seconds)))

    def assert_done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()

    # -- Secrets Manager

    def get_secret(self, region: str, value: str, version: str, stage: str | None = "AWSCURRENT") -> None:
        arn = SECRET_ARN.replace(PRIMARY, region)
        expected: dict[str, Any] = {"SecretId": arn}
        if region == PRIMARY and stage:
            expected["VersionStage"] = stage
        response = {
            "ARN": arn,
            "Name": "ecommerce-origin-verify",
            "VersionId": version,
            "SecretString": json.dumps({"HEADERVALUE": value}),
            "VersionStages": [stage or "AWSCURRENT"],
            "CreatedDate": NOW,
        }
        self.stub("secretsmanager", region).add_response("get_secret_value", response, expected)

    def describe_secret(self, replicas: list[str] = REPLICAS, status: str = "InSync") -> None:
        response = {
            "ARN": SECRET_ARN,
            "Name": "ecommerce-origin-verify",
            "VersionIdsToStages": {V_CURRENT: ["AWSCURRENT"], V_PREVIOUS: ["AWSPREVIOUS"]},
            "PrimaryRegion": PRIMARY,
            "ReplicationStatus": [
                {
                    "Region": region,
                    "KmsKeyId": "alias/aws/secretsmanager",
                    "Status": status,
                    "StatusMessage": "Replication succeeded" if status == "InSync" else "KMS key not found",
                }
                for region in replicas
            ],
        }
        self.stub("secretsmanager", PRIMARY).add_response(
            "describe_secret", response, {"SecretId": SECRET_ARN}
        )

    def put_secret(self) -> None:
        expected = {
            "SecretId": SECRET_ARN,
            "SecretString": json.dumps({"HEADERVALUE": NEW}),
            "ClientRequestToken": ANY,
        }
        response = {
            "ARN": SECRET_ARN,
            "Name": "ecommerce-origin-verify",
            "VersionId": V_NEW,
            "VersionStages": ["AWSCURRENT"],
        }
        self.stub("secretsmanager", PRIMARY).add_response("put_secret_value", response, expected)

    # -- WAF

    def get_acl(self, region: str, values: tuple[str, str], lock: str = "lock-1") -> None:
        name, acl_id = ACLS[region]
        expected = {"Name": name, "Scope": "REGIONAL", "Id": acl_id}
        self.stub("wafv2", region).add_response(
            "get_web_acl", {"WebACL": web_acl(region, values), "LockToken": lock}, expected
        )

    def update_acl(self, region: str, lock: str = "lock-1", error: str | None = None) -> None:
        expected = {**update_fields(web_acl(region, (NEW, CURRENT))), "LockToken": lock}
        stub = self.stub("wafv2", region)
        if error:
            stub.add_client_error(
                "update_web_acl", error, "The lock token is stale.", expected_params=expected
            )
        else:
            stub.add_response("update_web_acl", {"NextLockToken": lock + "-next"}, expected)

    # -- CloudFront

    def get_distribution(self, status: str = "Deployed", value: str = CURRENT) -> None:
        self.stub("cloudfront", "us-east-1").add_response(
            "get_distribution",
            {"Distribution": distribution(status, value), "ETag": "ETAG1"},
            {"Id": DISTRIBUTION},
        )

    def get_config(self, etag: str = "ETAG1", value: str = CURRENT) -> None:
        self.stub("cloudfront", "us-east-1").add_response(
            "get_distribution_config",
            {"DistributionConfig": distribution_config(value), "ETag": etag},
            {"Id": DISTRIBUTION},
        )

    def update_distribution(self, etag: str = "ETAG1", error: str | None = None, message: str = "") -> None:
        expected = {"Id": DISTRIBUTION, "IfMatch": etag, "DistributionConfig": distribution_config(NEW)}
        stub = self.stub("cloudfront", "us-east-1")
        if error:
            stub.add_client_error("update_distribution", error, message, 412, expected_params=expected)
        else:
            response = {"Distribution": distribution("InProgress", NEW), "ETag": "ETAG2"}
            stub.add_response("update_distribution", response, expected)


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


def distribution_config(value: str) -> dict[str, Any]:
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
        "Origins": {"Quantity": 3, "Items": [origin(PRIMARY, value), origin(SECOND, value), other]},
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


def distribution(status: str, value: str) -> dict[str, Any]:
    return {
        "Id": DISTRIBUTION,
        "ARN": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{DISTRIBUTION}",
        "Status": status,
        "LastModifiedTime": NOW,
        "InProgressInvalidationBatches": 0,
        "DomainName": "d111111abcdef8.cloudfront.net",
        "DistributionConfig": distribution_config(value),
    }


# ---- fake regional APIs behind their web ACLs ------------------------------------------------------


class Apis:
    """GET /health answers 200 when X-Origin-Verify is an accepted value, else WAF's 403. Requests
    to the CloudFront domain arrive with the header CloudFront adds (``edge_value``)."""

    def __init__(
        self, accepted: set[str] | None = None, open_door: bool = False, edge_value: str = CURRENT
    ) -> None:
        self.accepted = {NEW, CURRENT} if accepted is None else accepted
        self.open_door = open_door  # an API without the web ACL
        self.edge_value = edge_value
        self.requests: list[tuple[str, str | None]] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Any:
        value = request.get_header("X-origin-verify")
        self.requests.append((request.full_url, value))
        if ".cloudfront.net/" in request.full_url:
            value = self.edge_value
        if self.open_door or value in self.accepted:
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


# ---- fixtures and scenarios -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def new_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(origin_secret, "_new_header_value", lambda: NEW)


@pytest.fixture
def aws() -> Iterator[Aws]:
    fake = Aws()
    yield fake
    fake.assert_done()


def preflight(aws: Aws, status: str = "Deployed") -> None:
    aws.get_distribution(status)
    aws.get_secret(PRIMARY, CURRENT, V_CURRENT)
    aws.describe_secret()
    for region in ACLS:
        aws.get_acl(region, (CURRENT, PREVIOUS))


def replicas_in_sync(aws: Aws, value: str = NEW) -> None:
    for region in REPLICAS:
        aws.get_secret(region, value, V_NEW, stage=None)


def rotation_calls() -> list[tuple[str, ...]]:
    sm, waf, cf = "secretsmanager", "wafv2", "cloudfront"
    return [
        (cf, "us-east-1", "GetDistribution"),
        (sm, PRIMARY, "GetSecretValue"),
        (sm, PRIMARY, "DescribeSecret"),
        (waf, PRIMARY, "GetWebACL"),
        (waf, SECOND, "GetWebACL"),
        (sm, PRIMARY, "PutSecretValue"),
        (sm, "us-east-1", "GetSecretValue"),
        (sm, "us-west-2", "GetSecretValue"),
        (waf, PRIMARY, "GetWebACL"),
        (waf, PRIMARY, "UpdateWebACL"),
        (waf, SECOND, "GetWebACL"),
        (waf, SECOND, "UpdateWebACL"),
        ("sleep", "75.0"),
        (cf, "us-east-1", "GetDistributionConfig"),
        (cf, "us-east-1", "UpdateDistribution"),
        (cf, "us-east-1", "GetDistribution"),
        ("sleep", "20.0"),
        (cf, "us-east-1", "GetDistribution"),
    ]


def run(aws: Aws, lines: list[str], apis: Apis | None = None, **kwargs: Any) -> origin_secret.RotationReport:
    options: dict[str, Any] = {"propagation_wait": 0.0, "sleep": aws.sleep, "echo": lines.append}
    options.update(kwargs)
    return rotate_origin_secret(deployment(), clients=aws, opener=apis or Apis(), **options)


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        for value in ALL_VALUES:
            assert value not in text


def full_rotation(aws: Aws, status: str = "Deployed") -> None:
    preflight(aws, status)
    aws.put_secret()
    replicas_in_sync(aws)
    for region in ACLS:
        aws.get_acl(region, (CURRENT, PREVIOUS))
        aws.update_acl(region)
    aws.get_config()
    aws.update_distribution()
    aws.get_distribution("InProgress", NEW)
    aws.get_distribution("Deployed", NEW)


# ---- tests -------------------------------------------------------------------------------------------


def test_happy_path_runs_every_step_in_order(aws: Aws) -> None:
    full_rotation(aws)
    apis, lines = Apis(), list[str]()
    report = run(aws, lines, apis, propagation_wait=75.0)

    assert aws.calls == rotation_calls()
    assert report.ok and report.deployed and not report.resumed
    assert report.version_id == V_NEW
    assert report.replicas == REPLICAS
    assert report.web_acls_updated == [acl_arn(PRIMARY), acl_arn(SECOND)]
    assert report.probes == {PRIMARY: 200, SECOND: 200}
    # Each regional API was probed directly with the new value.
    assert apis.requests == [(APIS[r].rstrip("/") + "/health", NEW) for r in sorted(ACLS)]
    assert all(line.startswith("✓") for line in lines[1:-1]), lines
    assert lines[-1] == f"origin secret rotated (version {V_NEW})"
    assert_secret_free(*lines, repr(report))


def test_waf_lock_conflict_reads_the_acl_again_and_retries(aws: Aws) -> None:
    preflight(aws)
    aws.put_secret()
    replicas_in_sync(aws)
    aws.get_acl(PRIMARY, (CURRENT, PREVIOUS), lock="lock-1")
    aws.update_acl(PRIMARY, lock="lock-1", error="WAFOptimisticLockException")
    aws.get_acl(PRIMARY, (CURRENT, PREVIOUS), lock="lock-2")
    aws.update_acl(PRIMARY, lock="lock-2")
    aws.get_acl(SECOND, (CURRENT, PREVIOUS))
    aws.update_acl(SECOND)
    aws.get_config()
    aws.update_distribution()
    lines: list[str] = []

    report = run(aws, lines, wait_deployed=False)

    assert report.ok
    waf = [c[2] for c in aws.calls if c[:2] == ("wafv2", PRIMARY)]
    assert waf == ["GetWebACL", "GetWebACL", "UpdateWebACL", "GetWebACL", "UpdateWebACL"]
    assert any(f"web ACL ({PRIMARY})" in line and "(attempt 2)" in line for line in lines)


def test_cloudfront_precondition_failed_reads_the_config_again_and_retries(aws: Aws) -> None:
    preflight(aws)
    aws.put_secret()
    replicas_in_sync(aws)
    for region in ACLS:
        aws.get_acl(region, (CURRENT, PREVIOUS))
        aws.update_acl(region)
    aws.get_config(etag="ETAG1")
    aws.update_distribution(
        etag="ETAG1", error="PreconditionFailed", message="The If-Match version is stale."
    )
    aws.get_config(etag="ETAG7")
    aws.update_distribution(etag="ETAG7")
    lines: list[str] = []

    report = run(aws, lines, wait_deployed=False)

    assert report.ok and not report.deployed
    cloudfront = [c[2] for c in aws.calls if c[0] == "cloudfront"][1:]
    assert cloudfront == ["GetDistributionConfig", "UpdateDistribution"] * 2
    assert any("CloudFront origin header" in line and "(attempt 2)" in line for line in lines)
    assert any("not waited (--no-wait-deployed)" in line for line in lines)


def test_a_lagging_replica_is_waited_for(aws: Aws) -> None:
    preflight(aws)
    aws.put_secret()
    aws.get_secret("us-east-1", CURRENT, V_CURRENT, stage=None)  # not replicated yet
    aws.stub("secretsmanager", "us-west-2").add_client_error(
        "get_secret_value", "ResourceNotFoundException", "Secrets Manager can't find the specified secret."
    )
    replicas_in_sync(aws)
    for region in ACLS:
        aws.get_acl(region, (CURRENT, PREVIOUS))
        aws.update_acl(region)
    aws.get_config()
    aws.update_distribution()
    lines: list[str] = []

    report = run(aws, lines, wait_deployed=False)

    assert report.ok
    assert aws.calls[6:11] == [
        ("secretsmanager", "us-east-1", "GetSecretValue"),
        ("secretsmanager", "us-west-2", "GetSecretValue"),
        ("sleep", "5.0"),
        ("secretsmanager", "us-east-1", "GetSecretValue"),
        ("secretsmanager", "us-west-2", "GetSecretValue"),
    ]
    assert any("replicas have the new value" in line and "after 5 s" in line for line in lines)


def test_a_replica_that_never_catches_up_times_out_with_a_recovery_message(aws: Aws) -> None:
    preflight(aws)
    aws.put_secret()
    aws.get_secret("us-east-1", NEW, V_NEW, stage=None)
    for _ in range(3):  # polls at 0, 5 and 10 s, then it gives up
        aws.get_secret("us-west-2", CURRENT, V_CURRENT, stage=None)
    lines: list[str] = []

    with pytest.raises(RotationIncomplete) as raised:
        run(aws, lines, replica_timeout=10.0)

    message = str(raised.value)
    assert raised.value.step == "replicas have the new value"
    assert "us-west-2 still served the old value after 10 s" in message
    assert "no traffic is blocked" in message and "completes it with the same value" in message
    assert "\n" not in message
    assert [c for c in aws.calls if c[0] == "sleep"] == [("sleep", "5.0")] * 2
    assert not any(c[2:] == ("UpdateWebACL",) for c in aws.calls)
    assert lines[-1].startswith("✗ replicas have the new value")
    assert_secret_free(message, *lines)


def test_refuses_while_the_distribution_is_in_progress(aws: Aws) -> None:
    aws.get_distribution("InProgress")
    lines: list[str] = []

    with pytest.raises(RotationRefused) as raised:
        run(aws, lines)

    assert "is InProgress, not Deployed" in str(raised.value)
    assert "--force" in str(raised.value) and "nothing was changed" in str(raised.value)
    assert aws.calls == [("cloudfront", "us-east-1", "GetDistribution")]


def test_force_rotates_while_the_distribution_is_in_progress(aws: Aws) -> None:
    full_rotation(aws, status="InProgress")
    lines: list[str] = []

    report = run(aws, lines, force=True)

    assert report.ok and report.version_id == V_NEW
    assert any("InProgress (--force)" in line for line in lines)


def test_failure_after_the_web_acls_says_rerunning_is_safe(aws: Aws) -> None:
    preflight(aws)
    aws.put_secret()
    replicas_in_sync(aws)
    for region in ACLS:
        aws.get_acl(region, (CURRENT, PREVIOUS))
        aws.update_acl(region)
    aws.get_config()
    aws.stub("cloudfront", "us-east-1").add_client_error(
        "update_distribution",
        "AccessDenied",
        "User is not authorized to perform cloudfront:UpdateDistribution",
    )
    lines: list[str] = []

    with pytest.raises(RotationIncomplete) as raised:
        run(aws, lines)

    message = str(raised.value)
    assert message.startswith("CloudFront origin header failed: AccessDenied: User is not authorized")
    assert "web ACLs accept both the new and the previous value" in message
    assert "CloudFront still sends the previous one, so no traffic is blocked" in message
    assert "again: it sees the unfinished rotation and completes it with the same value" in message
    assert_secret_free(message, *lines)


def test_rerun_after_a_midway_failure_completes_with_the_same_value(aws: Aws) -> None:
    # State left by the failure above: the secret was rotated (CURRENT is the new value), the web
    # ACLs accept it, CloudFront still sends AWSPREVIOUS. No third value may be made.
    aws.get_distribution(value=PREVIOUS)
    aws.get_secret(PRIMARY, CURRENT, V_CURRENT)
    aws.get_secret(PRIMARY, PREVIOUS, V_PREVIOUS, stage="AWSPREVIOUS")
    aws.describe_secret()
    for region in ACLS:
        aws.get_acl(region, (CURRENT, PREVIOUS))
    for region in REPLICAS:
        aws.get_secret(region, CURRENT, V_CURRENT, stage=None)
    for region in ACLS:
        aws.get_acl(region, (CURRENT, PREVIOUS))  # already [new, old]: no update needed
    aws.get_config(value=PREVIOUS)
    expected = {"Id": DISTRIBUTION, "IfMatch": "ETAG1", "DistributionConfig": distribution_config(CURRENT)}
    aws.stub("cloudfront", "us-east-1").add_response(
        "update_distribution",
        {"Distribution": distribution("InProgress", CURRENT), "ETag": "ETAG2"},
        expected,
    )
    lines: list[str] = []

    report = run(aws, lines, Apis(accepted={CURRENT, PREVIOUS}), wait_deployed=False)

    assert report.ok and report.resumed and report.version_id == V_CURRENT
    assert ("secretsmanager", PRIMARY, "PutSecretValue") not in aws.calls
    assert not any(c[2:] == ("UpdateWebACL",) for c in aws.calls)
    assert any("completing the unfinished rotation" in line for line in lines)
    assert_secret_free(*lines)


def test_an_unknown_live_value_is_refused(aws: Aws) -> None:
    aws.get_distribution(value="x" * 43)
    aws.get_secret(PRIMARY, CURRENT, V_CURRENT)
    aws.get_secret(PRIMARY, PREVIOUS, V_PREVIOUS, stage="AWSPREVIOUS")

    with pytest.raises(RotationRefused, match="neither AWSCURRENT nor AWSPREVIOUS"):
        run(aws, [])


def test_a_missing_rule_is_refused_before_anything_changes(aws: Aws) -> None:
    aws.get_distribution()
    aws.get_secret(PRIMARY, CURRENT, V_CURRENT)
    aws.describe_secret()
    acl = web_acl(PRIMARY, (CURRENT, PREVIOUS))
    acl["Rules"][0]["Name"] = "SomethingElse"
    name, acl_id = ACLS[PRIMARY]
    aws.stub("wafv2", PRIMARY).add_response(
        "get_web_acl", {"WebACL": acl, "LockToken": "l"}, {"Name": name, "Scope": "REGIONAL", "Id": acl_id}
    )

    with pytest.raises(RotationRefused, match="has no rule AllowFromEdge"):
        run(aws, [])


def test_a_missing_replica_is_refused(aws: Aws) -> None:
    aws.get_distribution()
    aws.get_secret(PRIMARY, CURRENT, V_CURRENT)
    aws.describe_secret(replicas=["us-west-2"])

    with pytest.raises(RotationRefused, match="no replica in us-east-1"):
        run(aws, [])


def test_a_failed_probe_is_reported_not_raised(aws: Aws) -> None:
    full_rotation(aws)
    lines: list[str] = []

    report = run(aws, lines, Apis(accepted={CURRENT}))  # the ACLs did not take the new value

    assert not report.ok
    assert any(line.startswith(f"✗ probe {PRIMARY} (new header)") and "got 403" in line for line in lines)
    assert "a probe FAILED" in lines[-1]


def test_secret_values_never_reach_output_logs_or_errors(
    aws: Aws, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    preflight(aws)
    aws.put_secret()
    replicas_in_sync(aws)
    aws.get_acl(PRIMARY, (CURRENT, PREVIOUS))
    # An error message that quotes the value must still not leak it.
    aws.stub("wafv2", PRIMARY).add_client_error(
        "update_web_acl", "WAFInvalidParameterException", f"bad SearchString {NEW}, {CURRENT}"
    )

    with pytest.raises(RotationIncomplete) as raised:
        rotate_origin_secret(deployment(), clients=aws, propagation_wait=0, sleep=aws.sleep, opener=Apis())

    captured = capsys.readouterr()
    assert "bad SearchString <redacted>, <redacted>" in str(raised.value)
    assert_secret_free(str(raised.value), captured.out, captured.err, caplog.text)


def test_check_origin_protection_passes_when_the_acls_hold(aws: Aws) -> None:
    aws.get_secret(PRIMARY, CURRENT, V_CURRENT, stage=None)
    apis, lines = Apis(accepted={CURRENT}), list[str]()

    assert check_origin_protection(deployment(), clients=aws, opener=apis, echo=lines.append)

    assert [value for _, value in apis.requests] == [None, CURRENT, None, CURRENT, None]
    assert apis.requests[-1][0] == "https://d111111abcdef8.cloudfront.net/health"
    assert lines[-1] == "origin protection holds"
    assert_secret_free(*lines)


def test_check_origin_protection_fails_when_an_api_is_open(aws: Aws) -> None:
    aws.get_secret(PRIMARY, CURRENT, V_CURRENT, stage=None)
    lines: list[str] = []

    assert not check_origin_protection(
        deployment(), clients=aws, opener=Apis(open_door=True), echo=lines.append
    )

    assert any(
        line.startswith(f"✗ direct {PRIMARY} without header") and "expected 403" in line for line in lines
    )
    assert lines[-1] == "origin protection check FAILED"


# ---- commands ------------------------------------------------------------------------------------


def fake_rotation(
    monkeypatch: pytest.MonkeyPatch, behaviour: Callable[..., origin_secret.RotationReport]
) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(deployment: Deployment, **kwargs: Any) -> origin_secret.RotationReport:
        calls.append(kwargs)
        return behaviour()

    monkeypatch.setattr(origin_secret, "_load_deployment", deployment)
    monkeypatch.setattr(origin_secret, "rotate_origin_secret", fake)
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
    monkeypatch.setattr(origin_secret, "_load_deployment", deployment)
    monkeypatch.setattr(origin_secret, "check_origin_protection", lambda *a, **k: False)

    assert CliRunner().invoke(origin_secret.check_origin_command, []).exit_code == 1


def test_generated_values_are_header_and_waf_safe() -> None:
    values = {GENERATE() for _ in range(50)}
    assert len(values) == 50
    assert all(len(v) == 48 and v.isascii() and v.isalnum() for v in values)
