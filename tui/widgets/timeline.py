"""A record's timeline as lines: month headings, one line per completion, expandable.

It draws only the lines on screen (a ScrollView with ``render_line``), so a timeline of ten
thousand completions costs no more widgets than one of ten. The screen feeds it pages; it asks
for more (:class:`TimelineView.NeedMore`) when the cursor comes near the end of what it has.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.timeline import TimelineEntry, month_label
from tui.formatting import shown

LOOKAHEAD = 20
"""Ask for the next page when the cursor is this many entries from the end."""


@dataclass(frozen=True)
class _Row:
    kind: str  # "month", "entry", "property", "note"
    text: str = ""
    entry: int = -1  # index into entries for "entry" and "property" rows
    flag: str = ""
    prop: int = -1  # index into the entry's rows for "property" rows
    value: str = ""  # for "property" rows: the value, or the part of it on this line


class TimelineView(ScrollView, can_focus=True):
    """Completions newest first, grouped by month; ``enter`` expands one, ``e``/``c`` all."""

    DEFAULT_CSS = """
    TimelineView {
        height: 1fr;
        background: $surface;
    }
    TimelineView > .timeline--month { text-style: bold; color: $text; }
    TimelineView > .timeline--entry { color: $text; }
    TimelineView > .timeline--time { color: $text-muted; }
    TimelineView > .timeline--summary { color: $text-muted; }
    TimelineView > .timeline--cursor { background: $primary 40%; }
    TimelineView:focus > .timeline--cursor { background: $primary; color: $text; }
    TimelineView > .timeline--property { color: $text; }
    TimelineView > .timeline--label { color: $text-muted; }
    TimelineView > .timeline--flag { color: $warning; }
    TimelineView > .timeline--note { color: $text-muted; text-style: italic; }
    """
    COMPONENT_CLASSES = {
        "timeline--month",
        "timeline--entry",
        "timeline--time",
        "timeline--summary",
        "timeline--cursor",
        "timeline--property",
        "timeline--label",
        "timeline--flag",
        "timeline--note",
    }
    BINDINGS = [
        Binding("down,j", "move(1)", "Next entry", show=False),
        Binding("up,k", "move(-1)", "Previous entry", show=False),
        Binding("pagedown", "move(10)", "Page down", show=False),
        Binding("pageup", "move(-10)", "Page up", show=False),
        Binding("home", "first", "First entry", show=False),
        Binding("end", "last", "Last entry", show=False),
        Binding("enter,space", "toggle_entry", "Expand/collapse"),
        Binding("e", "expand_all", "Expand all"),
        Binding("c", "collapse_all", "Collapse all"),
    ]

    cursor: reactive[int] = reactive(0, init=False)

    class NeedMore(Message):
        """The cursor is near the end of the loaded entries and there are more."""

    class Highlighted(Message):
        """The cursor moved to another entry."""

        def __init__(self, entry: TimelineEntry | None) -> None:
            super().__init__()
            self.entry = entry

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[TimelineEntry] = []
        self.expanded: set[str] = set()
        self.has_more = False
        self.fetching = True
        self.empty_text = "No activity yet."
        self._rows: list[_Row] = []
        self._entry_rows: list[int] = []
        self._label_width = 0
        self._built_width = 0

    # -- data --------------------------------------------------------------------------------

    def show(self, entries: list[TimelineEntry], has_more: bool) -> None:
        """Replace everything (a new record or filter)."""
        self.entries = list(entries)
        self.has_more = has_more
        self.fetching = False
        self.expanded &= {e.key for e in self.entries}
        self.cursor = 0
        self._rebuild()
        self.scroll_to(y=0, animate=False)

    def append(self, entries: list[TimelineEntry], has_more: bool) -> None:
        """Add an older page at the end."""
        known = {e.key for e in self.entries}
        self.entries.extend(e for e in entries if e.key not in known)
        self.has_more = has_more
        self.fetching = False
        self._rebuild()

    def prepend(self, entries: list[TimelineEntry]) -> int:
        """Add newer entries at the top (live updates); returns how many were new."""
        known = {e.key for e in self.entries}
        fresh = [e for e in entries if e.key not in known]
        if fresh:
            self.entries[:0] = fresh
            self.cursor = (
                min(self.cursor + len(fresh), len(self.entries) - 1) if self.entries else 0
            )
            self._rebuild()
        return len(fresh)

    @property
    def current(self) -> TimelineEntry | None:
        return self.entries[self.cursor] if 0 <= self.cursor < len(self.entries) else None

    def _rebuild(self) -> None:
        rows: list[_Row] = []
        entry_rows: list[int] = []
        month = None
        for index, entry in enumerate(self.entries):
            label = month_label(entry.occurred_at)
            if label != month:
                if month is not None:
                    rows.append(_Row("note"))
                rows.append(_Row("month", label))
                month = label
            entry_rows.append(len(rows))
            rows.append(_Row("entry", entry=index))
            if entry.key in self.expanded:
                for number, prop in enumerate(entry.rows):
                    # an unusable value says so itself: "bogus (not an option)"
                    label = shown(prop.label)
                    # A long value wraps onto more lines under itself: it always shows whole.
                    for part, chunk in enumerate(self._wrapped(shown(prop.value))):
                        rows.append(
                            _Row("property", label if part == 0 else "", index, "", number, chunk)
                        )
                    if prop.truncated:
                        flag = "cut to the limit by the JavaScript rules"
                        rows.append(_Row("property", "", index, flag, number))
                if not entry.rows:
                    rows.append(_Row("property", "(no properties)", index))
        rows.append(_Row("note"))
        if self.fetching:
            rows.append(_Row("note", "Loading…"))
        elif not self.entries:
            rows.append(_Row("note", self.empty_text))
        elif self.has_more:
            rows.append(_Row("note", "Loading more as you scroll…"))
        else:
            rows.append(_Row("note", f"Start of the timeline · {len(self.entries):,} shown"))
        self._rows = rows
        self._built_width = self.size.width
        self._entry_rows = entry_rows
        self._label_width = min(
            28,
            max((len(shown(e.event_label)) for e in self.entries), default=0),
            max(12, self._width() - 30),  # room for the time before and a summary after
        )
        self.virtual_size = Size(self.size.width, len(rows))
        self.refresh()

    def _width(self) -> int:
        return self.size.width or 100  # before the first layout: as wide as usual

    @property
    def _property_label_width(self) -> int:
        """Property names take at most a third of the width, so their values show beside."""
        return max(10, min(28, self._width() // 3))

    def _wrapped(self, value: str) -> list[str]:
        # the indent, the name and a space before; room for a scrollbar after
        room = max(10, self._width() - 7 - self._property_label_width - 1 - 2)
        lines = Text(value).wrap(self.app.console, room, overflow="fold")
        return [line.plain.rstrip() for line in lines] or [""]

    # -- movement ----------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        if self._entry_rows:
            row = self._entry_rows[max(0, min(new, len(self._entry_rows) - 1))]
            self.scroll_to_region_row(row)
        self.refresh()
        self.post_message(self.Highlighted(self.current))
        if self.has_more and not self.fetching and new >= len(self.entries) - LOOKAHEAD:
            self.fetching = True
            self.post_message(self.NeedMore())

    def scroll_to_region_row(self, row: int) -> None:
        top = round(self.scroll_offset.y)
        height = max(1, self.size.height)
        if row < top + 1:
            self.scroll_to(y=max(0, row - 1), animate=False)
        elif row >= top + height - 1:
            self.scroll_to(y=row - height + 2, animate=False)

    def action_move(self, step: int) -> None:
        if self.entries:
            self.cursor = max(0, min(self.cursor + step, len(self.entries) - 1))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        if self.entries:
            self.cursor = len(self.entries) - 1

    def action_toggle_entry(self) -> None:
        entry = self.current
        if entry is None:
            return
        key = entry.key
        self.expanded.symmetric_difference_update({key})
        self._rebuild()
        self.watch_cursor(self.cursor, self.cursor)

    def action_expand_all(self) -> None:
        self.expanded = {e.key for e in self.entries}
        self._rebuild()

    def action_collapse_all(self) -> None:
        self.expanded.clear()
        self._rebuild()

    def on_click(self, event: object) -> None:
        offset = getattr(event, "y", None)
        if offset is None:
            return
        row_index = round(self.scroll_offset.y) + int(offset)
        if 0 <= row_index < len(self._rows):
            row = self._rows[row_index]
            if row.entry >= 0:
                if self.cursor == row.entry and row.kind == "entry":
                    self.action_toggle_entry()
                self.cursor = row.entry

    def on_resize(self) -> None:
        if self.size.width != self._built_width:
            self._rebuild()  # values wrap to the new width
        self.virtual_size = Size(self.size.width, len(self._rows))

    # -- drawing -----------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"timeline--{name}")

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = self.size.width
        base = self.rich_style
        if not 0 <= index < len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[index]
        text = self._line(row)
        if row.kind == "entry" and row.entry == self.cursor:
            text.stylize(self._style("cursor"))
            fill = base + self._style("cursor")
        else:
            fill = base
        segments = [
            Segment(s.text, base + s.style if s.style else base)
            for s in text.render(self.app.console)
        ]
        strip = Strip(segments).crop(0, width)
        return strip.extend_cell_length(width, fill)

    def _line(self, row: _Row) -> Text:
        if row.kind == "month":
            return Text(f" {row.text}", style=self._style("month"), no_wrap=True)
        if row.kind == "note":
            return Text(f"   {row.text}", style=self._style("note"), no_wrap=True)
        entry = self.entries[row.entry]
        if row.kind == "entry":
            open_ = entry.key in self.expanded
            text = Text(no_wrap=True, overflow="ellipsis")
            text.append(" ▾ " if open_ else " ▸ ", style=self._style("time"))
            text.append(entry.occurred_at.strftime("%b %d %H:%M  "), style=self._style("time"))
            label = shown(entry.event_label)  # what a sender wrote: controls made visible
            text.append(label.ljust(self._label_width), style=self._style("entry"))
            summary = shown(entry.summary())
            if summary:
                text.append("  " + summary, style=self._style("summary"))
            return text
        width = self._property_label_width
        label = row.text if len(row.text) <= width else row.text[: width - 1] + "…"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"       {label:<{width}} ", style=self._style("label"))
        text.append(row.value, style=self._style("property"))
        if row.flag:
            text.append(f"({row.flag})", style=self._style("flag"))
        return text
