"""Issue 19's remaining stumbles, walked as a newcomer did them, keyboard only."""

from __future__ import annotations

import csv
import json
import re
import threading
from pathlib import Path

from textual.widgets import Button, DataTable, Input, Select, Static, TextArea

from core.analytics import Frequency, RangePreset, partial_buckets
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from core.timeline import ActivityType, Period, TimelineFilter
from core.workflow_models import DelayUntilEventAction, Enrollment, TriggerKind
from tests.tui.conftest import SIZE, make_app, send_days_ago, settle, step, type_text
from tui.app import CbeApp
from tui.dialogs.edit_event import EditEventDialog
from tui.dialogs.help import HelpDialog
from tui.dialogs.plan import PlanDialog
from tui.dialogs.save_as import SaveAsDialog, default_export_dir
from tui.dialogs.workflow import EnrollDialog, HistoryDialog, TriggerDialog
from tui.screens.analyze import AnalyzeScreen, AttributionScreen, EventReportScreen
from tui.screens.event_detail import EventDetailScreen
from tui.screens.record import RecordScreen
from tui.screens.records import RecordsScreen
from tui.screens.workflows import EnrollmentsScreen, WorkflowScreen


async def test_csv_export_asks_where_offers_a_folder_outside_the_working_directory(
    services: Services,
) -> None:
    app = make_app(services)
    assert app.export_dir == default_export_dir()
    assert app.export_dir != Path.cwd()


async def test_the_event_reports_csv_keeps_the_not_an_option_bucket_and_names_columns_as_cli(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, tmp_path: Path
) -> None:
    send_days_ago(services, viewed_car, contact, 1, condition="new")
    send_days_ago(
        services, viewed_car, contact, 2, condition="rusty", hs_touchpoint_source="REFERRALS"
    )
    app = CbeApp(services, refresh_seconds=0, export_dir=tmp_path / "offered")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4", "enter")
        assert isinstance(app.screen, EventReportScreen)
        await step(pilot, "x")
        dialog = app.screen
        assert isinstance(dialog, SaveAsDialog)
        field = dialog.query_one("#save-as", Input)
        assert app.focused is field
        offered = tmp_path / "offered" / f"cbe-event-viewed_car-{app.screen_stack[-2].period.start}"
        assert field.value.startswith(str(offered))
        # Saved elsewhere: into a folder typed with a trailing slash.
        field.value = ""
        await type_text(pilot, f"{tmp_path}/reports/")
        await step(pilot, "enter")
        assert isinstance(app.screen, EventReportScreen)
        (saved,) = (tmp_path / "reports").iterdir()
        rows = list(csv.reader(saved.open(encoding="utf-8")))
        assert rows[0] == ["Property", "Internal name", "Value", "Completions", "Share"]
        assert ["Condition", "condition", "New", "1", "1.0000"] in rows
        assert ["Condition", "condition", "(not an option)", "1", ""] in rows
        # The next export offers the folder used last; attribution's shares are told apart.
        await step(pilot, "a")
        assert isinstance(app.screen, AttributionScreen)
        await step(pilot, "x")
        assert app.screen.query_one("#save-as", Input).value.startswith(f"{tmp_path}/reports/")
        await step(pilot, "enter")
        (attribution,) = (tmp_path / "reports").glob("cbe-attribution-*.csv")
        header = next(csv.reader(attribution.open(encoding="utf-8")))
        assert header == [
            "Touchpoint source",
            "First touch",
            "First touch share",
            "Last touch",
            "Last touch share",
        ]
        # Escape saves nothing.
        await step(pilot, "x", "escape")
        assert isinstance(app.screen, AttributionScreen)
        assert len(list((tmp_path / "reports").iterdir())) == 2


async def test_a_list_trigger_picks_records_by_name_not_by_id(services: Services) -> None:
    ann = services.records.create(
        ObjectType.CONTACT, {"email": "ann@example.com", "firstname": "Ann"}
    )
    services.records.create(ObjectType.CONTACT, {"email": "jan@example.com", "firstname": "Jan"})
    workflow = services.workflows.create("Nurture", ObjectType.CONTACT)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "3")
        app.push_screen(WorkflowScreen(workflow.id))
        await settle(pilot)
        await step(pilot, "t")
        dialog = app.screen
        assert isinstance(dialog, TriggerDialog)
        assert not dialog.query("#record-ids")  # no field for ids no screen shows
        assert "None yet" in str(dialog.query_one("#list-records", Static).render())
        dialog.query_one("#pick-records", Button).focus()
        await step(pilot, "enter")
        assert isinstance(app.screen, EnrollDialog)
        await type_text(pilot, "ann")
        await step(pilot, "down", "space", "ctrl+s")
        assert app.screen is dialog  # type: ignore[comparison-overlap]  # mypy keeps the narrowing across awaits
        assert "1 on the list: Ann" in str(dialog.query_one("#list-records", Static).render())
        await step(pilot, "ctrl+s")
        assert isinstance(app.screen, WorkflowScreen)
    saved = services.workflows.get(workflow.id)
    assert saved.trigger is TriggerKind.LIST
    assert saved.record_ids == [ann.id]


async def test_the_plan_dialog_offers_the_export_folder_and_diffs_in_json_values(
    services: Services, viewed_car: EventDefinition, tmp_path: Path
) -> None:
    app = CbeApp(services, refresh_seconds=0, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "c")
        assert isinstance(app.screen, PlanDialog)
        field = app.screen.query_one("#plan-file", Input)
        assert field.value == str(tmp_path / "cbe-plan.json")  # not the working directory
        app.screen.query_one("#export", Button).press()
        await settle(pilot)
        file = tmp_path / "cbe-plan.json"
        plan = json.loads(file.read_text())
        plan["events"][0]["archived"] = True
        plan["events"][0]["description"] = "Seen on a listing"
        file.write_text(json.dumps(plan))
        app.screen.query_one("#diff", Button).press()
        await settle(pilot)
        shown = str(app.screen.query_one("#plan-result", Static).render())
    assert "archived false -> true" in shown
    assert 'description "Fires when a visitor views a car listing" -> "Seen on a listing"' in shown
    assert "False" not in shown and "'" not in shown


async def test_the_events_home_help_names_enter(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "question_mark")
        assert isinstance(app.screen, HelpDialog)
        assert app.screen.keys[0] == ("⏎", "Open")
        await step(pilot, "escape", "enter")  # enter does what the help says
        assert isinstance(app.screen, EventDetailScreen)


async def test_records_that_completed_an_event_count_that_events_completions(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    other = services.definitions.create({"label": "Opened email"})
    send_days_ago(services, viewed_car, contact, 5)
    for days_ago in (1, 2, 3):
        send_days_ago(services, other, contact, days_ago)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "/")
        await type_text(pilot, "Viewed")
        await step(pilot, "enter", "enter")
        assert isinstance(app.screen, EventDetailScreen)
        await step(pilot, "r")
        records = app.screen
        assert isinstance(records, RecordsScreen)
        table = records.query_one("#table-contacts", DataTable)
        (row,) = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    assert row[-2:] == ["1", "5 days ago"]  # Viewed Car's one completion, not all four


async def test_ctrl_a_selects_the_whole_name_in_the_edit_event_dialog(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "enter", "l")
        assert isinstance(app.screen, EditEventDialog)
        field = app.screen.query_one("#edit-label", Input)
        assert app.focused is field
        await step(pilot, "ctrl+a")
        assert field.selected_text == "Viewed Car"
        await type_text(pilot, "Saw a car")  # typing replaces the selected name
        assert field.value == "Saw a car"
        await step(pilot, "tab", "ctrl+a")  # the description too
        description = app.screen.query_one("#edit-description", TextArea)
        assert description.selected_text == description.text != ""
        await step(pilot, "ctrl+s")
    assert services.definitions.get("viewed_car").label == "Saw a car"


async def test_who_is_where_loads_off_the_ui_thread_and_history_dates_read_alike(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    workflow = services.workflows.create("Nurture", ObjectType.CONTACT)
    services.workflows.add_action(
        workflow.id,
        DelayUntilEventAction(id="wait", event_name=viewed_car.fully_qualified_name),
    )
    services.workflows.set_enabled(workflow.id, True)
    services.workflows.enroll(workflow.id, [contact.id])
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        read_on: list[threading.Thread] = []
        enrollments = services.workflows.enrollments

        def watched(workflow_id: str) -> list[Enrollment]:
            read_on.append(threading.current_thread())
            return enrollments(workflow_id)

        services.workflows.enrollments = watched  # type: ignore[method-assign]
        app.push_screen(EnrollmentsScreen(workflow.id))
        await settle(pilot)
        assert read_on and threading.main_thread() not in read_on  # never on the UI thread
        services.workflows.enrollments = enrollments  # type: ignore[method-assign]
        table = app.screen.query_one("#enrollments", DataTable)
        since = str(table.get_row_at(0)[2])
        await step(pilot, "enter")
        assert isinstance(app.screen, HistoryDialog)
        history = app.screen.query_one("#history", DataTable)
        when = str(history.get_row_at(0)[0])
    assert re.fullmatch(r"[A-Z][a-z]{2} \d\d, \d{4} \d\d:\d\d", since)
    assert when == since  # entered then: the same moment, written the same way


async def test_the_wizards_snippet_editor_keeps_room_for_code_at_80x24(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await step(pilot, "n")
        await type_text(pilot, "Clicked buy")
        await step(pilot, "ctrl+n", "ctrl+n")
        snippet = app.screen.query_one("#snippet", TextArea)
        assert "pe12345678_clicked_buy" in snippet.text
        # At least ten lines of code in view (it was two), and the buttons still on screen.
        assert snippet.content_region.height >= 10
        create = app.screen.query_one("#create", Button)
        assert create.region.bottom <= 23 and create.region.height >= 1


async def test_the_activity_filter_line_keeps_x_clear_whole_at_160_columns(
    services: Services, contact: CrmRecord
) -> None:
    app = make_app(services)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.push_screen(RecordScreen(ObjectType.CONTACT, contact.id))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        # Only workflow activity, the last 30 days, a long search: a long line.
        screen.timeline_filter = TimelineFilter(
            activity_types={ActivityType.WORKFLOW},
            period=Period.LAST_30_DAYS,
            search="a search someone typed that is long enough to fill the line",
        )
        screen._show_filter()
        await settle(pilot)
        keys = screen.query_one("#filter-keys", Static)
        line = screen.query_one("#filter-line", Static)
        assert str(keys.render()) == "f filter · x clear"
        assert keys.content_region.width >= len("f filter · x clear")
        assert keys.region.right <= 160
        assert line.region.right <= keys.region.x  # the description gives way, not the keys


async def test_a_one_day_range_says_1_day(services: Services, viewed_car: EventDefinition) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4")
        screen = app.screen
        screen.query_one("#range", Select).value = RangePreset.YESTERDAY
        await settle(pilot)
        period = str(screen.query_one("#period", Static).render())
    assert "(1 day, UTC)" in period


async def test_an_api_events_footer_offers_no_save_snippet(services: Services) -> None:
    services.definitions.create({"label": "Renewed", "trackingMethod": "API"})
    services.definitions.create({"label": "Clicked", "trackingMethod": "JAVASCRIPT"})
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        offered = {}
        for name in ("renewed", "clicked"):
            app.push_screen(EventDetailScreen(name))
            await settle(pilot)
            footer_keys = {b.binding.action for b in app.screen.active_bindings.values()}
            offered[name] = "save_snippet" in footer_keys and app.screen.check_action(
                "save_snippet", ()
            )
            await step(pilot, "escape")
    assert offered == {"renewed": False, "clicked": True}


async def test_the_wizard_says_why_a_name_got_a_number(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.definitions.create({"label": "Opened email"})
    services.definitions.delete("opened_email")
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "n")
        await type_text(pilot, "Viewed car")
        await settle(pilot)
        names = str(app.screen.query_one("#names", Static).render())
        assert "viewed_car_2" in names
        assert "Not viewed_car: an event of this portal has it." in names
        app.screen.query_one("#label", Input).value = "Opened email"
        await settle(pilot)
        names = str(app.screen.query_one("#names", Static).render())
        assert "opened_email_2" in names
        assert "Not opened_email: a deleted event had it" in names
        app.screen.query_one("#label", Input).value = "Brand new"
        await settle(pilot)
        assert "Not " not in str(app.screen.query_one("#names", Static).render())


async def test_empty_records_tabs_say_how_records_arrive(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        screen = app.screen
        assert isinstance(screen, RecordsScreen)
        contacts = str(screen.query_one("#empty-contacts", Static).render())
        assert contacts.startswith("No contacts yet. They arrive through cbe serve: POST ")
        assert "/crm/v3/objects/contacts" in contacts and "with an email" in contacts
        assert screen.query_one("#empty-contacts", Static).display
        await step(pilot, "right_square_bracket", "right_square_bracket")  # the deals' tab
        deals = str(screen.query_one("#empty-deals", Static).render())
        assert "/crm/v3/objects/deals" in deals and "cbe --demo" in deals
        assert screen.query_one("#empty-deals", Static).display
        await step(pilot, "left_square_bracket", "left_square_bracket")
        fresh.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        screen.reload()
        await settle(pilot)
        assert not screen.query_one("#empty-contacts", Static).display


async def test_the_weekly_chart_marks_partial_weeks_and_keeps_its_legend_off_the_data(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    for days_ago in (1, 2, 3, 9, 10, 16, 29):
        send_days_ago(services, viewed_car, contact, days_ago)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4")
        screen = app.screen
        assert isinstance(screen, AnalyzeScreen)
        legend = screen.query_one("#chart-legend", Static)
        assert str(legend.render()) == "━━ Viewed Car"  # under the chart, not on it
        screen.query_one("#frequency", Select).value = Frequency.WEEKLY
        await settle(pilot)
        analysis = screen.analysis
        assert analysis is not None and analysis.frequency is Frequency.WEEKLY
        # The last 30 days (Oct 2 to Oct 31) start mid-week: that week is marked, not a cliff.
        assert partial_buckets(analysis.period, analysis.frequency, analysis.buckets) == {0}
        assert str(legend.render()) == ("━━ Viewed Car   x: a week the range covers only in part")
