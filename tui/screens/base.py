"""What every cbe screen shares: the header, the section bar and the footer."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from core.services import Services
from tui.host import CbeHost, host_of
from tui.widgets.section_bar import SectionBar


class CbeHeader(Header):
    """The app's header: a click on it, once it says where forwarding stands, opens the
    forwarding screen (else it grows taller, as Textual's does)."""

    def _on_click(self) -> None:  # type: ignore[override]  # Textual's takes no event either
        if " · forwarded " in str(self.app.sub_title):
            host_of(self.app).action_forwarding()
        else:
            self.toggle_class("-tall")  # what Textual's header does


class CbeScreen(Screen[None]):
    """A screen of one section, in the app's frame."""

    SECTION: ClassVar[str] = "events"
    HELP: ClassVar[str] = ""
    """What the screen is for, shown by `?` above its keys."""

    def unsaved_work(self) -> str | None:
        """What leaving now would lose (None when nothing): quitting asks first when set."""
        return None

    @property
    def cbe(self) -> CbeHost:
        return host_of(self.app)

    @property
    def services(self) -> Services:
        return self.cbe.services

    def frame_top(self) -> ComposeResult:
        yield CbeHeader()
        yield SectionBar(self.SECTION)

    def frame_bottom(self) -> ComposeResult:
        yield Footer()
