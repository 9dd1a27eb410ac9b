"""Definitions as code in the app: export the plan, see what a plan file would change, apply it;
here, or on a remote portal (HubSpot, another ``cbe serve``) given by its URL and token."""

from __future__ import annotations

import json
import os
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from core.errors import CbeError, ValidationFailed
from core.plan import Change, PartlyApplied, PlanTarget, apply_plan, diff_plan
from core.remote import TOKEN_ENV, RemoteOpener, RemoteTarget, pull_plan
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
    PlanDialog .remote { height: auto; }
    PlanDialog #plan-remote { width: 3fr; }
    PlanDialog #plan-token { width: 2fr; }
    """
    BINDINGS = [Binding("escape", "close", "Close", priority=True)]

    def __init__(
        self, services: Services, folder: Path, open_remote: RemoteOpener | None = None
    ) -> None:
        super().__init__()
        self.services = services
        self.folder = folder
        """Where the file is offered (the app's export folder, never the working directory)."""
        self.open_remote = open_remote
        self.applied = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Definitions as code", classes="title")
            yield Static(
                "Export every event definition to a JSON file to review and keep in git; diff "
                "a file to see what it would change (safe or breaking, with the completions it "
                "costs); apply it. The same as cbe plan export|diff|apply. With a remote "
                "portal's URL, export pulls from it and diff and apply go to it.",
                classes="hint",
            )
            yield Input(str(self.folder / DEFAULT_FILE), select_on_focus=False, id="plan-file")
            with Horizontal(classes="remote"):
                yield Input(
                    placeholder="Remote: https://api.hubapi.com or a cbe serve; empty: here",
                    id="plan-remote",
                )
                yield Input(
                    placeholder=f"Token (empty: ${TOKEN_ENV})", password=True, id="plan-token"
                )
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

    @property
    def remote_url(self) -> str:
        return self.query_one("#plan-remote", Input).value.strip()

    def _remote(self) -> RemoteTarget | None:
        """The remote portal the fields name; None (and says why) when it cannot be reached."""
        token = self.query_one("#plan-token", Input).value or os.environ.get(TOKEN_ENV, "")
        if self.open_remote is None:
            self._show(["[$error]This app was started without a way to reach a remote.[/]"])
            return None
        if not token:
            self._show([f"[$error]The remote needs its access token[/] (or ${TOKEN_ENV})."])
            return None

        def waiting(seconds: float, why: str) -> None:
            self._show_from_thread([f"{escape(why)}: waiting {seconds:g} s as it asks."])

        try:
            return RemoteTarget(self.open_remote(self.remote_url, token, on_wait=waiting))
        except CbeError as error:
            self._show([f"[$error]{escape(str(error))}[/]"])
            return None

    def _show_from_thread(self, lines: list[str]) -> None:
        self.app.call_from_thread(self._show, lines)

    @on(Button.Pressed, "#export")
    def export(self) -> None:
        if self.remote_url:
            remote = self._remote()
            if remote is not None:
                self._show([f"Pulling from {escape(self.remote_url)} ..."])
                self._pull(remote, self.path)
            return
        self._write(self.services.plans.export(), self.path)

    @work(thread=True, exclusive=True, group="plan")
    def _pull(self, remote: RemoteTarget, path: Path) -> None:
        try:
            text = pull_plan(remote.portal)
        except CbeError as error:
            self._show_from_thread([f"[$error]Not pulled:[/] {escape(str(error))}"])
            return
        self.app.call_from_thread(self._write, text, path)

    def _write(self, text: str, path: Path) -> None:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            self._show([f"[$error]Cannot write {escape(str(path))}:[/] {escape(str(error))}"])
            return
        count = len(json.loads(text)["events"])
        self._show([f"[$success]✓[/] Wrote {count} event(s) to {escape(str(path))}."])

    def _read(self) -> object | None:
        try:
            raw: object = json.loads(self.path.read_text(encoding="utf-8"))
            return raw
        except (OSError, json.JSONDecodeError) as error:
            self._show([f"[$error]Cannot read {escape(str(self.path))}:[/] {escape(str(error))}"])
            return None

    def _target(self) -> PlanTarget | None:
        """The remote portal when one is named, else this database."""
        return self._remote() if self.remote_url else self.services.plans.local

    @on(Button.Pressed, "#diff")
    def diff(self) -> None:
        raw = self._read()
        target = self._target() if raw is not None else None
        if target is not None:
            self._diff(raw, target)

    @work(thread=True, exclusive=True, group="plan")
    def _diff(self, raw: object, target: PlanTarget) -> None:
        try:
            lines = change_lines(diff_plan(raw, target))
        except ValidationFailed as refused:
            lines = ["[$error]The file breaks a rule:[/]"] + [
                f"• {escape(str(v))} [dim]{v.rule}[/dim]" for v in refused.violations
            ]
        except CbeError as error:
            lines = [f"[$error]No diff:[/] {escape(str(error))}"]
        self._show_from_thread(lines)

    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        from tui.dialogs.confirm import ConfirmDialog

        raw = self._read()
        if raw is None:
            return
        if self.remote_url:
            remote = self._remote()
            if remote is not None:
                self._show([f"Comparing with {escape(self.remote_url)} ..."])
                self._diff_before_apply(raw, remote)
            return
        try:
            changes = self.services.plans.diff(raw)
        except ValidationFailed as refused:
            self._show([f"• {escape(str(v))}" for v in refused.violations])
            return
        breaking = [c for c in changes if c.breaking]
        if not breaking:
            self._apply(raw, changes)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply(raw, changes)

        self.app.push_screen(
            ConfirmDialog(
                f"Apply {len(breaking)} breaking change(s)?",
                "\n".join(escape(c.describe()) for c in breaking),
                confirm="Apply",
            ),
            answered,
        )

    def _apply(self, raw: object, approved: list[Change]) -> None:
        try:  # exactly the changes shown (and, when breaking, confirmed), or nothing
            breaking = any(c.breaking for c in approved)
            changes = self.services.plans.apply(raw, breaking, approved=approved)
        except CbeError as error:
            self._show([f"[$error]Not applied:[/] {escape(str(error))}"])
            return
        self.applied = self.applied or bool(changes)
        self._show([f"[b]Applied {len(changes)} change(s).[/b]", *change_lines(changes)[1:]])

    @work(thread=True, exclusive=True, group="plan")
    def _diff_before_apply(self, raw: object, remote: RemoteTarget) -> None:
        try:
            changes = diff_plan(raw, remote)
        except ValidationFailed as refused:
            self._show_from_thread([f"• {escape(str(v))}" for v in refused.violations])
            return
        except CbeError as error:
            self._show_from_thread([f"[$error]No diff:[/] {escape(str(error))}"])
            return
        self.app.call_from_thread(self._confirm_remote, raw, remote, changes)

    def _confirm_remote(self, raw: object, remote: RemoteTarget, changes: list[Change]) -> None:
        """Every change, with its safety, before anything is written to the remote."""
        from tui.dialogs.confirm import ConfirmDialog

        self._show(change_lines(changes))
        if not changes:
            return
        breaking = sum(c.breaking for c in changes)
        listed = [escape(c.describe()) for c in sorted(changes, key=lambda c: not c.breaking)]
        if len(listed) > 12:
            listed = [*listed[:12], f"... and {len(listed) - 12} more (listed behind)"]

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply_remote(raw, remote, changes)

        self.app.push_screen(
            ConfirmDialog(
                f"Apply {len(changes)} change(s), {breaking} breaking, to "
                f"{escape(remote.portal.url)}?",
                "\n".join(listed),
                confirm="Apply",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="plan")
    def _apply_remote(self, raw: object, remote: RemoteTarget, approved: list[Change]) -> None:
        def progress(step: int, steps: int, does: str) -> None:
            self._show_from_thread([f"[{step}/{steps}] {escape(does)}"])

        try:  # exactly the changes the person approved, or nothing
            breaking = any(c.breaking for c in approved)
            changes = apply_plan(raw, remote, breaking, progress, approved=approved)
        except PartlyApplied as stopped:
            lines = [f"[$error]Stopped part-way:[/] {escape(str(stopped))}"]
            self._show_from_thread(lines + [escape(line) for line in stopped.report()])
            return
        except CbeError as error:
            self._show_from_thread([f"[$error]Not applied:[/] {escape(str(error))}"])
            return
        done = f"[b]Applied {len(changes)} change(s) to {escape(remote.portal.url)}.[/b]"
        self._show_from_thread([done, *change_lines(changes)[1:]])

    def action_close(self) -> None:
        self.dismiss(self.applied)
