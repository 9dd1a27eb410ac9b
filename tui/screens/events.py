"""Home: the portal's custom behavioral events."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker

from core.errors import CbeError
from core.models import EventDefinition, TrackingMethod
from core.ports import EventSummary, Topic
from tui.dialogs.confirm import ConfirmDialog
from tui.formatting import escape, plain, refill, relative_time
from tui.screens.base import CbeScreen


@dataclass(frozen=True)
class _Listing:
    definitions: list[EventDefinition]
    summaries: dict[str, EventSummary]


class EventsScreen(CbeScreen):
    """A searchable table of event definitions with their completions."""

    TITLE = "Custom behavioral events"
    SECTION = "events"
    HELP = (
        "Every custom behavioral event of this portal, with how often and how recently it was "
        "completed. Create one with the wizard, open one for its details and code."
    )
    AUTO_FOCUS = "#events"
    LIVE = frozenset({Topic.DEFINITIONS, Topic.COMPLETIONS})
    BINDINGS = [
        Binding("n", "create", "New event"),
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("a", "archive", "Archive/restore"),
        Binding("d", "delete", "Delete"),
        Binding("r", "rejections", "Rejected requests"),
        Binding("c", "plan", "Plan"),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._listing = _Listing([], {})
        self._loaded = False
        self._wanted: str | None = None
        """An event to put the cursor on once it is listed (just created)."""
        self._deleting: set[str] = set()
        """Events being deleted by a worker: marked in the table until it is done."""

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            with Horizontal(classes="page-head"):
                yield Static("Custom behavioral events", classes="page-title")
                yield Input(placeholder="Search events by name  ( / )", id="search")
            yield Static("", id="empty", classes="empty")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="events")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        table = self.query_one("#events", DataTable)
        for label, key in (
            ("Event", "label"),
            ("Internal name", "name"),
            ("Object", "object"),
            ("Tracking", "tracking"),
            ("Completions", "completions"),
            ("Last completion", "last"),
            ("Created", "created"),
        ):
            table.add_column(label, key=key)
        self.reload()
        if self.cbe.poll_seconds:
            self.set_interval(self.cbe.poll_seconds, self.reload)

    def refresh_from_store(self) -> Worker[None]:
        return self.reload()

    def on_screen_resume(self) -> None:
        if self._loaded:
            self._back_on_last_event()
            self.reload()

    def _back_on_last_event(self) -> None:
        """Back from an event's details: the cursor on that event (edited or just created),
        never on whichever row took its place."""
        name, self.cbe.last_event = self.cbe.last_event, None
        table = self.query_one("#events", DataTable)
        if name is None:
            return
        self._wanted = name
        if name in [str(row.key.value) for row in table.ordered_rows]:
            table.move_cursor(row=table.get_row_index(name))
            self._wanted = None

    @work(thread=True, exclusive=True, group="events-load")
    def reload(self) -> None:
        """Read definitions and their completion counts off the UI thread."""
        services = self.services
        listing = _Listing(services.definitions.search(), services.db.completions.summaries())
        self.from_worker(self._show, listing)

    def _show(self, listing: _Listing) -> None:
        if listing == self._listing and self._loaded:
            return
        self._listing = listing
        self._loaded = True
        self._fill()
        self.cbe.home_shown()

    def _fill(self) -> None:
        table = self.query_one("#events", DataTable)
        needle = self.query_one("#search", Input).value.strip().lower()
        shown = [
            d
            for d in self._listing.definitions
            if not needle or needle in d.label.lower() or needle in d.name
        ]
        now = self.services.clock.now()
        rows = []
        for definition in shown:
            summary = self._listing.summaries.get(definition.fully_qualified_name)
            label = definition.label + (" (archived)" if definition.archived else "")
            if definition.name in self._deleting:
                label += " (deleting…)"
            cells = (
                plain(label),
                definition.name,
                definition.primary_object.label,
                "JavaScript" if definition.tracking_method is TrackingMethod.JAVASCRIPT else "API",
                f"{summary.count:,}" if summary else "0",
                relative_time(summary.last_occurred_at if summary else None, now),
                definition.created_at.strftime("%Y-%m-%d"),
            )
            rows.append((definition.name, cells))
        refill(table, rows)
        if self._wanted is not None and self._wanted in [key for key, _ in rows]:
            # a new event arrives with this reload: the cursor goes to it
            table.move_cursor(row=table.get_row_index(self._wanted))
            self._wanted = None
        empty = self.query_one("#empty", Static)
        if not self._listing.definitions:
            empty.update("No events yet. Press n to create one with the wizard.")
        elif not shown:
            empty.update(f"No event matches “{escape(needle)}”. Press escape to clear the search.")
        empty.display = not shown

    def selected_name(self) -> str | None:
        table = self.query_one("#events", DataTable)
        if table.row_count == 0:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(row_key.value) if row_key.value is not None else None

    def _selected(self) -> EventDefinition | None:
        name = self.selected_name()
        return next((d for d in self._listing.definitions if d.name == name), None)

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one("#events", DataTable).focus()

    @on(DataTable.RowSelected, "#events")
    def _row_chosen(self) -> None:
        self.action_open()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        search.value = ""
        self.query_one("#events", DataTable).focus()

    def action_plan(self) -> None:
        """Definitions as code: export, diff and apply a plan file (core.plan)."""
        from tui.dialogs.plan import PlanDialog

        def closed(applied: bool | None) -> None:
            if applied:
                self.reload()

        dialog = PlanDialog(self.services, self.cbe.export_dir, self.cbe.open_remote)
        self.app.push_screen(dialog, closed)

    def action_rejections(self) -> None:
        """What the strict path refused, kept (see core.rejections)."""
        from tui.screens.rejections import RejectionsScreen

        self.app.push_screen(RejectionsScreen())

    def action_create(self) -> None:
        self.cbe.action_create_event()

    def action_open(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.cbe.open_event(name)

    def action_archive(self) -> None:
        definition = self._selected()
        if definition is None:
            return
        restore = definition.archived
        self.services.definitions.archive(definition.name, archived=not restore)
        self.notify(
            f"{escape(definition.label)} {'restored' if restore else 'archived'}"
            + ("" if restore else ": it receives no completions until restored."),
            title="Event",
        )
        self.reload()

    def action_delete(self) -> None:
        definition = self._selected()
        if definition is None:
            return
        summary = self._listing.summaries.get(definition.fully_qualified_name)
        count = summary.count if summary else 0
        message = (
            f"Deleting “{escape(definition.label)}” removes the event and its {count:,} "
            f"completion{'s' if count != 1 else ''} for good, and takes it out of the tracking "
            f"code. Its internal name {definition.name} can never be used again."
        )

        def answered(yes: bool | None) -> None:
            if yes and definition.name not in self._deleting:
                self._deleting.add(definition.name)
                self._fill()
                self.notify(
                    f"Deleting {escape(definition.label)} and its {count:,} completion(s)…",
                    title="Event",
                )
                self._delete(definition)

        self.app.push_screen(ConfirmDialog("Delete event?", message), answered)

    @work(thread=True, group="events-delete")
    def _delete(self, definition: EventDefinition) -> None:
        """Delete off the UI thread: the store rewrites the files that hold the event's
        completions, which takes a while in a large store."""
        try:
            removed = self.services.definitions.delete(definition.name)
        except CbeError as error:
            self.app.call_from_thread(self._delete_failed, definition, escape(str(error)))
            return
        self.app.call_from_thread(self._deleted, definition, removed)

    def _deleted(self, definition: EventDefinition, removed: int) -> None:
        self._deleting.discard(definition.name)
        self.notify(
            f"Deleted {escape(definition.label)} and {removed:,} completion(s).", title="Event"
        )
        self.reload()

    def _delete_failed(self, definition: EventDefinition, message: str) -> None:
        self._deleting.discard(definition.name)
        self.notify(message, title="Not deleted", severity="error")
        self._fill()
