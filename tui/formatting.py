"""How the TUI writes times, counts and tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable


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


def plain(text: str) -> Text:
    """User text for a table cell: shown as typed, never read as markup."""
    return Text(text, no_wrap=True, overflow="ellipsis")


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
    for i, label in enumerate(labels):
        width = max([len(label), *(len(cells[i]) for cells in rows)])
        table.add_column(label, key=keys[i] if keys else None, width=width)
    for n, cells in enumerate(rows):
        table.add_row(*(plain(c) for c in cells), key=row_keys[n] if row_keys else None)
