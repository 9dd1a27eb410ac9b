"""What a sender wrote is drawn as visible escapes, never as commands or markup.

Names, labels and property values hold OSC 52 (write the clipboard), ``ESC [ 2 J`` (clear the
screen), ``ESC ] 0`` (set the window title), a C1 CSI, a right-to-left override and markup.
Each test reads what the screen draws (the compositor's lines, as they go to the terminal).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from textual.pilot import Pilot

from core.errors import ValidationFailed
from core.ingestion import Mode
from core.models import EventDefinition, ObjectType, Source
from core.services import Services
from core.text import UNSAFE
from tests.conftest import NOW
from tests.sending import send_one
from tests.tui.conftest import SIZE, make_app, settle, step
from tui.app import CbeApp
from tui.screens.analyze import AnalyzeScreen
from tui.screens.event_detail import EventDetailScreen
from tui.screens.events import EventsScreen
from tui.screens.record import RecordScreen
from tui.screens.records import RecordsScreen
from tui.screens.rejections import RejectionsScreen
from tui.widgets.timeline import TimelineView

OSC52 = "\x1b]52;c;Y3VybA==\x07"
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;title\x07"
C1_CSI = "\x9b"
RLO = "\u202e"


def drawn(pilot: Pilot[None]) -> str:
    """Every line of the screen as it is drawn."""
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def assert_harmless(text: str) -> None:
    assert UNSAFE.search(text.replace("\n", "")) is None, [m[0] for m in UNSAFE.finditer(text)]


def _hostile_event(services: Services) -> EventDefinition:
    return services.definitions.create(
        {
            "label": f"Viewed{TITLE}Car",
            "description": f"Fires{CLEAR} when [bold]seen[/]",
            "propertyDefinitions": [
                {"label": "Make", "type": "string"},
                {"label": f"Model{RLO}", "type": "string"},
            ],
        }
    )


async def test_events_home_draws_a_hostile_label_as_escapes(services: Services) -> None:
    _hostile_event(services)
    async with make_app(services).run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(pilot.app.screen, EventsScreen)
        screen = drawn(pilot)
        assert "Viewed\\x1b]0;title\\x07Car" in screen
        assert_harmless(screen)


async def test_records_list_and_timeline_draw_escapes(services: Services) -> None:
    event = _hostile_event(services)
    services.records.create(
        ObjectType.CONTACT,
        {
            "email": "ann@example.com",
            "firstname": f"Ann{OSC52}",
            "lastname": f"[b]Lee{RLO}[/b]",
            "jobtitle": f"Boss{C1_CSI}2J",
        },
    )
    send_one(
        services.ingestion,
        {
            "eventName": event.fully_qualified_name,
            "email": "ann@example.com",
            "occurredAt": NOW.isoformat(),
            "properties": {"make": f"{CLEAR}Kia", "model": f"[red]x{RLO}"},
        },
    )
    # the public collector's path: lenient, no token
    services.ingestion.ingest(
        [
            {
                "eventName": event.fully_qualified_name,
                "email": "ann@example.com",
                "occurredAt": NOW.isoformat(),
                "properties": {"make": f"Opel{TITLE}"},
            }
        ],
        Mode.LENIENT,
        Source.JS,
    )
    async with make_app(services).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        assert isinstance(pilot.app.screen, RecordsScreen)
        records = drawn(pilot)
        assert "Ann\\x1b]52;c;Y3VybA==\\x07 [b]Lee\\u202e[/b]" in records
        assert "Boss\\x9b2J" in records
        assert_harmless(records)

        await step(pilot, "enter")
        screen = pilot.app.screen
        assert isinstance(screen, RecordScreen)
        timeline = screen.query_one(TimelineView)
        timeline.focus()
        await pilot.press("e")  # expand every completion
        await settle(pilot)
        record = drawn(pilot)
        assert_harmless(record)
        assert "Contact: Ann\\x1b]52;c;Y3VybA==\\x07 [b]Lee\\u202e[/b]" in record  # the header
        assert "jobtitle" in record and "Boss\\x9b2J" in record  # the properties panel
        assert "Viewed\\x1b]0;title\\x07Car" in record  # an entry's label
        assert "\\x1b[2JKia" in record  # an expanded property value
        assert "[red]x\\u202e" in record  # markup is shown, not applied
        assert "Model\\u202e" in record  # a property's label
        assert "Opel\\x1b]0;title\\x07" in record  # what came through the collector


async def test_event_details_draw_label_and_description_as_escapes(services: Services) -> None:
    _hostile_event(services)
    async with make_app(services).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "enter")
        assert isinstance(pilot.app.screen, EventDetailScreen)
        screen = drawn(pilot)
        assert "Viewed\\x1b]0;title\\x07Car" in screen
        assert "Fires\\x1b[2J when [bold]seen[/]" in screen
        assert_harmless(screen)


async def test_rejected_requests_draw_field_paths_as_escapes(
    services: Services, viewed_car: EventDefinition
) -> None:
    with pytest.raises(ValidationFailed):
        send_one(
            services.ingestion,
            {
                "eventName": viewed_car.fully_qualified_name,
                "email": "ann@example.com",
                "properties": {f"a{CLEAR}{RLO}": OSC52},
            },
        )
    async with make_app(services).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "r")
        assert isinstance(pilot.app.screen, RejectionsScreen)
        screen = drawn(pilot)
        assert "properties.a\\x1b[2J\\u202e" in screen
        assert_harmless(screen)


async def test_the_apps_csv_export_never_starts_a_formula(
    services: Services, tmp_path: Path
) -> None:
    services.definitions.create({"label": '=HYPERLINK("http://evil.example")'})
    app = CbeApp(services, refresh_seconds=0, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4")
        screen = app.screen
        assert isinstance(screen, AnalyzeScreen)
        await step(pilot, "x", "enter")
        (exported,) = tmp_path.glob("cbe-analyze-*.csv")
        rows = list(csv.reader(exported.open(encoding="utf-8")))
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example")'
