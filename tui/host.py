"""What screens and the command palette may ask of the app they run in.

A protocol, so that they reach the app through a typed accessor (``host_of``) and never import
``tui.app``, which imports them: the app is at the top of ``tui``, the screens below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from textual.screen import Screen

from core.remote import RemoteOpener
from core.services import Services


@runtime_checkable
class CbeHost(Protocol):
    """The app as its screens see it (``tui.app.CbeApp`` is the one there is)."""

    services: Services
    refresh_seconds: float
    """How often the workflow clock ticks (0: never; nothing is followed live either)."""
    api_url: str
    """Where ``cbe serve`` is expected, for the examples screens show."""
    export_dir: Path
    """Where exports are written."""
    open_remote: RemoteOpener | None
    """Reaches a remote portal (HubSpot, another ``cbe serve``) for the plan dialog; None:
    this app was started without one."""
    last_event: str | None
    """The event whose details were shown last, for the events list to come back on it."""

    @property
    def poll_seconds(self) -> float:
        """How often screens read again by themselves (0: never): a slow fallback when the
        store tells the app when it changed (a screen then reads again at once)."""
        ...

    def action_section(self, mode: str) -> None:
        """Go to a section (its screens keep their place)."""
        ...

    def action_create_event(self) -> None:
        """Open the event wizard."""
        ...

    def action_help(self) -> None:
        """Show the current screen's help."""
        ...

    def action_forwarding(self) -> None:
        """Show where the relay of `cbe serve --forward` stands."""
        ...

    def open_event(self, name: str) -> None:
        """Show an event's details."""
        ...

    def home_shown(self) -> None:
        """The events home shows its first counts (the app may read ahead then)."""
        ...


def host_of(app: object) -> CbeHost:
    """``app`` as cbe's app (a screen's ``self.app``)."""
    assert isinstance(app, CbeHost), f"{type(app).__name__} is not cbe's app"
    return app


def still_shown(screen: Screen[Any]) -> bool:
    """Whether ``screen`` is in the app and not on its way out: a screen being removed (popped,
    or the app closing) loses its widgets before it is detached (Textual's own test of a node
    on its way out, as in ``DOMNode.display``)."""
    return screen.is_attached and not (screen._pruning or screen._closing or screen._closed)
