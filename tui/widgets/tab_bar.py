"""A row of tabs drawn by one widget, as Textual's ``Tabs`` looks, for screens shown often.

Textual's ``TabbedContent`` is fifteen widgets for four tabs (the tabs, their underline, the
containers around them, a switcher and a pane per tab), each composed, styled and laid out
whenever the screen is pushed, and laid out again whenever a label changes its width. This bar
is one widget: it draws its labels and the underline itself, in the styles of Textual's ``Tab``,
``Tabs`` and ``Underline`` (the same colours, the bar under the open tab, its move animated),
and the screen shows only the open tab's content.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.renderables.bar import Bar
from textual.strip import Strip
from textual.widget import Widget


class TabBar(Widget, can_focus=True):
    """Labels in a row with a bar under the active one; left and right (when focused) and a
    click on a label or under it choose a tab (:class:`TabBar.TabActivated`)."""

    # Textual's Tab, Tabs and Underline styles, as components of one widget.
    DEFAULT_CSS = """
    TabBar {
        width: 100%;
        height: 2;
        & > .tab-bar--tab {
            color: $foreground 50%;
        }
        & > .tab-bar--hover {
            color: $foreground;
        }
        & > .tab-bar--active {
            color: $foreground;
        }
        & > .tab-bar--underline {
            color: $block-cursor-background;
            background: $foreground 10%;
        }
        &:focus {
            & > .tab-bar--active {
                text-style: $block-cursor-text-style;
                color: $block-cursor-foreground;
                background: $block-cursor-background;
            }
            & > .tab-bar--underline {
                background: $foreground 30%;
            }
        }
        &:ansi {
            & > .tab-bar--tab, & > .tab-bar--hover {
                text-style: dim;
            }
            & > .tab-bar--active {
                text-style: not dim bold;
            }
            & > .tab-bar--underline {
                color: $block-cursor-background;
                background: $border-blurred;
            }
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "tab-bar--tab",
        "tab-bar--hover",
        "tab-bar--active",
        "tab-bar--underline",
    }

    ALLOW_SELECT = False  # (as Textual's tabs)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Previous tab", show=False),
        Binding("right", "move(1)", "Next tab", show=False),
    ]

    active: reactive[str] = reactive("", init=False)
    """The id of the open tab."""

    _hovered: reactive[str | None] = reactive(None)
    _bar_start: reactive[float] = reactive(0.0)
    _bar_end: reactive[float] = reactive(0.0)

    class TabActivated(Message):
        """Another tab was opened (by a key, a click or :attr:`TabBar.active`)."""

        ALLOW_SELECTOR_MATCH: ClassVar[set[str]] = {"tab_bar"}

        def __init__(self, tab_bar: TabBar, tab_id: str) -> None:
            self.tab_bar = tab_bar
            self.tab_id = tab_id
            super().__init__()

        @property
        def control(self) -> TabBar:
            return self.tab_bar

    def __init__(self, tabs: Iterable[tuple[str, str]], *, id: str | None = None) -> None:
        """``tabs``: each tab's id and label, in order; the first is open."""
        super().__init__(id=id)
        self._labels = dict(tabs)
        self.set_reactive(TabBar.active, next(iter(self._labels)))
        self._place_bar(animate=False)

    def label(self, tab_id: str) -> str:
        """The label shown for ``tab_id``."""
        return self._labels[tab_id]

    def set_label(self, tab_id: str, label: str) -> None:
        """Show ``label`` for ``tab_id`` (the bar follows its open tab's new place)."""
        if self._labels[tab_id] != label:
            self._labels[tab_id] = label
            self._place_bar(animate=False)

    def _spans(self) -> Iterable[tuple[str, int, int]]:
        """Each tab's id and the columns it takes (its label with a space either side)."""
        x = 0
        for tab_id, label in self._labels.items():
            width = cell_len(label) + 2
            yield tab_id, x, x + width
            x += width

    def _tab_at(self, x: int) -> str | None:
        return next((tab_id for tab_id, start, end in self._spans() if start <= x < end), None)

    def _place_bar(self, animate: bool) -> None:
        """The bar under the open tab's label, moving there as Textual's underline does."""
        start, end = next((s + 1, e - 1) for tab_id, s, e in self._spans() if tab_id == self.active)
        if animate:
            self.animate("_bar_start", float(start), duration=0.3, level="basic")
            self.animate("_bar_end", float(end), duration=0.3, level="basic")
        else:  # (a move under way would end where the label was before)
            if self.is_attached:
                for name in ("_bar_start", "_bar_end"):
                    if self.app.animator.is_being_animated(self, name):
                        self.app.animator.force_stop_animation(self, name)
            self.set_reactive(TabBar._bar_start, float(start))
            self.set_reactive(TabBar._bar_end, float(end))
            self.refresh()

    def watch_active(self, active: str) -> None:
        self._place_bar(animate=True)
        self.refresh()
        self.post_message(self.TabActivated(self, active))

    def render_line(self, y: int) -> Strip:
        """The labels (y 0) and the bar (y 1), in the segments Textual's widgets make: a tab's
        padding and the rest of the row have the background only, as padding does."""
        width = self.size.width
        base = self.rich_style
        blank = Style(bgcolor=base.bgcolor)
        if y == 0:
            tab = self.get_component_rich_style("tab-bar--tab")
            hover = self.get_component_rich_style("tab-bar--hover")
            active = self.get_component_rich_style("tab-bar--active")
            segments: list[Segment] = []
            for tab_id, label in self._labels.items():
                style = (
                    active if tab_id == self.active else hover if tab_id == self._hovered else tab
                )
                padding = Style(bgcolor=style.bgcolor)
                segments += [Segment(" ", padding), Segment(label, style), Segment(" ", padding)]
            return Strip(segments).adjust_cell_length(width, blank).simplify()
        if y == 1:
            underline = self.get_component_rich_style("tab-bar--underline")
            bar = Bar(
                highlight_range=(self._bar_start, self._bar_end),
                highlight_style=Style.from_color(underline.color),
                background_style=Style.from_color(underline.bgcolor),
            )
            options = self.app.console_options.update(highlight=False, width=width)
            rendered = self.app.console.render(bar, options)
            line = next(iter(Segment.split_and_crop_lines(rendered, width, pad=False)))
            return Strip(Segment.apply_style(line, base)).adjust_cell_length(width, blank)
        return Strip.blank(width, blank)

    def action_move(self, step: int) -> None:
        tab_ids = list(self._labels)
        self.active = tab_ids[(tab_ids.index(self.active) + step) % len(tab_ids)]

    async def _on_click(self, event: events.Click) -> None:
        """A click on a label or on the bar under it opens that tab (and focuses the bar, as
        Textual's tabs do)."""
        event.stop()
        tab_id = self._tab_at(event.x)
        if tab_id is not None:
            self.focus()
            self.active = tab_id

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        self._hovered = self._tab_at(event.x) if event.y == 0 else None

    def _on_leave(self, event: events.Leave) -> None:
        self._hovered = None
