"""``ecommerce edge rotate-origin-secret`` and ``ecommerce edge check-origin`` (registered on the
``edge`` group by the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ._errors import OriginSecretError
from ._rotation import check_origin_protection, rotate_origin_secret, rotation_status

if TYPE_CHECKING:
    from ecommerce_ops.deployment import Deployment


def _load_deployment() -> Deployment:
    from ecommerce_constructs.config import ConfigError, load_config
    from ecommerce_ops.deployment import DeploymentError, read_deployment

    try:
        return read_deployment(load_config())
    except (ConfigError, DeploymentError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("rotate-origin-secret")
@click.option(
    "--no-wait-deployed",
    is_flag=True,
    help=(
        "Stop after changing CloudFront's origin header instead of waiting for Deployed; "
        "run the command again later to promote the new value and drop the old one."
    ),
)
@click.option(
    "--propagation-wait",
    type=click.FloatRange(min=0),
    default=75.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between updating the web ACLs and CloudFront (WAF propagation).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Rotate even if the distribution is not Deployed or sends an unknown value (may block traffic).",
)
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Change nothing: say whether a rotation is in progress (a version other than AWSCURRENT "
    "holds AWSPENDING: do not deploy the regional stacks).",
)
def rotate_origin_secret_command(
    no_wait_deployed: bool, propagation_wait: float, force: bool, show_status: bool
) -> None:
    """Rotate the X-Origin-Verify secret without downtime: stage a new value (AWSPENDING), web ACLs
    accept new and current, CloudFront sends new, then promote it and drop the old one; report each
    step, exit 1 if any fails. Run it again to continue an interrupted rotation."""
    deployment = _load_deployment()
    if show_status:
        try:
            rotation_status(deployment, echo=click.echo)
        except OriginSecretError as exc:
            raise click.ClickException(str(exc)) from None
        return
    try:
        report = rotate_origin_secret(
            deployment,
            propagation_wait=propagation_wait,
            wait_deployed=not no_wait_deployed,
            force=force,
            echo=click.echo,
        )
    except OriginSecretError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(0 if report.ok else 1)


@click.command("check-origin")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per request.")
def check_origin_command(timeout: float) -> None:
    """Check that each regional API refuses requests without the origin header (403) and answers
    with it (200), and that CloudFront reaches them; exit 1 otherwise."""
    ok = check_origin_protection(_load_deployment(), timeout=timeout, echo=click.echo)
    raise SystemExit(0 if ok else 1)
