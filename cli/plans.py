"""``cbe plan``: definitions as code (export, diff, apply, lint a plan file), here or on a remote
portal (``--from`` / ``--to``: HubSpot, or another ``cbe serve``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.bootstrap import open_remote
from cli.options import db_option, services
from cli.output import echo, echo_data, fail, friendly_errors, report_lines, write_or_echo
from core.errors import Rule, ValidationFailed
from core.plan import Change, PartlyApplied, PlanTarget, apply_plan, diff_plan
from core.remote import HUBSPOT_URL, TOKEN_ENV, RemotePortal, RemoteTarget, pull_plan

FILE = click.Path(path_type=Path, dir_okay=False, exists=True)
F = TypeVar("F", bound=Callable[..., Any])


def token_option(command: F) -> F:
    """``--token``, else ``$HUBSPOT_ACCESS_TOKEN``: the remote portal's access token."""
    return click.option(
        "--token",
        envvar=TOKEN_ENV,
        show_envvar=True,
        help="The remote portal's access token (a private app's token for HubSpot; "
        "`cbe portal --json` shows a cbe's). Never printed.",
    )(command)


def _remote(url: str, token: str | None) -> RemotePortal:
    if not token:
        fail(f"{url} needs its access token: pass --token or set ${TOKEN_ENV}.")

    def waiting(seconds: float, why: str) -> None:
        echo(f"{why}: waiting {seconds:g} s as it asks.", err=True)

    return open_remote(url, token, on_wait=waiting)


def _target(ctx: click.Context, to: str | None, token: str | None) -> PlanTarget:
    """The remote portal at ``to``, else this database."""
    if to is not None:
        return RemoteTarget(_remote(to, token))
    return services(ctx).plans.local


@click.group()
def plan() -> None:
    """Definitions as code: export, diff, apply and lint a plan file (JSON, stable order); pull
    it from, diff it against and apply it to a remote portal (HubSpot, or any `cbe serve`)."""


def _read_plan_file(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{file} is not JSON: {error}") from error


@plan.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="File.")
@db_option
@click.pass_context
@friendly_errors
def plan_export(ctx: click.Context, output: Path | None, db: Path | None) -> None:
    """Every event definition as a plan file (stdout, or -o FILE)."""
    text = services(ctx).plans.export()
    count = len(json.loads(text)["events"])
    write_or_echo(text, output, f"Wrote the plan of {count} event(s) to {output}.")


@plan.command("pull")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="URL",
    help=f"The remote portal: {HUBSPOT_URL}, or any `cbe serve`.",
)
@token_option
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="File.")
@friendly_errors
def plan_pull(source: str, token: str | None, output: Path | None) -> None:
    """A remote portal's event definitions as a plan file (stdout, or -o FILE): every page, with
    properties and options, names without the portal prefix. Needs no database."""
    text = pull_plan(_remote(source, token))
    count = len(json.loads(text)["events"])
    write_or_echo(text, output, f"Wrote the plan of {count} event(s) from {source} to {output}.")


def json_option(command: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the changes as JSON, for a program."
    )(command)


def _changes_json(changes: list[Change], **more: object) -> str:
    body = {
        "changes": [c.to_json() for c in changes],
        "breaking": sum(c.breaking for c in changes),
        **more,
    }
    return json.dumps(body, indent=2)


def to_option(command: F) -> F:
    return click.option(
        "--to",
        "to",
        metavar="URL",
        help=f"Against a remote portal ({HUBSPOT_URL}, or any `cbe serve`) instead of the "
        "database.",
    )(command)


@plan.command("diff")
@click.argument("file", type=FILE)
@to_option
@token_option
@json_option
@db_option
@click.pass_context
@friendly_errors
def plan_diff(
    ctx: click.Context,
    file: Path,
    to: str | None,
    token: str | None,
    as_json: bool,
    db: Path | None,
) -> None:
    """What applying FILE would change, each change safe or BREAKING, with what it costs.
    Exits with status 2 when a change is breaking."""
    raw = _read_plan_file(file)
    changes = diff_plan(raw, _target(ctx, to, token))
    breaking = sum(c.breaking for c in changes)
    if as_json:
        echo_data(_changes_json(changes))
    else:
        for change in changes:
            echo(change.describe())
        echo(f"{len(changes)} change(s), {breaking} breaking." if changes else "No changes.")
    if breaking:
        ctx.exit(2)


@plan.command("apply")
@click.argument("file", type=FILE)
@click.option("--allow-breaking", is_flag=True, help="Also make breaking changes.")
@to_option
@token_option
@json_option
@db_option
@click.pass_context
@friendly_errors
def plan_apply(
    ctx: click.Context,
    file: Path,
    allow_breaking: bool,
    to: str | None,
    token: str | None,
    as_json: bool,
    db: Path | None,
) -> None:
    """Make the definitions what FILE says. Breaking changes (removing an event, a property or
    an option, changing a type) need --allow-breaking; without it nothing changes. Applying the
    same plan again changes nothing; after a failure part-way it finishes the job."""
    raw = _read_plan_file(file)
    target = _target(ctx, to, token)

    def progress(step: int, steps: int, does: str) -> None:
        if to is not None:  # a remote takes a request per step: say where it stands
            echo(f"[{step}/{steps}] {does}", err=True)

    try:
        changes = apply_plan(raw, target, allow_breaking=allow_breaking, progress=progress)
    except ValidationFailed as refused:
        if all(v.rule is Rule.BREAKING_CHANGE for v in refused.violations):
            for violation in refused.violations:
                echo(violation.message, err=True)
            raise click.ClickException(
                "Nothing changed: the plan has breaking changes; apply with --allow-breaking."
            ) from refused
        raise
    except PartlyApplied as stopped:
        if as_json:
            echo_data(json.dumps(stopped.to_json(), indent=2))
        else:
            for line in stopped.report():
                echo(line, err=True)
        raise
    if as_json:
        echo_data(_changes_json(changes, applied=True))
        return
    for change in changes:
        echo(change.describe())
    echo(f"Applied {len(changes)} change(s)." if changes else "Nothing to change.")


@plan.command("lint")
@click.argument("file", type=FILE)
@friendly_errors
def plan_lint(file: Path) -> None:
    """Check FILE against HubSpot's rules (names, lengths, counts, options); exits with status 1
    on any violation, for CI. Needs no database."""
    from core.plan import read_plan

    _, violations = read_plan(_read_plan_file(file))
    for line in report_lines(str(file), violations):
        echo(line)
    if violations:
        raise SystemExit(1)
    echo(f"{file}: no rule broken.")
