"""Issue 19: a newcomer's day, walked as the person did, keyboard only."""

from __future__ import annotations

from textual.geometry import Region
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Select, SelectionList, Static, TextArea

from core.codegen import describe_snippet
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from tests.sending import send_one
from tests.tui.conftest import SIZE, make_app, settle, step, type_text
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.workflow import DelayUntilEventDialog, EnrollDialog
from tui.formatting import selected_key
from tui.screens.analyze import FilterDialog
from tui.screens.event_detail import EventDetailScreen
from tui.screens.record import RecordScreen
from tui.screens.records import RecordsScreen
from tui.screens.wizard import CreateEventScreen
from tui.screens.workflows import WorkflowScreen
from tui.widgets.timeline import TimelineView


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
        await step(pilot, "2")
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
        send_one(
            services.ingestion,
            {"eventName": viewed_car.fully_qualified_name, "objectId": people[3].id},
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
        await step(pilot, "enter")
        assert app.screen.record_id == chosen  # type: ignore[attr-defined]
        await step(pilot, "escape")

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


async def test_q_in_the_wizard_never_quits_and_every_way_out_asks_first(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "n")
        assert isinstance(app.screen, CreateEventScreen)
        await type_text(pilot, "Clicked buy button")
        await pilot.press("tab", "tab")  # past the description, onto the object list
        assert not isinstance(app.focused, Input | TextArea)
        await pilot.press("q")  # a letter meant for the form
        await pilot.pause()
        assert app.return_code is None
        assert isinstance(app.screen, CreateEventScreen)
        assert "q" not in app.screen.active_bindings  # nor offered in the footer

        await pilot.press("ctrl+q")  # the app's quitting key asks, like escape does
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "what you typed in the wizard will be lost" in app.screen.message
        await pilot.press("escape")  # no: back to the wizard, as it was
        await pilot.pause()
        assert isinstance(app.screen, CreateEventScreen)
        assert app.screen.label == "Clicked buy button"

        # Another section's q asks too: the wizard is still open under Events.
        await step(pilot, "2")
        assert isinstance(app.screen, RecordsScreen)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert app.return_code is None
        await pilot.press("y")
        await pilot.pause()
        assert app.return_code == 0


async def test_q_with_nothing_unsaved_quits_at_once(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


async def test_q_with_an_edited_snippet_asks_and_so_does_escape(services: Services) -> None:
    services.definitions.create(
        {"label": "Clicked buy", "trackingMethod": "JAVASCRIPT", "snippet": "// v1\n"}
    )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, EventDetailScreen)
        editor = screen.query_one("#detail-snippet", TextArea)
        editor.focus()
        await type_text(pilot, "// mine")
        screen.query_one("#detail-custom", DataTable).focus()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert app.return_code is None


async def test_q_in_a_dialog_does_nothing(services: Services, viewed_car: EventDefinition) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "enter")
        await pilot.press("l")  # edit the event: a dialog
        await pilot.pause()
        assert isinstance(app.screen, ModalScreen)
        app.screen.set_focus(None)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code is None
        assert isinstance(app.screen, ModalScreen)


async def _workflow_screen(pilot, services: Services) -> WorkflowScreen:  # type: ignore[no-untyped-def]
    workflow = services.workflows.create("Nurture", ObjectType.CONTACT)
    await settle(pilot)
    await step(pilot, "3")
    pilot.app.push_screen(WorkflowScreen(workflow.id))
    await settle(pilot)
    assert isinstance(pilot.app.screen, WorkflowScreen)
    return pilot.app.screen


async def test_the_delay_editor_opens_on_its_event_field(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await _workflow_screen(pilot, services)
        await pilot.press("a", "enter")  # add action: delay until event happens
        await settle(pilot)
        assert isinstance(app.screen, DelayUntilEventDialog)
        assert app.focused is app.screen.query_one("#event", Select)
        await pilot.press("enter", "down", "enter")  # the first keys choose the event
        await pilot.pause()
        assert app.screen.query_one("#event", Select).value == viewed_car.fully_qualified_name


async def test_the_report_filter_opens_on_its_property_field(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    send_one(
        services.ingestion, {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id}
    )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4")
        await step(pilot, "enter")
        await step(pilot, "f")
        assert isinstance(app.screen, FilterDialog)
        assert app.focused is app.screen.query_one("#filter-property", Select)


async def test_enroll_records_opens_on_its_search_and_keeps_ticks_across_searches(
    services: Services, contact: CrmRecord
) -> None:
    jan = services.records.create(
        ObjectType.CONTACT, {"email": "jan@example.com", "firstname": "Jan", "lastname": "Hoekstra"}
    )
    services.records.create(ObjectType.CONTACT, {"email": "bo@example.com", "firstname": "Bo"})
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _workflow_screen(pilot, services)
        await step(pilot, "r")
        dialog = app.screen
        assert isinstance(dialog, EnrollDialog)
        assert app.focused is dialog.query_one("#enroll-search", Input)  # the first field

        # Ticked Ann, searched Jan, ticked him: both are enrolled.
        await type_text(pilot, "ann")
        await pilot.press("down", "space")
        await pilot.pause()
        assert "1 ticked: Ann Lee" in str(dialog.query_one("#enroll-ticked", Static).render())
        await pilot.press("slash")
        dialog.query_one("#enroll-search", Input).value = ""
        await type_text(pilot, "jan")
        await pilot.pause()
        items = dialog.query_one("#enroll-records", SelectionList)
        assert items.option_count == 1
        await pilot.press("down", "space")
        await pilot.pause()
        ticked = str(dialog.query_one("#enroll-ticked", Static).render())
        assert "2 ticked: Ann Lee, Jan Hoekstra" in ticked
        assert "Enroll 2" in str(dialog.query_one("#save", Button).label)

        # Clearing the search shows Ann still ticked, and Bo not.
        await pilot.press("slash")
        dialog.query_one("#enroll-search", Input).value = ""
        await pilot.pause()
        assert sorted(items.selected) == sorted([contact.id, jan.id])

        await step(pilot, "ctrl+s")
        assert app.screen is screen
        enrolled = {e.object_id for e in services.workflows.enrollments(screen.workflow_id)}
        assert enrolled == {contact.id, jan.id}
        assert any("Enrolled 2 record(s)" in str(n.message) for n in app._notifications)


def _text_of(widget) -> list[str]:  # type: ignore[no-untyped-def]
    """The lines a widget draws, as a person reads them."""
    region = Region(0, 0, widget.size.width, widget.size.height)
    return ["".join(s.text for s in strip).rstrip() for strip in widget.render_lines(region)]


async def test_the_timeline_at_80x24_shows_whole_emails_and_values(
    services: Services, viewed_car: EventDefinition
) -> None:
    otto = services.records.create(
        ObjectType.CONTACT,
        {"email": "otto.vandijk2@bluefin.example", "firstname": "Otto", "lastname": "van Dijk"},
    )
    url = "https://cars.example.com/listings/" + "volvo-v60-cross-country-" * 4 + "2024"
    send_one(
        services.ingestion,
        {
            "eventName": viewed_car.fully_qualified_name,
            "objectId": otto.id,
            "properties": {"make": "Volvo", "listing_url": url},
        },
    )
    app = make_app(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        await step(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        assert screen.has_class("-narrow")

        # The properties stack above the timeline, which keeps the whole width.
        side = screen.query_one(".record-side")
        timeline = screen.query_one(TimelineView)
        assert side.region.bottom <= timeline.region.y
        assert timeline.region.width >= 76
        assert any(
            "otto.vandijk2@bluefin.example" in line
            for line in _text_of(screen.query_one("#record-properties"))
        )

        # An expanded entry shows each name with its value; a long value wraps, whole.
        await pilot.press("enter")
        await pilot.pause()
        lines = _text_of(timeline)
        assert any("Viewed Car" in line for line in lines)
        make = next(line for line in lines if line.strip().startswith("Make"))
        assert make.rstrip().endswith("Volvo")
        start = next(i for i, line in enumerate(lines) if line.strip().startswith("Listing URL"))
        shown = "".join(line.split("Listing URL")[-1].strip() for line in lines[start : start + 4])
        assert url in shown.replace(" ", "")
        assert all(len(line) <= timeline.region.width for line in lines)


async def test_the_properties_stay_beside_the_timeline_on_a_wide_terminal(
    services: Services, contact: CrmRecord
) -> None:
    app = make_app(services)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        await step(pilot, "enter")
        screen = app.screen
        assert screen.has_class("-wide")
        side = screen.query_one(".record-side")
        assert side.region.right <= screen.query_one(TimelineView).region.x


async def test_a_new_snippet_waits_for_its_trigger_and_create_says_what_it_will_do(
    fresh: Services,
) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "n")
        await type_text(pilot, "Clicked buy")
        await pilot.press("ctrl+n", "ctrl+n")  # no properties; JavaScript is the default
        await pilot.pause()
        wizard = app.screen
        assert isinstance(wizard, CreateEventScreen)
        editor = wizard.query_one("#snippet", TextArea)
        assert "nothing on page load" in editor.text
        assert 'closest("[data-track=\\"clicked_buy\\"]")' in editor.text

        await pilot.press("tab", "tab")  # the trigger, then its selector
        assert app.focused is wizard.query_one("#trigger-target", Input)
        await type_text(pilot, "#buy")
        await pilot.pause()
        assert 'clicked.closest("#buy")' in editor.text

        await pilot.press("ctrl+n")  # create
        await settle(pilot)
        stored = fresh.definitions.get("clicked_buy")
        assert describe_snippet(stored.snippet or "").description == (
            "sends a completion when a visitor clicks an element matching #buy"
        )
        told = [str(n.message) for n in app._notifications]
        assert any(
            "On a page with /tracking.js, its snippet sends a completion when a visitor clicks "
            "an element matching #buy." in message
            for message in told
        ), told


async def test_the_events_home_and_workflows_lists_keep_the_chosen_row_on_refresh(
    services: Services,
) -> None:
    for label in ("Alpha", "Bravo", "Charlie", "Delta"):
        services.definitions.create({"label": label})
    for name in ("One", "Two", "Three"):
        services.workflows.create(name, ObjectType.CONTACT)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        events = app.screen.query_one("#events", DataTable)
        await pilot.press("down", "down")
        assert selected_key(events) == "charlie"
        services.definitions.delete("alpha")  # another process deletes a row above
        app.screen.reload()  # type: ignore[attr-defined]
        await settle(pilot)
        assert events.row_count == 3
        assert selected_key(events) == "charlie"

        await step(pilot, "3")
        workflows = app.screen.query_one("#workflows", DataTable)
        await pilot.press("down")
        chosen = selected_key(workflows)
        first = services.workflows.all()[0]
        services.workflows.delete(first.id)
        app.screen.reload()  # type: ignore[attr-defined]
        await settle(pilot)
        assert selected_key(workflows) == chosen
