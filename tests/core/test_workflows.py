"""Workflows with "delay until event happens", run on a settable clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cli.bootstrap import database_folder, open_services
from core.clock import FixedClock
from core.errors import NotFound, ValidationFailed
from core.filters import Operator, PropertyFilter
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from core.timeline import ActivityType, TimelineFilter
from core.workflow_models import (
    CreateTaskAction,
    DelayAction,
    DelayUntilEventAction,
    SetPropertyAction,
    StepKind,
    TriggerKind,
    Workflow,
)
from tests.conftest import NOW
from tests.sending import send_one


@pytest.fixture
def contacts(services: Services) -> list[CrmRecord]:
    return [
        services.records.create(ObjectType.CONTACT, {"email": f"c{i}@example.com"})
        for i in range(3)
    ]


def _send(services: Services, event: EventDefinition, contact: CrmRecord, **props: object) -> None:
    send_one(
        services.ingestion,
        {"eventName": event.fully_qualified_name, "objectId": contact.id, "properties": props},
    )


def _delay_workflow(
    services: Services,
    event: EventDefinition,
    max_wait: int | None = 60,
    filters: list[PropertyFilter] | None = None,
) -> Workflow:
    workflow = services.workflows.create("Nurture", ObjectType.CONTACT)
    services.workflows.add_action(
        workflow.id,
        DelayUntilEventAction(
            id="a1",
            event_name=event.name,
            filters=filters or [],
            max_wait_minutes=max_wait,
        ),
    )
    services.workflows.add_action(
        workflow.id, SetPropertyAction(id="a2", property="stage", value="hot")
    )
    services.workflows.add_action(workflow.id, CreateTaskAction(id="a3", title="Call them"))
    return services.workflows.set_enabled(workflow.id, True)


def _where(services: Services, workflow: Workflow) -> dict[str, tuple[int, bool]]:
    return {
        e.object_id: (e.action_index, e.active) for e in services.workflows.enrollments(workflow.id)
    }


def test_a_matching_completion_moves_the_record_on_at_once(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = _delay_workflow(services, viewed_car)
    services.workflows.enroll(workflow.id, [c.id for c in contacts])
    assert _where(services, workflow) == {c.id: (0, True) for c in contacts}
    clock.advance(timedelta(minutes=5))
    _send(services, viewed_car, contacts[0], make="Ford")
    where = _where(services, workflow)
    assert where[contacts[0].id] == (3, False)
    assert where[contacts[1].id] == (0, True)
    assert services.records.get(ObjectType.CONTACT, contacts[0].id).properties["stage"] == "hot"
    tasks = services.workflows.tasks_for(ObjectType.CONTACT, contacts[0].id)
    assert [t.title for t in tasks] == ["Call them"]
    history = services.workflows.enrollments(workflow.id)[0].history
    assert [s.kind for s in history] == [
        StepKind.ENROLLED,
        StepKind.ENTERED,
        StepKind.MATCHED,
        StepKind.ENTERED,
        StepKind.DONE,
        StepKind.ENTERED,
        StepKind.DONE,
        StepKind.FINISHED,
    ]
    assert history[2].at == NOW + timedelta(minutes=5)


def test_only_completions_after_entering_count(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    _send(services, viewed_car, contacts[0])  # before enrollment: must not count
    workflow = _delay_workflow(services, viewed_car)
    services.workflows.enroll(workflow.id, [contacts[0].id])
    assert _where(services, workflow)[contacts[0].id] == (0, True)


def test_the_maximum_wait_expires_by_the_clock(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = _delay_workflow(services, viewed_car, max_wait=3 * 60)
    services.workflows.enroll(workflow.id, [contacts[0].id])
    clock.advance(timedelta(hours=2, minutes=59))
    services.workflows.advance()
    assert _where(services, workflow)[contacts[0].id] == (0, True)
    clock.advance(timedelta(minutes=1))
    assert services.workflows.advance() == 1
    assert _where(services, workflow)[contacts[0].id] == (3, False)
    timed_out = [
        s
        for s in services.workflows.enrollments(workflow.id)[0].history
        if s.kind is StepKind.TIMED_OUT
    ]
    assert timed_out[0].at == NOW + timedelta(hours=3)
    assert "within 3 hours" in timed_out[0].detail


def test_a_late_completion_after_the_deadline_does_not_match(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = _delay_workflow(services, viewed_car, max_wait=60)
    services.workflows.enroll(workflow.id, [contacts[0].id])
    clock.advance(timedelta(hours=2))  # nobody ran the engine in between
    _send(services, viewed_car, contacts[0])  # arrives after the deadline
    steps = [s.kind for s in services.workflows.enrollments(workflow.id)[0].history]
    assert StepKind.TIMED_OUT in steps and StepKind.MATCHED not in steps


def test_as_long_as_possible_never_times_out(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = _delay_workflow(services, viewed_car, max_wait=None)
    services.workflows.enroll(workflow.id, [contacts[0].id])
    clock.advance(timedelta(days=3650))
    services.workflows.advance()
    assert _where(services, workflow)[contacts[0].id] == (0, True)


@pytest.mark.parametrize(
    ("filters", "sent", "moves"),
    [
        (
            [PropertyFilter(property="make", operator=Operator.IS_EQUAL_TO, values=["ford"])],
            {"make": "Ford"},
            True,
        ),
        (
            [PropertyFilter(property="make", operator=Operator.IS_EQUAL_TO, values=["kia"])],
            {"make": "Ford"},
            False,
        ),
        (
            [PropertyFilter(property="year", operator=Operator.IS_GREATER_THAN, values=["2019"])],
            {"year": 2020},
            True,
        ),
        (
            [
                PropertyFilter(
                    property="year", operator=Operator.IS_BETWEEN, values=["2000", "2010"]
                )
            ],
            {"year": 2020},
            False,
        ),
        (
            [PropertyFilter(property="condition", operator=Operator.IS_ANY_OF, values=["used"])],
            {"condition": "new;used"},
            True,
        ),
        (
            [PropertyFilter(property="condition", operator=Operator.IS_ANY_OF, values=["used"])],
            {"condition": "bogus"},
            False,
        ),
        ([PropertyFilter(property="make", operator=Operator.IS_KNOWN)], {"year": 1}, False),
        (
            [
                PropertyFilter(property="make", operator=Operator.STARTS_WITH, values=["Fo"]),
                PropertyFilter(property="year", operator=Operator.IS_LESS_THAN, values=["2000"]),
            ],
            {"make": "Ford", "year": 2020},
            False,
        ),
    ],
    ids=[
        "equal",
        "not-equal",
        "greater",
        "not-between",
        "enum-any",
        "unusable-never-matches",
        "unknown",
        "all-must-match",
    ],
)
def test_property_filters_decide_the_match(
    services: Services,
    viewed_car: EventDefinition,
    contacts: list[CrmRecord],
    filters: list[PropertyFilter],
    sent: dict[str, object],
    moves: bool,
    clock: FixedClock,
) -> None:
    workflow = _delay_workflow(services, viewed_car, filters=filters)
    services.workflows.enroll(workflow.id, [contacts[0].id])
    clock.advance(timedelta(minutes=1))
    _send(services, viewed_car, contacts[0], **sent)
    assert (_where(services, workflow)[contacts[0].id][0] > 0) is moves


def test_event_trigger_enrolls_and_off_pauses(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    trial = services.definitions.create({"label": "Started trial"})
    workflow = _delay_workflow(services, viewed_car)
    services.workflows.update(workflow.id, trigger=TriggerKind.EVENT, trigger_event=trial.name)
    _send(services, trial, contacts[1])
    assert _where(services, workflow) == {contacts[1].id: (0, True)}
    services.workflows.set_enabled(workflow.id, False)
    _send(services, trial, contacts[2])  # off: nobody new
    clock.advance(timedelta(hours=5))
    services.workflows.advance()  # off: nobody moves
    assert _where(services, workflow) == {contacts[1].id: (0, True)}
    services.workflows.set_enabled(workflow.id, True)
    assert _where(services, workflow)[contacts[1].id] == (3, False)  # timed out when resumed


def test_list_trigger_enrolls_the_list_when_turned_on(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord]
) -> None:
    workflow = services.workflows.create("List", ObjectType.CONTACT)
    services.workflows.add_action(workflow.id, DelayAction(id="a1", delay_minutes=30))
    services.workflows.update(
        workflow.id, trigger=TriggerKind.LIST, record_ids=[contacts[0].id, contacts[2].id]
    )
    assert _where(services, workflow) == {}
    services.workflows.set_enabled(workflow.id, True)
    assert set(_where(services, workflow)) == {contacts[0].id, contacts[2].id}


@pytest.mark.adapters("tiny")  # reads the files
def test_a_restart_resumes_and_nothing_runs_twice(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = _delay_workflow(services, viewed_car, max_wait=60)
    services.workflows.enroll(workflow.id, [contacts[0].id])
    # another process, with its own clock, later: it sees the same waiting record
    later = FixedClock(NOW + timedelta(hours=2))
    other = open_services(database_folder(services), clock=later)
    try:
        assert other.workflows.advance() == 1
        assert other.workflows.advance() == 0
    finally:
        other.close()
    assert services.workflows.advance() == 0
    assert len(services.workflows.tasks_for(ObjectType.CONTACT, contacts[0].id)) == 1
    finished = [
        s
        for s in services.workflows.enrollments(workflow.id)[0].history
        if s.kind is StepKind.FINISHED
    ]
    assert len(finished) == 1


def test_hours_of_workflow_time_in_milliseconds(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = services.workflows.create("Drip", ObjectType.CONTACT)
    for i in range(3):
        services.workflows.add_action(workflow.id, DelayAction(id=f"d{i}", delay_minutes=60 * 24))
        services.workflows.add_action(
            workflow.id, CreateTaskAction(id=f"t{i}", title=f"Day {i + 1}")
        )
    services.workflows.set_enabled(workflow.id, True)
    services.workflows.enroll(workflow.id, [c.id for c in contacts])
    for _ in range(72):
        clock.advance(timedelta(hours=1))
        services.workflows.advance()
    for c in contacts:
        assert [t.title for t in services.workflows.tasks_for(ObjectType.CONTACT, c.id)] == [
            "Day 1",
            "Day 2",
            "Day 3",
        ]
    tasks = services.workflows.tasks_for(ObjectType.CONTACT, contacts[0].id)
    assert [t.created_at for t in tasks] == [NOW + timedelta(days=d) for d in (1, 2, 3)]


def test_actions_are_checked(services: Services, viewed_car: EventDefinition) -> None:
    workflow = services.workflows.create("Checks", ObjectType.COMPANY)
    with pytest.raises(ValidationFailed) as wrong_object:
        services.workflows.add_action(
            workflow.id, DelayUntilEventAction(id="a1", event_name="viewed_car")
        )
    assert "belongs to contacts" in str(wrong_object.value)
    with pytest.raises(ValidationFailed):
        services.workflows.set_enabled(workflow.id, True)  # no actions yet
    contact_flow = services.workflows.create("Checks 2", ObjectType.CONTACT)
    bad = PropertyFilter(property="year", operator=Operator.CONTAINS, values=["x"])
    with pytest.raises(ValidationFailed) as wrong_operator:
        services.workflows.add_action(
            contact_flow.id,
            DelayUntilEventAction(id="a1", event_name="viewed_car", filters=[bad]),
        )
    assert "does not apply to a number property" in str(wrong_operator.value)
    with pytest.raises(NotFound):
        services.workflows.enroll(contact_flow.id, ["999"])


def test_moving_and_deleting_actions(services: Services) -> None:
    workflow = services.workflows.create("Order", ObjectType.CONTACT)
    for name in ("a", "b", "c"):
        services.workflows.add_action(workflow.id, CreateTaskAction(id=name, title=name))
    moved = services.workflows.move_action(workflow.id, "c", -2)
    assert [a.id for a in moved.actions] == ["c", "a", "b"]
    remaining = services.workflows.delete_action(workflow.id, "a")
    assert [a.id for a in remaining.actions] == ["c", "b"]


def test_the_timeline_shows_workflow_activity_in_time(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = _delay_workflow(services, viewed_car, max_wait=60)
    services.workflows.enroll(workflow.id, [contacts[0].id])
    clock.advance(timedelta(minutes=10))
    _send(services, viewed_car, contacts[0], make="Ford")
    entries = services.timeline.page(contacts[0]).entries
    assert [e.event_label for e in entries] == [
        "Workflow Nurture: finished",
        "Task: Call them",
        "Workflow Nurture: action done",
        "Workflow Nurture: event happened",
        "Viewed Car",
        "Workflow Nurture: enrolled",
    ]
    assert entries[3].summary() == "completed Viewed Car"
    only_events = TimelineFilter(activity_types={ActivityType.CUSTOM_BEHAVIORAL_EVENT})
    assert [
        e.event_label
        for e in services.timeline.page(contacts[0], timeline_filter=only_events).entries
    ] == ["Viewed Car"]
    only_workflows = TimelineFilter(activity_types={ActivityType.WORKFLOW})
    assert len(services.timeline.page(contacts[0], timeline_filter=only_workflows).entries) == 5


def test_workflow_activity_is_woven_into_pages(
    services: Services, viewed_car: EventDefinition, contacts: list[CrmRecord], clock: FixedClock
) -> None:
    workflow = services.workflows.create("Ping", ObjectType.CONTACT)
    services.workflows.add_action(workflow.id, CreateTaskAction(id="t", title="Ping"))
    services.workflows.set_enabled(workflow.id, True)
    for minute in range(6):
        clock.set(NOW + timedelta(minutes=minute))
        _send(services, viewed_car, contacts[0], make=f"m{minute}")
        if minute == 2:
            services.workflows.enroll(workflow.id, [contacts[0].id])
    labels: list[str] = []
    after = None
    while True:
        page = services.timeline.page(contacts[0], limit=2, after=after)
        labels += [e.summary() if e.completion else e.event_label for e in page.entries]
        if not page.next_after:
            break
        after = page.next_after
    # m2 was sent, then the contact enrolled at the same instant: the enrollment is newer
    assert labels == [
        "Make: m5",
        "Make: m4",
        "Make: m3",
        "Workflow Ping: finished",
        "Task: Ping",
        "Workflow Ping: enrolled",
        "Make: m2",
        "Make: m1",
        "Make: m0",
    ]
