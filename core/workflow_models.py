"""What a workflow is made of: its trigger, its actions, and each record's way through it.

The models the ports (``core.ports``) store and the workflow engine (``core.workflows``) runs;
they depend on nothing but the domain's models, so both can speak them without a circle.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from core.filters import PropertyFilter
from core.models import CbeModel, ObjectType, UtcDatetime


class TriggerKind(StrEnum):
    """How records get into a workflow."""

    MANUAL = "MANUAL"
    """Enrolled by hand, one or many at a time."""
    LIST = "LIST"
    """Every record on the workflow's list, when it is turned on (and when added later)."""
    EVENT = "EVENT"
    """A record is enrolled when it completes the trigger event."""

    @property
    def label(self) -> str:
        return {
            TriggerKind.MANUAL: "Enrolled by hand",
            TriggerKind.LIST: "A list of records",
            TriggerKind.EVENT: "When a record completes an event",
        }[self]


class ActionKind(StrEnum):
    DELAY_UNTIL_EVENT = "DELAY_UNTIL_EVENT"
    DELAY = "DELAY"
    SET_PROPERTY = "SET_PROPERTY"
    CREATE_TASK = "CREATE_TASK"

    @property
    def label(self) -> str:
        return {
            ActionKind.DELAY_UNTIL_EVENT: "Delay until event happens",
            ActionKind.DELAY: "Delay for a set amount of time",
            ActionKind.SET_PROPERTY: "Set a record property",
            ActionKind.CREATE_TASK: "Create a task",
        }[self]


class _ActionBase(CbeModel):
    id: str


class DelayUntilEventAction(_ActionBase):
    """Hold the record until it completes an event (every filter matching), for at most a
    maximum wait or as long as possible."""

    kind: Literal[ActionKind.DELAY_UNTIL_EVENT] = ActionKind.DELAY_UNTIL_EVENT
    event_name: str | None = None
    """The event's fully qualified name; None until one is chosen."""
    filters: list[PropertyFilter] = Field(default_factory=list)
    """All must match."""
    max_wait_minutes: int | None = None
    """The maximum wait; None means "delay as long as possible"."""


class DelayAction(_ActionBase):
    """Hold the record for a set amount of time."""

    kind: Literal[ActionKind.DELAY] = ActionKind.DELAY
    delay_minutes: int | None = None
    """How long; None until it is set."""


class SetPropertyAction(_ActionBase):
    """Set one of the record's properties."""

    kind: Literal[ActionKind.SET_PROPERTY] = ActionKind.SET_PROPERTY
    property: str | None = None
    """The record property's internal name."""
    value: str | None = None
    """Its new value."""


class CreateTaskAction(_ActionBase):
    """Create a task on the record's timeline."""

    kind: Literal[ActionKind.CREATE_TASK] = ActionKind.CREATE_TASK
    title: str | None = None
    body: str | None = None
    """The task's note."""


Action = Annotated[
    DelayUntilEventAction | DelayAction | SetPropertyAction | CreateTaskAction,
    Field(discriminator="kind"),
]
"""One step of a workflow, of one of four kinds (``kind`` says which).

Stored as before this was a union: ``{"id", "kind", ...}`` with the fields of its kind. A
document written when every action carried every kind's fields (the others null) reads back
the same: the other kinds' fields are ignored."""

_ACTION: TypeAdapter[Action] = TypeAdapter(Action)


def blank_action(action_id: str, kind: ActionKind) -> Action:
    """A new action of ``kind`` with nothing filled in yet (what the editor starts from)."""
    return _ACTION.validate_python({"id": action_id, "kind": kind})


def describe_wait(minutes: int | None) -> str:
    """``2 days 3 hours``, or ``as long as possible``."""
    if minutes is None:
        return "as long as possible"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'s' if n != 1 else ''}"
        for n, unit in ((days, "day"), (hours, "hour"), (mins, "minute"))
        if n
    ]
    return " ".join(parts) or "0 minutes"


class Workflow(CbeModel):
    id: str
    name: str
    object_type: ObjectType
    enabled: bool = False
    trigger: TriggerKind = TriggerKind.MANUAL
    trigger_event: str | None = None
    """EVENT trigger: the event's fully qualified name."""
    record_ids: list[str] = Field(default_factory=list)
    """LIST trigger: the records to enroll."""
    actions: list[Action] = Field(default_factory=list)
    created_at: UtcDatetime
    updated_at: UtcDatetime


class StepKind(StrEnum):
    ENROLLED = "ENROLLED"
    ENTERED = "ENTERED"
    MATCHED = "MATCHED"
    TIMED_OUT = "TIMED_OUT"
    WAITED = "WAITED"
    DONE = "DONE"
    FINISHED = "FINISHED"


class Step(CbeModel):
    """One line of an enrollment's history."""

    at: UtcDatetime
    kind: StepKind
    action: int | None = None
    detail: str = ""
    completion_id: str | None = None


class Enrollment(CbeModel):
    """One record's way through one workflow (a record is enrolled in a workflow once)."""

    id: str
    workflow_id: str
    object_type: ObjectType
    object_id: str
    action_index: int = 0
    entered_at: UtcDatetime
    """When the record entered its current action."""
    finished_at: UtcDatetime | None = None
    history: list[Step] = Field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.finished_at is None


class Task(CbeModel):
    """A task a workflow created; shown on the record's timeline."""

    id: str
    """:func:`task_id`: the same step never makes two tasks."""
    workflow_id: str
    object_type: ObjectType
    object_id: str
    title: str
    body: str = ""
    created_at: UtcDatetime


def enrollment_id(workflow_id: str, object_type: ObjectType, object_id: str) -> str:
    return f"{workflow_id}:{object_type.value}:{object_id}"


def task_id(enrollment_id: str, action_index: int) -> str:
    """The id of the task an enrollment's step at ``action_index`` makes: its history step
    (DONE at that action) and the task are known to belong together by it."""
    return f"{enrollment_id}:{action_index}"
