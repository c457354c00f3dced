"""The ``ecommerce`` command line. Commands import their heavy modules lazily."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def main() -> None:
    """Developer tools for the e-commerce backend on Aurora DSQL."""


@main.command("dsql-lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def dsql_lint(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Report Aurora DSQL violations in SQL FILES (directories: every *.sql below).

    Output: FILE:LINE: RULE: MESSAGE. Exit status 0 clean, 1 violations, 2 unreadable file or
    syntax error. Statements outside BEGIN ... COMMIT are checked as autocommit statements.
    """
    from handlers.tools.lint import lint_paths

    report = lint_paths(files)
    for finding in report.findings:
        click.echo(str(finding))
    if report.findings:
        click.echo(f"{len(report.findings)} problem(s) found", err=True)
    ctx.exit(report.exit_code)


if __name__ == "__main__":
    main()
