"""A send's trace in the app: what ``cbe trace`` and ``GET /cbe/v1/trace/{uuid}`` tell."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.services import Services
from core.trace import Trace, trace
from tui.formatting import escape
from tui.host import still_shown


def trace_markup(found: Trace) -> str:
    """The trace's lines as markup; every stored text neutralised and never read as markup."""
    marks = {"Accepted": "[$success]✓[/]", "Refused": "[$error]✗[/]", "Retry": "[$warning]↻[/]"}
    out = []
    for line in found.lines():
        head = line.split(":", 1)[0]
        mark = marks.get(head)
        out.append(f"{mark} {escape(line)}" if mark else escape(line))
    return "\n".join(out)


class TraceDialog(ModalScreen[None]):
    """Why did (or didn't) this send register: received when and how, stored or refused, the
    record it matched, retries, cuts, the timeline it is on."""

    DEFAULT_CSS = """
    TraceDialog { align: center middle; }
    TraceDialog > Vertical {
        width: 96%; height: 90%; padding: 0 1;
        border: thick $accent 60%; background: $surface;
    }
    TraceDialog .title { text-style: bold; margin: 1 0 1 0; }
    TraceDialog .hint { color: $text-muted; }
    TraceDialog VerticalScroll { height: 1fr; }
    """
    BINDINGS = [Binding("escape,t,q", "close", "Close", priority=True)]

    def __init__(self, services: Services, key: str) -> None:
        super().__init__()
        self.services = services
        self.key = key

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Trace · {escape(self.key)}", classes="title")
            with VerticalScroll():
                yield Static("Looking it up…", id="trace")
            yield Static(
                f"cbe trace {escape(self.key)} prints the same. Esc closes.", classes="hint"
            )

    def on_mount(self) -> None:
        self.look_up()

    @work(thread=True, exclusive=True, group="trace")
    def look_up(self) -> None:
        markup = trace_markup(trace(self.services.db, self.key))
        self.app.call_from_thread(self._show, markup)

    def _show(self, markup: str) -> None:
        if still_shown(self):  # not closed while it looked
            self.query_one("#trace", Static).update(markup)

    def action_close(self) -> None:
        self.dismiss()
