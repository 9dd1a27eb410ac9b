"""What every cbe screen shares: the header, the section bar and the footer."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker

from core.ports import Topic
from core.services import Services
from tui.host import CbeHost, host_of, still_shown
from tui.widgets.section_bar import SectionBar


class CbeHeader(Header):
    """The app's header: a click on it, once it says where forwarding stands, opens the
    forwarding screen (else it grows taller, as Textual's does)."""

    def _on_click(self) -> None:  # type: ignore[override]  # Textual's takes no event either
        if " · forwarded " in str(self.app.sub_title):
            host_of(self.app).action_forwarding()
        else:
            self.toggle_class("-tall")  # what Textual's header does


class CbeFooter(Footer):
    """Textual's footer, made anew only when the keys it shows change. Textual makes every key
    anew (a widget each, styled three times) whenever the screen announces that its bindings
    may have changed: three times as a screen opens, twice per focus change, mostly to the
    same keys."""

    _shown: object = None
    """What the keys on show were made from (:meth:`_keys`); None: none made yet."""

    def _keys(self) -> object:
        """All that :meth:`compose` makes the keys from: each binding shown, whether it is
        enabled and its tooltip; the command palette's key; the footer's own options."""
        active = self.screen.active_bindings
        shown = tuple((a.binding, a.enabled, a.tooltip) for a in active.values() if a.binding.show)
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        return (
            shown,
            palette and palette[1:],
            self.app.ENABLE_COMMAND_PALETTE,
            self.show_command_palette,
            self.combine_groups,
        )

    def compose(self) -> ComposeResult:
        self._shown = self._keys() if self._bindings_ready else None
        yield from super().compose()

    async def recompose(self) -> None:
        if self._shown is not None and self.is_attached and self._keys() == self._shown:
            return  # the same keys as on show
        await super().recompose()


class CbeScreen(Screen[None]):
    """A screen of one section, in the app's frame."""

    SECTION: ClassVar[str] = "events"
    HELP: ClassVar[str] = ""
    """What the screen is for, shown by `?` above its keys."""

    FORM: ClassVar[bool] = False
    """The screen is a form being filled in (the wizard): its letters are for its fields and
    buttons, never the app's (`q` does not quit there)."""

    LIVE: ClassVar[frozenset[Topic]] = frozenset()
    """What the screen shows of the store: a change to it makes the screen read again
    (:meth:`refresh_from_store`)."""

    _missed = False
    """A change came while the screen was not shown: it reads again when shown."""
    _refreshing: Worker[None] | None = None
    _again = False
    """A change came while the screen was reading: it reads once more when that is done."""

    def refresh_from_store(self) -> Worker[None] | None:
        """Read again what the screen shows, keeping the cursor, scroll and expanded entries
        (the screen's own reload); the worker doing it, if any."""
        return None

    def store_changed(self, topics: frozenset[Topic]) -> None:
        """The store changed (tui.messages.StoreChanged): read again now if shown and
        concerned, one read at a time; when shown again otherwise."""
        if not topics & self.LIVE:
            return
        if not self.is_current:
            self._missed = True
        elif self._refreshing is not None and not self._refreshing.is_finished:
            self._again = True  # a slow read is not started over and over: once more after
        else:
            self._refreshing = self.refresh_from_store()

    @on(Worker.StateChanged)
    def _refreshed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._refreshing and event.worker.is_finished and self._again:
            self._again = False
            self._refreshing = self.refresh_from_store()

    @on(events.ScreenResume)
    def _caught_up(self) -> None:
        if self._missed:
            self._missed = False
            self._refreshing = self.refresh_from_store()

    def from_worker(self, callback: Callable[..., object], *args: object) -> None:
        """Call ``callback(*args)`` on the app's thread from a thread worker's, unless the
        screen has been closed or is closing meanwhile: closing a screen cannot stop a thread
        that is reading, and what it read must not be shown in widgets that are gone."""

        def shown() -> None:
            if still_shown(self):
                callback(*args)

        self.app.call_from_thread(shown)

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
        yield CbeFooter()
