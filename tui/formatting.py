"""How the TUI writes times, counts, tables and the text senders wrote.

Every piece of stored text the app shows passes :func:`shown`, :func:`escape` or :func:`plain`
(the timeline widget calls :func:`shown` per line): what a sender wrote (a value, a name, a
label) may hold escape sequences or bidirectional overrides, and must reach the terminal as
visible escapes (``\\x1b``), never as commands; and it is never read as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
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


def short_date(moment: datetime) -> str:
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
    table.clear(columns=True)
    rows = [[neutralise(c) for c in cells] for cells in rows]  # measured as they are drawn
    for i, label in enumerate(labels):
        width = max([len(label), *(len(cells[i]) for cells in rows)])
        table.add_column(label, key=keys[i] if keys else None, width=width)
    for n, cells in enumerate(rows):
        table.add_row(*(plain(c) for c in cells), key=row_keys[n] if row_keys else None)
