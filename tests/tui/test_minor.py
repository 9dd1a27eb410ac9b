"""Issue 19's minor items, walked as a person would, keyboard only."""

from __future__ import annotations

import re
from datetime import timedelta

from textual.widgets import DataTable, Footer, TextArea

from core.clock import FixedClock
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from core.workflows import Action, ActionKind, Workflow
from tests.tui.conftest import SIZE, make_app, settle, type_text
from tui.app import CbeApp
from tui.dialogs.confirm import ConfirmDialog
from tui.screens.event_detail import EventDetailScreen
from tui.screens.rejections import RejectionsScreen
from tui.screens.workflows import EnrollmentsScreen


async def test_the_palette_runs_the_screens_actions_by_name(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The events home's delete, by name: the same question as `d`.
        await pilot.press("ctrl+p")
        await type_text(pilot, "delete")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "Deleting “Viewed Car”" in app.screen.title_text + app.screen.message
        await pilot.press("escape")
        await settle(pilot)
        assert services.definitions.get("viewed_car") is not None

        # From another section, the portal's rejected requests.
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await type_text(pilot, "rejected requests")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RejectionsScreen)
        assert app.current_mode == "events"


def _nurture(services: Services, viewed_car: EventDefinition, people: list[CrmRecord]) -> Workflow:
    workflow = services.workflows.create("Nurture", ObjectType.CONTACT)
    services.workflows.add_action(
        workflow.id,
        Action(
            id="wait",
            kind=ActionKind.DELAY_UNTIL_EVENT,
            event_name=viewed_car.fully_qualified_name,
        ),
    )
    services.workflows.set_enabled(workflow.id, True)
    services.workflows.enroll(workflow.id, [p.id for p in people])
    return workflow


async def test_who_is_where_lists_the_waiting_first_in_one_date_style_and_keeps_up(
    services: Services, viewed_car: EventDefinition, clock: FixedClock
) -> None:
    people = [
        services.records.create(
            ObjectType.CONTACT, {"email": f"w{i}@example.com", "firstname": f"W{i:02d}"}
        )
        for i in range(30)
    ]
    _nurture(services, viewed_car, people)
    clock.advance(timedelta(days=40))
    # Two completed the event long ago (finished), the rest wait.
    for person in (people[3], people[7]):
        clock.advance(timedelta(hours=1))
        services.ingestion.send(
            {"eventName": viewed_car.fully_qualified_name, "objectId": person.id}
        )
    app = CbeApp(services, refresh_seconds=0.05)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EnrollmentsScreen)
        table = screen.query_one("#enrollments", DataTable)
        where = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert all(w.startswith("waiting at 1.") for w in where[:28])
        assert where[28:] == ["finished", "finished"]
        since = {str(table.get_row_at(i)[2]) for i in range(table.row_count)}
        assert all(re.fullmatch(r"[A-Z][a-z]{2} \d\d, \d{4} \d\d:\d\d", s) for s in since), since

        # The last row can be reached and is shown above the footer, not under it.
        footer = screen.query_one(Footer)
        assert table.region.bottom <= footer.region.y
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.cursor_row == table.row_count - 1
        assert table.scrollable_content_region.bottom <= footer.region.y

        # A waiting record completes the event while the list is open: it moves on its own.
        clock.advance(timedelta(hours=1))
        services.ingestion.send(
            {"eventName": viewed_car.fully_qualified_name, "objectId": people[0].id}
        )
        for _ in range(100):
            await pilot.pause(0.02)
            if sum(str(table.get_row_at(i)[1]) == "finished" for i in range(table.row_count)) == 3:
                break
        finished = [
            str(table.get_row_at(i)[0])
            for i in range(table.row_count)
            if str(table.get_row_at(i)[1]) == "finished"
        ]
        assert finished == ["W00", "W07", "W03"]  # latest first


async def test_tab_leaves_the_snippet_editor_and_esc_asks_before_dropping_edits(
    services: Services,
) -> None:
    services.definitions.create(
        {"label": "Clicked buy", "trackingMethod": "JAVASCRIPT", "snippet": "// v1\n"}
    )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventDetailScreen)
        editor = screen.query_one("#detail-snippet", TextArea)
        editor.focus()
        editor.move_cursor(editor.document.end)
        await type_text(pilot, "// v2")
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is not editor  # Tab moved on
        assert editor.text == "// v1\n// v2"  # and typed nothing
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert services.definitions.get("clicked_buy").snippet == "// v1\n// v2"

        # An unsaved edit, then Esc from inside the editor: a question, not a silent loss.
        editor.focus()
        await type_text(pilot, "x")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.title_text == "Discard the snippet edits?"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert "x" in editor.text
