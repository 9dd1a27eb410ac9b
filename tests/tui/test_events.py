"""The events home and the event details, driven by keyboard."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, TextArea

from core.models import CrmRecord, EventDefinition
from core.occurrences import CompletionQuery
from core.services import Services
from tests.sending import send_one
from tests.tui.conftest import SIZE, make_app, settle, type_text
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.help import HelpDialog
from tui.screens.event_detail import EventDetailScreen
from tui.screens.events import EventsScreen


def _rows(app) -> list[str]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#events", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def test_search_filters_the_table(services: Services, viewed_car: EventDefinition) -> None:
    services.definitions.create({"label": "Started trial"})
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _rows(app) == ["viewed_car", "started_trial"]
        await pilot.press("slash")
        await type_text(pilot, "trial")
        assert _rows(app) == ["started_trial"]
        await pilot.press("enter", "escape")
        assert app.screen.query_one("#search", Input).value == ""
        assert _rows(app) == ["viewed_car", "started_trial"]


async def test_delete_asks_first_and_says_what_goes(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    for _ in range(3):
        send_one(
            services.ingestion,
            {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id},
        )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert "its 3 completions for good" in dialog.message
        assert "viewed_car can never be used again" in dialog.message
        await pilot.press("escape")
        assert _rows(app) == ["viewed_car"]
        await pilot.press("d", "y")
        await settle(pilot)
        assert _rows(app) == []
    assert services.definitions.search() == []
    assert services.db.completions.summaries() == {}


async def test_deleting_runs_in_the_background_and_says_when_it_is_done(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(3):
        send_one(
            services.ingestion,
            {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id},
        )
    services.definitions.create({"label": "Started trial"})
    release = threading.Event()
    delete = services.definitions.delete

    def slow_delete(name: str) -> int:
        assert release.wait(timeout=60), "the test never let the delete finish"
        return delete(name)

    monkeypatch.setattr(services.definitions, "delete", slow_delete)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d", "y")
        await pilot.pause()
        # While the store works, the event is marked and the app answers keys.
        table = app.screen.query_one("#events", DataTable)
        assert str(table.get_row_at(0)[0]) == "Viewed Car (deleting…)"
        told = [str(n.message) for n in app._notifications]
        assert "Deleting Viewed Car and its 3 completion(s)…" in told
        await pilot.press("slash")
        await type_text(pilot, "trial")
        assert _rows(app) == ["started_trial"]
        await pilot.press("escape")
        release.set()
        await settle(pilot)
        assert _rows(app) == ["started_trial"]
        told = [str(n.message) for n in app._notifications]
        assert "Deleted Viewed Car and 3 completion(s)." in told
    assert [d.name for d in services.definitions.search()] == ["started_trial"]
    assert services.db.completions.summaries() == {}


async def test_archive_and_restore(services: Services, viewed_car: EventDefinition) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert services.definitions.get("viewed_car").archived
        await pilot.press("a")
        await settle(pilot)
        assert not services.definitions.get("viewed_car").archived


async def test_details_show_internal_names_and_edit_the_event(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EventDetailScreen)
        await pilot.press("down", "i")  # the second custom property: year
        assert app.clipboard == "year"
        await pilot.press("l")
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "Viewed a car")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("p", "enter")  # a string property
        await type_text(pilot, "Colour")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpDialog)
        assert ("i", "Internal name") in app.screen.keys
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, EventsScreen)
    stored = services.definitions.get("viewed_car")
    assert stored.label == "Viewed a car"
    assert stored.name == "viewed_car"
    assert stored.properties[-1].name == "colour"


async def test_details_save_an_edited_snippet(services: Services) -> None:
    services.definitions.create(
        {"label": "Clicked buy", "trackingMethod": "JAVASCRIPT", "snippet": "// v1\n"}
    )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        editor = app.screen.query_one("#detail-snippet", TextArea)
        editor.focus()
        editor.move_cursor(editor.document.end)
        await type_text(pilot, "// v2")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert services.definitions.get("clicked_buy").snippet == "// v1\n// v2"


async def test_sections_and_palette(services: Services) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        assert app.current_mode == "records"
        await pilot.press("1")
        assert app.current_mode == "events"
        await pilot.press("ctrl+p")
        await type_text(pilot, "create event")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "CreateEventScreen"


async def test_validate_judges_a_payload_as_it_is_typed_and_stores_nothing(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    from tui.dialogs.validate import ValidateDialog

    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, ValidateDialog)
        verdict = app.screen.query_one("#verdict")
        shown = str(verdict.render())
        assert "Valid: the completion would be stored." in shown
        assert f'"objectId": "{contact.id}"' in shown  # a record that exists, not a placeholder
        area = app.screen.query_one("#payload", TextArea)
        body = {
            "eventName": viewed_car.fully_qualified_name,
            "objectId": contact.id,
            "properties": {"year": "soon", "condition": "mint"},
        }
        area.text = json.dumps(body)
        await pilot.pause(0.4)  # the verdict follows the text after a short pause
        await settle(pilot)
        shown = str(verdict.render())
        assert "Invalid: 1 broken rule" in shown
        assert "properties.year" in shown and "INVALID_NUMBER" in shown
        area.text = "{"
        await pilot.pause(0.4)
        await settle(pilot)
        assert "Not JSON yet" in str(verdict.render())
        await pilot.press("escape")
        assert isinstance(app.screen, EventDetailScreen)
    assert services.db.completions.summaries() == {}


async def test_rejected_requests_are_listed_and_replayed_from_the_events_home(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    from core.errors import ValidationFailed
    from tui.screens.rejections import RejectionsScreen

    body = {
        "eventName": viewed_car.fully_qualified_name,
        "objectId": contact.id,
        "properties": {"condition": "new", "colour": "red"},
    }
    for tag in (None, "run-7"):
        with pytest.raises(ValidationFailed):
            send_one(services.ingestion, body, tag=tag)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, RejectionsScreen)
        assert app.screen.query_one("#rejections", DataTable).row_count == 2
        detail = str(app.screen.query_one("#rejection-text").render())
        assert "properties.colour" in detail and '"colour": "red"' in detail
        assert "Test run run-7" in detail  # the newest first, with its run's tag
        await pilot.press("P")  # this one: it still fails
        await settle(pilot)
        assert app.screen.query_one("#rejections", DataTable).row_count == 2
        services.definitions.add_property("viewed_car", {"label": "Colour", "type": "string"})
        await pilot.press("p")
        await settle(pilot)
        assert app.screen.query_one("#rejections", DataTable).row_count == 0
        assert "Nothing refused" in str(app.screen.query_one("#rejections-summary").render())
        await pilot.press("escape")
        assert isinstance(app.screen, EventsScreen)
    assert sum(s.count for s in services.db.completions.summaries().values()) == 2
    tags = sorted(str(c.tag) for c in services.occurrences.iterate(CompletionQuery()))
    assert tags == ["None", "run-7"]  # the replay kept each request's tag


async def test_typed_code_for_an_event_in_both_languages(
    services: Services, viewed_car: EventDefinition
) -> None:
    from textual.widgets import TabbedContent

    from tui.dialogs.typed_code import TypedCodeDialog

    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TypedCodeDialog)
        ts = app.screen.query_one("#ts-code", TextArea)
        line = ts.document.get_line(ts.cursor_location[0])
        assert line == f"// {viewed_car.label}: {viewed_car.description}"
        row = ts.wrapped_document.location_to_offset(ts.cursor_location).y
        assert ts.scroll_offset.y == row > 0  # at the top of the code, the header above
        await pilot.press("y")
        assert "export function trackViewedCar(" in (app.clipboard or "")
        assert 'export type ViewedCarCondition = "new" | "used";' in (app.clipboard or "")
        app.screen.query_one(TabbedContent).active = "python"
        await settle(pilot)
        py = app.screen.query_one("#py-code", TextArea)
        assert py.document.get_line(py.cursor_location[0]).startswith("ViewedCar")
        row = py.wrapped_document.location_to_offset(py.cursor_location).y
        assert py.scroll_offset.y == row > 0
        await pilot.press("y")
        assert "def track_viewed_car(" in (app.clipboard or "")
        await pilot.press("escape")
        assert isinstance(app.screen, EventDetailScreen)


async def test_plan_exports_diffs_and_applies_with_a_confirmation_for_breaking_changes(
    services: Services, viewed_car: EventDefinition, tmp_path: Path
) -> None:
    from tui.dialogs.confirm import ConfirmDialog
    from tui.dialogs.plan import PlanDialog

    file = tmp_path / "plan.json"
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, PlanDialog)
        app.screen.query_one("#plan-file", Input).value = str(file)
        await pilot.click("#export")
        await settle(pilot)
        assert "Wrote 1 event(s)" in str(app.screen.query_one("#plan-result").render())
        plan = json.loads(file.read_text())
        plan["events"][0]["label"] = "Viewed a car"
        plan["events"][0]["properties"] = plan["events"][0]["properties"][:-1]  # listing_url
        file.write_text(json.dumps(plan))
        await pilot.click("#diff")
        await settle(pilot)
        shown = str(app.screen.query_one("#plan-result").render())
        assert "2 change(s), 1 breaking" in shown
        assert "BREAKING: remove property viewed_car.listing_url" in shown
        await pilot.click("#apply")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert "Applied 2 change(s)." in str(app.screen.query_one("#plan-result").render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, EventsScreen)
        table = app.screen.query_one("#events", DataTable)
        assert str(table.get_row_at(0)[0]) == "Viewed a car"  # the home reloaded
    assert [p.name for p in services.definitions.get("viewed_car").properties][-1] == "listed_at"
