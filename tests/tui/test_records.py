"""Records and timelines, driven by keyboard: paging, filtering, live updates, jumps."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

import tui.screens.records as records_screen
from cli.bootstrap import database_folder, open_services
from core.models import Completion, CrmRecord, EventDefinition, ObjectType
from core.services import Services
from core.timeline import Period, TimelineEntry, TimelineFilter
from tests.conftest import NOW
from tests.quiet import until_quiet
from tests.sending import send_one
from tests.tui.conftest import SIZE, make_app, settle, type_text
from tui.screens.event_detail import EventDetailScreen
from tui.screens.record import RecordScreen
from tui.screens.records import RecordsScreen
from tui.widgets.tab_bar import TabBar
from tui.widgets.timeline import TimelineView

ROOT = Path(__file__).resolve().parents[2]


def _completion(entry: TimelineEntry) -> Completion:
    assert entry.completion is not None, f"{entry.event_label} is not a completion"
    return entry.completion


def _send(
    services: Services, event: EventDefinition, contact: CrmRecord, n: int, **props: object
) -> None:
    bodies = [
        {
            "eventName": event.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": (NOW - timedelta(hours=i)).isoformat(),
            "properties": {"make": f"Make {i}", **props},
        }
        for i in range(n)
    ]
    for start in range(0, n, 500):
        services.ingestion.send_batch({"inputs": bodies[start : start + 500]})


async def _open_records(pilot) -> RecordsScreen:  # type: ignore[no-untyped-def]
    """The Records list, opened from the events home once that has settled."""
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RecordsScreen)
    return screen


async def _open_contact(pilot) -> RecordScreen:  # type: ignore[no-untyped-def]
    await _open_records(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RecordScreen)
    return screen


async def test_records_list_counts_and_search(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    services.records.create(ObjectType.CONTACT, {"email": "bo@example.com", "firstname": "Bo"})
    _send(services, viewed_car, contact, 3)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_records(pilot)
        table = screen.query_one("#table-contacts", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [(str(r[0]), str(r[3])) for r in rows] == [("Ann Lee", "3"), ("Bo", "0")]
        await pilot.press("slash")
        await type_text(pilot, "bo@")
        assert table.row_count == 1
        assert screen.query_one("#search", Input).value == "bo@"


async def test_the_app_keeps_what_it_holds_out_of_full_collections_until_it_ends(
    services: Services, contact: CrmRecord
) -> None:
    gc.unfreeze()  # (whatever an earlier test in this process froze)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)  # the events home shown, then the records read beside it
        assert gc.get_freeze_count() > 0
        await pilot.press("2")
        await settle(pilot)
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # given back: a process that goes on collects it


async def test_the_kinds_tabs_open_by_arrows_and_clicks_each_showing_its_list_alone(
    services: Services, contact: CrmRecord
) -> None:
    services.records.create(ObjectType.COMPANY, {"name": "Bluefin", "domain": "bluefin.example"})
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_records(pilot)
        kinds = screen.query_one("#kinds", TabBar)
        assert [kinds.label(f"tab-{k.plural}") for k in ObjectType] == [
            "Contacts (1)",
            "Companies (1)",
            "Deals (0)",
            "Tickets (0)",
        ]
        # Focused (shift+tab from the list), the tabs move with right and left; the list of
        # the tab opened takes the focus, one made just then too.
        await pilot.press("shift+tab")
        assert kinds.has_focus
        await pilot.press("right")
        await settle(pilot)
        assert kinds.active == "tab-companies"
        companies = screen.query_one("#table-companies", DataTable)
        assert str(companies.get_row_at(0)[0]) == "Bluefin"
        assert app.focused is companies
        assert screen.query_one("#tab-companies").display
        assert not screen.query_one("#tab-contacts").display
        await pilot.press("shift+tab", "left")
        await settle(pilot)
        assert kinds.active == "tab-contacts"
        assert app.focused is screen.query_one("#table-contacts", DataTable)
        assert not screen.query_one("#tab-companies").display

        # A click on a label opens its tab, and a click under it; the deals' says why it is
        # empty.
        await pilot.click("#kinds", offset=(32, 0))  # " Contacts (1) Companies (1) " end at 28
        await settle(pilot)
        assert kinds.active == "tab-deals"
        assert "No deals yet" in str(screen.query_one("#empty-deals").render())
        assert app.focused is screen.query_one("#table-deals", DataTable)
        await pilot.click("#kinds", offset=(16, 1))
        await settle(pilot)
        assert kinds.active == "tab-companies"
        assert screen.query_one("#tab-companies").display
        assert not screen.query_one("#tab-deals").display
        assert app.focused is companies


async def test_a_long_records_list_shows_a_page_and_brings_more_as_the_cursor_goes_down(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records_screen, "PAGE", 20)
    with services.db.transaction() as unit:
        for n in range(1, 46):
            services.records.create(
                ObjectType.CONTACT, {"email": f"p{n}@example.com", "firstname": f"Person {n}"}
            )
        unit.commit()
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_records(pilot)
        table = screen.query_one("#table-contacts", DataTable)
        kinds = screen.query_one("#kinds", TabBar)
        assert table.row_count == 20
        assert "Contacts (45)" in kinds.label("tab-contacts")
        for _ in range(4):
            await pilot.press("pagedown")
            await settle(pilot)
        assert table.row_count == 45
        names = [str(table.get_row_at(i)[0]) for i in range(45)]
        assert names == [f"Person {n}" for n in range(1, 46)]  # in id order, none twice

        # A search asks the store: every match counted, the first page shown.
        await pilot.press("slash")
        await type_text(pilot, "p1")
        assert "Contacts (11)" in kinds.label("tab-contacts")  # 1, 10-19
        assert table.row_count == 11
        await pilot.press("backspace", "backspace")
        await settle(pilot)
        assert "Contacts (45)" in kinds.label("tab-contacts")
        shown = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert shown == [f"Person {n}" for n in range(1, len(shown) + 1)]


async def test_timeline_pages_as_the_cursor_goes_down(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    _send(services, viewed_car, contact, 130)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        timeline = screen.query_one(TimelineView)
        assert len(timeline.entries) == 50
        assert timeline.has_more
        for _ in range(3):
            await pilot.press("end")
            await settle(pilot)
        assert len(timeline.entries) == 130
        assert not timeline.has_more
        made = [e.completion.properties["make"] for e in timeline.entries]
        assert made == [f"Make {i}" for i in range(130)]  # newest first, none twice


async def test_expand_collapse_and_flags(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    _send(services, viewed_car, contact, 2, condition="new;bogus")
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        timeline = screen.query_one(TimelineView)
        await pilot.press("enter")
        assert timeline.expanded == {_completion(timeline.entries[0]).id}
        rows = {r.label: r for r in timeline.entries[0].rows}
        assert rows["Condition"].value == "New; bogus (not an option)"
        assert rows["Condition"].unusable
        await pilot.press("e")
        assert len(timeline.expanded) == 2
        await pilot.press("c")
        assert timeline.expanded == set()


async def test_filter_by_event_and_time_is_remembered(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    other = services.definitions.create({"label": "Started trial"})
    _send(services, viewed_car, contact, 3)
    send_one(
        services.ingestion,
        {
            "eventName": other.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": "2026-01-05T00:00:00Z",
        },
    )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        timeline = screen.query_one(TimelineView)
        assert len(timeline.entries) == 4
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("space")  # untick the first event in the list: Viewed Car
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert [e.event_label for e in timeline.entries] == ["Started trial"]
        assert "1 event hidden" in str(screen.query_one("#filter-line").render())
        screen._apply_filter(
            screen.timeline_filter.model_copy(update={"period": Period.LAST_30_DAYS})
        )
        await settle(pilot)
        assert timeline.entries == []
        assert "No activity matches the filter" in timeline.empty_text

    # A new session, another record: the filter is still the one chosen.
    saved = services.preferences.load(f"timeline-filter:{services.db.portal.portal_id}:CONTACT")
    assert saved is not None
    remembered = TimelineFilter.model_validate(saved)
    assert remembered.hidden_events == {viewed_car.fully_qualified_name}
    assert remembered.period is Period.LAST_30_DAYS


async def test_search_over_property_values(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    _send(services, viewed_car, contact, 12)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        screen._apply_filter(TimelineFilter(search="make 1"))
        await settle(pilot)
        made = [_completion(e).properties["make"] for e in screen.query_one(TimelineView).entries]
        assert made == ["Make 1", "Make 10", "Make 11"]


async def test_live_update_from_another_process(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, tmp_path: Path
) -> None:
    _send(services, viewed_car, contact, 2)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        timeline = screen.query_one(TimelineView)
        assert len(timeline.entries) == 2
        body = {
            "eventName": viewed_car.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": (NOW + timedelta(minutes=5)).isoformat(),
            "properties": {"make": "Live"},
        }
        file = tmp_path / "live.json"
        file.write_text(json.dumps(body))
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "send",
                str(file),
                "--db",
                str(database_folder(services)),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        screen.look_for_new()  # what the screen's timer calls every few seconds
        await settle(pilot)
        assert _completion(timeline.entries[0]).properties["make"] == "Live"
        assert len(timeline.entries) == 3


async def test_jump_to_the_event_and_back_to_its_records(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    _send(services, viewed_car, contact, 1)
    services.records.create(ObjectType.CONTACT, {"email": "idle@example.com"})
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await _open_contact(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, EventDetailScreen)
        assert app.screen.event_name == "viewed_car"
        await pilot.press("r")
        await settle(pilot)
        records = app.screen
        assert isinstance(records, RecordsScreen)
        table = records.query_one("#table-contacts", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["Ann Lee"]


def test_a_second_database_object_sees_the_same_timeline(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    """The live path reads through a fresh process's caches, as the TUI and the server do."""
    _send(services, viewed_car, contact, 5)
    other = open_services(database_folder(services))
    try:
        assert len(other.timeline.page(contact).entries) == 5
    finally:
        other.close()


async def test_a_read_that_ends_after_its_screen_closed_shows_nothing_and_fails_nothing(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Closing a screen cannot stop its thread worker: what the worker read arrives for
    widgets that are gone, and must be dropped rather than end the app with an error."""
    send_one(
        services.ingestion,
        {
            "eventName": viewed_car.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": (NOW - timedelta(days=1)).isoformat(),
        },
    )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        gate, read = threading.Event(), threading.Event()
        page = services.occurrences.page

        def held_page(query):  # type: ignore[no-untyped-def]
            gate.wait(30)
            try:
                return page(query)
            finally:
                read.set()

        monkeypatch.setattr(services.occurrences, "page", held_page)
        _send(services, viewed_car, contact, 1)  # newer than what the screen shows
        assert screen.refresh_from_store() is not None
        await pilot.press("escape")
        await until_quiet(pilot, workers=False)
        assert not screen.is_attached and not read.is_set()
        gate.set()
        assert await asyncio.to_thread(read.wait, 30)
        await settle(pilot)
        assert app.is_running and app.return_code is None
        assert app.screen is not screen


async def test_the_first_rows_show_before_their_completions_are_counted(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Records list's first frame has the open tab's first rows (a page of the store);
    their completions are blank until the list's load has counted every record's."""
    services.records.create(ObjectType.CONTACT, {"email": "bo@example.com", "firstname": "Bo"})
    _send(services, viewed_car, contact, 3)
    gate, counted = threading.Event(), threading.Event()
    summaries = services.db.completions.record_summaries

    def held_summaries():  # type: ignore[no-untyped-def]
        gate.wait(30)
        try:
            return summaries()
        finally:
            counted.set()

    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        monkeypatch.setattr(services.db.completions, "record_summaries", held_summaries)
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RecordsScreen)
        table = screen.query_one("#table-contacts", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [(str(r[0]), str(r[3]), str(r[4])) for r in rows] == [
            ("Ann Lee", "", ""),
            ("Bo", "", ""),
        ]
        assert not counted.is_set()
        gate.set()
        assert await asyncio.to_thread(counted.wait, 30)
        await settle(pilot)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [(str(r[0]), str(r[3])) for r in rows] == [("Ann Lee", "3"), ("Bo", "0")]
        assert str(rows[1][4]) != ""  # its last activity: none, said so


async def test_the_records_are_read_beside_the_events_home_before_the_list_opens(
    services: Services, contact: CrmRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the events home shows its counts, the app reads each kind's first page in a
    thread (what the Records list's first frame reads), once."""
    asked: list[tuple[ObjectType, str]] = []
    page = services.records.page

    def counted_page(kind, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append((kind, threading.current_thread().name))
        return page(kind, *args, **kwargs)

    monkeypatch.setattr(services.records, "page", counted_page)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert [kind for kind, _ in asked] == list(ObjectType)
        assert threading.main_thread().name not in {thread for _, thread in asked}
        await pilot.press("1")  # the home again: read once only
        await settle(pilot)
        assert len(asked) == len(ObjectType)
