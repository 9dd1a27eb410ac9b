"""Home: the portal's custom behavioral events."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.services import Services
from tui.formatting import relative_time, short_date


class EventsScreen(Screen[None]):
    """A table of event definitions with their completions."""

    AUTO_FOCUS = "DataTable"

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Custom behavioral events", id="title")
        yield Static("", id="empty")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="events")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
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
        self.refresh_events()

    def refresh_events(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        now = self.services.clock.now()
        summaries = self.services.db.completions.summaries()
        definitions = self.services.definitions.search()
        for definition in definitions:
            summary = summaries.get(definition.fully_qualified_name)
            label = definition.label + (" (archived)" if definition.archived else "")
            table.add_row(
                label,
                definition.name,
                definition.primary_object.label,
                "JavaScript" if definition.tracking_method.value == "JAVASCRIPT" else "API",
                f"{summary.count:,}" if summary else "0",
                relative_time(summary.last_occurred_at if summary else None, now),
                short_date(definition.created_at),
                key=definition.name,
            )
        empty = self.query_one("#empty", Static)
        empty.update(
            ""
            if definitions
            else "No events yet. Create one with `cbe definitions import` or the API."
        )
        empty.display = not definitions
