"""``cbe definitions`` (HubSpot's definition JSON in and out) and ``cbe codegen``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.options import db_option, services
from cli.output import echo, fail, friendly_errors, report_lines, write_or_echo
from core.errors import ValidationFailed
from core.hubspot import definition_to_hubspot, draft_from_hubspot
from core.models import EventDefinition


@click.group()
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
@friendly_errors
def export_definitions(ctx: click.Context, db: Path | None, output: Path | None) -> None:
    """Write every event definition in HubSpot's list shape ({"total", "results"})."""
    results = []
    for definition in services(ctx, create=False, reading=True).definitions.search():
        body = definition_to_hubspot(definition)
        if definition.snippet is not None:
            body["snippet"] = definition.snippet
        results.append(body)
    text = json.dumps({"total": len(results), "results": results}, indent=2) + "\n"
    done = f"Exported {len(results)} event definition(s) to {output}."
    write_or_echo(text, output, done, err=True)


@definitions.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@db_option
@click.pass_context
@friendly_errors
def import_definitions(ctx: click.Context, file: Path, db: Path | None) -> None:
    """Create the event definitions in FILE (HubSpot's definition JSON: one definition, an
    array, or a list response with "results"). Exits with status 1 if any was refused."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        fail(f"{file} is not JSON: {error.msg} at line {error.lineno}")
    items = data.get("results") if isinstance(data, dict) and "results" in data else data
    if not isinstance(items, list):
        items = [items]
    opened = services(ctx)
    created = refused = 0
    for i, item in enumerate(items, 1):
        label = item.get("name") or item.get("label") if isinstance(item, dict) else None
        where = f"definition {i}" + (f" ({label})" if label else "")
        try:
            draft = draft_from_hubspot(item)
            definition = opened.definitions.create(draft)
            if isinstance(item, dict) and item.get("archived") is True:
                opened.definitions.archive(definition.name)
            created += 1
        except ValidationFailed as error:
            refused += 1
            for line in report_lines(where, list(error.violations)):
                echo(line, err=True)
    echo(f"Imported {created} event definition(s) from {file}; refused {refused}.")
    if refused:
        ctx.exit(1)


def _event_named(known: list[EventDefinition], typed: str) -> EventDefinition:
    """The event a person means by ``typed``: its internal name, fully qualified name or label
    (any case), as the app and README name events."""
    wanted = typed.strip().casefold()
    for definition in known:
        names = (definition.name, definition.fully_qualified_name, definition.label)
        if wanted in {n.casefold() for n in names}:
            return definition
    listed = ", ".join(d.name for d in known) or "none yet"
    fail(
        f"No event is named {typed!r} (an internal name, fully qualified name or label); "
        f"the events are: {listed}."
    )


@click.command()
@click.argument("language", type=click.Choice(["typescript", "python"]))
@click.option(
    "--event",
    "events",
    multiple=True,
    help="Only this event (internal name, fully qualified name or label); repeat.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="File.")
@db_option
@click.pass_context
@friendly_errors
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

    opened = services(ctx, create=False, reading=True)
    if events:
        chosen = [_event_named(opened.definitions.search(), name) for name in events]
    else:
        chosen = [d for d in opened.definitions.search() if not d.archived]
    make = typescript_module if language == "typescript" else python_module
    text = make(chosen)
    write_or_echo(text, output, f"Wrote {len(chosen)} event(s) as {language} to {output}.")
