"""How the TUI writes times, counts, tables and the text senders wrote.

Every piece of stored text the app shows passes :func:`shown`, :func:`escape` or :func:`plain`
(the timeline widget calls :func:`shown` per line): what a sender wrote (a value, a name, a
label) may hold escape sequences or bidirectional overrides, and must reach the terminal as
visible escapes (``\\x1b``), never as commands; and it is never read as markup.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from core.text import neutralise


def relative_time(moment: datetime | None, now: datetime) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``, else the date."""
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return moment.strftime("%b %d, %Y")
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    if days < 30:
        return f"{days} day{'s' if days > 1 else ''} ago"
    return moment.strftime("%b %d, %Y")


def shown(text: str) -> str:
    """Stored text for one line of plain (not markup) text: control characters made visible."""
    return neutralise(text)


def escape(text: str) -> str:
    """Stored text inside markup: control characters made visible (lines kept), ``[`` escaped.

    Every ``[`` gets one backslash, which Textual's markup reads as a literal bracket. Textual's
    own ``escape`` leaves ``[2J`` and ``[A]`` as they are, which its parser can take for a tag
    (``ESC [ 2 J`` in a field path broke the rejected requests screen).
    """
    return neutralise(text, keep="\n").replace("[", "\\[")


def editable(text: str) -> str:
    """Stored text loaded into an editor (Input, TextArea): controls visible, lines and tabs kept.

    An editor draws what it holds, so it gets the neutralised text; saving then keeps those
    escapes as text, which only changes a value that held control characters.
    """
    return neutralise(text, keep="\n\t")


def plain(text: str) -> Text:
    """User text for a table cell: shown as typed, never read as markup, controls made visible."""
    return Text(neutralise(text), no_wrap=True, overflow="ellipsis")


def refill(table: DataTable[Any], rows: Sequence[tuple[str, Sequence[str | Text]]]) -> None:
    """Show ``rows`` (each a key and its cells) in a table that is already on screen.

    A refresh must not move the person: the selected record (by key, not by row number), the
    scroll position and the search stay as they were. The same keys in the same order only
    have their cells updated in place; otherwise the rows are rebuilt, then the cursor goes
    back to the same key and the table back to where it was scrolled.
    """
    keys = [key for key, _ in rows]
    present = [str(row.key.value) for row in table.ordered_rows]
    if keys == present and table.columns:
        for y, (_, cells) in enumerate(rows):
            for x, cell in enumerate(cells):
                coordinate = Coordinate(y, x)
                if table.get_cell_at(coordinate) != cell:
                    table.update_cell_at(coordinate, cell, update_width=True)
        return
    with kept_place(table, keys):
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)


@contextmanager
def kept_place(table: DataTable[Any], keys: Sequence[str]) -> Iterator[None]:
    """Around rebuilding a table's rows (to ``keys``): its cursor goes back to the row of the
    same key (or the nearest row when that one went), and it scrolls back to where it was."""
    selected = selected_key(table)
    row = table.cursor_row
    scroll_x, scroll_y = table.scroll_x, table.scroll_y
    yield
    if not keys:
        return
    keys = list(keys)
    table.move_cursor(
        row=keys.index(selected) if selected in keys else min(row, len(keys) - 1), scroll=False
    )
    # After the table has measured its new rows (and scrolled its cursor into view).
    table.call_after_refresh(table.scroll_to, scroll_x, scroll_y, animate=False, immediate=True)


def selected_key(table: DataTable[Any]) -> str | None:
    if table.row_count == 0:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return None if key is None else str(key)


def fill_sized(
    table: DataTable[Any],
    labels: Sequence[str],
    rows: Sequence[Sequence[str]],
    keys: Sequence[str] | None = None,
    row_keys: Sequence[str] | None = None,
) -> None:
    """Replace a table's columns and rows, each column as wide as its widest cell.

    Sized here, with the rows, rather than measured later by the table: its header would
    otherwise be drawn once at the width of the labels alone, and a snapshot taken then differs.
    """
    rows = [[neutralise(c) for c in cells] for cells in rows]  # measured as they are drawn
    with kept_place(table, row_keys or []):
        table.clear(columns=True)
        for i, label in enumerate(labels):
            width = max([len(label), *(len(cells[i]) for cells in rows)])
            table.add_column(label, key=keys[i] if keys else None, width=width)
        for n, cells in enumerate(rows):
            table.add_row(*(plain(c) for c in cells), key=row_keys[n] if row_keys else None)
