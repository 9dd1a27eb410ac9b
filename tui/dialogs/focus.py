"""Dialogs open with their first field focused, so the first key typed goes into it."""

from __future__ import annotations

from typing import ClassVar

from textual.screen import Screen
from textual.widget import Widget

FIELDS = "Input, TextArea, Select, SelectionList, OptionList, RadioSet, Checkbox, DataTable, Button"
"""What a person fills in or picks from: never the scrolling container around them."""


def focus_first_field(screen: Screen[object]) -> Widget | None:
    """Focus the screen's first field that can take focus (in the order shown)."""
    for widget in screen.query(FIELDS):
        if widget.focusable:
            # Not scrolled to: the dialog opens at its top, the field's label in view.
            widget.focus(scroll_visible=False)
            return widget
    return None


class FirstFieldFocused:
    """For a ``ModalScreen``: its first field has the focus as it opens.

    Textual's own auto focus picks the first focusable widget, which can be a scrolling
    container that swallows keys, and skips focusing altogether while the terminal window
    is in the background; this focuses explicitly, on mount.
    """

    AUTO_FOCUS: ClassVar[str | None] = ""  # no auto focus: it would scroll the dialog

    def on_mount(self) -> None:
        assert isinstance(self, Screen)
        focus_first_field(self)
