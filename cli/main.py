"""The ``cbe`` command: the group, its shared options, and every command registered on it.

Each command lives in the module for its purpose (``cli.serve``, ``cli.data``, ``cli.plans``,
``cli.definitions``, ``cli.reports``, ``cli.admin``, ``cli.copy``); ``cli.options`` opens the
database and ``cli.output`` prints and turns errors into one line.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli import admin, copy, data, definitions, plans, reports, serve
from cli.bootstrap import open_remote
from cli.options import db_option, services
from cli.output import friendly_errors


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@db_option
@click.option(
    "--read-only",
    "read_only",
    is_flag=True,
    help="Open the database for reading only, without its lock (a read-only copy; a folder "
    "cbe cannot write to is opened so by itself).",
)
@click.version_option(package_name="cbe", prog_name="cbe", message="%(prog)s %(version)s")
@click.pass_context
@friendly_errors
def main(ctx: click.Context, db: Path | None, read_only: bool) -> None:
    """cbe: HubSpot's custom behavioral events on your own machine.

    Without a command, opens the app on the default database.
    """
    if ctx.invoked_subcommand is not None:
        return
    opened = services(ctx, reading=True)
    from tui.app import CbeApp  # Textual loads only when the app is opened

    CbeApp(opened, open_remote=open_remote).run()


for command in (
    serve.serve,
    admin.demo,
    data.send,
    data.validate,
    plans.plan,
    definitions.codegen,
    data.trace,
    data.rejections,
    definitions.definitions,
    reports.report,
    data.timeline,
    admin.portal,
    admin.doctor,
    copy.copy,
):
    main.add_command(command)
