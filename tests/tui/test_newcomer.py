"""Issue 19: a newcomer's day, walked as the person did, keyboard only."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from tests.tui.conftest import make_app, settle, type_text
from tui.formatting import selected_key
from tui.screens.records import RecordsScreen


def _contacts(services: Services, n: int) -> list[CrmRecord]:
    return [
        services.records.create(
            ObjectType.CONTACT,
            {"email": f"person{i:02d}@example.com", "firstname": "Person", "lastname": f"{i:02d}"},
        )
        for i in range(n)
    ]


async def test_a_records_refresh_keeps_the_chosen_record_the_scroll_and_the_search(
    services: Services, viewed_car: EventDefinition
) -> None:
    people = _contacts(services, 60)
    app = make_app(services)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RecordsScreen)
        table = screen.query_one("#table-contacts", DataTable)
        for _ in range(40):
            await pilot.press("down")
        await pilot.pause()
        chosen = selected_key(table)
        assert chosen == people[40].id
        scrolled = table.scroll_y
        assert scrolled > 0

        # A completion arrives for someone else: "Last activity" changes, the rows stay.
        services.ingestion.send(
            {"eventName": viewed_car.fully_qualified_name, "objectId": people[3].id}
        )
        screen.reload()
        await settle(pilot)
        assert selected_key(table) == chosen
        assert table.scroll_y == scrolled

        # Records above the chosen one go: the rows are rebuilt, the cursor stays on the person.
        for person in people[:5]:
            services.records.archive(ObjectType.CONTACT, person.id)
        screen.reload()
        await settle(pilot)
        assert table.row_count == 55
        assert selected_key(table) == chosen
        assert table.cursor_row == 35
        assert str(table.get_row(chosen)[0]) == "Person 40"

        # Enter, the way the person did seconds later, opens that person.
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.record_id == chosen  # type: ignore[attr-defined]
        await pilot.press("escape")
        await settle(pilot)

        # A search survives the refresh, and so does the row chosen in its results.
        await pilot.press("slash")
        await type_text(pilot, "person4")
        await pilot.press("enter")
        await pilot.press("down", "down")
        chosen = selected_key(table)
        screen.reload()
        await settle(pilot)
        assert screen.query_one("#search", Input).value == "person4"
        assert table.row_count == 10
        assert selected_key(table) == chosen
