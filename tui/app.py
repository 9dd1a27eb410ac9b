"""The cbe Textual application."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from core.services import Services
from tui.screens.events import EventsScreen


class CbeApp(App[None]):
    """HubSpot's custom behavioral events in the terminal."""

    CSS_PATH = "cbe.tcss"
    TITLE = "cbe"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def on_mount(self) -> None:
        portal = self.services.db.portal
        self.sub_title = f"portal {portal.portal_id} · {Path(self.services.db.location).name}"
        self.push_screen(EventsScreen(self.services))
