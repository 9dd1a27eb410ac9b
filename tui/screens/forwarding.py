"""Forwarding: where the relay of a `cbe serve --forward` on this database stands (the remote,
what is owed, sent and refused, the last error), the completions the remote refused with its
answer, and a replay of them once the remote is fixed."""

from __future__ import annotations

import json

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static
from textual.worker import Worker

from core.forwarding import replay_refused
from core.outbox import OutboxCounts, OutboxEntry
from core.ports import Topic
from tui.formatting import escape, fill_sized
from tui.screens.base import CbeScreen


class ForwardingScreen(CbeScreen):
    """The relay to a remote portal, as the outbox in this database says (the server that
    relays may be another process: the screen follows it)."""

    SECTION = "events"
    LIVE = frozenset({Topic.OUTBOX})
    TITLE = "Forwarding"
    HELP = (
        "`cbe serve --forward URL` relays every completion it accepts to a remote portal "
        "(HubSpot, or another cbe serve), exactly once. Here: where it sends, what it owes, "
        "what went wrong last, and what the remote refused with its answer. Fix the remote (a "
        "property, an option) or the event, then replay: the relay sends them again."
    )
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("p", "replay", "Replay refused"),
        Binding("t", "trace", "Trace"),
    ]
    DEFAULT_CSS = """
    ForwardingScreen #forwarding-status { height: auto; margin-bottom: 1; }
    ForwardingScreen #forwarding-refused { height: 1fr; min-height: 4; }
    ForwardingScreen #forwarding-detail { height: 7; padding: 0 1; border-top: solid $primary 40%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[OutboxEntry] = []
        self.counts = OutboxCounts(0, 0, 0)
        self._shown = False

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("Forwarding", classes="page-title")
            yield Static("", id="forwarding-status")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="forwarding-refused")
            with VerticalScroll(id="forwarding-detail"):
                yield Static("", id="forwarding-answer")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.reload()
        if self.cbe.poll_seconds:  # the relay runs in `cbe serve`: follow it
            self.set_interval(self.cbe.poll_seconds, self.reload)

    def refresh_from_store(self) -> Worker[None]:
        return self.reload()

    @work(thread=True, exclusive=True, group="forwarding")
    def reload(self) -> None:
        outbox = self.services.db.outbox
        counts = outbox.counts()
        refused = outbox.refused()
        self.from_worker(self._show, counts, refused)

    def _show(self, counts: OutboxCounts, refused: list[OutboxEntry]) -> None:
        if self._shown and (counts, refused) == (self.counts, self.refused):
            return  # nothing new: keep the cursor and scroll as they are
        self._shown = True
        self.counts, self.refused = counts, refused
        self.query_one("#forwarding-status", Static).update(_status(counts))
        names = [_short(_local_name(e.body), 28) for e in refused]
        uuids = [_short(str(e.body.get("uuid") or e.id), 20) for e in refused]
        # The answer takes what is left of the width (whole in the detail below).
        used = max(map(len, names), default=5) + max(map(len, uuids), default=4) + 10
        room = max(16, (self.size.width or 80) - used)
        rows = [
            (name, uuid, _short(e.refused or "", room))
            for name, uuid, e in zip(names, uuids, refused, strict=True)
        ]
        table = self.query_one("#forwarding-refused", DataTable)
        row = table.cursor_row
        fill_sized(
            table, ["Event", "uuid", "The remote's answer"], rows, row_keys=[e.id for e in refused]
        )
        if rows:
            table.move_cursor(row=min(max(row, 0), len(rows) - 1))
        self._detail()
        self.refresh_bindings()  # replay and trace are offered only while something is refused

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("replay", "trace"):
            return bool(self.refused)
        return True

    @on(DataTable.RowHighlighted, "#forwarding-refused")
    def _detail(self) -> None:
        entry = self._selected()
        text = self.query_one("#forwarding-answer", Static)
        if entry is None:
            text.update(
                "[dim]Nothing refused by the remote.[/dim]"
                if self.counts.sent or self.counts.owed
                else ""
            )
            return
        body = json.dumps(entry.body, indent=2, ensure_ascii=False)
        uuid = str(entry.body.get("uuid") or entry.id)
        text.update(
            f"[b]uuid[/b] {escape(uuid)} [dim](completion {escape(entry.id)})[/dim]\n"
            f"[b]The remote's answer[/b]\n{escape(entry.refused or '')}\n\n"
            f"[b]Body[/b] [dim](sent under the remote's prefix)[/dim]\n{escape(body)}"
        )

    def _selected(self) -> OutboxEntry | None:
        row = self.query_one("#forwarding-refused", DataTable).cursor_row
        return self.refused[row] if 0 <= row < len(self.refused) else None

    def action_replay(self) -> None:
        from tui.dialogs.confirm import ConfirmDialog

        count = len(self.refused)
        if not count:
            self.notify("Nothing refused to replay.", title="Forwarding")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._replay()

        self.app.push_screen(
            ConfirmDialog(
                f"Send the {count:,} refused completion{'s' * (count != 1)} again?",
                "They are owed again: the relay of `cbe serve --forward` sends them (within "
                "seconds). Fix the remote or the event first, or the remote refuses them again.",
                confirm="Replay",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="forwarding-replay")
    def _replay(self) -> None:
        count = replay_refused(self.services.db)
        self.app.call_from_thread(self._replayed, count)

    def _replayed(self, count: int) -> None:
        self.notify(
            f"{count:,} completion{'s' * (count != 1)} owed again: the relay sends them.",
            title="Replay",
        )
        self.reload()

    def action_trace(self) -> None:
        from tui.dialogs.trace import TraceDialog

        entry = self._selected()
        if entry is not None:
            self.app.push_screen(
                TraceDialog(self.services, str(entry.body.get("uuid") or entry.id))
            )

    def action_back(self) -> None:
        self.dismiss()


def _status(counts: OutboxCounts) -> str:
    if not (counts.remote or counts.owed or counts.sent or counts.refused):
        return (
            "Nothing forwarded from this database yet. `cbe serve --forward URL` relays every "
            "completion it accepts to a remote portal (HubSpot, or another `cbe serve`), "
            "exactly once; this screen then shows where it stands."
        )
    remote = escape(counts.remote) if counts.remote else "[dim](not recorded)[/dim]"
    lines = [
        f"[b]Remote[/b]      {remote}",
        f"[b]Sent[/b] {counts.sent:,} · [b]owed[/b] {counts.owed:,} · "
        f"[b]refused[/b] {counts.refused:,}",
    ]
    if counts.last_error:
        lines.append(f"[b]Last error[/b]  [$error]{escape(counts.last_error)}[/]")
    else:
        lines.append("[b]Last error[/b]  [dim]none[/dim]")
    return "\n".join(lines)


def _local_name(body: dict[str, object]) -> str:
    name = str(body.get("eventName") or "")
    prefix, _, rest = name.partition("_")
    return rest if prefix.startswith("pe") and prefix[2:].isdigit() and rest else name


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
