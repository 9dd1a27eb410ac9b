"""Analyze: completions and unique records per event over a date range, charted; the event
report (a breakdown per property, filterable) and attribution (first and last touch)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from core.analytics import (
    Analysis,
    Attribution,
    DateRange,
    Dimension,
    EventReport,
    Frequency,
    PropertyBreakdown,
    RangePreset,
    Table,
    analysis_table,
    attribution_table,
    count_ticks,
    event_report_table,
    partial_buckets,
    percent,
    resolve_range,
    to_csv,
)
from core.filters import PropertyFilter
from core.ingestion import all_properties
from core.models import EventDefinition
from tui.dialogs.focus import FirstFieldFocused
from tui.formatting import escape, fill_sized
from tui.screens.base import CbeScreen
from tui.widgets.filter_builder import FilterBuilder


def export(screen: CbeScreen, name: str, table: Table) -> None:
    """Ask where to save a report table as CSV (the last folder used, first the downloads
    folder), save it there and say where."""
    from tui.dialogs.save_as import SaveAsDialog

    header, rows = table
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    default = screen.cbe.export_dir / f"cbe-{safe}.csv"

    def saved(path: Path | None) -> None:
        if path is not None:
            screen.cbe.export_dir = path.parent  # the next export offers the same folder
            screen.notify(f"Saved {len(rows)} row(s) to {escape(str(path))}", title="CSV export")

    screen.app.push_screen(
        SaveAsDialog("Export CSV", f"{len(rows)} row(s)", default, to_csv(header, rows)), saved
    )


_CHART_COLOURS = ("cyan", "magenta", "yellow", "green", "red", "blue")
"""Names plotext and Textual's markup both know, so the legend matches the lines."""

_COLUMNS = [
    ("Chart", "chart"),
    ("Event", "event"),
    ("Object", "object"),
    ("Completions", "completions"),
    ("Unique records", "unique"),
]


class AnalyzeScreen(CbeScreen):
    """HubSpot's "Analyze custom behavioral events"."""

    TITLE = "Analyze"
    SECTION = "analyze"
    HELP = (
        "Completions and unique records of every event in a date range (rolling ranges exclude "
        "today, as HubSpot's), charted per day, week (from Sunday) or month. space puts an event "
        "on the chart; enter opens its report; a its attribution; x saves the table as CSV."
    )
    AUTO_FOCUS = "#analyze-events"
    BINDINGS = [
        Binding("space", "toggle_chart", "Chart on/off"),
        Binding("enter", "report", "Event report", show=False),
        Binding("a", "attribution", "Attribution"),
        Binding("x", "export", "Export CSV"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.analysis: Analysis | None = None
        self.charted: set[str] = set()

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("Analyze custom behavioral events", classes="page-title")
            with Horizontal(classes="controls"):
                yield Select(
                    [(p.label, p) for p in RangePreset],
                    value=RangePreset.LAST_30_DAYS,
                    allow_blank=False,
                    id="range",
                )
                yield Select(
                    [(f.label, f) for f in Frequency],
                    value=Frequency.DAILY,
                    allow_blank=False,
                    id="frequency",
                )
                yield Input(placeholder="From YYYY-MM-DD", id="from")
                yield Input(placeholder="To YYYY-MM-DD", id="to")
            yield Static("", id="period", classes="muted")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="analyze-events")
            yield PlotextPlot(id="chart")
            yield Static("", id="chart-legend")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self._custom_inputs()
        self.reload()

    def on_screen_resume(self) -> None:
        # Events created (or completed) elsewhere since the table was filled.
        if self.analysis is not None:
            self.reload()

    def _custom_inputs(self) -> None:
        custom = self.query_one("#range", Select).value is RangePreset.CUSTOM
        for input_id in ("#from", "#to"):
            self.query_one(input_id, Input).display = custom

    def period(self) -> DateRange | None:
        preset = self.query_one("#range", Select).value
        assert isinstance(preset, RangePreset)
        now = self.services.clock.now()
        if preset is not RangePreset.CUSTOM:
            return resolve_range(preset, now)
        typed = [
            (label, self.query_one(input_id, Input).value.strip())
            for label, input_id in (("From", "#from"), ("To", "#to"))
        ]
        note = self.query_one("#period", Static)
        if not any(value for _, value in typed):
            note.update("")  # nothing typed yet: nothing to complain about
            return None
        days: list[date] = []
        for label, value in typed:
            if not value:
                note.update(f"[$error]Type the {label} date too (YYYY-MM-DD).[/]")
                return None
            try:
                days.append(date.fromisoformat(value))
            except ValueError:
                note.update(
                    f"[$error]{label} “{escape(value)}” is not a date: "
                    "dates are YYYY-MM-DD, e.g. 2026-10-01.[/]"
                )
                return None
        try:
            return resolve_range(preset, now, days[0], days[1])
        except ValueError as error:
            note.update(f"[$error]{escape(str(error).capitalize())}.[/]")
            return None

    @on(Select.Changed, "#range")
    @on(Select.Changed, "#frequency")
    @on(Input.Submitted, "#from")
    @on(Input.Submitted, "#to")
    def _controls_changed(self) -> None:
        self._custom_inputs()
        self.reload()

    def frequency(self) -> Frequency:
        value = self.query_one("#frequency", Select).value
        return value if isinstance(value, Frequency) else Frequency.DAILY

    @work(thread=True, exclusive=True, group="analyze")
    def reload(self) -> None:
        period = self.app.call_from_thread(self.period)
        if period is None:
            return
        analysis = self.services.reports.analyze(period, self.app.call_from_thread(self.frequency))
        self.from_worker(self._show, analysis)

    def _show(self, analysis: Analysis) -> None:
        self.analysis = analysis
        if not self.charted:
            busiest = sorted(analysis.rows, key=lambda r: -r.completions)[:3]
            self.charted = {r.definition.fully_qualified_name for r in busiest if r.completions}
        total = sum(r.completions for r in analysis.rows)
        days = analysis.period.days
        self.query_one("#period", Static).update(
            f"{analysis.period.describe()} ({days} day{'s' if days != 1 else ''}, UTC) · "
            f"{total:,} completions · {analysis.frequency.label.lower()}"
        )
        self._fill()
        self._chart()

    def _fill(self) -> None:
        assert self.analysis is not None
        table = self.query_one("#analyze-events", DataTable)
        row = table.cursor_row
        rows = [
            (
                r.definition.fully_qualified_name,
                "[x]" if r.definition.fully_qualified_name in self.charted else "[ ]",
                r.definition.label,
                r.definition.primary_object.label,
                f"{r.completions:,}",
                f"{r.unique_records:,}",
            )
            for r in self.analysis.rows
        ]
        fill_sized(
            table,
            [label for label, _ in _COLUMNS],
            [cells[1:] for cells in rows],
            keys=[key for _, key in _COLUMNS],
            row_keys=[cells[0] for cells in rows],
        )
        if self.analysis.rows:
            table.move_cursor(row=min(row, len(self.analysis.rows) - 1))

    def _chart(self) -> None:
        assert self.analysis is not None
        analysis = self.analysis
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        xs = list(range(len(analysis.buckets)))
        # A first or last week (month) the range covers only in part has fewer days: drawn as
        # a lone point, not joined to the line, so it never reads as a drop.
        partial = partial_buckets(analysis.period, analysis.frequency, analysis.buckets)
        whole = [x for x in xs if x not in partial]
        legend = []
        top = 0
        charted = [r for r in analysis.rows if r.definition.fully_qualified_name in self.charted]
        for i, r in enumerate(charted):
            values = analysis.series[r.definition.fully_qualified_name]
            colour = _CHART_COLOURS[i % len(_CHART_COLOURS)]
            top = max([top, *values])
            if whole:
                plt.plot(whole, [values[x] for x in whole], marker="braille", color=colour)
            if partial:
                points = sorted(partial)
                plt.scatter(points, [values[x] for x in points], marker="x", color=colour)
            legend.append(f"[{colour}]━━[/] {escape(r.definition.label)}")
        # Counts: whole-number ticks from zero, never a line below it.
        ticks = count_ticks(top)
        plt.ylim(0, ticks[-1])
        plt.yticks([float(t) for t in ticks], [f"{t:,}" for t in ticks])
        step = max(1, len(xs) // 6)
        shown_ticks = xs[::step]
        plt.xticks(
            [float(t) for t in shown_ticks],
            [analysis.buckets[i].strftime("%b %d") for i in shown_ticks],
        )
        plt.title(
            "Completions per "
            + {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month"}[analysis.frequency.value]
        )
        plot.refresh()
        # The legend sits under the chart, where it covers no data.
        if partial and charted:
            unit = "week" if analysis.frequency is Frequency.WEEKLY else "month"
            legend.append(f"[$text-muted]x: a {unit} the range covers only in part[/]")
        self.query_one("#chart-legend", Static).update("   ".join(legend))

    def _selected(self) -> EventDefinition | None:
        if self.analysis is None:
            return None
        table = self.query_one("#analyze-events", DataTable)
        if table.row_count == 0:
            return None
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next(
            (r.definition for r in self.analysis.rows if r.definition.fully_qualified_name == name),
            None,
        )

    def action_toggle_chart(self) -> None:
        definition = self._selected()
        if definition is not None:
            self.charted ^= {definition.fully_qualified_name}
            self._fill()
            self._chart()

    @on(DataTable.RowSelected, "#analyze-events")
    def action_report(self) -> None:
        definition, period = self._selected(), self.period()
        if definition is not None and period is not None:
            self.app.push_screen(EventReportScreen(definition.name, period))

    def action_attribution(self) -> None:
        definition, period = self._selected(), self.period()
        if definition is not None and period is not None:
            self.app.push_screen(AttributionScreen(definition.name, period))

    def action_export(self) -> None:
        if self.analysis is None:
            return
        period = self.analysis.period
        export(self, f"analyze-{period.start}-{period.end}", analysis_table(self.analysis))


FIRST_FRAME_WAIT = 0.2
"""Seconds a report screen waits for its numbers before it is first drawn: numbers that come
sooner are in the first frame, laid out and drawn once (not "Counting completions…" drawn,
then everything laid out and drawn again, while the count shares the interpreter with the
drawing); slower ones follow as before."""


async def numbers_first(shown: asyncio.Event) -> None:
    """Wait (in a screen's ``on_mount``, which its first frame follows) until ``shown`` is set
    or :data:`FIRST_FRAME_WAIT` has passed."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(shown.wait(), FIRST_FRAME_WAIT)


class FilterDialog(FirstFieldFocused, ModalScreen[PropertyFilter | None]):
    """Add one property filter to a report."""

    DEFAULT_CSS = """
    FilterDialog { align: center middle; }
    FilterDialog > Vertical {
        width: 86; height: auto; padding: 1 2;
        border: thick $primary 60%; background: $surface;
    }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+f", "apply", "Apply filter"),
    ]

    def __init__(self, definition: EventDefinition) -> None:
        super().__init__()
        self.definition = definition

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]Filter {escape(self.definition.label)}[/b] by a property value")
            yield FilterBuilder(id="builder")

    def on_mount(self) -> None:
        props = all_properties(self.definition)
        self.query_one(FilterBuilder).set_properties(props)

    def action_apply(self) -> None:
        self.query_one(FilterBuilder).apply()

    @on(FilterBuilder.Applied)
    def _applied(self, event: FilterBuilder.Applied) -> None:
        self.dismiss(event.filter)


class EventReportScreen(CbeScreen):
    """One event in a period: completions, unique records, and each property's values."""

    TITLE = "Event report"
    SECTION = "analyze"
    HELP = (
        "Completions and unique records of one event, and for each property its values "
        "(enumerations by label, numbers in ranges, strings by their top values). Values that are "
        "not options are counted apart. f adds a property filter, backspace removes the last."
    )
    AUTO_FOCUS = "#report-properties"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "add_filter", "Filter"),
        Binding("backspace", "remove_filter", "Remove filter"),
        Binding("a", "attribution", "Attribution"),
        Binding("x", "export", "Export CSV"),
    ]

    def __init__(self, event_name: str, period: DateRange) -> None:
        super().__init__()
        self.event_name = event_name
        self.period = period
        self.filters: list[PropertyFilter] = []
        self.report: EventReport | None = None
        self._shown = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("", id="report-title", classes="page-title")
            yield Static("Counting completions…", id="report-summary")
            yield Static("", id="report-filters", classes="muted")
            with Horizontal(classes="report-body"):
                yield OptionList(id="report-properties")
                with Vertical(classes="report-main"):
                    yield DataTable(cursor_type="row", zebra_stripes=True, id="breakdown")
                    yield Static("", id="breakdown-note", classes="muted")
        yield from self.frame_bottom()

    async def on_mount(self) -> None:
        self.definition = self.services.definitions.get(self.event_name)
        self.query_one("#report-title", Static).update(
            f"{escape(self.definition.label)} · {self.period.describe()}"
        )
        self.reload()
        await numbers_first(self._shown)

    @work(thread=True, exclusive=True, group="event-report")
    def reload(self) -> None:
        report = self.services.reports.event_report(self.definition, self.period, self.filters)
        self.from_worker(self._show, report)

    def _show(self, report: EventReport) -> None:
        self.report = report
        self.query_one("#report-summary", Static).update(
            f"[b]{report.completions:,}[/b] completions · [b]{report.unique_records:,}[/b] unique "
            f"records · [b]{report.per_record:.2f}[/b] completions per record"
        )
        props = {p.name: p for p in all_properties(self.definition)}
        self.query_one("#report-filters", Static).update(
            "Filters: "
            + (
                escape("; ".join(f.describe(props.get(f.property)) for f in report.filters))
                or "none (f adds one)"
            )
        )
        options = self.query_one("#report-properties", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(
            [Option(escape(b.prop.label), id=b.prop.name) for b in report.properties]
        )
        if report.properties:
            options.highlighted = min(highlighted or 0, len(report.properties) - 1)
        self._breakdown()
        self._shown.set()

    @on(OptionList.OptionHighlighted, "#report-properties")
    def _breakdown(self) -> None:
        table = self.query_one("#breakdown", DataTable)
        table.clear()
        breakdown = self._current()
        note = self.query_one("#breakdown-note", Static)
        if breakdown is None:
            note.update("")
            return
        fill_sized(
            table,
            ["Value", "Completions", "Share"],
            [(row.label, f"{row.count:,}", percent(row.share)) for row in breakdown.rows],
        )
        parts = [f"{breakdown.known:,} with a value", f"{breakdown.unknown:,} without"]
        if breakdown.unusable:
            parts.append(f"{breakdown.unusable:,} with values that are not options (counted apart)")
        note.update(" · ".join(parts))

    def _current(self) -> PropertyBreakdown | None:
        if self.report is None:
            return None
        index = self.query_one("#report-properties", OptionList).highlighted
        if index is None or not 0 <= index < len(self.report.properties):
            return None
        return self.report.properties[index]

    def action_add_filter(self) -> None:
        def chosen(new: PropertyFilter | None) -> None:
            if new is not None:
                self.filters.append(new)
                self.reload()

        self.app.push_screen(FilterDialog(self.definition), chosen)

    def action_remove_filter(self) -> None:
        if self.filters:
            self.filters.pop()
            self.reload()

    def action_attribution(self) -> None:
        # The report's filters narrow who converted, as in the report.
        self.app.push_screen(AttributionScreen(self.event_name, self.period, list(self.filters)))

    def action_export(self) -> None:
        if self.report is None:
            return
        name = f"event-{self.definition.name}-{self.period.start}-{self.period.end}"
        export(self, name, event_report_table(self.report))

    def action_back(self) -> None:
        self.dismiss()


class AttributionScreen(CbeScreen):
    """First and last touch before records completed an event."""

    TITLE = "Attribution"
    SECTION = "analyze"
    HELP = (
        "For every record that completed the event in the period: the first and the last touch "
        "(touchpoint source, UTM source and campaign, or referrer) among its completions up to "
        "that moment, with counts and shares."
    )
    AUTO_FOCUS = "#attribution"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "export", "Export CSV"),
    ]

    def __init__(
        self, event_name: str, period: DateRange, filters: Sequence[PropertyFilter] = ()
    ) -> None:
        super().__init__()
        self.event_name = event_name
        self.period = period
        self.filters = list(filters)
        """The event report's filters: only matching completions convert."""
        self.result: Attribution | None = None
        self._shown = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("", id="attribution-title", classes="page-title")
            yield Select(
                [(d.label, d) for d in Dimension],
                value=Dimension.TOUCHPOINT_SOURCE,
                allow_blank=False,
                id="dimension",
            )
            yield Static("", id="attribution-filters", classes="muted")
            yield Static("Counting completions…", id="attribution-summary")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="attribution")
        yield from self.frame_bottom()

    async def on_mount(self) -> None:
        self.definition = self.services.definitions.get(self.event_name)
        self.query_one("#attribution-title", Static).update(
            f"Attribution: {escape(self.definition.label)} · {self.period.describe()}"
        )
        props = {p.name: p for p in all_properties(self.definition)}
        self.query_one("#attribution-filters", Static).update(
            "Filters: "
            + (escape("; ".join(f.describe(props.get(f.property)) for f in self.filters)) or "none")
        )
        self.reload()
        await numbers_first(self._shown)

    def dimension(self) -> Dimension:
        value = self.query_one("#dimension", Select).value
        return value if isinstance(value, Dimension) else Dimension.TOUCHPOINT_SOURCE

    @on(Select.Changed, "#dimension")
    def _dimension_changed(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="attribution")
    def reload(self) -> None:
        dimension = self.app.call_from_thread(self.dimension)
        result = self.services.reports.attribution(
            self.definition, self.period, dimension, self.filters
        )
        self.from_worker(self._show, result)

    def _show(self, result: Attribution) -> None:
        self.result = result
        self.query_one("#attribution-summary", Static).update(
            f"[b]{result.converted:,}[/b] records completed the event in the period"
            + (" as filtered" if self.filters else "")
            + "; "
            f"{result.no_touch:,} of them had no {result.dimension.label.lower()} before."
        )
        table = self.query_one("#attribution", DataTable)
        fill_sized(
            table,
            ["Value", "First touch", "First touch share", "Last touch", "Last touch share"],
            [
                (
                    row.value,
                    f"{row.first_touch:,}",
                    percent(row.first_share),
                    f"{row.last_touch:,}",
                    percent(row.last_share),
                )
                for row in result.rows
            ],
        )
        self._shown.set()

    def action_export(self) -> None:
        if self.result is None:
            return
        name = f"attribution-{self.definition.name}-{self.result.dimension.value.lower()}"
        export(self, name, attribution_table(self.result))

    def action_back(self) -> None:
        self.dismiss()
