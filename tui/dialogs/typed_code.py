"""Typed tracking code for one event: TypeScript and Python, to copy into a project."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TabbedContent, TabPane, TextArea

from core.models import EventDefinition
from core.typed import event_line, python_module, typescript_module
from tui.formatting import escape


class TypedCodeDialog(ModalScreen[None]):
    """What ``cbe codegen typescript|python --event NAME`` writes, side by side in tabs."""

    DEFAULT_CSS = """
    TypedCodeDialog { align: center middle; }
    TypedCodeDialog > Vertical {
        width: 96%; height: 92%; padding: 0 1;
        border: thick $accent 60%; background: $surface;
    }
    TypedCodeDialog .title { text-style: bold; margin: 1 0 0 0; }
    TypedCodeDialog .hint { color: $text-muted; margin-bottom: 1; }
    TypedCodeDialog TabbedContent, TypedCodeDialog TabPane, TypedCodeDialog TextArea {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", priority=True),
        Binding("y", "copy", "Copy code"),
    ]

    def __init__(self, definition: EventDefinition) -> None:
        super().__init__()
        self.definition = definition
        self._unplaced: set[TextArea] = set()
        """Code not yet scrolled to the event (a hidden tab has no width to wrap to)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Typed code · {escape(self.definition.label)}", classes="title")
            yield Static(
                "A typed function for this event: wrong names, types or options fail at compile "
                "time. All events at once: cbe codegen typescript|python -o FILE. y copies.",
                classes="hint",
            )
            with TabbedContent():
                with TabPane("TypeScript", id="typescript"):
                    yield TextArea(
                        typescript_module([self.definition]), read_only=True, id="ts-code"
                    )
                with TabPane("Python", id="python"):
                    yield TextArea(python_module([self.definition]), read_only=True, id="py-code")

    def on_mount(self) -> None:
        # The event's own code first: the shared header and HubSpot's enumerations come above.
        for area in self.query(TextArea):
            area.move_cursor((event_line(area.text, self.definition), 0))
        self._unplaced = set(self.query(TextArea))
        self.call_after_refresh(self._show_the_event)

    def on_tabbed_content_tab_activated(self) -> None:
        self.call_after_refresh(self._show_the_event)

    def _show_the_event(self) -> None:
        """Scroll the shown code's cursor line to the top, once its lines are wrapped to their
        width; once per language, so that going back to a tab finds it as it was left."""
        for area in [a for a in self._unplaced if a.size.width]:
            row = area.wrapped_document.location_to_offset(area.cursor_location).y
            area.scroll_to(y=row, animate=False, immediate=True)
            self._unplaced.discard(area)

    def action_copy(self) -> None:
        active = self.query_one(TabbedContent).active
        area = self.query_one("#ts-code" if active == "typescript" else "#py-code", TextArea)
        self.app.copy_to_clipboard(area.text)
        self.notify(f"{'TypeScript' if active == 'typescript' else 'Python'} copied.")

    def action_close(self) -> None:
        self.dismiss()
