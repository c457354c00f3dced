"""``make lambda-check``: each function's bundled asset run as Lambda runs it (tests/lambda_check).

One synth for this machine's architecture with real bundling; every Python function of every stack
is run from its asset in a fresh interpreter of the runtime's version, with real events, against a
TLS endpoint in front of the embedded PostgreSQL and fakes of the AWS APIs it calls.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import secrets
import ssl
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from aws_cdk import App
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from api_support import JOHN_EMAIL, api_event
from api_support import test_identity as local_user_pool
from cdc_records import cdc, kinesis, outbox_row
from cdk_support import ACCOUNT, CDK_JSON, CONFIG
from ecommerce_constructs import bundling
from ecommerce_constructs.app import build
from ecommerce_constructs.config import load_config, validate_config
from ecommerce_constructs.database_setup import schema_version
from ecommerce_constructs.testing import cdk_json_context
from ecommerce_dev.engine import LocalEngine
from fakes.dsql_control_plane import FakeDsql, _route
from fakes.json_services import JsonServices
from fakes.keyvaluestore import _ROUTES as KVS_ROUTES
from fakes.keyvaluestore import FakeKeyValueStore
from fakes.secretsmanager import FakeSecretsManager
from handlers.contract import LOCAL_OPERATOR_ISSUER
from lambda_check.awsfront import AwsFront
from lambda_check.certs import CertificateAuthority, make_test_ca
from lambda_check.pgproxy import EMULATION_SQL, TlsPostgresProxy, translate
from lambda_check.runtime import LambdaFunction, LambdaProcess, functions_in

ROOT = Path(__file__).resolve().parents[2]
AMAZON_ROOT_CA_1 = "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"
STACKS = ("ecommerce-us-east-1", "ecommerce-us-east-2", "ecommerce-edge")
REGION = "us-east-1"
CLUSTER_ID = "lambdacheck000000000000001"  # 26 lowercase letters and digits, as DSQL's


def endpoint(region: str) -> str:
    return f"{CLUSTER_ID}.dsql.{region}.on.aws"


# This machine's architecture, in Lambda's words (the bundle's native wheels must load here).
ARCHITECTURE = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
# Every entry point of every function; a new handler fails test_every_function_is_run until it
# gets events here.
EXERCISED = {
    "handlers.api.browse.handler",
    "handlers.api.catalog.handler",
    "handlers.api.orders.handler",
    "handlers.infra.database_setup.on_event",
    "handlers.infra.database_setup.is_complete",
    "handlers.infra.dsql_cluster.on_event",
    "handlers.infra.dsql_cluster.is_complete",
    "handlers.infra.edge_health.handler",
    "handlers.infra.dsql_stream.on_event",
    "handlers.infra.dsql_stream.is_complete",
    "handlers.infra.dsql_stream.check_status",
    "handlers.events.aws.handler",
    "handlers.infra.backup_opt_in.on_event",
    "handlers.maintenance.prune.handler",
}


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default app, every function built for this machine's architecture, bundled for real."""
    outdir = tmp_path_factory.mktemp("lambda-check") / "cdk.out"
    data = json.loads(json.dumps(load_config(CONFIG).model_dump(by_alias=True, mode="json")))
    data["lambda"]["architecture"] = ARCHITECTURE
    app = App(
        context=cdk_json_context(CDK_JSON), outdir=str(outdir), builtin_cloud_formation_validation=False
    )
    build(app, validate_config(data), nag=False)
    app.synth()
    return outdir


@pytest.fixture(scope="module")
def functions(assembly: Path) -> dict[str, LambdaFunction]:
    found: dict[str, LambdaFunction] = {}
    others = sorted(
        name
        for name in (p.name.removesuffix(".template.json") for p in assembly.glob("*.template.json"))
        if name not in STACKS
    )
    assert others, "no edge health stacks: the checkers moved?"
    for stack in [*STACKS, *others]:  # the first stack with a handler provides it (the primary region's)
        for function in functions_in(assembly, stack):
            found.setdefault(function.handler, function)
    assert found, "no Python functions in the templates"
    return found


@pytest.fixture(scope="module")
def interpreter() -> str:
    python = bundling.bytecode_interpreter()
    assert python is not None, (
        f"make lambda-check needs a Python {bundling.LAMBDA_PYTHON_VERSION} interpreter (the runtime's): "
        f"install it (pyenv install {bundling.LAMBDA_PYTHON_VERSION}) or set {bundling.PYTHON_ENV_VAR}"
    )
    return python


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    # DSQL endpoint names in both regions, and the stand-in for API Gateway the health checker probes.
    names = [f"*.dsql.{region}.on.aws" for region in ("us-east-1", "us-east-2")] + ["localhost"]
    return make_test_ca(tmp_path_factory.mktemp("ca"), names)


@pytest.fixture(scope="module")
def database(local_engine: LocalEngine) -> str:
    """A fresh database with DSQL's sys surface, the DSQL-only statement emulation and ``admin``."""
    dsn = local_engine.create_database(f"lambda_check_{secrets.token_hex(4)}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(EMULATION_SQL)
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'admin'").fetchone() is None:
            conn.execute("CREATE ROLE admin WITH LOGIN SUPERUSER")
    return dsn


@pytest.fixture(scope="module")
def proxy(
    local_engine: LocalEngine, database: str, test_ca: CertificateAuthority
) -> Iterator[TlsPostgresProxy]:
    info = psycopg.conninfo.conninfo_to_dict(database)
    socket_path = Path(str(info["host"])) / f".s.PGSQL.{info['port']}"
    server = TlsPostgresProxy(socket_path, str(info["dbname"]), test_ca.cert_file, test_ca.key_file)
    yield server
    server.close()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lambda-logs")


def resolved(function: LambdaFunction, values: dict[str, str]) -> dict[str, str]:
    """The function's environment with each unresolved template value replaced (by variable name).
    The operators' pool is the local one the tokens of `call` come from."""
    values = {"OPERATOR_ISSUER": LOCAL_OPERATOR_ISSUER, **values}
    env = {}
    for name, value in function.environment.items():
        if isinstance(value, str):
            env[name] = value
        else:
            assert name in values, f"{function.handler}: give {name} a value ({value})"
            env[name] = values[name]
    return env


def database_reach(proxy: TlsPostgresProxy, test_ca: CertificateAuthority) -> dict[str, str]:
    """The endpoint name "resolves" to the proxy (libpq's own variables); trust the test CA."""
    return {
        "PGHOSTADDR": "127.0.0.1",
        "PGPORT": str(proxy.port),
        "ECOMMERCE_TRUST_FILE": str(test_ca.ca_file),
    }


@pytest.fixture(scope="module")
def set_up(
    functions: dict[str, LambdaFunction],
    interpreter: str,
    proxy: TlsPostgresProxy,
    test_ca: CertificateAuthority,
    log_dir: Path,
) -> dict[str, Any]:
    """``Custom::DatabaseSetup``'s Create, as the Provider framework hands it over: the schema and
    the functions' database roles, applied through TLS as ``admin``, then the poll that waits for
    index builds, with on_event's answer merged into its event."""
    function = functions["handlers.infra.database_setup.on_event"]
    poll = functions["handlers.infra.database_setup.is_complete"]
    processes = [
        LambdaProcess(
            f,
            interpreter,
            environment=resolved(f, {}),
            extra=database_reach(proxy, test_ca),
            log=log_dir / "setup.log",
        )
        for f in (function, poll)
    ]
    process = processes[0]
    try:
        assert all(p.init["init"]["ok"] for p in processes), [p.init for p in processes]
        roles = {
            name: [f"arn:aws:iam::{ACCOUNT}:role/{name}-fn"]
            for name in ("browse", "catalog", "orders", "prune")
        }
        event = custom_resource_event(
            "Create",
            "Custom::DatabaseSetup",
            {
                "Endpoint": endpoint(function.region),
                "Region": function.region,
                "FunctionRoleArns": roles,
                "RolePrefix": "ecommerce",
                "SchemaVersion": schema_version(),
            },
        )
        answer = process.invoke(event)
        assert answer.ok, json.dumps(answer.error, indent=1)[-4000:]
        assert not answer.writes_refused and not answer.host_reads, answer
        polled = processes[1].invoke({**event, **answer.result})
        assert polled.ok and polled.result == {"IsComplete": True}, polled
        assert not polled.writes_refused and not polled.host_reads, polled
        return dict(answer.result)
    finally:
        for each in processes:
            each.close()


@pytest.fixture(scope="module")
def api(
    set_up: dict[str, Any],
    functions: dict[str, LambdaFunction],
    interpreter: str,
    proxy: TlsPostgresProxy,
    test_ca: CertificateAuthority,
    log_dir: Path,
) -> Iterator[dict[str, LambdaProcess]]:
    processes = {}
    for name in ("browse", "catalog", "orders"):
        function = functions[f"handlers.api.{name}.handler"]
        processes[name] = LambdaProcess(
            function,
            interpreter,
            environment=resolved(function, {"DSQL_ENDPOINT": endpoint(function.region)}),
            extra=database_reach(proxy, test_ca),
            log=log_dir / f"{name}.log",
        )
    yield processes
    for process in processes.values():
        process.close()


def custom_resource_event(kind: str, resource_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    """What CDK's Provider framework passes a user handler (the CloudFormation request)."""
    return {
        "RequestType": kind,
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:provider",
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/ecommerce-{REGION}/0a1b2c3d",
        "RequestId": secrets.token_hex(16),
        "LogicalResourceId": "Resource",
        "ResourceType": resource_type,
        "ResourceProperties": {"ServiceToken": "x", **properties},
    }


def call(
    process: LambdaProcess, method: str, path: str, body: Any = None, who: str | None = None
) -> dict[str, Any]:
    claims = None
    if who is not None:
        identity = local_user_pool()
        claims = identity.verify(identity.issue(email=who, operator=who.startswith("operator")))
    headers = {"Idempotency-Key": secrets.token_hex(8)} if method == "POST" else None
    answer = process.invoke(api_event(method, path, body, headers=headers, claims=claims))
    assert answer.ok, json.dumps(answer.error, indent=1)[-4000:]
    assert not answer.writes_refused, answer.writes_refused
    assert not answer.host_reads, answer.host_reads
    result = dict(answer.result)
    result["json"] = json.loads(result["body"]) if result.get("body") else None
    return result


# ------------------------------------------------------------------------------------------- checks
def test_every_function_is_run(functions: dict[str, LambdaFunction]) -> None:
    assert set(functions) == EXERCISED, "give each new handler real events in this module"
    wrong = {h: f.architecture for h, f in functions.items() if f.architecture != ARCHITECTURE}
    assert not wrong, f"not built for {ARCHITECTURE}: {wrong}"


#: What each function's own code trusts, computed inside its execution environment from its real
#: environment (no ECOMMERCE_TRUST_FILE): the libpq parameters of its DSQL connections, or the TLS
#: context of the health checker's probes.
_TRUSTED_DATABASE = """
from handlers.db import aws_connect_kwargs
from handlers.settings import Settings
kwargs = aws_connect_kwargs(Settings.from_env().database(endpoint=ENDPOINT, region=REGION), "token")
result = {"file": kwargs["sslrootcert"], "mode": kwargs["sslmode"], "gss": kwargs["gssencmode"]}
"""
_TRUSTED_PROBES = """
import hashlib, os
from handlers.infra.edge_health import _tls_context
context = _tls_context()
result = {"roots": [hashlib.sha256(c).hexdigest() for c in context.get_ca_certs(binary_form=True)],
          "verify": int(context.verify_mode), "names": context.check_hostname}
"""


def test_each_function_trusts_the_amazon_roots_inside_its_asset(
    functions: dict[str, LambdaFunction], interpreter: str, log_dir: Path
) -> None:
    for handler, function in functions.items():
        if handler.startswith(
            (
                "handlers.infra.dsql_cluster",
                "handlers.infra.dsql_stream",
                "handlers.events",
                "handlers.infra.backup_opt_in",
            )
        ):
            continue  # AWS APIs only: botocore's own TLS, no database connection
        stand_ins = {"DSQL_ENDPOINT": endpoint(function.region), "KVS_ARN": "x", "REGIONS": "[]"}
        process = LambdaProcess(
            function,
            interpreter,
            environment=resolved(function, stand_ins),
            log=log_dir / "trust.log",
        )
        try:
            if handler.startswith("handlers.infra.edge_health"):
                probes = process.evaluate(_TRUSTED_PROBES)
                assert probes.ok, probes.error
                assert AMAZON_ROOT_CA_1 in probes.result["roots"], handler
                assert probes.result["verify"] == int(ssl.CERT_REQUIRED) and probes.result["names"]
                continue
            source = f"ENDPOINT, REGION = {endpoint(function.region)!r}, {function.region!r}\n"
            answer = process.evaluate(source + _TRUSTED_DATABASE)
        finally:
            process.close()
        assert answer.ok, answer.error
        assert not answer.host_reads, answer.host_reads
        assert answer.result["mode"] == "verify-full" and answer.result["gss"] == "disable", answer.result
        path = Path(answer.result["file"])
        assert path.is_relative_to(function.asset), f"{handler}: {path} is outside the asset"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            certificates = x509.load_pem_x509_certificates(path.read_bytes())
        fingerprints = {cert.fingerprint(hashes.SHA256()).hex() for cert in certificates}
        assert AMAZON_ROOT_CA_1 in fingerprints, f"{path} lacks Amazon Root CA 1"


def test_database_setup_runs_over_tls_as_admin(set_up: dict[str, Any], proxy: TlsPostgresProxy) -> None:
    assert int(set_up["Data"]["RoleStatements"]) > 0 and set_up["Data"]["SchemaVersion"] != "latest"
    assert "admin" in proxy.seen.users
    assert proxy.seen.negotiation and set(proxy.seen.sni) <= {endpoint(r) for r in ("us-east-1", "us-east-2")}
    assert any("INDEX ASYNC" in s for s in proxy.seen.rewritten)
    assert any(s.startswith("AWS IAM GRANT") for s in proxy.seen.rewritten)


def test_the_api_answers_every_kind_of_route_over_verified_tls(
    api: dict[str, LambdaProcess], proxy: TlsPostgresProxy
) -> None:
    browse, catalog, orders = api["browse"], api["catalog"], api["orders"]
    refused_before = len(proxy.seen.refused)  # the proxy is shared: count only this test's
    health = call(browse, "GET", "/health")
    assert (health["statusCode"], health["json"]["database"]) == (200, "reachable"), health
    lamp = {"name": "Lamp", "price": "12.50", "stock_quantity": 3, "category": "Home"}
    created = call(catalog, "POST", "/products", lamp, who="operator@example.com")
    assert created["statusCode"] == 201, created
    product = created["json"]["product_id"]
    page = call(browse, "GET", "/products")
    assert page["statusCode"] == 200 and [p["product_id"] for p in page["json"]["products"]] == [product]
    assert call(browse, "GET", f"/products/{product}")["statusCode"] == 200
    profile = {"email": JOHN_EMAIL, "first_name": "John", "last_name": "Doe"}
    assert call(catalog, "POST", "/customers", profile, who=JOHN_EMAIL)["statusCode"] == 201
    assert call(catalog, "GET", "/customers/me", who=JOHN_EMAIL)["statusCode"] == 200
    order = call(
        orders, "POST", "/orders", {"items": [{"product_id": product, "quantity": 2}]}, who=JOHN_EMAIL
    )
    assert order["statusCode"] == 201, order
    order_id = order["json"]["order_id"]
    assert call(orders, "GET", f"/orders/{order_id}", who=JOHN_EMAIL)["statusCode"] == 200
    cancelled = call(orders, "POST", f"/orders/{order_id}/cancel", who=JOHN_EMAIL)
    assert cancelled["statusCode"] == 200, cancelled
    assert {"ecommerce_browse", "ecommerce_catalog", "ecommerce_orders"} <= set(proxy.seen.users)
    assert "direct" in proxy.seen.negotiation and len(proxy.seen.refused) == refused_before
    assert proxy.seen.gss_requests == 0  # gssencmode=disable: no GSSAPI round trip first


def test_the_shipped_roots_refuse_an_endpoint_they_do_not_vouch_for(
    set_up: dict[str, Any],
    functions: dict[str, LambdaFunction],
    interpreter: str,
    proxy: TlsPostgresProxy,
    log_dir: Path,
) -> None:
    """Without ECOMMERCE_TRUST_FILE the function trusts only the Amazon roots it ships: the test CA's
    certificate must fail verification (so verification really happens, against the file)."""
    function = functions["handlers.api.browse.handler"]  # /health is the browse function's
    process = LambdaProcess(
        function,
        interpreter,
        environment=resolved(function, {"DSQL_ENDPOINT": endpoint(function.region)}),
        extra={"PGHOSTADDR": "127.0.0.1", "PGPORT": str(proxy.port)},
        log=log_dir / "untrusted.log",
    )
    connections = proxy.seen.connections
    try:
        health = call(process, "GET", "/health")
    finally:
        process.close()
    assert health["statusCode"] == 503, health
    log = (log_dir / "untrusted.log").read_text()
    assert "certificate verify failed" in log, log[-3000:]
    # A certificate that does not verify is not retried: one connection attempt, not a retry loop.
    assert proxy.seen.connections - connections == 1, proxy.seen.connections - connections


def test_the_proxy_takes_both_tls_negotiations_and_refuses_plaintext(
    proxy: TlsPostgresProxy, test_ca: CertificateAuthority, database: str
) -> None:
    for negotiation in ("postgres", "direct"):
        with psycopg.connect(
            host="127.0.0.1",
            port=proxy.port,
            dbname="postgres",
            user="admin",
            sslmode="verify-ca",
            sslrootcert=str(test_ca.ca_file),
            sslnegotiation=negotiation,
        ) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (
                psycopg.conninfo.conninfo_to_dict(database)["dbname"],
            )
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=proxy.port, dbname="postgres", user="admin", sslmode="disable")


def test_dsql_only_statements_are_translated() -> None:
    assert translate("CREATE UNIQUE INDEX ASYNC IF NOT EXISTS a ON t (x)").startswith(
        "SELECT sys.create_index_async('CREATE UNIQUE INDEX IF NOT EXISTS a ON t (x)', 'a', 't')"
    )
    assert "INSERT INTO sys.iam_pg_role_mappings" in translate("AWS IAM GRANT r TO 'arn:aws:iam::1:role/x'")
    assert translate("SELECT 1") == "SELECT 1"


def test_the_pruning_job_deletes_due_rows_as_its_own_role_over_tls(
    set_up: dict[str, Any],
    functions: dict[str, LambdaFunction],
    interpreter: str,
    database: str,
    proxy: TlsPostgresProxy,
    test_ca: CertificateAuthority,
    log_dir: Path,
) -> None:
    """The scheduled job's asset, as EventBridge invokes it: expired idempotency records and old
    outbox rows go, logged in as the pruning role the deploy-time setup created."""
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO idempotency_records (scope, idempotency_key, request_hash, status, "
            "response_status, response_body, created_at, expires_at) "
            "SELECT 'lambda-check', 'due-' || i, 'h', "
            "'completed', 201, '{}', now() - interval '2 days', now() - interval '1 hour' "
            "FROM generate_series(1, 30) AS i"
        )
    function = functions["handlers.maintenance.prune.handler"]
    process = LambdaProcess(
        function,
        interpreter,
        environment=resolved(function, {"DSQL_ENDPOINT": endpoint(function.region)}),
        extra=database_reach(proxy, test_ca),
        log=log_dir / "prune.log",
    )
    try:
        scheduled = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        answer = process.invoke(scheduled)
        assert answer.ok, answer.error
        assert answer.result["tables"]["idempotency_records"] >= 30 and answer.result["still_due"] == 0
        assert not answer.writes_refused and not answer.host_reads, answer
    finally:
        process.close()
    assert "ecommerce_prune" in proxy.seen.users


def test_the_backup_opt_in_check_and_enable_through_the_backup_api(
    functions: dict[str, LambdaFunction], interpreter: str, log_dir: Path
) -> None:
    """Custom::BackupOptIn's asset against a botocore-model-validated AWS Backup: `check` fails the
    deploy naming the fixing command, `enable` opts the region in, keeping other resource types."""
    import re

    from fakes.backup import _ROUTES as BACKUP_ROUTES
    from fakes.backup import FakeBackup

    fake = FakeBackup(account=ACCOUNT)
    fake.opt_in[REGION] = {"Aurora": True}

    def answer(region: str, request: Any) -> Any:
        path = urlsplit(request.url).path
        name = next(
            (
                op
                for method, pattern, op in BACKUP_ROUTES
                if method == request.method and re.fullmatch(pattern, path)
            ),
            "Unknown",
        )
        return fake._on_send(region, request, event_name=f"before-send.backup.{name}")

    front = AwsFront("backup.{region}.amazonaws.com", answer)
    function = functions["handlers.infra.backup_opt_in.on_event"]
    process = LambdaProcess(
        function,
        interpreter,
        environment=resolved(function, {}),
        extra={"AWS_ENDPOINT_URL_BACKUP": front.url},
        log=log_dir / "backup-opt-in.log",
    )

    def create(mode: str) -> Any:
        return process.invoke(
            custom_resource_event("Create", "Custom::BackupOptIn", {"Region": REGION, "Mode": mode})
        )

    try:
        refused = create("check")
        assert not refused.ok and "update-region-settings" in json.dumps(refused.error), refused
        enabled = create("enable")
        assert enabled.ok and enabled.result["Data"]["Outcome"] == "enabled", enabled.error
        again = create("check")
        assert again.ok and again.result["Data"]["Outcome"] == "opted-in", again.error
        assert not again.writes_refused and not again.host_reads, again
    finally:
        process.close()
        front.close()
    assert not front.errors, front.errors
    assert fake.opt_in[REGION] == {"Aurora": True, "DSQL": True}


# ------------------------------------------------------------------------- the cluster custom resource
@pytest.fixture(scope="module")
def dsql_front() -> Iterator[tuple[FakeDsql, AwsFront]]:
    fake = FakeDsql(ACCOUNT)

    def answer(region: str, request: Any) -> Any:
        route = _route(request.method, urlsplit(request.url).path)
        name = route[0] if route else "Unknown"
        return fake._on_send(region, request, event_name=f"before-send.dsql.{name}")

    front = AwsFront("dsql.{region}.api.aws", answer)
    yield fake, front
    front.close()


def test_the_cluster_handler_creates_and_completes_through_the_control_plane(
    functions: dict[str, LambdaFunction],
    interpreter: str,
    dsql_front: tuple[FakeDsql, AwsFront],
    log_dir: Path,
) -> None:
    fake, front = dsql_front
    on_event = functions["handlers.infra.dsql_cluster.on_event"]
    is_complete = functions["handlers.infra.dsql_cluster.is_complete"]
    reach = {"AWS_ENDPOINT_URL_DSQL": front.url}
    event = custom_resource_event(
        "Create",
        "Custom::DsqlCluster",
        {
            "Region": REGION,
            "DeletionProtection": "true",
            "RemovalPolicy": "retain",
            "AllowUnpeer": "false",
            "Tags": {"Name": "lambda-check"},
        },
    )
    processes = [
        LambdaProcess(
            f,
            interpreter,
            environment=resolved(f, {}),
            extra=reach,
            log=log_dir / "cluster.log",
        )
        for f in (on_event, is_complete)
    ]
    try:
        created = processes[0].invoke(event)
        assert created.ok, created.error
        event |= {"PhysicalResourceId": created.result["PhysicalResourceId"]}
        for _ in range(20):
            polled = processes[1].invoke(event)
            assert polled.ok, polled.error
            if polled.result["IsComplete"]:
                break
        else:
            pytest.fail("the cluster never completed")
        for answer in (created, polled):
            assert not answer.writes_refused and not answer.host_reads, answer
    finally:
        for process in processes:
            process.close()
    assert not front.errors, front.errors
    assert [c.identifier for c in fake.find(REGION)] == [created.result["PhysicalResourceId"]]
    assert polled.result["Data"]["Endpoint"].endswith(f".dsql.{REGION}.on.aws")


def test_the_stream_handler_creates_completes_and_deletes_through_the_control_plane(
    functions: dict[str, LambdaFunction],
    interpreter: str,
    dsql_front: tuple[FakeDsql, AwsFront],
    log_dir: Path,
) -> None:
    fake, front = dsql_front
    cluster = fake.client(REGION).create_cluster(deletionProtectionEnabled=False)["identifier"]
    fake.settle()
    reach = {"AWS_ENDPOINT_URL_DSQL": front.url}
    processes = [
        LambdaProcess(f, interpreter, environment=resolved(f, {}), extra=reach, log=log_dir / "stream.log")
        for f in (
            functions["handlers.infra.dsql_stream.on_event"],
            functions["handlers.infra.dsql_stream.is_complete"],
        )
    ]
    properties = {
        "Region": REGION,
        "ClusterIdentifier": cluster,
        "KinesisStreamArn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/lambda-check",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/lambda-check-stream",
    }
    physical = ""
    try:
        for kind in ("Create", "Delete"):
            event = custom_resource_event(kind, "Custom::DsqlStream", properties)
            if kind == "Delete":
                event["PhysicalResourceId"] = physical
            started = processes[0].invoke(event)
            assert started.ok, started.error
            physical = started.result["PhysicalResourceId"]
            event |= started.result
            for _ in range(20):
                polled = processes[1].invoke(event)
                assert polled.ok, polled.error
                if polled.result["IsComplete"]:
                    break
            else:
                pytest.fail(f"the stream's {kind} never completed")
            assert not polled.writes_refused and not polled.host_reads, polled
            if kind == "Create":
                assert polled.result["Data"]["Arn"] == physical
                assert [s.status for s in fake.streams.values()] == ["ACTIVE"]
                # The scheduled status check of the stream just made, as EventBridge invokes it.
                check = functions["handlers.infra.dsql_stream.check_status"]
                status = LambdaProcess(
                    check,
                    interpreter,
                    environment=resolved(check, {"STREAM_ARN": physical}),
                    extra=reach,
                    log=log_dir / "stream-status.log",
                )
                try:
                    seen = status.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})
                finally:
                    status.close()
                assert seen.ok and seen.result["delivering"] is True, seen.error
                assert not seen.writes_refused and not seen.host_reads, seen
    finally:
        for process in processes:
            process.close()
    assert not front.errors, front.errors
    assert fake.streams == {}


# --------------------------------------------------------------------------------- the events publisher
def test_the_publisher_puts_events_claims_ids_and_sends_poison_through_the_aws_apis(
    functions: dict[str, LambdaFunction], interpreter: str, log_dir: Path
) -> None:
    queue = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/failures"
    aws = JsonServices(buses={"lambda-check-bus"}, tables={"dedupe": {}}, queues={queue: []})
    hosts = {"events": "events.{region}.amazonaws.com", "dynamodb": "dynamodb.{region}.amazonaws.com",
             "sqs": "sqs.{region}.amazonaws.com"}  # fmt: skip
    fronts = {
        service: AwsFront(host, functools.partial(aws.answer, service)) for service, host in hosts.items()
    }
    function = functions["handlers.events.aws.handler"]
    environment = resolved(
        function, {"EVENT_BUS_NAME": "lambda-check-bus", "DEDUPE_TABLE": "dedupe", "FAILURE_QUEUE_URL": queue}
    )
    # botocore's service-specific endpoint variables are named by service id (EventBridge's is
    # "EventBridge", not its endpoint prefix).
    ids = {"events": "EVENTBRIDGE", "dynamodb": "DYNAMODB", "sqs": "SQS"}
    reach = {f"AWS_ENDPOINT_URL_{ids[service]}": front.url for service, front in fronts.items()}
    process = LambdaProcess(
        function, interpreter, environment=environment, extra=reach, log=log_dir / "events.log"
    )
    rows = [outbox_row() for _ in range(3)]
    records = [kinesis(cdc(row), i) for i, row in enumerate(rows, 1)]
    poison = kinesis({"type": "chunked", "op": "c", "before": None, "after": None, "source": {}}, 9)
    try:
        answer = process.invoke({"Records": [*records, records[0], poison]})
        assert answer.ok, answer.error
        assert answer.result == {"batchItemFailures": []}
        again = process.invoke({"Records": records})  # a redelivery
        assert again.ok and again.result == {"batchItemFailures": []}, again.error
        assert not answer.writes_refused and not answer.host_reads, answer
    finally:
        process.close()
        for front in fronts.values():
            front.close()
    for front in fronts.values():
        assert not front.errors, front.errors
    assert sorted(json.loads(e["Detail"])["eventId"] for e in aws.events) == sorted(
        r["event_id"] for r in rows
    )
    assert len(aws.queues[queue]) == 1


# ------------------------------------------------------------------------------- the edge health checker
ORIGIN_SECRET_VALUE = "lambda-check-origin-secret"


class _Health(BaseHTTPRequestHandler):
    """The regional API's /health behind API Gateway: without the origin header it is refused, as
    the regional API's resource policy refuses calls that did not come through the edge."""

    header = ""

    def do_GET(self) -> None:
        if self.headers.get(self.header) != ORIGIN_SECRET_VALUE:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"status": "ok", "region": "x", "version": "1", "database": "reachable"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


def test_the_health_checker_reads_its_secret_probes_and_reads_the_drain_state(
    functions: dict[str, LambdaFunction], interpreter: str, log_dir: Path, test_ca: CertificateAuthority
) -> None:
    kvs = FakeKeyValueStore(ACCOUNT)
    arn = kvs.create_store({})
    function = functions["handlers.infra.edge_health.handler"]
    secret_name, header = (
        function.environment["ORIGIN_SECRET_ARN"],
        function.environment["ORIGIN_SECRET_HEADER"],
    )
    assert isinstance(secret_name, str) and isinstance(header, str), function.environment
    manager = FakeSecretsManager(ACCOUNT)
    manager.create_secret(function.region, secret_name, json.dumps({"HEADERVALUE": ORIGIN_SECRET_VALUE}))

    def kvs_answer(region: str, request: Any) -> Any:
        segments = urlsplit(request.url).path.split("/")
        name = KVS_ROUTES.get((request.method or "", len(segments) - 3), "Unknown")
        return kvs._on_send(request, event_name=f"before-send.cloudfront-keyvaluestore.{name}")

    front = AwsFront(f"{ACCOUNT}.cloudfront-kvs.global.api.aws", kvs_answer)
    secrets_front = AwsFront("secretsmanager.{region}.amazonaws.com", manager.answer)
    handler = type("Health", (_Health,), {"header": header})
    health = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(test_ca.cert_file, test_ca.key_file)
    health.socket = tls.wrap_socket(health.socket, server_side=True)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    url = f"https://localhost:{health.server_address[1]}/prod/health"  # API Gateway answers over TLS
    targets = [{"region": region, "health_url": url} for region in ("us-east-1", "us-east-2")]
    env = resolved(function, {"KVS_ARN": arn, "REGIONS": json.dumps(targets)})
    env |= {"PROBE_INTERVAL_SECONDS": "0"}
    process = LambdaProcess(
        function,
        interpreter,
        environment=env,
        extra={
            # KeyValueStore's endpoint rules put the account id in front of the host: a proxy takes it.
            "AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE": "http://kvs.lambda-check.invalid",
            "HTTP_PROXY": front.url,
            "NO_PROXY": "127.0.0.1",  # the Secrets Manager front is reached directly
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_front.url,
            "ECOMMERCE_TRUST_FILE": str(test_ca.ca_file),
        },
        log=log_dir / "health.log",
    )
    try:
        answer = process.invoke(
            {
                "version": "0",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "region": REGION,
                "resources": [],
                "detail": {},
            }
        )
    finally:
        process.close()
        front.close()
        secrets_front.close()
        health.shutdown()
    assert not front.errors and not secrets_front.errors, (front.errors, secrets_front.errors)
    assert answer.ok, json.dumps(answer.error, indent=1)[-4000:]
    assert not answer.writes_refused and not answer.host_reads, answer
    # Per cold start: the current value, and the previous one (a rotation's other valid value).
    assert [name for name, _ in manager.calls] in (["GetSecretValue"], ["GetSecretValue"] * 2), manager.calls
    assert "ListKeys" in kvs.operations(), kvs.operations()  # it read the drain state
    reports = {r["region"]: r for r in answer.result["regions"]}
    assert {r["outcome"] for r in reports.values()} == {"pass"}, answer.result


# --------------------------------------------------------------------------- the arm64 bundle is the same
NATIVE = ("psycopg_binary", "pydantic_core", "awscrt", "_awscrt", "wrapt", "psycopg_binary.libs")
#: ELF e_machine of each architecture's shared objects (System V ABI: EM_X86_64, EM_AARCH64).
ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def _is_native(relative: str, path: Path) -> bool:
    top = relative.split("/", 1)[0]
    return top.split("-", 1)[0] in NATIVE or top.startswith(NATIVE) or ".so" in path.suffixes


def _portable_files(asset: Path) -> dict[str, str]:
    """Every file a wheel of any platform ships alike, with its SHA-256 (a .pyc: its header)."""
    files = {}
    for path in asset.rglob("*"):
        relative = path.relative_to(asset).as_posix()
        if not path.is_file() or _is_native(relative, path):
            continue
        if relative.endswith(".dist-info/WHEEL") or relative.endswith(".dist-info/RECORD"):
            continue
        content = path.read_bytes()
        # Bytecode: marshal's output depends on reference counts, so two compiles of one source can
        # differ; the header (magic, flags, the source's hash: PEP 552) says which source it is.
        files[relative] = content[:16].hex() if path.suffix == ".pyc" else hashlib.sha256(content).hexdigest()
    return files


def _elf_machines(asset: Path) -> dict[str, int]:
    machines = {}
    for path in asset.rglob("*.so*"):
        if path.is_file():
            head = path.read_bytes()[:20]
            if head[:4] == b"\x7fELF":
                machines[path.relative_to(asset).as_posix()] = int.from_bytes(head[18:20], "little")
    return machines


def test_the_arm64_bundles_hold_the_same_files_apart_from_native_wheels(
    functions: dict[str, LambdaFunction], cdk_out: Path
) -> None:
    """Lambda runs arm64; this check ran the x86_64 build of the same bundles. Every portable file
    is byte for byte the same, and every shared object of the arm64 bundle is built for arm64."""
    stacks = [p.name.removesuffix(".template.json") for p in sorted(cdk_out.glob("*.template.json"))]
    arm = {f.handler: f for stack in stacks for f in functions_in(cdk_out, stack)}
    assert set(arm) == set(functions)
    for handler, function in functions.items():
        assert arm[handler].architecture == "arm64"
        ours, theirs = _portable_files(function.asset), _portable_files(arm[handler].asset)
        differ = sorted(name for name in ours.keys() & theirs.keys() if ours[name] != theirs[name])
        assert ours.keys() == theirs.keys() and not differ, {
            "only here": sorted(ours.keys() - theirs.keys())[:10],
            "only arm64": sorted(theirs.keys() - ours.keys())[:10],
            "different content": differ[:10],
        }
        machines = _elf_machines(arm[handler].asset)
        assert machines, f"{handler}: no shared objects in the arm64 bundle (psycopg-binary has some)"
        wrong = {name: m for name, m in machines.items() if m != ELF_MACHINE["arm64"]}
        assert not wrong, f"{handler}: not arm64 code in the arm64 bundle: {wrong}"
        here = _elf_machines(function.asset)
        assert {m for m in here.values()} == {ELF_MACHINE[ARCHITECTURE]}, here
