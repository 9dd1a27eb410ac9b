"""Sections that later work fills: they say what is coming and where to find it today."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown

from tui.screens.base import CbeScreen

COMING = {
    "analyze": (
        "Analyze",
        "Reports on custom behavioral events: completions and unique records over a date range, "
        "charts per day, week or month, breakdowns per property, attribution, CSV export.\n\n"
        "Today: the events table counts completions and shows the last one.",
    ),
}


class ComingScreen(CbeScreen):
    """A section that is not built yet."""

    def __init__(self, section: str) -> None:
        super().__init__()
        self.SECTION = section  # type: ignore[misc]
        self.title_text, self.body = COMING[section]
        self.HELP = f"{self.title_text} is not built yet."  # type: ignore[misc]

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with VerticalScroll(classes="page"):
            yield Markdown(f"# {self.title_text}\n\n*Coming soon.*\n\n{self.body}")
        yield from self.frame_bottom()
