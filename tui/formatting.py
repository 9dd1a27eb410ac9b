"""How the TUI writes times and counts."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text


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
