"""The options every command that opens a database shares, and the one way a command opens it.

``--db``, ``--demo`` and ``--read-only`` may be given on ``cbe`` itself, on a group
(``cbe rejections --db X replay``) or on the command; the nearest one wins. The database a command
opens is closed once, by click, when the command's context closes.

A folder's records' log is folded in a thread (TinyDatabase.background_folds): the write that
makes a fold due returns at once, in the app, ``cbe serve`` and a one-shot command alike. The
close waits for a fold under way, so a command's answer is out before it and the process ends
with the log folded (a process killed meanwhile leaves the old snapshot and its whole log, as
a crash does; the next write folds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.bootstrap import (
    DB_ENV,
    DatabaseTarget,
    database_target,
    default_database_path,
    demo_database_path,
    open_services,
)
from cli.output import echo, fail
from core.clock import SystemClock
from core.services import Services
from storage.database import PORTAL_FILE, TinyDatabase
from storage.postgres import shown_url

F = TypeVar("F", bound=Callable[..., Any])

_DEMO = "cbe.demo"
"""Set in the click context's meta (shared by a command and its groups) by any --demo."""


def _remember_demo(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_DEMO] = True
    return value


class DatabaseParam(click.ParamType[DatabaseTarget, object]):
    """``--db``: a folder, or a ``postgresql://`` URL (a URL is never taken for a path)."""

    name = "folder|url"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> DatabaseTarget:
        if isinstance(value, Path):
            return value
        target = database_target(str(value))
        if isinstance(target, Path) and target.exists() and not target.is_dir():
            self.fail(f"{target} is a file, not a database folder.", param, ctx)
        return target


def db_option(command: F) -> F:
    """``--db FOLDER|URL`` and ``--demo``: every command that opens a database takes both."""
    command = click.option(
        "--demo",
        is_flag=True,
        expose_value=False,
        callback=_remember_demo,
        help="Use the demo database (the one `cbe --demo` opens; built on first use).",
    )(command)
    return click.option(
        "--db",
        "db",
        type=DatabaseParam(),
        default=None,
        help=f"Database folder, or a postgresql://user@host/dbname URL (default: ${DB_ENV} or "
        "your data directory).",
    )(command)


def given_db(ctx: click.Context) -> DatabaseTarget | None:
    """The nearest ``--db``: the command's own, else its group's, else ``cbe``'s."""
    here: click.Context | None = ctx
    while here is not None:
        db = here.params.get("db")
        if db is not None:
            return database_target(db)
        here = here.parent
    return None


def read_only(ctx: click.Context) -> bool:
    """``cbe --read-only``."""
    return bool(ctx.find_root().params.get("read_only"))


def database_path(ctx: click.Context) -> DatabaseTarget:
    """The database the command works on (a folder or a PostgreSQL URL): --demo, else the
    nearest --db, else the default."""
    chosen = given_db(ctx)
    if ctx.meta.get(_DEMO):
        if chosen is not None:
            fail("--demo and --db name different databases; pass one of them.")
        return _demo_database()
    if chosen is not None:
        return chosen
    return default_database_path()


def _demo_database() -> Path:
    """The demo database, built the first time it is asked for."""
    path = demo_database_path()
    if not (path / PORTAL_FILE).exists():
        from cli.demodb import build_demo_database  # the demo's generator: only to build it
        from core.demo import DemoSpec

        echo(f"Building the demo database at {path} (once).", err=True)
        build_demo_database(path, DemoSpec(), SystemClock().now(), replace=False)
    return path


def folder_only(ctx: click.Context, what: str) -> Path:
    """The database folder the command works on; a PostgreSQL database is refused, saying
    why (``what``: what the command does that only a folder has)."""
    target = database_path(ctx)
    if not isinstance(target, Path):
        fail(
            f"{what}; {shown_url(target)} is a PostgreSQL database, which PostgreSQL "
            "itself looks after (its own checks, backups and replicas)."
        )
    return target


def services(ctx: click.Context, create: bool = True, reading: bool = False) -> Services:
    """Open the database, to be closed when the command's context closes. ``reading``: a
    command that only reads, so a read-only copy or a damaged database (writes refused until
    `cbe doctor`) still opens."""
    only_reading = True if read_only(ctx) else None
    opened = open_services(
        database_path(ctx),
        create=create and not only_reading,
        read_only=only_reading,
        allow_damage=reading,
    )
    if isinstance(opened.db, TinyDatabase):
        opened.db.background_folds = True  # no write waits for a fold of the records' log
    ctx.call_on_close(opened.close)
    return opened
