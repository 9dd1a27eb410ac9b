"""Looking after a database: ``cbe demo``, ``cbe portal`` and ``cbe doctor``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from cli.bootstrap import database_location, demo_database_path, is_postgres, token_location
from cli.demodb import build_demo_database
from cli.options import db_option, folder_only, given_db, services
from cli.output import echo, echo_data, fail, friendly_errors
from core.clock import SystemClock, to_utc
from core.demo import DemoSpec
from core.portal import PortalService
from storage.database import DATA_FILES, PORTAL_FILE
from storage.doctor import doctor as run_doctor
from storage.postgres import shown_url


@click.command()
@db_option
@click.option("--seed", default=7, show_default=True, help="Random seed: same seed, same data.")
@click.option("--contacts", default=120, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--completions", default=4000, show_default=True, type=click.IntRange(0))
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 3650))
@click.option(
    "--now",
    "now_text",
    default=None,
    help="End of the demo period, ISO 8601 with an offset (default: now).",
)
@click.option("--replace", is_flag=True, help="Delete an existing cbe database there first.")
@click.pass_context
@friendly_errors
def demo(
    ctx: click.Context,
    db: Path | None,
    seed: int,
    contacts: int,
    completions: int,
    days: int,
    now_text: str | None,
    replace: bool,
) -> None:
    """Build a deterministic demo database (default: the one `cbe --demo` opens)."""
    path = given_db(ctx) or demo_database_path()
    now = SystemClock().now()
    if now_text:
        try:
            now = to_utc(datetime.fromisoformat(now_text))
        except ValueError as error:
            raise click.ClickException(
                f"--now {now_text!r} is not ISO 8601 with an offset, e.g. 2026-11-01T12:00Z"
            ) from error
    spec = DemoSpec(seed=seed, contacts=contacts, completions=completions, days=days)
    summary = build_demo_database(path, spec, now, replace=replace)
    echo(
        f"Demo database at {shown_url(path) if isinstance(path, str) else path}: "
        f"{summary.definitions} events, {summary.contacts} contacts, "
        f"{summary.companies} companies, {summary.deals} deals, {summary.tickets} tickets, "
        f"{summary.completions} completions."
    )


@click.group(invoke_without_command=True)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print portal id and access token as JSON.")
@click.pass_context
@friendly_errors
def portal(ctx: click.Context, db: Path | None, as_json: bool) -> None:
    """Show the portal id, and where the access token is kept (`set-id` changes the id)."""
    if ctx.invoked_subcommand is not None:
        return
    opened = services(ctx)
    p = opened.db.portal
    if as_json:
        echo_data(
            json.dumps(
                {
                    "portalId": p.portal_id,
                    "accessToken": p.access_token,
                    "database": database_location(opened),
                }
            )
        )
        return
    echo(f"Portal id:    {p.portal_id}")
    echo(f"Database:     {database_location(opened)}")
    if is_postgres(opened.db):
        echo(f"Access token: in {token_location(opened)};")
    else:
        echo(f"Access token: in {token_location(opened)} (readable by you only);")
    echo("              `cbe portal --json` prints it.")


@portal.command("set-id")
@click.argument("portal_id", type=int)
@db_option
@click.pass_context
@friendly_errors
def portal_set_id(ctx: click.Context, portal_id: int, db: Path | None) -> None:
    """Give the portal the id of a real HubSpot portal, so that code with its fully qualified
    names (pe{PORTAL_ID}_{name}) runs against cbe unchanged.

    Every event's fully qualified name follows, and so do the completions already stored and
    the workflows' events. Close the app and stop `cbe serve` on this database first: they read
    the portal id when they start.
    """
    change = PortalService(services(ctx, create=False).db).set_id(portal_id)
    if change.old == change.new and not (change.definitions or change.completions):
        click.echo(f"The portal id is {change.new} already.")
        return
    click.echo(f"Portal id: {change.old} -> {change.new}")
    click.echo(
        f"Renamed: {change.definitions} event definition(s), "
        f"{change.completions} completion(s), {change.workflows} workflow(s); "
        f"events are now sent as pe{change.new}_<name>."
    )


@click.command()
@db_option
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild indexes, cut damaged journal lines, rewrite the manifest; print what was lost.",
)
@click.pass_context
@friendly_errors
def doctor(ctx: click.Context, db: Path | None, repair: bool) -> None:
    """Check every file of the database (and with --repair, repair it).

    Exit status: 0 healthy or repaired, 1 damage found (or some not repairable).
    """
    path = (
        folder_only(ctx, "cbe doctor checks the files of a database folder").expanduser().resolve()
    )
    if not path.is_dir() or not any((path / name).exists() for name in (PORTAL_FILE, *DATA_FILES)):
        fail(f"There is no cbe database at {path}.")
    report = run_doctor(path, repair=repair, progress=lambda text: echo(text, err=True))
    for line in report.lines():
        echo(line)
    if not (report.healthy or report.fixed):
        ctx.exit(1)
