"""Build a workflow by keyboard, enroll contacts, send completions, move the clock: who moved on?"""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import DataTable, Select

from core.clock import FixedClock
from core.filters import Operator
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from core.workflow_models import ActionKind, StepKind
from tests.sending import send_one
from tests.tui.conftest import SIZE, make_app, settle, type_text
from tui.dialogs.workflow import DelayUntilEventDialog
from tui.screens.workflows import EnrollmentsScreen, WorkflowScreen, WorkflowsScreen


async def _choose(pilot, select_id: str, downs: int) -> None:  # type: ignore[no-untyped-def]
    """Open a Select by keyboard and pick the option ``downs`` below the prompt."""
    pilot.app.screen.query_one(select_id, Select).focus()
    await pilot.press("enter", *(["down"] * downs), "enter")
    await pilot.pause()


async def test_build_enroll_and_move_on(
    services: Services, viewed_car: EventDefinition, clock: FixedClock
) -> None:
    people: list[CrmRecord] = [
        services.records.create(
            ObjectType.CONTACT, {"email": f"p{i}@example.com", "firstname": f"P{i}"}
        )
        for i in range(3)
    ]
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowsScreen)
        await pilot.press("n")
        await type_text(pilot, "Nurture")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowScreen)

        # 1. delay until Viewed Car happens, where Make is equal to Ford, for at most 2 hours
        await pilot.press("a", "enter")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DelayUntilEventDialog)
        await _choose(pilot, "#event", 1)
        await _choose(pilot, "#filter-property", 3)  # condition, year, make
        await _choose(pilot, "#filter-operator", 1)  # is equal to any of
        dialog.query_one("#filter-value").focus()
        await type_text(pilot, "Ford")
        await pilot.press("ctrl+f")
        assert [(f.property, f.operator, f.values) for f in dialog.filters] == [
            ("make", Operator.IS_EQUAL_TO, ["Ford"])
        ]
        dialog.query_one("#forever").focus()
        await pilot.press("space")  # untick "as long as possible"
        dialog.query_one("#wait-hours").focus()
        await type_text(pilot, "2")
        await pilot.press("ctrl+s")
        await settle(pilot)

        # 2. create a task
        await pilot.press("a", "down", "down", "down", "enter")
        await type_text(pilot, "Call them")
        await pilot.press("ctrl+s")
        await settle(pilot)

        # enroll the first two contacts, then turn it on
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("down", "space", "down", "space", "ctrl+s")  # from the search
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)

        workflow = services.workflows.all()[0]
        assert workflow.enabled
        assert [a.kind for a in workflow.actions] == [
            ActionKind.DELAY_UNTIL_EVENT,
            ActionKind.CREATE_TASK,
        ]
        assert workflow.actions[0].max_wait_minutes == 120
        enrolled = {e.object_id for e in services.workflows.enrollments(workflow.id)}
        assert enrolled == {people[0].id, people[1].id}

        # p0 completes the event with make Ford; p1 with make Kia (does not match)
        clock.advance(timedelta(minutes=10))
        for person, make in ((people[0], "Ford"), (people[1], "Kia"), (people[2], "Ford")):
            send_one(
                services.ingestion,
                {
                    "eventName": viewed_car.fully_qualified_name,
                    "objectId": person.id,
                    "properties": {"make": make},
                },
            )
        where = {e.object_id: e for e in services.workflows.enrollments(workflow.id)}
        assert not where[people[0].id].active  # moved on at once
        assert where[people[1].id].active  # still waiting

        clock.advance(timedelta(hours=2))
        await app.advance_workflows().wait()  # what the app's clock timer does
        where = {e.object_id: e for e in services.workflows.enrollments(workflow.id)}
        assert not where[people[1].id].active
        assert [s.kind for s in where[people[1].id].history if s.kind is StepKind.TIMED_OUT]
        assert [s.kind for s in where[people[0].id].history if s.kind is StepKind.MATCHED]
        assert people[2].id not in where  # never enrolled

        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, EnrollmentsScreen)
        table = app.screen.query_one("#enrollments", DataTable)
        rows = {
            str(table.get_row_at(i)[0]): str(table.get_row_at(i)[3]) for i in range(table.row_count)
        }
        assert rows["P0"] == "matched: completed Viewed Car"
        assert rows["P1"] == "timed out: no matching completion within 2 hours"
    tasks = services.workflows.tasks_for(ObjectType.CONTACT, people[1].id)
    assert [t.title for t in tasks] == ["Call them"]


async def test_a_workflow_without_actions_will_not_start(services: Services) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "n")
        await type_text(pilot, "Empty")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert not services.workflows.all()[0].enabled
