"""`?`: what the current screen is for, and every key it answers to."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.formatting import escape

GENERAL = (
    ("1 2 3 4", "Events, Records, Workflows, Analyze"),
    ("ctrl+p", "Command palette: every screen and action by name"),
    ("tab / shift+tab", "Next / previous field"),
    ("?", "This help"),
    ("ctrl+q", "Quit, asking first if unsaved work would be lost"),
    ("q", "Quit too, outside a form's fields"),
)


class HelpDialog(ModalScreen[None]):
    """The keys of the screen below, with what they do."""

    DEFAULT_CSS = """
    HelpDialog { align: center middle; }
    HelpDialog > Vertical {
        width: 76; height: auto; max-height: 90%; padding: 1 2;
        border: thick $primary 60%; background: $surface;
    }
    HelpDialog .title { text-style: bold; }
    HelpDialog .about { margin: 1 0; color: $text-muted; }
    HelpDialog DataTable { height: auto; max-height: 24; }
    HelpDialog .hint { margin-top: 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, title: str, about: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.about = about
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Help: {escape(self.title_text)}", classes="title")
            if self.about:
                yield Static(self.about, classes="about")
            with VerticalScroll():
                yield DataTable(cursor_type="none", zebra_stripes=True, show_header=False)
            yield Static("escape closes this help", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action")
        for key, action in self.keys:
            table.add_row(key, action)
        table.add_row("", "")
        for key, action in GENERAL:
            table.add_row(key, action)
