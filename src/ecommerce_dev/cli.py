"""The ``ecommerce`` command line. Commands import their heavy modules lazily."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click


class _Group(click.Group):
    """Configuration errors are already phrased for people: print the message alone, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from ecommerce_constructs.config import ConfigError

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(1)


@click.group(cls=_Group)
def main() -> None:
    """Developer tools for the e-commerce backend on Aurora DSQL."""


@main.command("config")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file [default: $ECOMMERCE_CONFIG, else config/regions.yaml].",
)
def config_command(path: Path | None) -> None:
    """Validate the deployment configuration and print it with every default filled in."""
    import json

    from ecommerce_constructs.config import load_config

    config = load_config(path)
    click.echo(json.dumps(config.model_dump(mode="json", by_alias=True), indent=2))


@main.command("dsql-lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def dsql_lint(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Report Aurora DSQL violations in SQL FILES (directories: every *.sql below).

    Output: FILE:LINE: RULE: MESSAGE. Exit status 0 clean, 1 violations, 2 unreadable file or
    syntax error. Statements outside BEGIN ... COMMIT are checked as autocommit statements.
    """
    from ecommerce_dev.lint import lint_paths

    report = lint_paths(files)
    for finding in report.findings:
        click.echo(str(finding))
    problems = [f for f in report.findings if not f.warning]
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
    ctx.exit(report.exit_code)


# ---- local runtime ---------------------------------------------------------------------------------


@main.group("dev", invoke_without_command=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".local"),
    envvar="ECOMMERCE_DATA_DIR",
    show_default=True,
    help="Where the database lives (kept across restarts). Env: ECOMMERCE_DATA_DIR.",
)
@click.option(
    "--port",
    type=int,
    default=8080,
    envvar="ECOMMERCE_DEV_PORT",
    show_default=True,
    help="Port of the first region (us-east-1). Env: ECOMMERCE_DEV_PORT.",
)
@click.option(
    "--second-port",
    type=int,
    default=None,
    envvar="ECOMMERCE_DEV_SECOND_PORT",
    help="Port of the second region (us-east-2) [default: --port + 1]. Env: ECOMMERCE_DEV_SECOND_PORT.",
)
@click.option(
    "--edge-port",
    type=int,
    default=8090,
    envvar="ECOMMERCE_DEV_EDGE_PORT",
    show_default=True,
    help="Port of the local edge (CloudFront's router between the regions; needs Node.js). "
    "Env: ECOMMERCE_DEV_EDGE_PORT.",
)
@click.option("--no-edge", is_flag=True, help="Run without the local edge.")
@click.option(
    "--checker-interval",
    type=click.FloatRange(min=0),
    default=5.0,
    envvar="ECOMMERCE_DEV_CHECKER_INTERVAL",
    show_default=True,
    metavar="SECONDS",
    help="Seconds between runs of the local edge health checker (drains a region after 2 failing "
    "runs, restores it after 3 healthy ones); 0 turns it off. Env: ECOMMERCE_DEV_CHECKER_INTERVAL.",
)
@click.option(
    "--sample-data/--no-sample-data", default=True, show_default=True, help="Load the sample data on start."
)
@click.option("--reset", is_flag=True, help="Wipe the data dir, then start.")
@click.option("--reset-only", is_flag=True, help="Wipe the data dir and exit (make dev-reset).")
@click.option("--fast", is_flag=True, hidden=True, help="fsync off: for tests, not for data you keep.")
@click.pass_context
def dev(
    ctx: click.Context,
    data_dir: Path,
    port: int,
    second_port: int | None,
    edge_port: int,
    no_edge: bool,
    checker_interval: float,
    sample_data: bool,
    reset: bool,
    reset_only: bool,
    fast: bool,
) -> None:
    """Run the shop locally: embedded PostgreSQL with the DSQL guard, migrations, sample data, the
    API of two simulated regions (us-east-1, us-east-2) on 127.0.0.1, both on the one database, and
    a local edge in front of them (CloudFront's router, run in Node).

    Routes other than catalog reads need a token: see `ecommerce dev token --help`."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = data_dir
        return
    from ecommerce_dev import devserver

    try:
        if reset or reset_only:
            removed = devserver.reset(data_dir)
            click.echo(
                f"wiped {', '.join(map(str, removed))}" if removed else f"nothing to wipe in {data_dir}"
            )
            if reset_only:
                return
        options = devserver.DevOptions(
            data_dir=data_dir,
            ports=(port, port + 1 if second_port is None else second_port),
            sample_data=sample_data,
            durable=not fast,
            edge_port=None if no_edge else edge_port,
            checker_interval=checker_interval,
        )
        code = devserver.run(options, echo=lambda line: click.echo(line))
    except devserver.DevError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(code)


def _events_command() -> click.Command:
    from ecommerce_dev.events_command import events_command

    return events_command


dev.add_command(_events_command())

OPERATOR_EMAIL = "operator@example.com"


@dev.command("token")
@click.option("--customer", "email", metavar="EMAIL", help="Sign in as the customer with this email.")
@click.option(
    "--operator", is_flag=True, help=f"Sign in as an operator ({OPERATOR_EMAIL}, the operators' user pool)."
)
@click.option(
    "--unverified-email",
    is_flag=True,
    help="With --customer: a token whose email the pool has not verified (POST /customers refuses it).",
)
@click.option(
    "--minutes", type=click.IntRange(1, 1440), default=60, show_default=True, help="Lifetime of the token."
)
@click.option(
    "--data-dir",
    "own_data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The dev server's data dir [default: that of `ecommerce dev`, .local].",
)
@click.pass_obj
def dev_token(
    data_dir: Path,
    email: str | None,
    operator: bool,
    unverified_email: bool,
    minutes: int,
    own_data_dir: Path | None,
) -> None:
    """Print an ID token for the local API, as its last word: use it as `Authorization: Bearer TOKEN`.

    The same email is always the same identity; a sample customer's email is that customer (for
    example john.doe@example.com), any other is a new identity that creates its profile with
    POST /customers. Tokens are signed with the dev server's key in DATA_DIR/identity/ (the
    `ecommerce dev --data-dir`), checked like API Gateway's Cognito authorizer checks them.
    --operator signs in to the operators' pool (deployed, MFA is required there): the handlers
    know operators by that pool, not by a group. --unverified-email models a customer whose
    email the pool has not verified: POST /customers answers 403.

        TOKEN=$(ecommerce dev token --customer john.doe@example.com)
    """
    from ecommerce_dev.identity import LocalIdentity, subject_for

    data_dir = own_data_dir or data_dir
    if operator == (email is not None):
        raise click.UsageError("give either --customer EMAIL or --operator")
    if unverified_email and operator:
        raise click.UsageError("--unverified-email goes with --customer EMAIL")
    email = OPERATOR_EMAIL if operator else str(email).strip()
    if "@" not in email:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="--customer")
    identity = LocalIdentity.open(data_dir.expanduser().resolve())
    token = identity.issue(
        email=email, operator=operator, email_verified=not unverified_email, lifetime=minutes * 60
    )
    role = "operator" if operator else "customer" + (" (email not verified)" if unverified_email else "")
    click.echo(
        f"# {role} {email} (sub {subject_for(email, operator=operator)}), valid {minutes} min; "
        'use as: -H "Authorization: Bearer $TOKEN"',
        err=True,
    )
    click.echo(token)


# ---- schema and data ---------------------------------------------------------------------------


def _target_options(command: Callable[..., Any]) -> Callable[..., Any]:
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


@main.command("migrate")
@_target_options
@click.option("--sample-data", is_flag=True, help="Also load the sample data (idempotent).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="FUNCTION=IAM_ROLE_ARN",
    help="Also give FUNCTION (catalog, orders) its database role, mapped to this IAM role (what the "
    "deploy-time setup does; for clusters set up by hand). Repeatable.",
)
def migrate_command(
    dsn: str | None,
    guard: bool,
    endpoint: str | None,
    region: str | None,
    sample_data: bool,
    roles: tuple[str, ...],
) -> None:
    """Apply pending schema migrations to --dsn or to a DSQL cluster (--endpoint, as admin)."""
    from handlers.db.migrate import apply_migrations
    from handlers.db.roles import function_roles, setup_roles

    arns: dict[str, list[str]] = {}
    for item in roles:
        function, _, arn = item.partition("=")
        arns.setdefault(function, []).append(arn)
    with _database_errors_reported():
        connect = _connector(dsn=dsn, guard=guard, endpoint=endpoint, region=region)
        result = apply_migrations(connect, include_sample_data=sample_data, poll_interval=0.2, log=click.echo)
        if arns:
            try:
                setup_roles(connect, function_roles(arns), log=click.echo)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
    loaded = ", sample data loaded" if result.sample_data_loaded else ""
    click.echo(f"applied {list(result.applied) or 'nothing'}, already applied {len(result.skipped)}{loaded}")


@main.command("seed")
@_target_options
@click.option(
    "--products",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Also load N generated products (deterministic ids; resumable). COPY into --dsn with "
    "--no-guard; otherwise batches of at most 1,000 rows per transaction (DSQL allows 3,000).",
)
def seed_command(
    dsn: str | None, guard: bool, endpoint: str | None, region: str | None, products: int
) -> None:
    """Load the sample data (3 customers, 5 products; fixed ids, idempotent) and, with --products N,
    a large generated catalog."""
    from handlers.db.migrate import sample_data_statements

    with _database_errors_reported():
        connect = _connector(dsn=dsn, guard=guard, endpoint=endpoint, region=region)
        statements = sample_data_statements()
        with connect() as conn:
            conn.autocommit = True
            for statement in statements:
                conn.execute(statement)
        click.echo(f"sample data loaded ({len(statements)} statements, existing rows kept)")
        if products:
            from ecommerce_dev.catalog_seed import seed_products

            def progress(done: int, total: int) -> None:
                click.echo(f"\r{done:,}/{total:,} products", nl=False, err=True)

            result = seed_products(connect, products, progress=progress)
            click.echo("", err=True)
            click.echo(
                f"{result.loaded:,} products loaded ({result.present_before:,} already there, "
                f"{result.method}, {result.seconds:.1f} s)"
            )


@main.command("stock-buckets")
@_target_options
@click.argument("product_id", type=click.UUID)
@click.argument("count", type=click.IntRange(min=1, max=16), required=False)
def stock_buckets_command(
    dsn: str | None, guard: bool, endpoint: str | None, region: str | None, product_id: Any, count: int | None
) -> None:
    """Show PRODUCT_ID's stock buckets, or spread its stock over COUNT (1-16) while the shop runs.

    A hot product sells faster with more buckets: concurrent orders then rarely update the same row
    (docs/data-layer.md, "Stock buckets"). The change is one transaction that conflicts with any
    order taking a unit meanwhile (one of them retries), so no unit is lost or invented. 1 puts the
    stock back on the product's row. The same as PATCH /products/{id} {"stock_buckets": COUNT}."""
    from handlers.db import Database
    from handlers.shop.domain import ProductChanges
    from handlers.shop.repository import ShopRepository

    with _database_errors_reported():
        connect = _connector(dsn=dsn, guard=guard, endpoint=endpoint, region=region)
        repository = ShopRepository(Database(connector=connect))
        try:
            if count is None:
                product = repository.get_product(product_id)
            else:
                product = repository.update_product(product_id, ProductChanges(stock_buckets=count))
        except Exception as exc:
            from handlers.shop.domain import ShopError

            if isinstance(exc, ShopError):
                raise click.ClickException(exc.detail) from None
            raise
        finally:
            repository.db.close()
    click.echo(
        f"{product.product_id}: {product.stock_quantity} units in {product.stock_buckets} "
        f"bucket{'s' if product.stock_buckets != 1 else ''}"
    )


Connect = Callable[[], Any]


def _connector(*, dsn: str | None, guard: bool, endpoint: str | None, region: str | None) -> Connect:
    """A connection factory for the chosen target: --dsn (guarded by default) or DSQL as ``admin``."""
    from handlers.contract import region_of_endpoint
    from handlers.db import make_connector
    from handlers.settings import Settings

    if bool(dsn) == bool(endpoint):
        raise click.UsageError("give exactly one target: --dsn DSN, or --endpoint HOST [--region R]")
    if dsn:
        if guard:
            from ecommerce_dev.guarded import guarded_connector

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
def _database_errors_reported() -> Iterator[None]:
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


# ---- smoke test --------------------------------------------------------------------------------


@main.command("smoke")
@click.option(
    "--base-url",
    envvar="ECOMMERCE_BASE_URL",
    help="API base: http://127.0.0.1:8080, https://ID.execute-api.REGION.amazonaws.com/prod or https://CLOUDFRONT_DOMAIN.",
)
@click.option(
    "--second-url", help="Another region's base URL: an order placed via --base-url must be visible there."
)
@click.option(
    "--deployed",
    is_flag=True,
    help="Take both URLs from the configured app's stack outputs (AWS credentials needed).",
)
@click.option(
    "--token",
    envvar="ECOMMERCE_TOKEN",
    help="A customer's ID token (locally: $(ecommerce dev token --customer EMAIL)). Env: ECOMMERCE_TOKEN.",
)
@click.option(
    "--operator-token",
    envvar="ECOMMERCE_OPERATOR_TOKEN",
    help="An operator's ID token: also create and retire a product. Env: ECOMMERCE_OPERATOR_TOKEN.",
)
@click.option(
    "--username", help="With --deployed: sign this customer in to the user pool instead of --token."
)
@click.option(
    "--password-env", metavar="VAR", default="ECOMMERCE_PASSWORD", show_default=True,
    help="Environment variable holding --username's password (never a command-line argument).",
)  # fmt: skip
@click.option(
    "--operator-username", help="With --deployed: sign this operator in instead of --operator-token."
)
@click.option(
    "--operator-password-env", metavar="VAR", default="ECOMMERCE_OPERATOR_PASSWORD", show_default=True,
    help="Environment variable holding --operator-username's password.",
)  # fmt: skip
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per request.")
def smoke_command(
    base_url: str | None,
    second_url: str | None,
    deployed: bool,
    token: str | None,
    operator_token: str | None,
    username: str | None,
    password_env: str,
    operator_username: str | None,
    operator_password_env: str,
    timeout: float,
) -> None:
    """Run the shop's flow against a deployment, as an anonymous visitor, a customer (--token or
    --username) and optionally an operator; report each step, exit 1 on any failure."""
    from ecommerce_dev.smoke import run_smoke

    if deployed == bool(base_url):
        raise click.UsageError("give --base-url URL, or --deployed to read the URLs from the stacks")
    if (username or operator_username) and not deployed:
        raise click.UsageError("--username/--operator-username sign in to the deployed pool: add --deployed")
    if deployed:
        deployment = _deployment()
        base_url = deployment.public_url()
        config = deployment.config
        if second_url is None and config.multi_region:
            second_url = deployment.api_url(next(r for r in config.regions if r != config.primary))
        if username:
            token = _sign_in(deployment, username, password_env)
        if operator_username:
            operator_token = _sign_in(deployment, operator_username, operator_password_env)
    second_headers: dict[str, str] = {}
    if deployed and second_url is not None:
        # The second region is reached directly (the edge picks the nearest one itself), past
        # its web ACL with the edge's own header.
        second_headers = deployment.origin_headers()
    assert base_url is not None
    ok = run_smoke(
        base_url,
        second_url,
        token=token,
        operator_token=operator_token,
        timeout=timeout,
        echo=click.echo,
        second_headers=second_headers,
    )
    raise SystemExit(0 if ok else 1)


def _sign_in(deployment: Any, username: str, password_env: str) -> str:
    import os

    from ecommerce_dev.signin import SignInError, id_token

    password = os.environ.get(password_env)
    if not password:
        raise click.UsageError(f"set {password_env} to {username}'s password")
    region, pool, client_id = deployment.identity()
    try:
        return id_token(
            region=region, user_pool_id=pool, client_id=client_id, username=username, password=password
        )
    except SignInError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("outputs")
def outputs_command() -> None:
    """Print the outputs of every deployed stack of the configured app (AWS credentials needed)."""
    deployment = _deployment()
    for stack, outputs in deployment.outputs.items():
        for key, value in sorted(outputs.items()):
            click.echo(f"{stack}\t{key}\t{value}")


def _deployment() -> Any:
    from ecommerce_constructs.config import load_config
    from ecommerce_dev.deployment import DeploymentError, read_deployment

    try:
        return read_deployment(load_config())
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from None


# ---- the edge: drain state, origin secret ---------------------------------------------------------


def _edge_group() -> click.Group:
    from ecommerce_dev.edge import edge
    from ecommerce_dev.origin_secret import check_origin_command, rotate_origin_secret_command

    edge.add_command(rotate_origin_secret_command)
    edge.add_command(check_origin_command)
    return edge


main.add_command(_edge_group())


if __name__ == "__main__":
    main()
