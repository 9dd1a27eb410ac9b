"""Try a payload: the strict verdict on a send body as it is typed, nothing stored."""

from __future__ import annotations

import json

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Static, TextArea

from core.codegen import example_send_body
from core.ingestion import Verdict
from core.models import EventDefinition
from core.services import Services
from tui.formatting import escape

DEBOUNCE_SECONDS = 0.25


def example_body(services: Services, definition: EventDefinition) -> str:
    """An example send body for the event, naming a record that exists when there is one."""
    body = example_send_body(definition)
    records = services.db.records.list_records(definition.primary_object)
    if records:
        body.pop("email", None)
        body = {"eventName": body.pop("eventName"), "objectId": records[0].id, **body}
    return json.dumps(body, indent=2)


def verdict_lines(verdict: Verdict) -> list[str]:
    """The verdict as markup lines: the summary, every violation, what would be stored."""
    mark = "[$success]✓[/]" if verdict.valid else "[$error]✗[/]"
    lines = [f"{mark} [b]{escape(verdict.summary())}[/b]"]
    for problem in verdict.problems:
        lines.append(f"  {escape(problem.message)} [dim]{problem.rule}[/dim]")
    for rejection in verdict.rejected:
        for v in rejection.violations:
            where = f"{escape(v.field)}: " if v.field else ""
            lines.append(f"  [$error]{where}[/]{escape(v.message)} [dim]{v.rule}[/dim]")
    for _, completion in verdict.accepted:
        for cut in completion.cuts:
            lines.append(f"  [$warning]note[/] {escape(cut.property)}: {escape(cut.detail)}")
        stored = json.dumps(completion.to_json(), indent=2, ensure_ascii=False)
        lines += ["", "[dim]Would be stored as:[/dim]", escape(stored)]
    return lines


class ValidateDialog(ModalScreen[None]):
    """A send body (or a batch with ``inputs``) judged by the strict rules as it is typed:
    ``POST /cbe/v1/validate`` in the terminal."""

    DEFAULT_CSS = """
    ValidateDialog { align: center middle; }
    ValidateDialog > Vertical {
        width: 96%; height: 92%; padding: 0 1;
        border: thick $accent 60%; background: $surface;
    }
    ValidateDialog .title { text-style: bold; margin: 1 0 0 0; }
    ValidateDialog .hint { color: $text-muted; margin-bottom: 1; }
    ValidateDialog TextArea { height: 1fr; }
    ValidateDialog VerticalScroll { height: 1fr; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "close", "Close", priority=True)]

    def __init__(self, services: Services, definition: EventDefinition) -> None:
        super().__init__()
        self.services = services
        self.definition = definition
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Validate a payload · {escape(self.definition.label)}", classes="title")
            yield Static(
                'A send body, or a batch {"inputs": [...]}, judged by the strict rules as you '
                "type; nothing is stored. The same verdict as POST /cbe/v1/validate.",
                classes="hint",
            )
            yield TextArea(
                example_body(self.services, self.definition),
                id="payload",
                tab_behavior="indent",
                show_line_numbers=True,
            )
            with VerticalScroll():
                yield Static("", id="verdict")

    def on_mount(self) -> None:
        self.query_one("#payload", TextArea).focus()
        self.judge()

    def on_text_area_changed(self, _: TextArea.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_SECONDS, self.judge)

    @work(thread=True, exclusive=True, group="validate")
    def judge(self) -> None:
        text = self.app.call_from_thread(lambda: self.query_one("#payload", TextArea).text)
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            lines = [f"[$warning]…[/] Not JSON yet: {escape(str(error))}"]
        else:
            lines = verdict_lines(self.services.ingestion.validate(body))
        self.app.call_from_thread(self._show, "\n".join(lines))

    def _show(self, markup: str) -> None:
        self.query_one("#verdict", Static).update(markup)

    def action_close(self) -> None:
        self.dismiss()
