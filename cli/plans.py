"""``cbe plan``: definitions as code (export, diff, apply, lint a plan file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.options import db_option, services
from cli.output import echo, friendly_errors, report_lines, write_or_echo
from core.errors import Rule, ValidationFailed

FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


@click.group()
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
@friendly_errors
def plan_export(ctx: click.Context, output: Path | None, db: Path | None) -> None:
    """Every event definition as a plan file (stdout, or -o FILE)."""
    text = services(ctx).plans.export()
    count = len(json.loads(text)["events"])
    write_or_echo(text, output, f"Wrote the plan of {count} event(s) to {output}.")


@plan.command("diff")
@click.argument("file", type=FILE)
@db_option
@click.pass_context
@friendly_errors
def plan_diff(ctx: click.Context, file: Path, db: Path | None) -> None:
    """What applying FILE would change, each change safe or BREAKING, with what it costs.
    Exits with status 2 when a change is breaking."""
    raw = _read_plan_file(file)
    changes = services(ctx).plans.diff(raw)
    for change in changes:
        echo(change.describe())
    breaking = sum(c.breaking for c in changes)
    echo(f"{len(changes)} change(s), {breaking} breaking." if changes else "No changes.")
    if breaking:
        ctx.exit(2)


@plan.command("apply")
@click.argument("file", type=FILE)
@click.option("--allow-breaking", is_flag=True, help="Also make breaking changes.")
@db_option
@click.pass_context
@friendly_errors
def plan_apply(ctx: click.Context, file: Path, allow_breaking: bool, db: Path | None) -> None:
    """Make the definitions what FILE says. Breaking changes (removing an event, a property or
    an option, changing a type) need --allow-breaking; without it nothing changes."""
    raw = _read_plan_file(file)
    opened = services(ctx)
    try:
        changes = opened.plans.apply(raw, allow_breaking=allow_breaking)
    except ValidationFailed as refused:
        if all(v.rule is Rule.BREAKING_CHANGE for v in refused.violations):
            for violation in refused.violations:
                echo(violation.message, err=True)
            raise click.ClickException(
                "Nothing changed: the plan has breaking changes; apply with --allow-breaking."
            ) from refused
        raise
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
