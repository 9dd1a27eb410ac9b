"""``cbe report``: analyze, event and attribution reports as text tables or CSV."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.options import db_option, services
from cli.output import echo, friendly_errors
from core.analytics import (
    DateRange,
    Dimension,
    Frequency,
    RangePreset,
    analysis_table,
    attribution_table,
    csv_share,
    event_report_table,
    percent,
    resolve_range,
    to_csv,
)
from core.filters import Operator, PropertyFilter, check_filter
from core.ingestion import all_properties
from core.models import EventDefinition
from core.services import Services
from core.text import neutralise

F = TypeVar("F", bound=Callable[..., Any])

CELL_WIDTH = 60


def _period(range_name: str, start: str | None, end: str | None, opened: Services) -> DateRange:
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
        return resolve_range(preset, opened.clock.now(), first, last)
    except ValueError as error:
        raise click.ClickException(f"{error} (dates are YYYY-MM-DD)") from error


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
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            echo("  ".join("-" * w for w in widths))


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


@click.group()
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
@friendly_errors
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
    opened = services(ctx, create=False, reading=True)
    period = _period(range_name, start, end, opened)
    result = opened.reports.analyze(period, Frequency(frequency.upper()))
    header, rows = analysis_table(result)
    if series:
        header = ["Bucket", *(r.definition.name for r in result.rows)]
        rows = [
            [
                bucket.isoformat(),
                *(result.series[r.definition.fully_qualified_name][i] for r in result.rows),
            ]
            for i, bucket in enumerate(result.buckets)
        ]
    if not as_csv:
        echo(f"{period.describe()} (UTC)")
    _table(header, rows, as_csv)


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
@friendly_errors
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
    opened = services(ctx, create=False, reading=True)
    definition = opened.definitions.get(event)
    period = _period(range_name, start, end, opened)
    result = opened.reports.event_report(definition, period, _filters(filter_texts, definition))
    if not as_csv:
        echo(
            f"{definition.label} · {period.describe()} (UTC): "
            f"{result.completions:,} completions, {result.unique_records:,} unique records, "
            f"{result.per_record:.2f} per record"
        )
    _table(*event_report_table(result, csv_share if as_csv else percent), as_csv)


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
@friendly_errors
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
    opened = services(ctx, create=False, reading=True)
    definition = opened.definitions.get(event)
    period = _period(range_name, start, end, opened)
    result = opened.reports.attribution(definition, period, Dimension(dimension.upper()))
    if not as_csv:
        echo(
            f"{definition.label} · {period.describe()} (UTC): {result.converted:,} records, "
            f"{result.no_touch:,} without a touch"
        )
    _table(*attribution_table(result, csv_share if as_csv else percent), as_csv)
