"""One record: its properties and associations beside its timeline.

The timeline loads a page at a time as the cursor moves down, and looks for new completions
whenever the store says it changed (tui.live), so completions that ``cbe serve`` or ``cbe send``
store elsewhere appear as they are stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static
from textual.worker import Worker

from core.crm_display import property_display
from core.errors import NotFound
from core.models import Completion, CrmRecord, EventDefinition, ObjectType
from core.occurrences import encode_cursor
from core.ports import Topic
from core.timeline import TimelineEntry, TimelineFilter
from tui.dialogs.timeline_filter import TimelineFilterDialog
from tui.formatting import escape, shown
from tui.screens.base import CbeScreen
from tui.widgets.timeline import TimelineView

PAGE = 50
FILTER_KEY = "timeline-filter"


@dataclass(frozen=True)
class _Page:
    entries: list[TimelineEntry]
    next_after: str | None
    replace: bool


class RecordScreen(CbeScreen):
    """A contact, company, deal or ticket and its activity."""

    TITLE = "Record"
    SECTION = "records"
    HELP = (
        "A record's properties and its timeline: completions newest first, grouped by month. "
        "Expand an entry for every property; t tells what happened to its send (its trace); "
        "f filters by activity type, event, time and text. "
        "The filter is remembered for you across records of this kind; x clears it."
    )
    AUTO_FOCUS = "TimelineView"
    LIVE = frozenset({Topic.COMPLETIONS})
    # Below 110 columns the properties go above the timeline instead of beside it (cbe.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "filter", "Filter activity"),
        Binding("g", "go_to_event", "Go to event"),
        Binding("t", "trace", "Trace", show=False),
        Binding("x", "clear_filter", "Clear filter"),
    ]

    def __init__(self, object_type: ObjectType, record_id: str) -> None:
        super().__init__()
        self.object_type = object_type
        self.record_id = record_id
        self.record: CrmRecord | None = None
        self.timeline_filter = TimelineFilter()
        self.next_after: str | None = None
        self._new = 0
        """New completions shown by the pages of a burst so far (noted once, at the end)."""

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Horizontal(classes="page record-page"):
            with VerticalScroll(classes="record-side"):
                yield Static("", id="record-title", classes="page-title")
                yield Static("", id="record-summary", classes="muted")
                yield Static("Properties", classes="section-title")
                yield Static("", id="record-properties")
                yield Static("Associations", classes="section-title")
                yield Static("", id="record-associations")
            with Vertical(classes="record-main"):
                # What is filtered may be cut (…); the keys beside it never are.
                with Horizontal(id="filter-row"):
                    yield Static("", id="filter-line")
                    yield Static("", id="filter-keys", classes="muted")
                yield TimelineView(id="timeline")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        try:
            self.record = self.services.records.get(self.object_type, self.record_id)
        except NotFound as error:
            self.notify(escape(str(error)), severity="error")
            self.dismiss()
            return
        self.title = f"{self.object_type.singular}: {shown(self.record.display_name)}"
        saved = self.services.preferences.load(self._filter_key())
        if saved:
            try:
                self.timeline_filter = TimelineFilter.model_validate(saved)
            except ValueError:
                self.timeline_filter = TimelineFilter()
        self._show_record()
        self._show_filter()
        self.call_after_refresh(self.query_one(TimelineView).focus)
        self.load(replace=True)
        if self.cbe.poll_seconds:
            self.set_interval(self.cbe.poll_seconds, self.look_for_new)

    def refresh_from_store(self) -> Worker[None] | None:
        return self.look_for_new()

    def _filter_key(self) -> str:
        # Remembered per kind of record, as HubSpot keeps one filter per user across the
        # records of a kind (its events differ by kind); the filter line shows it, x clears it.
        portal = self.services.db.portal.portal_id
        return f"{FILTER_KEY}:{portal}:{self.object_type.value}"

    # -- the record ------------------------------------------------------------------------

    def _show_record(self) -> None:
        record = self.record
        assert record is not None
        self.query_one("#record-title", Static).update(escape(record.display_name))
        self.query_one("#record-summary", Static).update(
            f"{record.object_type.singular} {record.id}"
        )
        # Values fold onto more lines rather than being cut: an email is read whole.
        grid = Table.grid(padding=(0, 1, 0, 0))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for name, value in sorted(record.properties.items()):
            value = property_display(record.object_type, name, value)
            grid.add_row(Text(shown(name)), Text(shown(value)))
        self.query_one("#record-properties", Static).update(grid)
        linked = self.services.records.associated(record.object_type, record.id)
        lines = [
            f"{kind.label}: " + ", ".join(escape(r.display_name) for r in records)
            for kind, records in sorted(linked.items())
        ]
        self.query_one("#record-associations", Static).update("\n".join(lines) or "None.")

    @work(thread=True, exclusive=True, group="record-count")
    def count_completions(self) -> None:
        """The record's completion count reads every month: off the UI thread."""
        record = self.record
        if record is None:
            return
        summary = self.services.db.completions.record_summaries().get(
            (record.object_type, record.id)
        )
        count = summary.count if summary else 0
        text = f"{record.object_type.singular} {record.id} · {count:,} completion" + (
            "s" if count != 1 else ""
        )
        self.from_worker(self._show_count, text)

    def _show_count(self, text: str) -> None:
        self.query_one("#record-summary", Static).update(text)

    def _show_filter(self) -> None:
        f = self.timeline_filter
        line = f"[b]Activity[/b]  {escape(f.describe())}"
        self.query_one("#filter-line", Static).update(line)
        keys = "f filter · x clear" if not f.is_default else "f filter"
        self.query_one("#filter-keys", Static).update(keys)
        timeline = self.query_one(TimelineView)
        timeline.empty_text = (
            "No activity yet."
            if f.is_default
            # the filter itself is on the line above
            else f"No activity matches the filter for {self.object_type.label.lower()}; "
            "x clears it."
        )

    # -- loading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="timeline-page")
    def load(self, replace: bool = False) -> None:
        record = self.record
        if record is None:
            return
        page = self.services.timeline.page(
            record,
            after=None if replace else self.next_after,
            limit=PAGE,
            timeline_filter=self.timeline_filter,
        )
        self.from_worker(self._show_page, _Page(page.entries, page.next_after, replace))

    def _show_page(self, page: _Page) -> None:
        self.next_after = page.next_after
        timeline = self.query_one(TimelineView)
        if page.replace:
            timeline.show(page.entries, page.next_after is not None)
            if self.app.focused is None:
                timeline.focus()
            self.count_completions()  # after the first page: it reads every month
        else:
            timeline.append(page.entries, page.next_after is not None)

    @on(TimelineView.NeedMore)
    def _more(self) -> None:
        if self.next_after:
            self.load(replace=False)

    def look_for_new(self) -> Worker[None] | None:
        """Completions newer than the newest shown (stored by another process, say), a page
        at a time: after a burst, the next page is asked for once this one is shown."""
        record = self.record
        timeline = self.query_one(TimelineView)
        if record is None or timeline.fetching:
            return None
        newest = next((e.completion for e in timeline.entries if e.completion), None)
        return self._read_new(record, newest)

    @work(thread=True, exclusive=True, group="timeline-live")
    def _read_new(self, record: CrmRecord, newest: Completion | None) -> None:
        query = self.services.timeline.query(
            record,
            self.timeline_filter,
            self.services.clock.now(),
            limit=PAGE,
            after=encode_cursor(newest) if newest else None,
            newest_first=False,
        )
        if query is None:
            return
        fresh = self.services.occurrences.page(query).results
        if fresh:
            entries = self.services.timeline.entries(reversed(fresh))
            self.from_worker(self._show_new, entries, len(fresh) == PAGE)

    def _show_new(self, entries: list[TimelineEntry], more: bool) -> None:
        self._new += self.query_one(TimelineView).prepend(entries)
        if more and self._new:
            self.look_for_new()
            return
        added, self._new = self._new, 0
        if added:  # one note for all the pages of a burst
            self.count_completions()
            self.notify(f"{added} new completion{'s' if added != 1 else ''}.", title="Timeline")

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return not self.timeline_filter.is_default
        return True

    def _events(self) -> list[EventDefinition]:
        return [
            d for d in self.services.definitions.search() if d.primary_object is self.object_type
        ]

    def action_filter(self) -> None:
        def chosen(new: TimelineFilter | None) -> None:
            if new is not None:
                self._apply_filter(new)

        self.app.push_screen(TimelineFilterDialog(self.timeline_filter, self._events()), chosen)

    def action_clear_filter(self) -> None:
        self._apply_filter(TimelineFilter())

    def _apply_filter(self, new: TimelineFilter) -> None:
        self.timeline_filter = new
        self.services.preferences.save(self._filter_key(), new.to_json())
        self._show_filter()
        self.refresh_bindings()
        timeline = self.query_one(TimelineView)
        timeline.fetching = True
        self.load(replace=True)

    def action_go_to_event(self) -> None:
        from tui.screens.event_detail import EventDetailScreen

        entry = self.query_one(TimelineView).current
        if entry is None:
            return
        try:
            definition = self.services.timeline.definition_for(entry.completion)
        except NotFound as error:
            self.notify(escape(str(error)), severity="warning")
            return
        self.app.push_screen(EventDetailScreen(definition.name))

    def action_trace(self) -> None:
        """What happened to the completion under the cursor (``cbe trace``)."""
        from tui.dialogs.trace import TraceDialog

        entry = self.query_one(TimelineView).current
        if entry is not None and entry.completion is not None:
            self.app.push_screen(TraceDialog(self.services, entry.completion.uuid))

    def action_back(self) -> None:
        self.dismiss()
