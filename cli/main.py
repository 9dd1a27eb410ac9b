"""The ``cbe`` command: the app, the demo, imports and exports, timelines in text.

Errors a person can act on are printed as one line (``Error: ...``) with exit status 1, never a
traceback; set ``CBE_DEBUG=1`` to see the traceback of an unexpected failure.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.bootstrap import DB_ENV, default_database_path, demo_database_path, open_services
from core.analytics import (
    DateRange,
    Dimension,
    Frequency,
    RangePreset,
    percent,
    resolve_range,
    to_csv,
)
from core.clock import SystemClock, to_utc
from core.demo import DEMO_PORTAL_ID, DemoSpec, build_demo
from core.errors import CbeError, Rule, StorageUnavailable, ValidationFailed, Violation
from core.filters import Operator, PropertyFilter, check_filter
from core.hubspot import definition_to_hubspot, draft_from_hubspot
from core.ingestion import Mode, all_properties
from core.models import EventDefinition, Source
from core.portal import PortalService
from core.rules import MAX_BATCH_SIZE
from core.services import Services
from core.text import neutralise, neutralise_json
from core.timeline import group_by_month
from storage.database import DATA_FILES, PORTAL_FILE
from storage.doctor import doctor as run_doctor

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    raise click.ClickException(message)


# Everything cbe prints passes _echo, _echo_data or _error (CSV cells are neutralised one by one
# in _table): what a sender wrote (a value, an email, a field path) must never reach the terminal
# as a command.


def _echo(text: str, err: bool = False, nl: bool = True, **style: Any) -> None:
    """A line (or lines) for a person: control characters as visible escapes, then styled."""
    safe = neutralise(text, keep="\n")
    click.echo(click.style(safe, **style) if style else safe, err=err, nl=nl)


def _echo_data(text: str, nl: bool = True) -> None:
    """JSON (or code) for a program: exact data, yet nothing a terminal obeys.

    ``json.dumps`` with its default ``ensure_ascii`` writes every control, C1 and bidirectional
    character as ``\\uXXXX`` already; text written with ``ensure_ascii=False`` (a plan) gets
    the same escapes for those characters only, so it still parses to the very same values.
    """
    click.echo(neutralise_json(text), nl=nl)


def _error(message: str) -> click.ClickException:
    """An error line; cbe's errors quote what a sender wrote (a field path, a value)."""
    return click.ClickException(neutralise(message, keep="\n"))


def _friendly_errors(command: F) -> F:
    """Turn cbe's errors (and file errors) into one clear line."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException as error:  # its message may quote what a sender wrote
            if neutralise(error.message, keep="\n") is error.message:
                raise
            raise _error(error.message) from error
        except (click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # the reader stopped listening (| head): not an error; keep Python from complaining
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return None
        except ValidationFailed as error:
            raise _error("; ".join(str(v) for v in error.violations) or str(error)) from error
        except CbeError as error:
            raise _error(str(error)) from error
        except OSError as error:
            where = f" ({error.filename})" if error.filename else ""
            raise _error(f"{error.strerror or error}{where}") from error
        except Exception as error:
            if os.environ.get("CBE_DEBUG"):
                raise
            raise _error(
                f"unexpected {type(error).__name__}: {error} (set CBE_DEBUG=1 for details)"
            ) from error

    return wrapper  # type: ignore[return-value]


_DEMO = "cbe.demo"
"""Set in the click context's meta (shared by a command and its group) by any --demo."""


def _remember_demo(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_DEMO] = True
    return value


def db_option(command: F) -> F:
    """``--db FOLDER`` and ``--demo``: every command that opens a database takes both."""
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
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help=f"Database folder (default: ${DB_ENV} or your data directory).",
    )(command)


def _database(ctx: click.Context, db: Path | None) -> Path:
    chosen = db if db is not None else ctx.find_root().params.get("db")
    if ctx.meta.get(_DEMO):
        if chosen is not None:
            _fail("--demo and --db name different databases; pass one of them.")
        return _demo_database()
    if chosen is not None:
        return Path(chosen)
    return default_database_path()


def _demo_database() -> Path:
    """The demo database, built the first time it is asked for."""
    path = demo_database_path()
    if not (path / PORTAL_FILE).exists():
        _echo(f"Building the demo database at {path} (once).", err=True)
        _build_demo(path, DemoSpec(), SystemClock().now(), replace=False)
    return path


def _open(
    ctx: click.Context, db: Path | None, create: bool = True, reading: bool = False
) -> Services:
    """Open the database. ``reading``: a command that only reads, so a read-only copy or a
    damaged database (writes refused until `cbe doctor`) still opens."""
    read_only = True if ctx.find_root().params.get("read_only") else None
    return open_services(
        _database(ctx, db),
        create=create and not read_only,
        read_only=read_only,
        allow_damage=reading,
    )


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@db_option
@click.option(
    "--read-only",
    "read_only",
    is_flag=True,
    help="Open the database for reading only, without its lock (a read-only copy; a folder "
    "cbe cannot write to is opened so by itself).",
)
@click.pass_context
@_friendly_errors
def main(ctx: click.Context, db: Path | None, read_only: bool) -> None:
    """cbe: HubSpot's custom behavioral events on your own machine.

    Without a command, opens the app on the default database.
    """
    if ctx.invoked_subcommand is not None:
        return
    services = _open(ctx, db, reading=True)
    from tui.app import CbeApp  # Textual loads only when the app is opened

    try:
        CbeApp(services).run()
    finally:
        services.close()


# -- serve -----------------------------------------------------------------------------------

TOKEN_ENV = "CBE_ACCESS_TOKEN"


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    default=None,
    help=f"Access token for this run (default: ${TOKEN_ENV}, else the portal's own).",
)
@click.option(
    "--allow-origin",
    "origins",
    multiple=True,
    help="A web origin (https://shop.example) whose pages may send to the collector; repeat "
    "for more, '*' for any (default: pages on localhost, 127.0.0.1 and [::1]).",
)
@click.option(
    "--public-url",
    default=None,
    help="The address pages reach this server at (http://cbe.example:8765); the tracking code "
    "sends there, and requests may name its host.",
)
@click.option(
    "--allow-host",
    "hosts",
    multiple=True,
    help="Another host name requests may address this server by (IP addresses and localhost "
    "always may); repeat for more.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse everything at once (400): also an objectId, email or utk that names no record "
    "and a uuid already received, which HubSpot (and cbe serve by default) accepts with 204 "
    "and settles later (see `cbe trace`).",
)
@click.pass_context
@_friendly_errors
def serve(
    ctx: click.Context,
    db: Path | None,
    host: str,
    port: int,
    token: str | None,
    origins: tuple[str, ...],
    public_url: str | None,
    hosts: tuple[str, ...],
    strict: bool,
) -> None:
    """Serve HubSpot's events API and the JavaScript collector on this database.

    The send endpoints answer as HubSpot does: what HubSpot checks at once (an unknown event or
    property, limits, types, names, no objectId/email/utk) is a 400 naming every broken rule,
    nothing stored; what HubSpot settles after accepting is a 204: a record that does not exist
    (the completion is kept unassociated) and a uuid already received (stored once, so a retry
    is safe). With --strict all of it is a 400 at once. `cbe trace UUID` tells what happened.
    """
    if ctx.find_root().params.get("read_only"):
        _fail("cbe serve stores what it receives: it needs a writable database, not --read-only.")
    from api.guards import OriginPolicy
    from api.server import serve as run_server  # FastAPI loads only for this command

    services = _open(ctx, db)
    try:
        access_token = token or os.environ.get(TOKEN_ENV) or services.db.portal.access_token
        where = (
            "--token"
            if token
            else f"${TOKEN_ENV}"
            if os.environ.get(TOKEN_ENV)
            else f"{Path(services.db.location) / PORTAL_FILE} (`cbe portal --json` prints it)"
        )
        shown = f"[{host}]" if ":" in host else host
        _echo(f"cbe serves portal {services.db.portal.portal_id} at http://{shown}:{port}")
        _echo(f"  database:      {services.db.location}")
        _echo(f"  access token:  from {where}")
        script = public_url.rstrip("/") if public_url else f"http://{shown}:{port}"
        _echo(f'  tracking code: <script src="{script}/tracking.js"></script>')
        pages = OriginPolicy(origins).describe()
        _echo(f"  collector:     takes completions from {pages}, and from programs")
        _echo(
            "  sends:         "
            + (
                "strict: an unknown record or a repeated uuid is a 400"
                if strict
                else "as HubSpot: an unknown record or a repeated uuid is a 204 (--strict: 400)"
            )
        )
        if host not in ("127.0.0.1", "localhost", "::1"):
            _echo(
                "  warning: listening beyond this machine. Anyone who can reach the port can "
                f"write completions to the collector (from {pages}, or from any program: "
                "no token needed) and read the tracking code; the events and CRM APIs need "
                "the access token."
            )
            if host in ("0.0.0.0", "::") and not public_url and not hosts:
                _echo(
                    "  note: requests may address this server by IP address or localhost; "
                    "for a host name, pass --public-url or --allow-host."
                )
        _echo("Press Ctrl+C to stop.")
        run_server(
            services,
            host,
            port,
            access_token,
            origins,
            public_url=public_url,
            allowed_hosts=hosts,
            strict=strict,
        )
    finally:
        services.close()


# -- demo ------------------------------------------------------------------------------------


@main.command()
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
@_friendly_errors
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
    path = db or ctx.find_root().params.get("db") or demo_database_path()
    now = SystemClock().now()
    if now_text:
        try:
            now = to_utc(datetime.fromisoformat(now_text))
        except ValueError as error:
            raise click.ClickException(
                f"--now {now_text!r} is not ISO 8601 with an offset, e.g. 2026-11-01T12:00Z"
            ) from error
    spec = DemoSpec(seed=seed, contacts=contacts, completions=completions, days=days)
    summary = _build_demo(Path(path), spec, now, replace=replace)
    _echo(
        f"Demo database at {path}: {summary.definitions} events, {summary.contacts} contacts, "
        f"{summary.companies} companies, {summary.deals} deals, {summary.tickets} tickets, "
        f"{summary.completions} completions."
    )


def _build_demo(path: Path, spec: DemoSpec, now: datetime, replace: bool) -> Any:
    if path.exists() and any(path.iterdir()):
        if not (path / PORTAL_FILE).exists():
            _fail(f"{path} is not empty and is not a cbe database; choose another folder.")
        if not replace:
            _fail(f"{path} already holds a cbe database; pass --replace to rebuild it.")
        shutil.rmtree(path)
    services = open_services(path, portal_id=DEMO_PORTAL_ID)
    bars: dict[str, Any] = {}
    try:

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                bar = click.progressbar(length=total, label=f"Demo {stage:<11}", file=sys.stderr)
                bar.__enter__()
                bars[stage] = bar
            bar.update(done - bar.pos)
            if done >= total:
                bar.__exit__(None, None, None)

        summary = build_demo(services.db, spec, now, progress)
    except BaseException:
        services.close()
        shutil.rmtree(path, ignore_errors=True)  # never leave half a demo behind
        raise
    services.close()
    return summary


# -- send ------------------------------------------------------------------------------------


def _read_bodies(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, body) pairs from a JSON file (one body, a batch, or an array) or JSON Lines."""
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
        lines = True
    else:
        lines = False
    if not lines:
        if isinstance(whole, list):
            for i, body in enumerate(whole, 1):
                yield f"item {i}", body
        else:
            yield "body", whole
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as error:
            yield f"line {number}", _Unreadable(f"not JSON: {error.msg} at column {error.colno}")


class _Unreadable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@db_option
@click.option("--tag", help="Tag what is stored, as a test run does with X-Cbe-Tag.")
@click.option(
    "--strict",
    is_flag=True,
    help="Also reject a line whose objectId, email or utk names no record, or whose uuid was "
    "already received (by default kept unassociated, or skipped as a retry, as HubSpot does).",
)
@click.pass_context
@_friendly_errors
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
    services = _open(ctx, db)
    mode = Mode.STRICT if strict else Mode.HUBSPOT
    stored = 0
    try:
        items = list(_read_bodies(file))
        stored = rejected = repeated = 0
        reports: list[str] = []
        with click.progressbar(length=len(items), label="Sending", file=sys.stderr) as bar:
            pending: list[tuple[str, Any]] = []

            def flush() -> None:
                nonlocal stored, rejected
                if not pending:
                    return
                nonlocal repeated
                result = services.ingestion.ingest(
                    [body for _, body in pending],
                    mode,
                    Source.IMPORT,
                    all_or_nothing=False,
                    tags=[tag] * len(pending),
                    hubspot_body=True,
                )
                stored += len(result.stored)
                repeated += len(result.duplicates)
                for rejection in result.rejected:
                    rejected += 1
                    where = pending[rejection.index][0]
                    reports.extend(_report(where, rejection.violations))
                bar.update(len(pending))
                pending.clear()

            for where, body in items:
                if isinstance(body, _Unreadable):
                    rejected += 1
                    reports.append(f"{where}: {body.reason}")
                    bar.update(1)
                elif isinstance(body, dict) and "inputs" in body:
                    flush()
                    try:
                        batch = services.ingestion.send_batch(
                            body, Source.IMPORT, tag, hubspot_body=True, mode=mode
                        )
                        stored += len(batch)
                        inputs = body.get("inputs")
                        if isinstance(inputs, list):
                            repeated += len(inputs) - len(batch)
                    except ValidationFailed as error:
                        rejected += 1
                        reports.extend(_report(where, list(error.violations)))
                    bar.update(1)
                else:
                    pending.append((where, body))
                    if len(pending) >= MAX_BATCH_SIZE:
                        flush()
            flush()
        for line in reports:
            _echo(line, err=True)
        again = f"; {repeated} already received (stored once)" if repeated else ""
        _echo(f"Stored {stored} completion(s) from {file}; rejected {rejected}{again}.")
        if rejected:
            ctx.exit(1)
    except StorageUnavailable as error:
        raise click.ClickException(
            f"{error} ({stored} completion(s) from {file} were stored before it.)"
        ) from error
    finally:
        services.close()


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print each verdict as the API answers.")
@click.pass_context
@_friendly_errors
def validate(ctx: click.Context, file: Path, db: Path | None, as_json: bool) -> None:
    """Judge the send bodies in FILE (JSON or JSON Lines, as `cbe send` reads) by the strict
    rules, storing nothing: what each would store, or every rule it breaks.

    The same verdict as POST /cbe/v1/validate. Exits with status 1 if any body is invalid.
    """
    from api.routes.validate import verdict_json  # the API's form, for --json

    services = _open(ctx, db)
    try:
        invalid = 0
        answers: list[dict[str, Any]] = []
        for where, body in _read_bodies(file):
            if isinstance(body, _Unreadable):
                invalid += 1
                answers.append({"where": where, "valid": False, "message": body.reason})
                if not as_json:
                    _echo(f"{where}: {body.reason}")
                continue
            verdict = services.ingestion.validate(body, hubspot_body=True)
            invalid += not verdict.valid
            answers.append({"where": where, **verdict_json(verdict)})
            if not as_json:
                _echo(f"{where}: {verdict.summary()}")
                for line in _report(where, list(verdict.problems)):
                    _echo(f"  {line}")
                for rejection in verdict.rejected:
                    for line in _report(where, rejection.violations):
                        _echo(f"  {line}")
                for _, completion in verdict.accepted:
                    for cut in completion.cuts:  # stored, but not quite as sent
                        _echo(f"  {where}: note: {cut.property}: {cut.detail}")
        if as_json:
            _echo_data(json.dumps(answers, indent=2))
        if invalid:
            ctx.exit(1)
    finally:
        services.close()


def _report(where: str, violations: list[Violation]) -> list[str]:
    """One line per violation, after ``where`` (a file line, a request) when there is one."""
    at = f"{where}: " if where else ""
    return [f"{at}{v.field + ': ' if v.field else ''}{v.message} [{v.rule}]" for v in violations]


def _write_or_echo(text: str, output: Path | None, done: str, err: bool = False) -> None:
    """``text`` to ``output``, saying ``done``; to stdout when there is no file."""
    if output is None:
        _echo_data(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")  # a file keeps every character as it is
        _echo(done, err=err)


# -- plan --------------------------------------------------------------------------------------


@main.group()
def plan() -> None:
    """Definitions as code: export, diff, apply and lint a plan file (JSON, stable order)."""


def _read_plan_file(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{file} is not JSON: {error}") from error


@plan.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="File.")
@db_option
@click.pass_context
@_friendly_errors
def plan_export(ctx: click.Context, output: Path | None, db: Path | None) -> None:
    """Every event definition as a plan file (stdout, or -o FILE)."""
    services = _open(ctx, db)
    try:
        text = services.plans.export()
    finally:
        services.close()
    count = len(json.loads(text)["events"])
    _write_or_echo(text, output, f"Wrote the plan of {count} event(s) to {output}.")


@plan.command("diff")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@db_option
@click.pass_context
@_friendly_errors
def plan_diff(ctx: click.Context, file: Path, db: Path | None) -> None:
    """What applying FILE would change, each change safe or BREAKING, with what it costs.
    Exits with status 2 when a change is breaking."""
    raw = _read_plan_file(file)
    services = _open(ctx, db)
    try:
        changes = services.plans.diff(raw)
    finally:
        services.close()
    for change in changes:
        _echo(change.describe())
    breaking = sum(c.breaking for c in changes)
    _echo(f"{len(changes)} change(s), {breaking} breaking." if changes else "No changes.")
    if breaking:
        ctx.exit(2)


@plan.command("apply")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--allow-breaking", is_flag=True, help="Also make breaking changes.")
@db_option
@click.pass_context
@_friendly_errors
def plan_apply(ctx: click.Context, file: Path, allow_breaking: bool, db: Path | None) -> None:
    """Make the definitions what FILE says. Breaking changes (removing an event, a property or
    an option, changing a type) need --allow-breaking; without it nothing changes."""
    raw = _read_plan_file(file)
    services = _open(ctx, db)
    try:
        changes = services.plans.apply(raw, allow_breaking=allow_breaking)
    except ValidationFailed as refused:
        if all(v.rule is Rule.BREAKING_CHANGE for v in refused.violations):
            for violation in refused.violations:
                _echo(violation.message, err=True)
            raise click.ClickException(
                "Nothing changed: the plan has breaking changes; apply with --allow-breaking."
            ) from refused
        raise
    finally:
        services.close()
    for change in changes:
        _echo(change.describe())
    _echo(f"Applied {len(changes)} change(s)." if changes else "Nothing to change.")


@plan.command("lint")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@_friendly_errors
def plan_lint(file: Path) -> None:
    """Check FILE against HubSpot's rules (names, lengths, counts, options); exits with status 1
    on any violation, for CI. Needs no database."""
    from core.plan import read_plan

    _, violations = read_plan(_read_plan_file(file))
    for line in _report(str(file), violations):
        _echo(line)
    if violations:
        raise SystemExit(1)
    _echo(f"{file}: no rule broken.")


# -- codegen -----------------------------------------------------------------------------------


@main.command()
@click.argument("language", type=click.Choice(["typescript", "python"]))
@click.option("--event", "events", multiple=True, help="Only this event (internal name); repeat.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="File.")
@db_option
@click.pass_context
@_friendly_errors
def codegen(
    ctx: click.Context,
    language: str,
    events: tuple[str, ...],
    output: Path | None,
    db: Path | None,
) -> None:
    """Typed tracking code for the events (all that are not archived, or --event ones):
    TypeScript that pushes to _hsq, or Python that sends through cbe serve or HubSpot's SDK."""
    from core.typed import python_module, typescript_module

    services = _open(ctx, db)
    try:
        if events:
            chosen = [services.definitions.get(name) for name in events]
        else:
            chosen = [d for d in services.definitions.search() if not d.archived]
        make = typescript_module if language == "typescript" else python_module
        text = make(chosen)
    finally:
        services.close()
    _write_or_echo(text, output, f"Wrote {len(chosen)} event(s) as {language} to {output}.")


# -- trace -------------------------------------------------------------------------------------


@main.command()
@click.argument("key", metavar="UUID")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the trace as the API answers it.")
@click.pass_context
@_friendly_errors
def trace(ctx: click.Context, key: str, db: Path | None, as_json: bool) -> None:
    """What happened to the send with this UUID ("why didn't my event register?"): received
    when and from which path, stored or refused (every rule), which record it matched and how
    or that it matched none, retries with the same uuid, what the JavaScript rules cut, and on
    which record's timeline it is. For a send without a uuid, give the completion id the
    collector answered, or the correlationId of the 400 that refused it. Exits with status 1
    when nothing was found."""
    from core.trace import trace as trace_of

    services = _open(ctx, db, create=False, reading=True)
    try:
        found = trace_of(services.db, key)
    finally:
        services.close()
    if as_json:
        _echo_data(json.dumps(found.to_json(), indent=2))
    else:
        for line in found.lines():
            _echo(line)
    if not found.found:
        ctx.exit(1)


# -- rejections --------------------------------------------------------------------------------


@main.group(invoke_without_command=True)
@db_option
@click.option("--event", help="Only requests naming this event (its fully qualified name).")
@click.option("--json", "as_json", is_flag=True, help="Print them as the API lists them.")
@click.pass_context
@_friendly_errors
def rejections(ctx: click.Context, db: Path | None, event: str | None, as_json: bool) -> None:
    """The requests the strict path refused, kept with why (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from api.routes.rejections import rejected_json

    services = _open(ctx, db)
    try:
        found = services.rejections.list(event)
        if as_json:
            _echo_data(json.dumps([rejected_json(r) for r in found], indent=2))
            return
        if not found:
            _echo("No rejected requests kept.")
            return
        for request in found:
            names = ", ".join(request.event_names) or "(no event name)"
            kind = "batch" if request.batch else "send"
            when = request.received_at.isoformat(timespec="seconds")
            _echo(f"{when}  {request.source.value:<6} {kind:<5} {names}  [{request.id}]")
            for line in _report("", request.violations):
                _echo(f"    {line}")
        _echo(f"{len(found)} kept (at most {services.rejections.bound}).")
    finally:
        services.close()


def _group_db(ctx: click.Context, db: Path | None) -> Path | None:
    """A subcommand's --db, else its group's (``cbe rejections --db X replay``)."""
    if db is None and ctx.parent is not None:
        return ctx.parent.params.get("db")
    return db


@rejections.command("replay")
@db_option
@click.pass_context
@_friendly_errors
def rejections_replay(ctx: click.Context, db: Path | None) -> None:
    """Send every kept request again by the strict rules; what passes is stored and leaves
    the quarantine. Exits with status 1 if any still breaks a rule."""
    services = _open(ctx, _group_db(ctx, db))
    try:
        report = services.rejections.replay()
        for request, stored in report.passed:
            _echo(f"passed  [{request.id}] {stored} completion(s) stored")
        for request, violations in report.failed:
            _echo(f"failed  [{request.id}]")
            for line in _report("", violations):
                _echo(f"    {line}")
        _echo(report.summary())
        if report.failed:
            ctx.exit(1)
    finally:
        services.close()


@rejections.command("bound")
@db_option
@click.argument("count", type=click.IntRange(1, 1_000_000), required=False)
@click.pass_context
@_friendly_errors
def rejections_bound(ctx: click.Context, db: Path | None, count: int | None) -> None:
    """Show, or set, how many refused requests are kept (the oldest go first)."""
    services = _open(ctx, _group_db(ctx, db))
    try:
        if count is not None:
            services.rejections.set_bound(count)
        _echo(f"Keeping at most {services.rejections.bound} rejected requests.")
    finally:
        services.close()


@rejections.command("clear")
@db_option
@click.pass_context
@_friendly_errors
def rejections_clear(ctx: click.Context, db: Path | None) -> None:
    """Forget every kept request."""
    services = _open(ctx, _group_db(ctx, db))
    try:
        _echo(f"Forgot {services.rejections.clear()} rejected request(s).")
    finally:
        services.close()


# -- definitions -------------------------------------------------------------------------------


@main.group()
def definitions() -> None:
    """Export and import event definitions as HubSpot's JSON."""


@definitions.command("export")
@db_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File (default: stdout).",
)
@click.pass_context
@_friendly_errors
def export_definitions(ctx: click.Context, db: Path | None, output: Path | None) -> None:
    """Write every event definition in HubSpot's list shape ({"total", "results"})."""
    services = _open(ctx, db, create=False, reading=True)
    try:
        results = []
        for definition in services.definitions.search():
            body = definition_to_hubspot(definition)
            if definition.snippet is not None:
                body["snippet"] = definition.snippet
            results.append(body)
        text = json.dumps({"total": len(results), "results": results}, indent=2) + "\n"
        done = f"Exported {len(results)} event definition(s) to {output}."
        _write_or_echo(text, output, done, err=True)
    finally:
        services.close()


@definitions.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@db_option
@click.pass_context
@_friendly_errors
def import_definitions(ctx: click.Context, file: Path, db: Path | None) -> None:
    """Create the event definitions in FILE (HubSpot's definition JSON: one definition, an
    array, or a list response with "results"). Exits with status 1 if any was refused."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        _fail(f"{file} is not JSON: {error.msg} at line {error.lineno}")
    items = data.get("results") if isinstance(data, dict) and "results" in data else data
    if not isinstance(items, list):
        items = [items]
    services = _open(ctx, db)
    created = refused = 0
    try:
        for i, item in enumerate(items, 1):
            label = item.get("name") or item.get("label") if isinstance(item, dict) else None
            where = f"definition {i}" + (f" ({label})" if label else "")
            try:
                draft = draft_from_hubspot(item)
                definition = services.definitions.create(draft)
                if isinstance(item, dict) and item.get("archived") is True:
                    services.definitions.archive(definition.name)
                created += 1
            except ValidationFailed as error:
                refused += 1
                for line in _report(where, list(error.violations)):
                    _echo(line, err=True)
        _echo(f"Imported {created} event definition(s) from {file}; refused {refused}.")
        if refused:
            ctx.exit(1)
    finally:
        services.close()


# -- reports ---------------------------------------------------------------------------------


def _period(range_name: str, start: str | None, end: str | None, services: Services) -> DateRange:
    try:
        preset = RangePreset(range_name.upper())
    except ValueError as error:
        names = ", ".join(p.value.lower() for p in RangePreset)
        raise click.ClickException(f"--range {range_name!r} is not one of: {names}") from error
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
        if (first or last) and preset is not RangePreset.CUSTOM:
            preset = RangePreset.CUSTOM
        return resolve_range(preset, services.clock.now(), first, last)
    except ValueError as error:
        raise click.ClickException(f"{error} (dates are YYYY-MM-DD)") from error


CELL_WIDTH = 60


def _table(header: list[str], rows: list[list[object]], as_csv: bool) -> None:
    """Rows as CSV (every character kept) or as an aligned text table (long cells cut)."""
    if as_csv:
        # Cells are neutralised before they are written, not the CSV text after: its \r\n
        # line ends are meant, a carriage return inside a cell is not. A newline in a cell is
        # kept (CSV quotes it).
        safe = [[neutralise(c, keep="\n") if isinstance(c, str) else c for c in r] for r in rows]
        click.echo(to_csv([neutralise(h) for h in header], safe), nl=False)
        return

    def cell(value: object) -> str:
        text = neutralise(str(value).replace("\n", " "))  # before measuring: escapes are wider
        return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"

    cells = [[cell(c) for c in header]] + [[cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        _echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            _echo("  ".join("-" * w for w in widths))


def report_options(command: F) -> F:
    command = click.option("--csv", "as_csv", is_flag=True, help="Print the table as CSV.")(command)
    command = click.option(
        "--to", "end", default=None, help="Last day, YYYY-MM-DD (custom range)."
    )(command)
    command = click.option("--from", "start", default=None, help="First day, YYYY-MM-DD.")(command)
    command = click.option(
        "--range",
        "range_name",
        default="last_30_days",
        show_default=True,
        help="today, yesterday, last_7_days, last_30_days, last_90_days, this_month, last_month.",
    )(command)
    return db_option(command)


@main.group()
def report() -> None:
    """Reports on custom behavioral events, as text or CSV."""


@report.command("analyze")
@report_options
@click.option(
    "--frequency",
    type=click.Choice([f.value.lower() for f in Frequency]),
    default="daily",
    show_default=True,
)
@click.option("--series", is_flag=True, help="Completions per day/week/month instead of totals.")
@click.pass_context
@_friendly_errors
def report_analyze(
    ctx: click.Context,
    db: Path | None,
    range_name: str,
    start: str | None,
    end: str | None,
    as_csv: bool,
    frequency: str,
    series: bool,
) -> None:
    """Completions and unique records per event in a date range."""
    services = _open(ctx, db, create=False, reading=True)
    try:
        period = _period(range_name, start, end, services)
        result = services.reports.analyze(period, Frequency(frequency.upper()))
        if series:
            header = ["Bucket", *(r.definition.name for r in result.rows)]
            rows = [
                [
                    bucket.isoformat(),
                    *(result.series[r.definition.fully_qualified_name][i] for r in result.rows),
                ]
                for i, bucket in enumerate(result.buckets)
            ]
        else:
            header = ["Event", "Internal name", "Completions", "Unique records"]
            rows = [
                [r.definition.label, r.definition.name, r.completions, r.unique_records]
                for r in result.rows
            ]
        if not as_csv:
            _echo(f"{period.describe()} (UTC)")
        _table(header, rows, as_csv)
    finally:
        services.close()


def _filters(texts: tuple[str, ...], definition: EventDefinition) -> list[PropertyFilter]:
    """``--filter "make IS_EQUAL_TO ford,kia"`` (operator names from HubSpot's API)."""
    found = []
    props = {p.name: p for p in all_properties(definition)}
    for text in texts:
        parts = text.split(None, 2)
        if len(parts) < 2:
            raise click.ClickException(
                f"--filter {text!r}: write PROPERTY OPERATOR [VALUES], "
                "e.g. 'year IS_GREATER_THAN 2019'"
            )
        try:
            operator = Operator(parts[1].upper())
        except ValueError as error:
            raise click.ClickException(
                f"--filter {text!r}: unknown operator {parts[1]!r}"
            ) from error
        values = [v.strip() for v in parts[2].split(",")] if len(parts) > 2 else []
        candidate = PropertyFilter(property=parts[0], operator=operator, values=values)
        problems = check_filter(candidate, props.get(parts[0]))
        if problems:
            raise click.ClickException(f"--filter {text!r}: {problems[0].message}")
        found.append(candidate)
    return found


@report.command("event")
@click.argument("event")
@report_options
@click.option(
    "--filter", "filter_texts", multiple=True, help="PROPERTY OPERATOR [V1,V2]; repeatable."
)
@click.pass_context
@_friendly_errors
def report_event(
    ctx: click.Context,
    event: str,
    db: Path | None,
    range_name: str,
    start: str | None,
    end: str | None,
    as_csv: bool,
    filter_texts: tuple[str, ...],
) -> None:
    """Completions, unique records and each property's values for EVENT."""
    services = _open(ctx, db, create=False, reading=True)
    try:
        definition = services.definitions.get(event)
        period = _period(range_name, start, end, services)
        result = services.reports.event_report(
            definition, period, _filters(filter_texts, definition)
        )
        if not as_csv:
            _echo(
                f"{definition.label} · {period.describe()} (UTC): "
                f"{result.completions:,} completions, {result.unique_records:,} unique records, "
                f"{result.per_record:.2f} per record"
            )
        rows: list[list[object]] = [
            [
                b.prop.name,
                row.label,
                row.count,
                f"{row.share:.4f}" if as_csv else percent(row.share),
            ]
            for b in result.properties
            for row in b.rows
        ]
        _table(["Property", "Value", "Completions", "Share"], rows, as_csv)
    finally:
        services.close()


@report.command("attribution")
@click.argument("event")
@report_options
@click.option(
    "--dimension",
    type=click.Choice([d.value.lower() for d in Dimension]),
    default="touchpoint_source",
    show_default=True,
)
@click.pass_context
@_friendly_errors
def report_attribution(
    ctx: click.Context,
    event: str,
    db: Path | None,
    range_name: str,
    start: str | None,
    end: str | None,
    as_csv: bool,
    dimension: str,
) -> None:
    """First and last touch of the records that completed EVENT."""
    services = _open(ctx, db, create=False, reading=True)
    try:
        definition = services.definitions.get(event)
        period = _period(range_name, start, end, services)
        result = services.reports.attribution(definition, period, Dimension(dimension.upper()))
        if not as_csv:
            _echo(
                f"{definition.label} · {period.describe()} (UTC): {result.converted:,} records, "
                f"{result.no_touch:,} without a touch"
            )
        share = (lambda x: f"{x:.4f}") if as_csv else percent
        rows: list[list[object]] = [
            [r.value, r.first_touch, share(r.first_share), r.last_touch, share(r.last_share)]
            for r in result.rows
        ]
        _table(
            [result.dimension.label, "First touch", "Share", "Last touch", "Share"], rows, as_csv
        )
    finally:
        services.close()


# -- timeline and portal ---------------------------------------------------------------------------


@main.command()
@click.option("--email", required=True, help="The contact's email address.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--expand", is_flag=True, help="Show every property of each completion.")
@db_option
@click.pass_context
@_friendly_errors
def timeline(ctx: click.Context, email: str, limit: int, expand: bool, db: Path | None) -> None:
    """Print a contact's timeline, newest first, grouped by month."""
    services = _open(ctx, db, create=False, reading=True)
    try:
        contact = services.records.find_contact(email)
        page = services.timeline.page(contact, limit=limit)
        name = contact.display_name
        header = f"{name} <{contact.email}>" if name != contact.email else name
        _echo(f"{header} · contact {contact.id}", bold=True)
        if not page.entries:
            _echo("No completions yet.")
        for month, entries in group_by_month(page.entries):
            _echo("")
            _echo(month, underline=True)
            for entry in entries:
                when = entry.occurred_at.strftime("%b %d %H:%M")
                summary = entry.summary()
                _echo(f"  {when}  {entry.event_label}" + (f" · {summary}" if summary else ""))
                if expand:
                    for row in entry.rows:
                        flags = (
                            " (not an option)" if row.unusable and "(not" not in row.value else ""
                        )
                        flags += " (truncated)" if row.truncated else ""
                        _echo(f"      {row.label}: {row.value}{flags}")
        if page.next_after:
            _echo(f"\nShowing the newest {limit}; pass --limit to see more.")
    finally:
        services.close()


@main.group(invoke_without_command=True)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print portal id and access token as JSON.")
@click.pass_context
@_friendly_errors
def portal(ctx: click.Context, db: Path | None, as_json: bool) -> None:
    """Show the portal id, and where the access token is kept (`set-id` changes the id)."""
    if ctx.invoked_subcommand is not None:
        return
    services = _open(ctx, db)
    try:
        p = services.db.portal
        token_file = Path(services.db.location) / PORTAL_FILE
        if as_json:
            _echo_data(
                json.dumps(
                    {
                        "portalId": p.portal_id,
                        "accessToken": p.access_token,
                        "database": services.db.location,
                    }
                )
            )
            return
        _echo(f"Portal id:    {p.portal_id}")
        _echo(f"Database:     {services.db.location}")
        _echo(f"Access token: in {token_file} (readable by you only);")
        _echo("              `cbe portal --json` prints it.")
    finally:
        services.close()


@portal.command("set-id")
@click.argument("portal_id", type=int)
@db_option
@click.pass_context
@_friendly_errors
def portal_set_id(ctx: click.Context, portal_id: int, db: Path | None) -> None:
    """Give the portal the id of a real HubSpot portal, so that code with its fully qualified
    names (pe{PORTAL_ID}_{name}) runs against cbe unchanged.

    Every event's fully qualified name follows, and so do the completions already stored and
    the workflows' events. Close the app and stop `cbe serve` on this database first: they read
    the portal id when they start.
    """
    parent = ctx.parent.params.get("db") if ctx.parent is not None else None
    services = _open(ctx, db or parent, create=False)
    try:
        change = PortalService(services.db).set_id(portal_id)
        if change.old == change.new and not (change.definitions or change.completions):
            click.echo(f"The portal id is {change.new} already.")
            return
        click.echo(f"Portal id: {change.old} -> {change.new}")
        click.echo(
            f"Renamed: {change.definitions} event definition(s), "
            f"{change.completions} completion(s), {change.workflows} workflow(s); "
            f"events are now sent as pe{change.new}_<name>."
        )
    finally:
        services.close()


# -- doctor ----------------------------------------------------------------------------------


@main.command()
@db_option
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild indexes, cut damaged journal lines, rewrite the manifest; print what was lost.",
)
@click.pass_context
@_friendly_errors
def doctor(ctx: click.Context, db: Path | None, repair: bool) -> None:
    """Check every file of the database (and with --repair, repair it).

    Exit status: 0 healthy or repaired, 1 damage found (or some not repairable).
    """
    path = _database(ctx, db).expanduser().resolve()
    if not path.is_dir() or not any((path / name).exists() for name in (PORTAL_FILE, *DATA_FILES)):
        _fail(f"There is no cbe database at {path}.")
    report = run_doctor(path, repair=repair, progress=lambda text: _echo(text, err=True))
    for line in report.lines():
        _echo(line)
    if not (report.healthy or report.fixed):
        ctx.exit(1)
