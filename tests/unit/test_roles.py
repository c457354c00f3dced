"""The application role: created once, mapped to the functions' IAM roles, granted only what the API uses."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from ecommerce_dev.cli import main
from ecommerce_dev.engine import LocalEngine
from handlers.db.migrate import apply_migrations
from handlers.db.roles import grant_app_role

ARNS = ["arn:aws:iam::123456789012:role/shop-Catalog", "arn:aws:iam::123456789012:role/shop-Orders"]


def test_grant_app_role_is_idempotent_and_least_privilege(local_engine: LocalEngine, fresh_dsn: str) -> None:
    def connect() -> psycopg.Connection:
        return local_engine.connect(dsn=fresh_dsn, autocommit=True)

    apply_migrations(connect, poll_interval=0.01)
    grant_app_role(connect, ARNS)
    grant_app_role(connect, ARNS)  # re-running keeps everything
    assert sorted(local_engine.iam_role_mappings(fresh_dsn)) == sorted(("ecommerce_app", arn) for arn in ARNS)
    with psycopg.connect(fresh_dsn, autocommit=True) as admin:

        def can(privilege: str, table: str) -> bool:
            row = admin.execute(
                "SELECT has_table_privilege('ecommerce_app', %s, %s)", (table, privilege)
            ).fetchone()
            assert row is not None
            return bool(row[0])

        assert can("INSERT", "orders") and can("UPDATE", "products") and can("SELECT", "customers")
        assert not can("DELETE", "orders") and not can("TRUNCATE", "products")
        assert not can("SELECT", "schema_migrations")


def test_bad_arn_is_refused(local_engine: LocalEngine, fresh_dsn: str) -> None:
    with pytest.raises(ValueError, match="not IAM role ARNs"):
        grant_app_role(
            lambda: local_engine.connect(dsn=fresh_dsn, autocommit=True), ["arn:aws:iam::1:user/x"]
        )


def test_migrate_cli_maps_roles(local_engine: LocalEngine, fresh_dsn: str) -> None:
    args = ["migrate", "--dsn", fresh_dsn, *[f"--app-role-arn={arn}" for arn in ARNS]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "AWS IAM GRANT" in result.output
    bad = CliRunner().invoke(main, ["migrate", "--dsn", fresh_dsn, "--app-role-arn", "nope"])
    assert bad.exit_code == 2
