"""The ``ecommerce`` command line. Commands import their heavy modules lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ecommerce_ops._database import connector, database_errors_reported, target_options


def _development_commands() -> dict[str, click.Command]:
    """``dev`` and ``seed`` when the laptop runtime is importable (a development checkout)."""
    try:
        from ecommerce_dev.cli import COMMANDS
    except ImportError:  # an operator's install: the wheel has no laptop runtime
        return {}
    return COMMANDS


class _Group(click.Group):
    """Configuration errors are already phrased for people: print the message alone, exit 1.
    Development commands are looked up lazily, so operators' commands never import them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_development_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or _development_commands().get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        from ecommerce_constructs.config import ConfigError

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(1)


@click.group(cls=_Group)
def main() -> None:
    """Operator tools for the e-commerce backend on Aurora DSQL (and, in a development checkout,
    the laptop runtime: ``ecommerce dev``)."""


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
    from ecommerce_ops.lint import lint_paths

    report = lint_paths(files)
    for finding in report.findings:
        click.echo(str(finding))
    problems = [f for f in report.findings if not f.warning]
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
    ctx.exit(report.exit_code)


# ---- schema and data ---------------------------------------------------------------------------


@main.command("migrate")
@target_options
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
    with database_errors_reported():
        connect = connector(dsn=dsn, guard=guard, endpoint=endpoint, region=region)
        result = apply_migrations(connect, include_sample_data=sample_data, poll_interval=0.2, log=click.echo)
        if arns:
            try:
                setup_roles(connect, function_roles(arns), log=click.echo)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
    loaded = ", sample data loaded" if result.sample_data_loaded else ""
    click.echo(f"applied {list(result.applied) or 'nothing'}, already applied {len(result.skipped)}{loaded}")


@main.command("stock-buckets")
@target_options
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

    with database_errors_reported():
        connect = connector(dsn=dsn, guard=guard, endpoint=endpoint, region=region)
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
@click.option(
    "--operator-totp", metavar="CODE", envvar="ECOMMERCE_OPERATOR_TOTP",
    help="The current code of --operator-username's authenticator app (the operators' pool requires "
    "a second factor). Env: ECOMMERCE_OPERATOR_TOTP.",
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
    operator_totp: str | None,
    timeout: float,
) -> None:
    """Run the shop's flow against a deployment, as an anonymous visitor, a customer (--token or
    --username) and optionally an operator; report each step, exit 1 on any failure."""
    from ecommerce_ops.smoke import run_smoke

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
            operator_token = _sign_in(
                deployment, operator_username, operator_password_env, operator=True, totp=operator_totp
            )
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


def _sign_in(
    deployment: Any, username: str, password_env: str, *, operator: bool = False, totp: str | None = None
) -> str:
    """An ID token from the customers' pool, or with ``operator`` the operators' pool (the APIs
    know operators by that pool's issuer, so a customer-pool token would never be one)."""
    import os

    from ecommerce_ops.signin import SignInError, id_token

    password = os.environ.get(password_env)
    if not password:
        raise click.UsageError(f"set {password_env} to {username}'s password")
    region, pool, client_id = deployment.operator_identity() if operator else deployment.identity()
    try:
        return id_token(
            region=region, user_pool_id=pool, client_id=client_id, username=username,
            password=password, totp_code=totp,
        )  # fmt: skip
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
    from ecommerce_ops.deployment import DeploymentError, read_deployment

    try:
        return read_deployment(load_config())
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from None


# ---- the edge: drain state, origin secret ---------------------------------------------------------


def _edge_group() -> click.Group:
    from ecommerce_ops.edge import edge
    from ecommerce_ops.origin_secret import check_origin_command, rotate_origin_secret_command

    edge.add_command(rotate_origin_secret_command)
    edge.add_command(check_origin_command)
    return edge


main.add_command(_edge_group())


if __name__ == "__main__":
    main()
