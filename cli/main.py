"""The ``cbe`` command: the group, its shared options, and every command registered on it.

Each command lives in the module for its purpose (``cli.serve``, ``cli.data``, ``cli.plans``,
``cli.definitions``, ``cli.reports``, ``cli.admin``, ``cli.copy``); ``cli.options`` opens the
database and ``cli.output`` prints and turns errors into one line.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from cli.bootstrap import open_remote
from cli.options import db_option, services
from cli.output import friendly_errors

COMMANDS = {
    "serve": "cli.serve",
    "demo": "cli.admin",
    "send": "cli.data",
    "validate": "cli.data",
    "plan": "cli.plans",
    "codegen": "cli.definitions",
    "trace": "cli.data",
    "rejections": "cli.data",
    "definitions": "cli.definitions",
    "report": "cli.reports",
    "timeline": "cli.data",
    "portal": "cli.admin",
    "doctor": "cli.admin",
    "copy": "cli.copy",
}
"""Each command of ``cbe`` and the module that defines it (under the same name)."""


class CommandsOnDemand(click.Group):
    """A group whose commands' modules are imported when one of them is asked for (run, or
    listed by ``--help``): ``cbe`` alone opens the app without loading any command's module
    (nor the server, the reports, the remote portal's client they import)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(getattr(importlib.import_module(COMMANDS[cmd_name]), cmd_name))
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=CommandsOnDemand,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
