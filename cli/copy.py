"""``cbe copy --from A --to B``: a whole portal from one database to another (core.copying).

The source is opened for reading only; the destination is created when it does not exist. The
progress bar is on stderr (only on a terminal), the table of counts (or ``--json``) on stdout;
the exit status is 1 when a count differs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cli.bootstrap import DatabaseTarget, bulk_load, open_services
from cli.options import DatabaseParam
from cli.output import echo, echo_data, fail, friendly_errors
from core.copying import DEFAULT_BATCH, KINDS, CopyReport, copy_portal, portal_counts
from core.ports import MemoryPreferences
from storage.postgres.urls import is_postgres_url, shown_url


def shown(target: DatabaseTarget) -> str:
    """A database as it may be printed: a folder, or a URL without its password."""
    return shown_url(target) if isinstance(target, str) else str(target)


def _same_database(a: DatabaseTarget, b: DatabaseTarget) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a.resolve() == b.resolve()


class _Bar:
    """One bar over every item of every kind, labelled with the kind being copied."""

    def __init__(self, totals: dict[str, int]) -> None:
        self._done: dict[str, int] = {}
        self._bar: Any = click.progressbar(
            length=max(1, sum(totals.values())),
            label=f"Copying {'':<18}",
            file=sys.stderr,
            show_pos=True,
            show_percent=True,
        )
        self._bar.__enter__()

    def __call__(self, kind: str, done: int, total: int) -> None:
        self._done[kind] = done
        self._bar.label = f"Copying {kind:<18}"
        self._bar.update(sum(self._done.values()) - self._bar.pos)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


@click.command("copy")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="DB",
    type=DatabaseParam(),
    help="The database to copy (a folder or a postgresql:// URL); never written to.",
)
@click.option(
    "--to",
    "destination",
    required=True,
    metavar="DB",
    type=DatabaseParam(),
    help="Where to copy it (a folder or a postgresql:// URL): a new or empty database, or one "
    "a stopped copy of the same source left (the copy goes on).",
)
@click.option(
    "--batch",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1),
    help="Items written per unit of work (a stopped copy keeps whole batches).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
@friendly_errors
def copy(
    ctx: click.Context,
    source: DatabaseTarget,
    destination: DatabaseTarget,
    batch: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Copy a whole portal from one database to another, and check the counts.

    Everything is copied: the portal (id, access token), event definitions and deleted names,
    records and associations, workflows with their enrollments and tasks, completions, rejected
    requests and what `cbe serve --forward` still owes. Stopped part-way (Ctrl-C, a full disk),
    the same command run again goes on where it stopped. A destination holding anything else is
    refused, untouched. Stop `cbe serve` on the source first.

    Exit status: 0 when every count matches, 1 otherwise.
    """
    if _same_database(source, destination):
        fail(f"--from and --to are the same database ({shown(source)}).")
    # A folder is opened without its lock, as a reader; a PostgreSQL database reads in
    # transactions of its own (the copy never writes to its source either way).
    reading = open_services(
        source,
        create=False,
        read_only=not is_postgres_url(source),
        preferences=MemoryPreferences(),
    )
    ctx.call_on_close(reading.close)
    writing = open_services(
        destination,
        create=True,
        portal_id=reading.db.portal.portal_id,
        preferences=MemoryPreferences(),
    )
    ctx.call_on_close(writing.close)
    bar = None
    if not quiet and sys.stderr.isatty():
        bar = _Bar(portal_counts(reading.db))
    try:
        with bulk_load(writing.db):
            report = copy_portal(reading.db, writing.db, batch=batch, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        echo_data(json.dumps(_as_json(report, source, destination), indent=2))
    else:
        _print_table(report, source, destination)
    if not report.verified:
        ctx.exit(1)


def _as_json(
    report: CopyReport, source: DatabaseTarget, destination: DatabaseTarget
) -> dict[str, Any]:
    return {
        "from": shown(source),
        "to": shown(destination),
        "portalId": report.portal_id,
        "resumed": report.resumed,
        "written": report.copied,
        "portalMatches": report.portal_matches,
        "verified": report.verified,
        "counts": {
            c.kind: {"source": c.source, "destination": c.destination, "written": c.copied}
            for c in report.counts
        },
    }


def _print_table(report: CopyReport, source: DatabaseTarget, destination: DatabaseTarget) -> None:
    if report.resumed and not report.copied:
        written = "nothing to write, the destination held it all already"
    else:
        resumed = " (going on from a stopped copy)" if report.resumed else ""
        written = f"{report.copied:,} items written{resumed}"
    echo(
        f"Copied portal {report.portal_id} from {shown(source)} to {shown(destination)}: {written}."
    )
    width = max(len(k) for k in KINDS)
    echo(f"{'':<{width}}  {'source':>11}  {'destination':>11}  {'written':>11}")
    for c in report.counts:
        mark = "" if c.matches else "  <- differs"
        echo(f"{c.kind:<{width}}  {c.source:>11,}  {c.destination:>11,}  {c.copied:>11,}{mark}")
    if not report.portal_matches:
        echo("The destination's portal (id, access token or quarantine bound) differs.")
    if report.verified:
        echo("Verified: the destination holds as much of every kind as the source.")
    else:
        echo(
            "Not verified: the counts differ (was the source written to meanwhile? run the "
            "copy again to go on, or copy into a new database).",
            err=True,
        )
