"""Definitions as code in the app: export the plan, see what a plan file would change, apply it."""

from __future__ import annotations

import json
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from core.errors import CbeError, ValidationFailed
from core.plan import Change
from core.services import Services
from tui.dialogs.focus import FirstFieldFocused
from tui.formatting import escape

DEFAULT_FILE = "cbe-plan.json"


def change_lines(changes: list[Change]) -> list[str]:
    """Each change as a markup line: breaking ones first, in the warning colour."""
    if not changes:
        return ["[$success]✓[/] No changes: the portal is what the file says."]
    ordered = sorted(changes, key=lambda c: not c.breaking)
    breaking = sum(c.breaking for c in changes)
    lines = [f"[b]{len(changes)} change(s), {breaking} breaking[/b]"]
    for change in ordered:
        colour = "$error" if change.breaking else "$success"
        lines.append(f"[{colour}]•[/] {escape(change.describe())}")
    return lines


class PlanDialog(FirstFieldFocused, ModalScreen[bool]):
    """``cbe plan export|diff|apply`` on one file; answers True when something was applied."""

    DEFAULT_CSS = """
    PlanDialog { align: center middle; }
    PlanDialog > Vertical {
        width: 96%; height: 90%; padding: 0 1;
        border: thick $accent 60%; background: $surface;
    }
    PlanDialog .title { text-style: bold; margin: 1 0 0 0; }
    PlanDialog .hint { color: $text-muted; margin-bottom: 1; }
    PlanDialog .buttons { height: auto; margin: 1 0; }
    PlanDialog Button { margin-right: 2; }
    PlanDialog VerticalScroll { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "close", "Close", priority=True)]

    def __init__(self, services: Services, folder: Path) -> None:
        super().__init__()
        self.services = services
        self.folder = folder
        """Where the file is offered (the app's export folder, never the working directory)."""
        self.applied = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Definitions as code", classes="title")
            yield Static(
                "Export every event definition to a JSON file to review and keep in git; diff "
                "a file to see what it would change (safe or breaking, with the completions it "
                "costs); apply it. The same as cbe plan export|diff|apply.",
                classes="hint",
            )
            yield Input(str(self.folder / DEFAULT_FILE), select_on_focus=False, id="plan-file")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export", variant="primary")
                yield Button("Diff", id="diff")
                yield Button("Apply", id="apply", variant="warning")
            with VerticalScroll():
                yield Static("", id="plan-result")

    @property
    def path(self) -> Path:
        return Path(self.query_one("#plan-file", Input).value).expanduser()

    def _show(self, lines: list[str]) -> None:
        self.query_one("#plan-result", Static).update("\n".join(lines))

    @on(Button.Pressed, "#export")
    def export(self) -> None:
        text = self.services.plans.export()
        try:
            self.path.write_text(text, encoding="utf-8")
        except OSError as error:
            self._show([f"[$error]Cannot write {escape(str(self.path))}:[/] {escape(str(error))}"])
            return
        count = len(json.loads(text)["events"])
        self._show([f"[$success]✓[/] Wrote {count} event(s) to {escape(str(self.path))}."])

    def _read(self) -> object | None:
        try:
            raw: object = json.loads(self.path.read_text(encoding="utf-8"))
            return raw
        except (OSError, json.JSONDecodeError) as error:
            self._show([f"[$error]Cannot read {escape(str(self.path))}:[/] {escape(str(error))}"])
            return None

    @on(Button.Pressed, "#diff")
    def diff(self) -> None:
        raw = self._read()
        if raw is not None:
            self._diff(raw)

    @work(thread=True, exclusive=True, group="plan")
    def _diff(self, raw: object) -> None:
        try:
            lines = change_lines(self.services.plans.diff(raw))
        except ValidationFailed as refused:
            lines = ["[$error]The file breaks a rule:[/]"] + [
                f"• {escape(str(v))} [dim]{v.rule}[/dim]" for v in refused.violations
            ]
        self.app.call_from_thread(self._show, lines)

    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        from tui.dialogs.confirm import ConfirmDialog

        raw = self._read()
        if raw is None:
            return
        try:
            changes = self.services.plans.diff(raw)
        except ValidationFailed as refused:
            self._show([f"• {escape(str(v))}" for v in refused.violations])
            return
        breaking = [c for c in changes if c.breaking]
        if not breaking:
            self._apply(raw, False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply(raw, True)

        self.app.push_screen(
            ConfirmDialog(
                f"Apply {len(breaking)} breaking change(s)?",
                "\n".join(escape(c.describe()) for c in breaking),
                confirm="Apply",
            ),
            answered,
        )

    def _apply(self, raw: object, allow_breaking: bool) -> None:
        try:
            changes = self.services.plans.apply(raw, allow_breaking=allow_breaking)
        except CbeError as error:
            self._show([f"[$error]Not applied:[/] {escape(str(error))}"])
            return
        self.applied = self.applied or bool(changes)
        self._show([f"[b]Applied {len(changes)} change(s).[/b]", *change_lines(changes)[1:]])

    def action_close(self) -> None:
        self.dismiss(self.applied)
