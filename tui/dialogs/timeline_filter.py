"""HubSpot's "Filter activity": which activity types and events show, over which time range."""

from __future__ import annotations

from datetime import date

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    RadioButton,
    RadioSet,
    SelectionList,
    Static,
)

from core.models import EventDefinition
from core.timeline import ActivityType, Period, TimelineFilter
from tui.formatting import escape


class TimelineFilterDialog(ModalScreen[TimelineFilter | None]):
    """Answers the new filter, or None when cancelled."""

    DEFAULT_CSS = """
    TimelineFilterDialog { align: right top; }
    TimelineFilterDialog > Vertical {
        width: 66; height: 100%; padding: 1 2;
        border-left: thick $primary; background: $surface;
    }
    TimelineFilterDialog SelectionList { height: auto; max-height: 14; }
    TimelineFilterDialog RadioSet { height: auto; width: 100%; }
    TimelineFilterDialog .range Input { width: 1fr; }
    TimelineFilterDialog .range { height: auto; }
    TimelineFilterDialog .buttons { height: 3; align-horizontal: right; dock: bottom; }
    TimelineFilterDialog .buttons Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
        Binding("ctrl+r", "reset", "Reset"),
    ]

    def __init__(self, current: TimelineFilter, events: list[EventDefinition]) -> None:
        super().__init__()
        self.current = current
        self.events = events

    def compose(self) -> ComposeResult:
        f = self.current
        with Vertical():
            yield Static("[b]Filter activity[/b]")
            with VerticalScroll():
                yield Static("Activity types", classes="field-label")
                yield SelectionList[str](
                    *((t.label, t.value, t in f.activity_types) for t in ActivityType),
                    id="types",
                )
                yield Static("Custom behavioral events", classes="field-label")
                yield SelectionList[str](
                    *(
                        (
                            escape(d.label) + (" (archived)" if d.archived else ""),
                            d.fully_qualified_name,
                            d.fully_qualified_name not in f.hidden_events,
                        )
                        for d in self.events
                    ),
                    id="events",
                )
                if not self.events:
                    yield Static("No events belong to this kind of record.", classes="muted")
                yield Static("Time range", classes="field-label")
                with RadioSet(id="period"):
                    for period in Period:
                        yield RadioButton(period.label, value=period is f.period, id=period.value)
                with Horizontal(classes="range"):
                    yield Input(
                        f.start.isoformat() if f.start else "",
                        placeholder="From YYYY-MM-DD",
                        id="start",
                    )
                    yield Input(
                        f.end.isoformat() if f.end else "", placeholder="To YYYY-MM-DD", id="end"
                    )
                yield Static("", id="range-error", classes="error")
                yield Static("Property values containing", classes="field-label")
                yield Input(f.search, placeholder="e.g. enterprise", id="search")
            with Horizontal(classes="buttons"):
                yield Button("Reset (ctrl+r)", id="reset")
                yield Button("Cancel", id="cancel")
                yield Button("Apply (ctrl+s)", id="apply", variant="primary")

    def on_mount(self) -> None:
        self._show_range()
        self.query_one("#events", SelectionList).focus()

    @on(RadioSet.Changed, "#period")
    def _show_range(self) -> None:
        custom = self._period() is Period.CUSTOM
        for input_id in ("#start", "#end"):
            self.query_one(input_id, Input).disabled = not custom

    def _period(self) -> Period:
        pressed = self.query_one("#period", RadioSet).pressed_button
        return Period(pressed.id) if pressed is not None and pressed.id else Period.ALL

    def _date(self, input_id: str) -> date | None:
        text = self.query_one(input_id, Input).value.strip()
        return date.fromisoformat(text) if text else None

    def action_apply(self) -> None:
        period = self._period()
        start = end = None
        if period is Period.CUSTOM:
            try:
                start, end = self._date("#start"), self._date("#end")
            except ValueError:
                self.query_one("#range-error", Static).update(
                    "Dates are YYYY-MM-DD, e.g. 2026-10-01."
                )
                return
            if start is None and end is None:
                self.query_one("#range-error", Static).update(
                    "A custom range needs a From date, a To date or both (YYYY-MM-DD)."
                )
                return
            if start and end and end < start:
                self.query_one("#range-error", Static).update("The range ends before it starts.")
                return
        shown_events = set(self.query_one("#events", SelectionList).selected)
        listed = {d.fully_qualified_name for d in self.events}
        types = {ActivityType(t) for t in self.query_one("#types", SelectionList).selected}
        self.dismiss(
            TimelineFilter(
                activity_types=types,
                # events of other kinds of records keep their setting
                hidden_events=(self.current.hidden_events - listed)
                | {name for name in listed if name not in shown_events},
                period=period,
                start=start,
                end=end,
                search=self.query_one("#search", Input).value.strip(),
            )
        )

    def action_reset(self) -> None:
        self.dismiss(TimelineFilter())

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "reset":
            self.action_reset()
        else:
            self.dismiss(None)
