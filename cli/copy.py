"""``cbe copy --from A --to B``: a whole portal from one database to another (core.copying).

The source is opened for reading only; the destination is created when it does not exist. The
progress bar is on stderr (only on a terminal), the table of counts (or ``--json``) on stdout;
the exit status is 1 when a count differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from cli.bootstrap import open_services
from cli.output import echo, echo_data, fail, friendly_errors
from core.copying import DEFAULT_BATCH, KINDS, CopyReport, copy_portal, portal_counts
from core.ports import MemoryPreferences


def shown(target: str) -> str:
    """A database as it may be printed: a URL without its password."""
    if "://" not in target:
        return target
    parts = urlsplit(target)
    if parts.password is None:
        return target
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _same_database(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a == b
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


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
    help="The database to copy (a folder); read only, never written to.",
)
@click.option(
    "--to",
    "destination",
    required=True,
    metavar="DB",
    help="Where to copy it: a new or empty database, or one a stopped copy of the same source "
    "left (the copy goes on).",
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
    ctx: click.Context, source: str, destination: str, batch: int, quiet: bool, as_json: bool
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
    reading = open_services(source, create=False, read_only=True, preferences=MemoryPreferences())
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


def _as_json(report: CopyReport, source: str, destination: str) -> dict[str, Any]:
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


def _print_table(report: CopyReport, source: str, destination: str) -> None:
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
