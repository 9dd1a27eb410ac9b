"""Rejected requests: what the strict path refused, with every broken rule, and a replay."""

from __future__ import annotations

import json

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from core.outbox import OutboxRepository
from core.rejections import RejectedRequest, ReplayReport
from tui.formatting import escape, fill_sized
from tui.screens.base import CbeScreen


class RejectionsScreen(CbeScreen):
    """The quarantine: every request the strict path refused (the API, ``cbe send``), newest
    first, kept with its body and violations; replay them once a definition is fixed."""

    SECTION = "events"
    TITLE = "Rejected requests"
    HELP = (
        "Requests the strict path refused, kept so that nothing sent is lost. Fix the "
        "definition (an option, a property), then replay: what now passes is stored. t shows "
        "the selected request's trace."
    )
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("p", "replay", "Replay all"),
        Binding("P", "replay_one", "Replay this one", key_display="shift+p"),
        Binding("x", "clear", "Forget all"),
        Binding("t", "trace", "Trace", show=False),
    ]
    DEFAULT_CSS = """
    RejectionsScreen .rejections-body { height: 1fr; }
    RejectionsScreen #rejections { width: 3fr; height: 1fr; }
    RejectionsScreen #rejection-detail { width: 2fr; height: 1fr; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[RejectedRequest] = []

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("Rejected requests", classes="page-title")
            yield Static("", id="rejections-summary", classes="muted")
            with Horizontal(classes="rejections-body"):
                yield DataTable(cursor_type="row", zebra_stripes=True, id="rejections")
                with VerticalScroll(id="rejection-detail"):
                    yield Static("", id="rejection-text")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="rejections")
    def reload(self) -> None:
        kept = self.services.rejections.list()
        bound = self.services.rejections.bound
        forwarding = _forwarding(self.services.db.outbox)
        self.from_worker(self._show, kept, bound, forwarding)

    def _show(self, kept: list[RejectedRequest], bound: int, forwarding: str = "") -> None:
        self.kept = kept
        self.query_one("#rejections-summary", Static).update(
            (
                f"{len(kept):,} kept, newest first (at most {bound:,}; the oldest go first). "
                if kept
                else "Nothing refused: every request so far passed the strict rules."
            )
            + escape(forwarding)
        )
        rows = [
            (
                r.received_at.strftime("%b %d %H:%M:%S"),
                f"{r.source.value} {'batch' if r.batch else 'send'}",
                ", ".join(r.event_names) or "(none)",
                _short(r.violations[0].message) if r.violations else "",
            )
            for r in kept
        ]
        table = self.query_one("#rejections", DataTable)
        labels = ["Received (UTC)", "From", "Event", "First broken rule"]
        fill_sized(table, labels, rows, row_keys=[r.id for r in kept])
        self._detail()

    @on(DataTable.RowHighlighted, "#rejections")
    def _detail(self) -> None:
        request = self._selected()
        text = self.query_one("#rejection-text", Static)
        if request is None:
            text.update("")
            return
        count = len(request.violations)
        lines = [f"[b]{count} broken rule{'s' * (count != 1)}[/b]"]
        for v in request.violations:
            where = f"[$error]{escape(v.field)}[/]: " if v.field else ""
            lines.append(f"• {where}{escape(v.message)} [dim]{v.rule}[/dim]")
        if request.tag:
            lines += ["", f"[b]Test run[/b] {escape(request.tag)} (a replay stores it so tagged)"]
        body = json.dumps(request.body, indent=2, ensure_ascii=False)
        lines += ["", "[b]Body[/b]", escape(body)]
        text.update("\n".join(lines))

    def _selected(self) -> RejectedRequest | None:
        row = self.query_one("#rejections", DataTable).cursor_row
        return self.kept[row] if 0 <= row < len(self.kept) else None

    def action_trace(self) -> None:
        """The trace of the selected request: by its uuid when it has one, else by its id."""
        from tui.dialogs.trace import TraceDialog

        request = self._selected()
        if request is None:
            return
        body = request.body
        if request.batch and isinstance(body, dict) and isinstance(body.get("inputs"), list):
            body = body["inputs"][0] if body["inputs"] else None
        uuid = body.get("uuid") if isinstance(body, dict) else None
        key = uuid if isinstance(uuid, str) and uuid else request.id
        self.app.push_screen(TraceDialog(self.services, key))

    def action_replay(self) -> None:
        self._replay(None)

    def action_replay_one(self) -> None:
        request = self._selected()
        if request is not None:
            self._replay({request.id})

    @work(thread=True, exclusive=True, group="replay")
    def _replay(self, ids: set[str] | None) -> None:
        report = self.services.rejections.replay(ids)
        self.app.call_from_thread(self._replayed, report)

    def _replayed(self, report: ReplayReport) -> None:
        self.notify(
            escape(report.summary()),
            title="Replay",
            severity="warning" if report.failed else "information",
        )
        self.reload()

    def action_clear(self) -> None:
        from tui.dialogs.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self.services.rejections.clear()
                self.reload()

        self.app.push_screen(
            ConfirmDialog(
                "Forget every rejected request?",
                f"The {len(self.kept):,} kept request(s) go; nothing else changes.",
                confirm="Forget",
            ),
            answered,
        )

    def action_back(self) -> None:
        self.dismiss()


def _forwarding(outbox: OutboxRepository) -> str:
    """Where `cbe serve --forward` stands, with the remote's last refusal; empty when nothing
    was ever forwarded."""
    counts = outbox.counts()
    if not (counts.owed or counts.sent or counts.refused):
        return ""
    line = (
        f"\nForwarding to the remote: {counts.sent:,} sent, {counts.owed:,} owed, "
        f"{counts.refused:,} refused"
    )
    refused = outbox.refused()
    if refused:
        line += (
            f" (last: {refused[-1].body.get('uuid')}: {refused[-1].refused}; "
            "`cbe rejections replay` sends them again)"
        )
    return line + "."


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
