"""``Custom::DatabaseSetup`` under CloudFormation's protocol (tests/fakes/cloudformation.py), for real on
the embedded engine with the DSQL guard: index builds waited for by polls, DDL conflicts retried,
rollbacks converging, a failed first deploy and its redeploy, every request delivered twice."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.guarded import GuardedCursor, guarded_connector
from fakes.cloudformation import FakeCloudFormation, Lookup, Provider, Resource, Trip
from handlers.db import migrate
from handlers.db.errors import IndexBuildError
from handlers.db.migrate import PendingIndex, StatementRunner, finish_migrations, start_migrations
from handlers.db.roles import function_roles, setup_roles
from handlers.infra import database_setup

REGION = "us-east-2"
STACK = "shop-us-east-2"
CATALOG = "arn:aws:iam::123456789012:role/shop-Catalog"
ORDERS = "arn:aws:iam::123456789012:role/shop-Orders"
RECORDED = "SELECT count(*) FROM schema_migrations WHERE version = '0001'"
PROVIDER = Provider(database_setup.on_event, database_setup.is_complete, max_polls=20)


@pytest.fixture
def setup_dsn(monkeypatch: pytest.MonkeyPatch, fresh_dsn: str) -> str:
    """The Lambda's admin connector, pointed at the embedded engine (guard on) instead of DSQL."""
    monkeypatch.setattr(
        database_setup, "connector_factory", lambda endpoint, region: guarded_connector(endpoint)
    )
    return fresh_dsn


def setup_resource(dsn: str, orders: str = ORDERS, schema: str | None = None) -> Resource:
    def properties(lookup: Lookup) -> dict[str, Any]:
        return {
            "Endpoint": dsn,
            "Region": REGION,
            "FunctionRoleArns": {"catalog": [CATALOG], "orders": [orders]},
            "RolePrefix": "ecommerce",
            "Fingerprint": "f1",
            **({"SchemaVersion": schema} if schema else {}),
        }

    return Resource("DatabaseSetup", "Custom::DatabaseSetup", PROVIDER, properties)


def mappings(local_engine: LocalEngine, dsn: str) -> list[tuple[str, str]]:
    return sorted(local_engine.iam_role_mappings(dsn))


@pytest.fixture(params=["once", "twice"])
def cloud(request: pytest.FixtureRequest) -> FakeCloudFormation:
    return FakeCloudFormation(deliver_twice=request.param == "twice")


def test_a_failed_first_deploy_leaves_the_schema_and_the_redeploy_converges(
    setup_dsn: str, local_engine: LocalEngine, cloud: FakeCloudFormation
) -> None:
    failed = cloud.deploy(STACK, REGION, [setup_resource(setup_dsn), Trip()])
    assert failed.status == "ROLLBACK_COMPLETE"  # the setup's Delete leaves schema and data
    again = cloud.deploy(STACK, REGION, [setup_resource(setup_dsn)])
    assert again.status == "CREATE_COMPLETE", again.reason
    assert again.resources["DatabaseSetup"].data["RoleStatements"] == "0"  # nothing left to do
    assert mappings(local_engine, setup_dsn) == [("ecommerce_catalog", CATALOG), ("ecommerce_orders", ORDERS)]


def test_a_rolled_back_update_restores_the_old_mapping(
    setup_dsn: str, local_engine: LocalEngine, cloud: FakeCloudFormation
) -> None:
    cloud.deploy(STACK, REGION, [setup_resource(setup_dsn)])
    replaced = "arn:aws:iam::123456789012:role/shop-Orders-NEW"
    result = cloud.deploy(STACK, REGION, [setup_resource(setup_dsn, orders=replaced), Trip()])
    assert result.status == "UPDATE_ROLLBACK_COMPLETE", result.reason
    assert mappings(local_engine, setup_dsn) == [("ecommerce_catalog", CATALOG), ("ecommerce_orders", ORDERS)]


def test_index_builds_are_waited_for_by_polls_and_recorded_when_valid(setup_dsn: str, tmp_path: Path) -> None:
    """A build DSQL still reports as processing keeps its migration unrecorded; the poll that sees
    it completed records it. (The guard builds synchronously, so the job is DSQL's as reported.)"""
    connect = guarded_connector(setup_dsn)
    (tmp_path / "0001_t.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t (id integer PRIMARY KEY, x integer);\n"
        "CREATE INDEX ASYNC IF NOT EXISTS t_x ON t (x);\n"
    )
    started = start_migrations(connect, migrations=tmp_path)
    assert started.result.applied == ("0001",) and started.pending == ()  # built at once here
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = '0001'")
        conn.execute(
            "INSERT INTO sys.jobs (job_id, status, job_type, object_name, table_name)"
            " VALUES ('slow0000000000000000000000', 'processing', 'INDEX_BUILD', 't_x', 't')"
        )
    building = (PendingIndex("0001", "t_x", "slow0000000000000000000000"),)
    assert finish_migrations(connect, building, migrations=tmp_path) == building
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations WHERE version = '0001'").fetchone() == (
            0,
        )
        conn.execute("UPDATE sys.jobs SET status = 'completed' WHERE job_id = 'slow0000000000000000000000'")
    assert finish_migrations(connect, building, migrations=tmp_path) == ()
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations WHERE version = '0001'").fetchone() == (
            1,
        )


def test_the_setup_resource_polls_until_pending_builds_finish(
    setup_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls: list[int] = []

    def finish(connect: Any, pending: Any, **_: Any) -> tuple[PendingIndex, ...]:
        polls.append(len(pending))
        return tuple(pending) if len(polls) < 3 else ()

    building = [PendingIndex("0009", "big_idx", "job").as_dict()]
    monkeypatch.setattr(database_setup, "finish_migrations", finish)
    event = {
        "RequestType": "Create",
        "ResourceProperties": {
            "Endpoint": setup_dsn,
            "Region": REGION,
            "FunctionRoleArns": {"catalog": [CATALOG], "orders": [ORDERS]},
        },
        "PendingIndexes": building,
        "StartedAt": time.time(),
    }
    answers = [database_setup.is_complete(event) for _ in range(3)]
    assert [a["IsComplete"] for a in answers] == [False, False, True]
    assert int(answers[-1]["Data"]["RoleStatements"]) > 0  # the roles come once nothing is pending


def test_ddl_conflicts_in_role_setup_are_retried(
    local_engine: LocalEngine, fresh_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CREATE ROLE, GRANT and AWS IAM GRANT are DDL: DSQL can answer 40001 (OC001, the schema changed
    under them) or XX000. The setup retries them as the migration runner does."""
    from handlers.db.migrate import apply_migrations

    apply_migrations(guarded_connector(fresh_dsn), poll_interval=0.01)
    failures = {
        "CREATE ROLE": psycopg.errors.SerializationFailure,
        "AWS IAM GRANT": psycopg.errors.InternalError_,  # XX000, "server unavailable"
    }
    original = GuardedCursor.execute

    def flaky(self: GuardedCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query if isinstance(query, str) else query.as_string(self.connection)
        for statement, error in list(failures.items()):
            if text.startswith(statement):
                del failures[statement]  # once each
                raise error(f"change conflicts with another transaction, please retry: (OC001) [{statement}]")
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(GuardedCursor, "execute", flaky)
    prefix = f"retry_{secrets.token_hex(4)}"  # roles are server-wide: one no other test made
    roles = function_roles({"catalog": [CATALOG]}, prefix=prefix)
    report = setup_roles(guarded_connector(fresh_dsn), roles, log=lambda m: None, sleep=lambda s: None)
    assert not failures, "both faults were injected"
    assert any(s.startswith("CREATE ROLE") for s in report.executed)
    assert mappings(local_engine, fresh_dsn) == [(f"{prefix}_catalog", CATALOG)]


def _two_migrations(directory: Path) -> Path:
    (directory / "0001_t.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t (id integer PRIMARY KEY, x integer);\n"
        "CREATE INDEX ASYNC IF NOT EXISTS t_x ON t (x);\n"
    )
    (directory / "0002_u.sql").write_text("CREATE TABLE IF NOT EXISTS u (id integer PRIMARY KEY);\n")
    return directory


def test_a_migration_waits_for_the_previous_ones_index_builds(
    setup_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0002 may rely on 0001's index (an ON CONFLICT on a new unique index): it runs only once the
    build is valid, and versions are recorded in order."""
    building = {"t_x"}
    real = StatementRunner.index_state
    monkeypatch.setattr(
        StatementRunner,
        "index_state",
        lambda self, name, job_id: "building" if name in building else real(self, name, job_id),
    )
    connect = guarded_connector(setup_dsn)
    migrations = _two_migrations(tmp_path)
    started = start_migrations(connect, migrations=migrations)
    assert [p.name for p in started.pending] == ["t_x"] and started.result.applied == ()
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('u')").fetchone() == (None,)  # 0002 not run yet
    building.clear()
    assert finish_migrations(connect, started.pending, migrations=migrations) == ()
    assert start_migrations(connect, migrations=migrations).result.applied == ("0002",)
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        versions = conn.execute(
            "SELECT version FROM schema_migrations ORDER BY applied_at, version"
        ).fetchall()
    assert [v for (v,) in versions] == ["0001", "0002"]


def test_up_to_applies_no_newer_migration(setup_dsn: str, tmp_path: Path) -> None:
    started = start_migrations(
        guarded_connector(setup_dsn), migrations=_two_migrations(tmp_path), up_to="0001"
    )
    assert started.result.applied == ("0001",)


def test_an_invalid_index_left_by_a_failed_build_fails_at_once_and_is_dropped(
    setup_dsn: str, tmp_path: Path
) -> None:
    """A failed build leaves an invalid index; CREATE INDEX ASYNC IF NOT EXISTS then skips it, so
    without a look at it every retry (and every rollback) would wait for a build that never runs."""
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE v (id integer PRIMARY KEY, x integer)")
        conn.execute("INSERT INTO v VALUES (1, 7), (2, 7)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY v_x ON v (x)")  # leaves v_x invalid
        conn.execute(
            "INSERT INTO sys.jobs (job_id, status, job_type, object_name, table_name, details)"
            " VALUES ('fail0000000000000000000000', 'failed', 'INDEX_BUILD', 'v_x', 'v', 'duplicate key')"
        )
    (tmp_path / "0001_v.sql").write_text("CREATE UNIQUE INDEX ASYNC IF NOT EXISTS v_x ON v (x);\n")
    with pytest.raises(IndexBuildError, match="invalid index was dropped"):
        start_migrations(guarded_connector(setup_dsn), migrations=tmp_path)
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('v_x')").fetchone() == (None,)


def test_a_failed_index_build_rolls_back_without_applying_it_again(
    setup_dsn: str, local_engine: LocalEngine, cloud: FakeCloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new migration whose build fails fails the update; the rollback Update runs the same (new)
    code, because CloudFormation rolls the custom resource back before the function. It asks for
    the previous SchemaVersion, so it applies nothing new and the stack rolls back cleanly."""
    real = migrate.load_migrations
    shipped = real()
    bad = migrate.Migration.from_text(
        "0999_bad.sql",
        "CREATE TABLE IF NOT EXISTS bad (id integer PRIMARY KEY, x integer);\n"
        "INSERT INTO bad VALUES (1, 1), (2, 1) ON CONFLICT DO NOTHING;\n"
        "CREATE UNIQUE INDEX ASYNC IF NOT EXISTS bad_x ON bad (x);\n",
    )
    monkeypatch.setattr(
        migrate, "load_migrations", lambda source=None: [*shipped, bad] if source is None else real(source)
    )
    latest = shipped[-1].version
    assert cloud.deploy(STACK, REGION, [setup_resource(setup_dsn, schema=latest)]).status == "CREATE_COMPLETE"
    result = cloud.deploy(STACK, REGION, [setup_resource(setup_dsn, schema="0999")])
    assert result.status == "UPDATE_ROLLBACK_COMPLETE", (result.status, result.reason)
    assert "bad_x" in (result.reason or "")
    with psycopg.connect(setup_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations WHERE version = '0999'").fetchone() == (
            0,
        )
    assert mappings(local_engine, setup_dsn) == [("ecommerce_catalog", CATALOG), ("ecommerce_orders", ORDERS)]
