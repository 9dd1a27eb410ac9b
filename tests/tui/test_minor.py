"""Issue 19's minor items, walked as a person would, keyboard only."""

from __future__ import annotations

import re
from datetime import timedelta

from textual.widgets import (
    DataTable,
    Footer,
    Input,
    RadioSet,
    Select,
    Static,
    TextArea,
)

from core.analytics import RangePreset
from core.clock import FixedClock
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from core.timeline import Period
from core.workflow_models import DelayUntilEventAction, Workflow
from tests.conftest import NOW
from tests.sending import send_one
from tests.tui.conftest import SIZE, make_app, settle, step, type_text
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.timeline_filter import TimelineFilterDialog
from tui.formatting import selected_key
from tui.screens.analyze import AttributionScreen, EventReportScreen
from tui.screens.event_detail import EventDetailScreen
from tui.screens.record import RecordScreen
from tui.screens.records import RecordsScreen
from tui.screens.rejections import RejectionsScreen
from tui.screens.workflows import EnrollmentsScreen, WorkflowScreen
from tui.widgets.tab_bar import TabBar
from tui.widgets.timeline import TimelineView


async def test_the_palette_runs_the_screens_actions_by_name(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The events home's delete, by name: the same question as `d`.
        await pilot.press("ctrl+p")
        await type_text(pilot, "delete")
        await step(pilot, "enter")
        assert isinstance(app.screen, ConfirmDialog)
        assert "Deleting “Viewed Car”" in app.screen.title_text + app.screen.message
        await step(pilot, "escape")
        assert services.definitions.get("viewed_car") is not None

        # From another section, the portal's rejected requests.
        await step(pilot, "2")
        await pilot.press("ctrl+p")
        await type_text(pilot, "rejected requests")
        await step(pilot, "enter")
        assert isinstance(app.screen, RejectionsScreen)
        assert app.current_mode == "events"


def _nurture(services: Services, viewed_car: EventDefinition, people: list[CrmRecord]) -> Workflow:
    workflow = services.workflows.create("Nurture", ObjectType.CONTACT)
    services.workflows.add_action(
        workflow.id,
        DelayUntilEventAction(
            id="wait",
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
        send_one(
            services.ingestion,
            {"eventName": viewed_car.fully_qualified_name, "objectId": person.id},
        )
    app = make_app(services)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        await step(pilot, "3")
        await step(pilot, "enter")
        app.refresh_seconds = 0.05  # only the list about to open looks again, often
        await step(pilot, "w")
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
        send_one(
            services.ingestion,
            {"eventName": viewed_car.fully_qualified_name, "objectId": people[0].id},
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
        await step(pilot, "enter")
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
        await step(pilot, "ctrl+s")
        assert services.definitions.get("clicked_buy").snippet == "// v1\n// v2"

        # An unsaved edit, then Esc from inside the editor: a question, not a silent loss.
        editor.focus()
        await type_text(pilot, "x")
        await step(pilot, "escape")
        question = app.screen
        assert isinstance(question, ConfirmDialog)
        assert question.title_text == "Discard the snippet edits?"
        await step(pilot, "escape")
        assert app.screen is screen
        assert "x" in editor.text


async def test_analyze_shows_events_created_since_it_opened(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4")
        table = app.screen.query_one("#analyze-events", DataTable)
        assert table.row_count == 1
        await step(pilot, "1")
        services.definitions.create({"label": "Started trial"})  # the wizard, or the CLI
        await step(pilot, "4")
        labels = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert sorted(labels) == ["Started trial", "Viewed Car"]


async def test_a_custom_range_says_nothing_until_typed_then_what_is_wrong(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4")
        screen = app.screen
        presets = list(RangePreset)
        downs = presets.index(RangePreset.CUSTOM) - presets.index(RangePreset.LAST_30_DAYS)
        screen.query_one("#range", Select).focus()
        await pilot.press("enter", *(["down"] * downs), "enter")
        await settle(pilot)
        period = screen.query_one("#period", Static)
        assert str(period.render()).strip() == ""  # no "Invalid isoformat string: ''"

        screen.query_one("#from", Input).focus()
        await type_text(pilot, "2026-13-01")
        await step(pilot, "enter")
        assert str(period.render()) == (
            "From “2026-13-01” is not a date: dates are YYYY-MM-DD, e.g. 2026-10-01."
        )
        await pilot.press(*(["backspace"] * 5))
        await type_text(pilot, "10-01")
        await step(pilot, "enter")
        assert str(period.render()) == "Type the To date too (YYYY-MM-DD)."
        screen.query_one("#to", Input).focus()
        await type_text(pilot, "2026-10-31")
        await step(pilot, "enter")
        assert str(period.render()).startswith("2026-10-01 to 2026-10-31 (31 days, UTC)")


async def test_attribution_counts_only_the_completions_the_report_filters(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    other = services.records.create(
        ObjectType.CONTACT, {"email": "other@example.com", "firstname": "Other"}
    )
    for person, make, source in ((contact, "Kia", "REFERRALS"), (other, "Ford", "PAID_SEARCH")):
        send_one(
            services.ingestion,
            {
                "eventName": viewed_car.fully_qualified_name,
                "objectId": person.id,
                "occurredAt": (NOW - timedelta(days=2)).isoformat(),
                "properties": {"make": make, "hs_touchpoint_source": source},
            },
        )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4")
        await step(pilot, "enter")
        report = app.screen
        assert isinstance(report, EventReportScreen)
        await pilot.press("f")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#filter-property", Select).focus()
        await pilot.press("enter", "down", "down", "down", "enter")  # condition, year, make
        dialog.query_one("#filter-operator", Select).focus()
        await pilot.press("enter", "down", "enter")  # is equal to any of
        dialog.query_one("#filter-value").focus()
        await type_text(pilot, "kia")
        await step(pilot, "ctrl+f")
        assert report.report is not None and report.report.unique_records == 1

        await step(pilot, "a")
        attribution = app.screen
        assert isinstance(attribution, AttributionScreen)
        assert attribution.result is not None
        assert attribution.result.converted == 1
        assert [(r.value, r.first_touch) for r in attribution.result.rows] == [("REFERRALS", 1)]
        shown = str(attribution.query_one("#attribution-filters", Static).render())
        assert shown.startswith("Filters: ") and "kia" in shown
        summary = str(attribution.query_one("#attribution-summary", Static).render())
        assert summary.startswith("1 records completed the event in the period as filtered;")


async def test_the_timeline_filter_refuses_an_empty_custom_range_and_stays_with_its_kind(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    company = services.records.create(
        ObjectType.COMPANY, {"name": "Bluefin", "domain": "b.example"}
    )
    send_one(
        services.ingestion, {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id}
    )
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        await step(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        await pilot.press("f")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TimelineFilterDialog)
        dialog.query_one("#period", RadioSet).focus()
        await pilot.press(*(["down"] * list(Period).index(Period.CUSTOM)), "enter")
        await pilot.press("ctrl+s")
        await pilot.pause()
        # No dates: refused with a message, not applied as "… to …".
        assert app.screen is dialog
        assert str(dialog.query_one("#range-error", Static).render()) == (
            "A custom range needs a From date, a To date or both (YYYY-MM-DD)."
        )
        dialog.query_one("#start", Input).focus()
        await type_text(pilot, "2027-01-01")
        await step(pilot, "ctrl+s")
        # mypy keeps app.screen narrowed to the dialog across the awaits; ctrl+s closed it.
        assert app.screen is screen  # type: ignore[comparison-overlap]
        line = str(screen.query_one("#filter-line", Static).render())
        keys = str(screen.query_one("#filter-keys", Static).render())
        assert "2027-01-01 to …" in line and "x clear" in keys
        assert screen.query_one(TimelineView).empty_text == (
            "No activity matches the filter for contacts; x clears it."
        )

    # Another session: a company's timeline is not narrowed by the contacts' filter.
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        await step(pilot, "right_square_bracket")
        await step(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, RecordScreen) and screen.record_id == company.id
        assert "All activity" in str(screen.query_one("#filter-line", Static).render())
        await step(pilot, "escape", "left_square_bracket")
        await step(pilot, "enter")
        # The contacts' filter is remembered and shown, one key from gone.
        screen = app.screen
        assert isinstance(screen, RecordScreen) and screen.record_id == contact.id
        assert "2027-01-01 to …" in str(screen.query_one("#filter-line", Static).render())
        await step(pilot, "x")
        assert "All activity" in str(screen.query_one("#filter-line", Static).render())
        assert screen.query_one(TimelineView).entries


async def test_records_search_follows_matches_to_their_tab_and_esc_returns_to_the_table(
    services: Services, contact: CrmRecord
) -> None:
    services.records.create(ObjectType.COMPANY, {"name": "Bluefin", "domain": "bluefin.example"})
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        screen = app.screen
        assert isinstance(screen, RecordsScreen)
        await pilot.press("slash")
        await type_text(pilot, "bluefin")
        await pilot.pause()
        # No contact matches: the companies' tab, where the match is, opens.
        kinds = screen.query_one("#kinds", TabBar)
        assert kinds.active == "tab-companies"
        companies = screen.query_one("#table-companies", DataTable)
        assert str(companies.get_row_at(0)[0]) == "Bluefin"
        assert "Contacts (0)" in kinds.label("tab-contacts")

        # Esc clears the field and leaves it: the keys are the list's again.
        await pilot.press("escape")
        await pilot.pause()
        search = screen.query_one("#search", Input)
        assert search.value == ""
        assert app.focused is companies
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert kinds.active == "tab-contacts"
        assert search.value == ""

        # Esc in an empty field leaves it too.
        await pilot.press("slash")
        await pilot.press("escape")
        await pilot.pause()
        assert not search.has_focus
        await pilot.press("3")
        await pilot.pause()
        assert app.current_mode == "workflows"
        assert search.value == ""


async def test_the_events_cursor_stays_on_what_was_edited_or_created(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.definitions.create({"label": "Started trial"})
    services.definitions.create({"label": "Clicked buy"})
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#events", DataTable)
        await pilot.press("down", "down")  # Clicked buy
        await step(pilot, "enter")
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("end", *(["backspace"] * len("Clicked buy")))
        await type_text(pilot, "Abandoned cart")
        await step(pilot, "ctrl+s")
        await step(pilot, "escape")
        assert app.screen is screen
        assert selected_key(table) == "clicked_buy"
        await step(pilot, "d")
        assert isinstance(app.screen, ConfirmDialog)
        assert "Deleting “Abandoned cart”" in app.screen.message
        await step(pilot, "escape")

        # Created with the wizard from the top row: back on the list, on the new event.
        await step(pilot, "home", "n")
        await type_text(pilot, "Opened brochure")
        await step(pilot, "ctrl+n", "ctrl+n", "ctrl+n")
        assert isinstance(app.screen, EventDetailScreen)
        await step(pilot, "escape")
        assert app.screen is screen
        assert selected_key(table) == "opened_brochure"


async def test_editing_a_property_keeps_its_name_and_a_fixed_option_error_goes(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "enter")
        assert isinstance(app.screen, EventDetailScreen)
        await pilot.press("e")  # Condition, the first custom property
        await settle(pilot)
        dialog = app.screen
        name = dialog.query_one("#prop-label", Input)
        assert name.has_focus and name.value == "Condition"
        await type_text(pilot, " at sale")  # goes after the name, replaces nothing
        assert name.value == "Condition at sale"

        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, "New")
        await pilot.press("enter")
        await pilot.pause()
        error = dialog.query_one("#options-error", Static)
        assert str(error.render()) == "Two options have the value 'new'; values must be unique."
        await pilot.press("space")
        await type_text(pilot, "again")  # "New again": fixed
        await pilot.pause()
        assert str(error.render()) == ""
        await step(pilot, "enter", "ctrl+s")
    condition = next(
        p for p in services.definitions.get("viewed_car").properties if p.name == "condition"
    )
    assert condition.label == "Condition at sale"
    assert [o.label for o in condition.options] == ["New", "Used", "New again"]


async def test_deleting_a_workflow_action_asks_first(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    workflow = _nurture(services, viewed_car, [contact])
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "3")
        await step(pilot, "enter")
        editor = app.screen
        assert isinstance(editor, WorkflowScreen)
        await step(pilot, "d")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.title_text == "Delete action?"
        assert dialog.message == (
            "Deleting action 1, Delay until event happens (until Viewed Car happens · wait as "
            "long as possible), removes it from Nurture. 1 record waiting at it finishes the "
            "workflow."
        )
        await pilot.press("escape")  # no: nothing goes
        await settle(pilot)
        assert app.screen is editor
        assert len(services.workflows.get(workflow.id).actions) == 1
        await step(pilot, "d")
        await step(pilot, "y")
        assert services.workflows.get(workflow.id).actions == []
