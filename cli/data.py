"""Completions in and out: ``cbe send``, ``validate``, ``trace``, ``rejections``, ``timeline``."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.options import db_option, services
from cli.output import echo, echo_data, fail, friendly_errors, report_lines
from core.bodies import Refusal, SendReport, Unreadable, read_bodies, send_bodies
from core.errors import StorageUnavailable
from core.forwarding import replay_refused
from core.ingestion import Mode
from core.outbox import NOT_SENT
from core.timeline import group_by_month

FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def _in_file_order(refusal: Refusal) -> int:
    """A refusal's place in the file ("line 7", "item 3"), to report them in the file's order."""
    number = refusal.where.rsplit(" ", 1)[-1]
    return int(number) if number.isdigit() else 0


@click.command()
@click.argument("file", type=FILE)
@db_option
@click.option("--tag", help="Tag what is stored, as a test run does with X-Cbe-Tag.")
@click.option(
    "--strict",
    is_flag=True,
    help="Also reject a line whose objectId, email or utk names no record, or whose uuid was "
    "already received (by default kept unassociated, or skipped as a retry, as HubSpot does).",
)
@click.pass_context
@friendly_errors
def send(ctx: click.Context, file: Path, db: Path | None, tag: str | None, strict: bool) -> None:
    """Send completions from FILE (HubSpot send bodies as JSON or JSON Lines), as `cbe serve`.

    Each line (or array item) is its own request: a line that breaks a rule HubSpot checks at once
    is rejected whole and reported, the others are stored. A record that does not exist keeps the
    completion unassociated and a uuid already received is skipped (stored once), as HubSpot
    does; with --strict both are rejected. A batch body ({"inputs": [...]}) is stored all or
    nothing.
    Exits with status 1 if anything was rejected, or when the disk refuses a write (one line
    says so, and how many completions were stored before it).
    """
    # An existing database only: a mistyped --db names no database (as `cbe timeline` says)
    # instead of becoming a new, empty one that refuses every line.
    opened = services(ctx, create=False)
    mode = Mode.STRICT if strict else Mode.HUBSPOT
    report = SendReport()
    try:
        items = list(read_bodies(file.read_text(encoding="utf-8")))
        if not items:
            fail(f"{file} holds no send bodies; nothing was sent.")
        send = functools.partial(send_bodies, opened.ingestion, items, report, mode=mode, tag=tag)
        if sys.stderr.isatty():  # progress for a person; a log or a pipe gets no "Sending" line
            with click.progressbar(length=len(items), label="Sending", file=sys.stderr) as bar:
                send(progress=bar.update)
        else:
            send()
        for refusal in sorted(report.refusals, key=_in_file_order):
            if refusal.reason is not None:
                echo(f"Error: {refusal.where}: {refusal.reason}", err=True)
            for line in report_lines(refusal.where, refusal.violations):
                echo(f"Error: {line}", err=True)
        again = f"; {report.repeated} already received (stored once)" if report.repeated else ""
        stored, rejected = report.stored, report.rejected
        echo(f"Stored {stored} completion(s) from {file}; rejected {rejected}{again}.")
        if report.rejected:
            ctx.exit(1)
    except StorageUnavailable as error:
        raise click.ClickException(
            f"{error} ({report.stored} completion(s) from {file} were stored before it.)"
        ) from error


@click.command()
@click.argument("file", type=FILE)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print each verdict as the API answers.")
@click.pass_context
@friendly_errors
def validate(ctx: click.Context, file: Path, db: Path | None, as_json: bool) -> None:
    """Judge the send bodies in FILE (JSON or JSON Lines, as `cbe send` reads) by the strict
    rules, storing nothing: what each would store, or every rule it breaks.

    The same verdict as POST /cbe/v1/validate. Exits with status 1 if any body is invalid.
    """
    from api.routes.validate import verdict_json  # the API's form, for --json

    opened = services(ctx, create=False)
    invalid = 0
    answers: list[dict[str, Any]] = []
    items = list(read_bodies(file.read_text(encoding="utf-8")))
    if not items:
        fail(f"{file} holds no send bodies; nothing to judge.")
    for where, body in items:
        if isinstance(body, Unreadable):
            invalid += 1
            answers.append({"where": where, "valid": False, "message": body.reason})
            if not as_json:
                echo(f"{where}: {body.reason}")
            continue
        verdict = opened.ingestion.validate(body, hubspot_body=True)
        invalid += not verdict.valid
        answers.append({"where": where, **verdict_json(verdict)})
        if not as_json:
            echo(f"{where}: {verdict.summary()}")
            for line in report_lines(where, list(verdict.problems)):
                echo(f"  {line}")
            for rejection in verdict.rejected:
                for line in report_lines(where, rejection.violations):
                    echo(f"  {line}")
            for _, completion in verdict.accepted:
                for cut in completion.cuts:  # stored, but not quite as sent
                    echo(f"  {where}: note: {cut.property}: {cut.detail}")
    if as_json:
        echo_data(json.dumps(answers, indent=2))
    if invalid:
        ctx.exit(1)


@click.command()
@click.argument("key", metavar="UUID")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the trace as the API answers it.")
@click.pass_context
@friendly_errors
def trace(ctx: click.Context, key: str, db: Path | None, as_json: bool) -> None:
    """What happened to the send with this UUID ("why didn't my event register?"): received
    when and from which path, stored or refused (every rule), which record it matched and how
    or that it matched none, retries with the same uuid, what the JavaScript rules cut, and on
    which record's timeline it is. For a send without a uuid, give the completion id the
    collector answered, or the correlationId of the 400 that refused it. Exits with status 1
    when nothing was found."""
    from core.trace import trace as trace_of

    found = trace_of(services(ctx, create=False, reading=True).db, key)
    if as_json:
        echo_data(json.dumps(found.to_json(), indent=2))
    else:
        for line in found.lines():
            echo(line)
    if not found.found:
        ctx.exit(1)


@click.group(invoke_without_command=True)
@db_option
@click.option("--event", help="Only requests naming this event (its fully qualified name).")
@click.option("--json", "as_json", is_flag=True, help="Print them as the API lists them.")
@click.pass_context
@friendly_errors
def rejections(ctx: click.Context, db: Path | None, event: str | None, as_json: bool) -> None:
    """The requests the strict path refused, kept with why (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from api.routes.rejections import rejected_json

    opened = services(ctx, create=False)
    found = opened.rejections.list(event)
    if as_json:
        echo_data(json.dumps([rejected_json(r) for r in found], indent=2))
        return
    forwarded = opened.db.outbox.refused()
    for entry in forwarded:
        uuid = entry.body.get("uuid")
        said = "not sent" if (entry.refused or "").startswith(NOT_SENT) else "remote refused"
        echo(f"{said}  {entry.body.get('eventName')}  uuid {uuid}  [{entry.id}]")
        echo(f"    {entry.refused}")
    if forwarded:
        echo(
            f"{len(forwarded)} refused by the remote cbe serve --forward relays to "
            "(`cbe rejections replay` sends them again)."
        )
    if not found:
        echo("No rejected requests kept.")
        return
    for request in found:
        names = ", ".join(request.event_names) or "(no event name)"
        kind = "batch" if request.batch else "send"
        when = request.received_at.isoformat(timespec="seconds")
        echo(f"{when}  {request.source.value:<6} {kind:<5} {names}  [{request.id}]")
        for line in report_lines("", request.violations):
            echo(f"    {line}")
    echo(f"{len(found)} kept (at most {opened.rejections.bound}).")


@rejections.command("replay")
@db_option
@click.pass_context
@friendly_errors
def rejections_replay(ctx: click.Context, db: Path | None) -> None:
    """Send every kept request again by the strict rules; what passes is stored and leaves
    the quarantine. Exits with status 1 if any still breaks a rule."""
    opened = services(ctx, create=False)
    again = replay_refused(opened.db)
    if again:
        echo(f"owed    {again} completion(s) the remote refused: cbe serve --forward sends them")
    report = opened.rejections.replay()
    for request, stored in report.passed:
        echo(f"passed  [{request.id}] {stored} completion(s) stored")
    for request, violations in report.failed:
        echo(f"failed  [{request.id}]")
        for line in report_lines("", violations):
            echo(f"    {line}")
    echo(report.summary())
    if report.failed:
        ctx.exit(1)


@rejections.command("bound")
@db_option
@click.argument("count", type=click.IntRange(1, 1_000_000), required=False)
@click.pass_context
@friendly_errors
def rejections_bound(ctx: click.Context, db: Path | None, count: int | None) -> None:
    """Show, or set, how many refused requests are kept (the oldest go first)."""
    opened = services(ctx, create=False)
    if count is not None:
        opened.rejections.set_bound(count)
    echo(f"Keeping at most {opened.rejections.bound} rejected requests.")


@rejections.command("clear")
@db_option
@click.pass_context
@friendly_errors
def rejections_clear(ctx: click.Context, db: Path | None) -> None:
    """Forget every kept request."""
    echo(f"Forgot {services(ctx, create=False).rejections.clear()} rejected request(s).")


@click.command()
@click.option("--email", required=True, help="The contact's email address.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--expand", is_flag=True, help="Show every property of each completion.")
@db_option
@click.pass_context
@friendly_errors
def timeline(ctx: click.Context, email: str, limit: int, expand: bool, db: Path | None) -> None:
    """Print a contact's timeline, newest first, grouped by month."""
    opened = services(ctx, create=False, reading=True)
    contact = opened.records.find_contact(email)
    page = opened.timeline.page(contact, limit=limit)
    name = contact.display_name
    header = f"{name} <{contact.email}>" if name != contact.email else name
    echo(f"{header} · contact {contact.id}", bold=True)
    if not page.entries:
        echo("No completions yet.")
    for month, entries in group_by_month(page.entries):
        echo("")
        echo(month, underline=True)
        for entry in entries:
            when = entry.occurred_at.strftime("%b %d %H:%M")
            summary = entry.summary()
            echo(f"  {when}  {entry.event_label}" + (f" · {summary}" if summary else ""))
            if expand:
                for row in entry.rows:
                    flags = " (not an option)" if row.unusable and "(not" not in row.value else ""
                    flags += " (truncated)" if row.truncated else ""
                    echo(f"      {row.label}: {row.value}{flags}")
    if page.next_after:
        echo(f"\nShowing the newest {limit}; pass --limit to see more.")
