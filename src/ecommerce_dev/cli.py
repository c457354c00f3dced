"""``ecommerce dev`` and ``ecommerce seed``: the laptop runtime's commands.

Development-only (not in the wheel): the ``ecommerce`` command (``ecommerce_ops.cli``) lists them
when this package is importable, as it is in the repository's virtualenv.
"""

from __future__ import annotations

from pathlib import Path

import click

from ecommerce_ops._database import connector, database_errors_reported, target_options

# ---- local runtime ---------------------------------------------------------------------------------


@click.group("dev", invoke_without_command=True)
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


@dev.command("prune")
@click.option(
    "--dsn",
    required=True,
    envvar="ECOMMERCE_LOCAL_DSN",
    help="The local database (the dev server's banner prints it). Env: ECOMMERCE_LOCAL_DSN.",
)
@click.option("--batch-size", type=click.IntRange(1, 2000), default=500, show_default=True,
              help="Rows per transaction (DSQL allows 3,000 modified rows).")  # fmt: skip
@click.option("--budget", type=click.FloatRange(min=1), default=60.0, show_default=True, help="Seconds.")
def dev_prune(dsn: str, batch_size: int, budget: float) -> None:
    """Run the scheduled pruning job once: expired idempotency records (and old outbox rows) go, in
    transactions of at most --batch-size rows, through the DSQL guard."""
    from ecommerce_dev.guarded import guarded_connector
    from ecommerce_dev.prune import format_report, run_prune

    with database_errors_reported():
        report = run_prune(
            guarded_connector(dsn, application_name="ecommerce-prune"),
            batch_size=batch_size,
            budget_seconds=budget,
        )
    for line in format_report(report):
        click.echo(line)


@click.command("seed")
@target_options
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
    dsn: str | None, guard: bool | None, endpoint: str | None, region: str | None, products: int
) -> None:
    """Load the sample data (3 customers, 5 products; fixed ids, idempotent) and, with --products N,
    a large generated catalog."""
    from handlers.db.migrate import sample_data_statements

    with database_errors_reported():
        connect = connector(dsn=dsn, guard=guard, endpoint=endpoint, region=region)
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


#: What ``ecommerce_ops.cli`` adds to ``ecommerce`` when this package is installed.
COMMANDS: dict[str, click.Command] = {"dev": dev, "seed": seed_command}
