"""What the database commands share: the target options, the connection factory, error reporting.

The handler code they run is importable because ``ecommerce_ops`` loads it by path on import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import click

Connect = Callable[[], Any]


def target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--dsn",
            help="PostgreSQL conninfo (the local engine, or any PostgreSQL). Env: ECOMMERCE_LOCAL_DSN.",
            envvar="ECOMMERCE_LOCAL_DSN",
        ),
        click.option(
            "--guard/--no-guard",
            default=True,
            show_default=True,
            help="With --dsn: connect through the DSQL guard (rejects what DSQL would).",
        ),
        click.option(
            "--endpoint",
            help="Aurora DSQL cluster endpoint (admin IAM token). Env: DSQL_ENDPOINT.",
            envvar="DSQL_ENDPOINT",
        ),
        click.option(
            "--region",
            help="Region of --endpoint [default: from the endpoint]. Env: DSQL_REGION.",
            envvar="DSQL_REGION",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def connector(*, dsn: str | None, guard: bool, endpoint: str | None, region: str | None) -> Connect:
    """A connection factory for the chosen target: --dsn (guarded by default) or DSQL as ``admin``."""
    from handlers.contract import region_of_endpoint
    from handlers.db import make_connector
    from handlers.settings import Settings

    if bool(dsn) == bool(endpoint):
        raise click.UsageError("give exactly one target: --dsn DSN, or --endpoint HOST [--region R]")
    if dsn:
        if guard:
            try:
                from ecommerce_dev.guarded import guarded_connector
            except ImportError:
                raise click.UsageError(
                    "the DSQL guard belongs to the development checkout (make dev), not the "
                    "installed tools: add --no-guard to target this PostgreSQL directly"
                ) from None
            return guarded_connector(dsn, application_name="ecommerce-migrate")
        import psycopg

        return lambda: psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    region = region or region_of_endpoint(endpoint)
    if not region:
        raise click.UsageError(
            "--region is required when the endpoint does not name it (ID.dsql.REGION.on.aws)"
        )
    # DDL needs the admin role: DbConnectAdmin tokens (dsql:DbConnectAdmin permission). Through the
    # functions' settings model, so ECOMMERCE_TRUST_FILE applies here as there.
    return make_connector(Settings.from_env().database(endpoint=endpoint, region=region, admin=True))


@contextlib.contextmanager
def database_errors_reported() -> Iterator[None]:
    """Turn credential, connection and migration failures into one clear line and exit status 1."""
    import psycopg

    from handlers.db import ConfigurationError, DataLayerError

    try:
        yield
    except (ConfigurationError, DataLayerError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    except psycopg.OperationalError as exc:
        hint = ""
        text = str(exc).lower()
        if "password" in text or "access denied" in text or "token" in text or "authentication" in text:
            hint = " (check that your AWS identity has dsql:DbConnectAdmin on this cluster, and --region)"
        raise click.ClickException(f"cannot connect: {str(exc).strip()}{hint}") from None
    except psycopg.Error as exc:
        raise click.ClickException(f"database error: {str(exc).strip()}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("botocore"):
            raise click.ClickException(
                f"AWS credentials: {exc}; configure credentials (aws configure, AWS_PROFILE or environment "
                "variables) for an identity allowed dsql:DbConnectAdmin"
            ) from None
        raise
