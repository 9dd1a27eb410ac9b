"""Edit an event's label and description (the internal name never changes)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, TextArea

from core.rules import MAX_EVENT_LABEL_LENGTH, check_label
from tui.formatting import editable, escape


class EditEventDialog(ModalScreen[tuple[str, str] | None]):
    """Answers (label, description), or None when cancelled."""

    DEFAULT_CSS = """
    EditEventDialog { align: center middle; }
    EditEventDialog > Vertical {
        width: 72; height: auto; padding: 1 2;
        border: thick $primary 60%; background: $surface;
    }
    EditEventDialog TextArea { height: 6; }
    EditEventDialog .buttons { height: 3; align-horizontal: right; margin-top: 1; }
    EditEventDialog Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, label: str, description: str) -> None:
        super().__init__()
        self.label = label
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Edit event[/b]  [$text-muted]the internal name stays as it is[/]")
            yield Static("Event name", classes="field-label")
            yield Input(editable(self.label), max_length=200, id="edit-label")
            yield Static("", id="edit-error", classes="error")
            yield Static("Description", classes="field-label")
            yield TextArea(editable(self.description), id="edit-description", soft_wrap=True)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#edit-label", Input).focus()

    @on(Input.Changed, "#edit-label")
    def _check(self) -> None:
        problems = check_label(self.query_one("#edit-label", Input).value, MAX_EVENT_LABEL_LENGTH)
        self.query_one("#edit-error", Static).update("\n".join(escape(v.message) for v in problems))

    @on(Input.Submitted, "#edit-label")
    def action_save(self) -> None:
        label = self.query_one("#edit-label", Input).value
        if check_label(label, MAX_EVENT_LABEL_LENGTH):
            self._check()
            return
        self.dismiss((label, self.query_one("#edit-description", TextArea).text))

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)
