"""Workflows that hold enrolled records until an event happens (the seed article's last part).

A workflow enrolls records of one object type (by hand, from a list, or when a record completes
a chosen event) and takes each through its actions in order:

- **delay until event happens**: wait until the record completes an event (every property filter
  matching), for at most a maximum wait or as long as possible;
- **delay** for a set amount of time;
- **set a record property**;
- **create a task**: a note on the record's timeline.

Only completions that happen after the record entered the delay count. Time in a workflow is
the time of the transitions themselves (a match at the completion's time, a timeout at its
deadline), never the moment someone happened to look, so running the engine late, twice or
after a restart gives the same history. Every effect is keyed by its enrollment and step, so
nothing runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from core.clock import Clock
from core.errors import NotFound, Rule, ValidationFailed, Violation, fail_if
from core.filters import check_filter, matches_all
from core.ingestion import all_properties
from core.models import Completion, CrmRecord, EventDefinition, ObjectType
from core.occurrences import CompletionQuery, OccurrenceService
from core.ports import Database
from core.rules import internal_name_from
from core.timeline import ActivityType, PropertyRow, TimelineEntry
from core.workflow_models import (
    Action,
    DelayAction,
    DelayUntilEventAction,
    Enrollment,
    SetPropertyAction,
    Step,
    StepKind,
    Task,
    TriggerKind,
    Workflow,
    describe_wait,
    enrollment_id,
    task_id,
)


class WorkflowService:
    """Create workflows, enroll records and move them along."""

    def __init__(self, db: Database, clock: Clock, occurrences: OccurrenceService) -> None:
        self._db = db
        self._clock = clock
        self._occurrences = occurrences

    # -- workflows ---------------------------------------------------------------------------

    def all(self) -> list[Workflow]:
        """Every workflow, oldest first."""
        return self._db.workflows.list_workflows()

    def get(self, workflow_id: str) -> Workflow:
        workflow = self._db.workflows.get_workflow(workflow_id)
        if workflow is None:
            raise NotFound(f"No workflow with id {workflow_id} exists.")
        return workflow

    def create(self, name: str, object_type: ObjectType) -> Workflow:
        fail_if(_check_name(name))
        with self._db.transaction() as unit:
            now = self._clock.now()
            workflow = Workflow(
                id=self._db.workflows.next_workflow_id(),
                name=name.strip(),
                object_type=object_type,
                created_at=now,
                updated_at=now,
            )
            self._db.workflows.save_workflow(workflow)
            unit.commit()
            return workflow

    def update(
        self,
        workflow_id: str,
        *,
        name: str | None = None,
        trigger: TriggerKind | None = None,
        trigger_event: str | None = None,
        record_ids: Iterable[str] | None = None,
    ) -> Workflow:
        with self._db.transaction() as unit:
            workflow = self.get(workflow_id)
            changes: dict[str, object] = {}
            if name is not None:
                fail_if(_check_name(name))
                changes["name"] = name.strip()
            if trigger is not None:
                changes["trigger"] = trigger
            if trigger_event is not None:
                changes["trigger_event"] = self._event_for(
                    workflow, trigger_event
                ).fully_qualified_name
            if record_ids is not None:
                changes["record_ids"] = list(dict.fromkeys(record_ids))
            updated = self._save(workflow, changes)
            if updated.enabled:
                self._enroll_list(updated)
            unit.commit()
            return updated

    def set_enabled(self, workflow_id: str, enabled: bool) -> Workflow:
        """Turn a workflow on (enrollments resume, a list is enrolled) or off (all pause)."""
        with self._db.transaction() as unit:
            workflow = self.get(workflow_id)
            if enabled:
                fail_if(self._check_runnable(workflow))
            updated = self._save(workflow, {"enabled": enabled})
            if enabled:
                self._enroll_list(updated)
                self.advance()
            unit.commit()
            return updated

    def delete(self, workflow_id: str) -> None:
        with self._db.transaction() as unit:
            self.get(workflow_id)
            self._db.workflows.delete_workflow(workflow_id)
            unit.commit()

    def _check_runnable(self, workflow: Workflow) -> list[Violation]:
        found = []
        if not workflow.actions:
            found.append(
                Violation(
                    field="actions",
                    rule=Rule.REQUIRED,
                    message="Add at least one action before turning the workflow on.",
                )
            )
        if workflow.trigger is TriggerKind.EVENT and not workflow.trigger_event:
            found.append(
                Violation(
                    field="triggerEvent",
                    rule=Rule.REQUIRED,
                    message="Choose the event that enrolls records.",
                )
            )
        return found

    # -- actions -----------------------------------------------------------------------------

    def add_action(self, workflow_id: str, action: Action, position: int | None = None) -> Workflow:
        with self._db.transaction() as unit:
            workflow = self.get(workflow_id)
            checked = self._checked_action(workflow, action)
            actions = list(workflow.actions)
            actions.insert(len(actions) if position is None else position, checked)
            saved = self._save(workflow, {"actions": actions})
            unit.commit()
            return saved

    def replace_action(self, workflow_id: str, action: Action) -> Workflow:
        with self._db.transaction() as unit:
            workflow = self.get(workflow_id)
            checked = self._checked_action(workflow, action)
            if all(a.id != action.id for a in workflow.actions):
                raise NotFound(f"The workflow has no action {action.id}.")
            actions = [checked if a.id == action.id else a for a in workflow.actions]
            saved = self._save(workflow, {"actions": actions})
            unit.commit()
            return saved

    def move_action(self, workflow_id: str, action_id: str, step: int) -> Workflow:
        with self._db.transaction() as unit:
            workflow = self.get(workflow_id)
            actions = list(workflow.actions)
            index = next((i for i, a in enumerate(actions) if a.id == action_id), None)
            if index is None:
                raise NotFound(f"The workflow has no action {action_id}.")
            target = max(0, min(index + step, len(actions) - 1))
            actions.insert(target, actions.pop(index))
            saved = self._save(workflow, {"actions": actions})
            unit.commit()
            return saved

    def delete_action(self, workflow_id: str, action_id: str) -> Workflow:
        with self._db.transaction() as unit:
            workflow = self.get(workflow_id)
            actions = [a for a in workflow.actions if a.id != action_id]
            saved = self._save(workflow, {"actions": actions})
            unit.commit()
            return saved

    def new_action_id(self, workflow: Workflow) -> str:
        used = {a.id for a in workflow.actions}
        n = len(used) + 1
        while f"a{n}" in used:
            n += 1
        return f"a{n}"

    def _checked_action(self, workflow: Workflow, action: Action) -> Action:
        found: list[Violation] = []
        if isinstance(action, DelayUntilEventAction):
            if not action.event_name:
                found.append(
                    Violation(field="eventName", rule=Rule.REQUIRED, message="Choose an event.")
                )
            else:
                event = self._event_for(workflow, action.event_name)
                props = {p.name: p for p in all_properties(event)}
                for i, f in enumerate(action.filters):
                    found += check_filter(f, props.get(f.property), f"filters[{i}]")
                action = action.model_copy(update={"event_name": event.fully_qualified_name})
            if action.max_wait_minutes is not None and action.max_wait_minutes <= 0:
                found.append(_positive("maxWaitMinutes", "The maximum wait"))
        elif isinstance(action, DelayAction):
            if not action.delay_minutes or action.delay_minutes <= 0:
                found.append(_positive("delayMinutes", "The delay"))
        elif isinstance(action, SetPropertyAction):
            if not action.property or not action.property.strip():
                found.append(
                    Violation(field="property", rule=Rule.REQUIRED, message="Name the property.")
                )
        elif not action.title or not action.title.strip():
            found.append(
                Violation(field="title", rule=Rule.REQUIRED, message="Give the task a title.")
            )
        fail_if(found)
        return action

    def _event_for(self, workflow: Workflow, event_name: str) -> EventDefinition:
        name = internal_name_from(self._db.portal.portal_id, event_name)
        event = self._db.definitions.get(name)
        if event is None:
            raise ValidationFailed(
                [
                    Violation(
                        field="eventName",
                        rule=Rule.UNKNOWN_EVENT,
                        message=f"Event {event_name} does not exist.",
                        actual=event_name,
                    )
                ]
            )
        if event.primary_object is not workflow.object_type:
            raise ValidationFailed(
                [
                    Violation(
                        field="eventName",
                        rule=Rule.INVALID_VALUE,
                        message=(
                            f"{event.label} belongs to {event.primary_object.plural}; this "
                            f"workflow enrolls {workflow.object_type.plural}."
                        ),
                        actual=event_name,
                    )
                ]
            )
        return event

    def _save(self, workflow: Workflow, changes: dict[str, object]) -> Workflow:
        changes["updated_at"] = self._clock.now()
        updated = workflow.model_copy(update=changes)
        self._db.workflows.save_workflow(updated)
        return updated

    # -- enrollment ------------------------------------------------------------------------

    def enroll(self, workflow_id: str, record_ids: Iterable[str]) -> list[Enrollment]:
        """Enroll records (each once per workflow); returns the new enrollments."""
        with self._db.transaction() as unit:
            workflow = self.get(workflow_id)
            made = []
            for record_id in record_ids:
                if self._db.records.get(workflow.object_type, record_id) is None:
                    raise NotFound(
                        f"No {workflow.object_type.singular.lower()} with id {record_id} exists."
                    )
                enrollment = self._enroll(workflow, record_id, self._clock.now(), "by hand")
                if enrollment is not None:
                    made.append(enrollment)
            if workflow.enabled:
                self.advance()
            unit.commit()
            return made

    def _enroll(
        self, workflow: Workflow, record_id: str, at: datetime, why: str
    ) -> Enrollment | None:
        key = enrollment_id(workflow.id, workflow.object_type, record_id)
        if self._db.workflows.get_enrollment(key) is not None:
            return None
        enrollment = Enrollment(
            id=key,
            workflow_id=workflow.id,
            object_type=workflow.object_type,
            object_id=record_id,
            entered_at=at,
            history=[Step(at=at, kind=StepKind.ENROLLED, detail=why)],
        )
        self._db.workflows.save_enrollment(enrollment)
        return enrollment

    def _enroll_list(self, workflow: Workflow) -> None:
        if workflow.trigger is not TriggerKind.LIST:
            return
        for record_id in workflow.record_ids:
            if self._db.records.get(workflow.object_type, record_id) is not None:
                self._enroll(workflow, record_id, self._clock.now(), "on the workflow's list")

    def enrollments(self, workflow_id: str) -> list[Enrollment]:
        return self._db.workflows.list_enrollments(workflow_id)

    def on_completions(self, completions: Iterable[Completion]) -> None:
        """Called by ingestion with what it just stored: enroll on trigger events, then move
        on at once the records that waited for these events.

        Only the enrollments of these records that wait at a "delay until event happens" for
        one of these events are read (``WorkflowRepository.waiting_at``), so an ingest costs
        the same however many enrollments wait for other things; delays and maximum waits
        that ended meanwhile are the clock's (:meth:`advance`), which writes the same history
        whenever it runs."""
        completions = [c for c in completions if c.object_id is not None]
        if not completions:
            return
        with self._db.transaction() as unit:
            workflows = {w.id: w for w in self.all() if w.enabled}
            if not workflows:
                return
            events = {c.event_name for c in completions}
            awaiting = {
                (workflow.id, index)
                for workflow in workflows.values()
                for index, action in enumerate(workflow.actions)
                if isinstance(action, DelayUntilEventAction) and action.event_name in events
            }
            records = {(c.object_type, c.object_id) for c in completions if c.object_id}
            # read before enrolling: an enrollment made now is run below anyway
            due = self._db.workflows.waiting_at(awaiting, records) if awaiting else []
            labels: dict[str, str] | None = None
            for workflow in workflows.values():
                if workflow.trigger is not TriggerKind.EVENT:
                    continue
                for c in completions:
                    if (
                        c.event_name == workflow.trigger_event
                        and c.object_type is workflow.object_type
                    ):
                        assert c.object_id is not None
                        if labels is None:
                            labels = {
                                d.fully_qualified_name: d.label
                                for d in self._db.definitions.list_all()
                            }
                        label = labels.get(c.event_name, c.event_name)
                        made = self._enroll(
                            workflow, c.object_id, c.occurred_at, f"completed {label}"
                        )
                        if made is not None:
                            due.append(made)
            if due:
                self._run_all(workflows, due)
            unit.commit()

    def advance(self, only: set[tuple[ObjectType, str | None]] | None = None) -> int:
        """Move every active enrollment of every enabled workflow as far as it can go now.

        Returns how many enrollments changed. ``only`` limits the work to some records.
        """
        with self._db.transaction() as unit:
            workflows = {w.id: w for w in self.all() if w.enabled}
            due = [
                e
                for e in self._db.workflows.list_enrollments(None, active_only=True)
                if only is None or (e.object_type, e.object_id) in only
            ]
            changed = self._run_all(workflows, due)
            unit.commit()
        return changed

    def _run_all(self, workflows: dict[str, Workflow], enrollments: list[Enrollment]) -> int:
        """Run each enrollment of an enabled workflow, in order; how many changed."""
        now = self._clock.now()
        changed = 0
        definitions = {d.fully_qualified_name: d for d in self._db.definitions.list_all()}
        for enrollment in enrollments:
            workflow = workflows.get(enrollment.workflow_id)
            if workflow is None:
                continue
            moved = self._run(workflow, enrollment, now, definitions)
            if moved is not enrollment:
                self._db.workflows.save_enrollment(moved)
                changed += 1
        return changed

    def _run(
        self,
        workflow: Workflow,
        enrollment: Enrollment,
        now: datetime,
        definitions: dict[str, EventDefinition],
    ) -> Enrollment:
        """Take one enrollment through its actions until it has to wait; a new object when it
        moved, the same one when it did not."""
        history = list(enrollment.history)
        index, entered = enrollment.action_index, enrollment.entered_at
        unchanged = len(history)
        while index < len(workflow.actions):
            if not any(s.kind is StepKind.ENTERED and s.action == index for s in history):
                history.append(Step(at=entered, kind=StepKind.ENTERED, action=index))
            done_at = self._attempt(
                workflow,
                enrollment,
                workflow.actions[index],
                index,
                entered,
                now,
                definitions,
                history,
            )
            if done_at is None:
                break
            index, entered = index + 1, done_at
        finished = index >= len(workflow.actions)
        if finished:
            history.append(Step(at=entered, kind=StepKind.FINISHED, detail="all actions done"))
        if len(history) == unchanged:
            return enrollment
        return enrollment.model_copy(
            update={
                "history": history,
                "action_index": index,
                "entered_at": entered,
                "finished_at": entered if finished else None,
            }
        )

    def _attempt(
        self,
        workflow: Workflow,
        enrollment: Enrollment,
        action: Action,
        index: int,
        entered: datetime,
        now: datetime,
        definitions: dict[str, EventDefinition],
        history: list[Step],
    ) -> datetime | None:
        """Do one action; the moment it completed, or None while it still waits."""
        if isinstance(action, DelayUntilEventAction):
            deadline = (
                entered + timedelta(minutes=action.max_wait_minutes)
                if action.max_wait_minutes is not None
                else None
            )
            match = self._match(enrollment, action, entered, min(now, deadline or now), definitions)
            if match is not None:
                event = definitions.get(match.event_name)
                history.append(
                    Step(
                        at=match.occurred_at,
                        kind=StepKind.MATCHED,
                        action=index,
                        detail=f"completed {event.label if event else match.event_name}",
                        completion_id=match.id,
                    )
                )
                return max(match.occurred_at, entered)
            if deadline is not None and now >= deadline:
                history.append(
                    Step(
                        at=deadline,
                        kind=StepKind.TIMED_OUT,
                        action=index,
                        detail="no matching completion within "
                        + describe_wait(action.max_wait_minutes),
                    )
                )
                return deadline
            return None
        if isinstance(action, DelayAction):
            until = entered + timedelta(minutes=action.delay_minutes or 0)
            if now < until:
                return None
            history.append(
                Step(
                    at=until,
                    kind=StepKind.WAITED,
                    action=index,
                    detail=describe_wait(action.delay_minutes),
                )
            )
            return until
        if isinstance(action, SetPropertyAction):
            assert action.property is not None
            self._db.records.replace(
                self._record(enrollment).model_copy(
                    update={
                        "properties": {
                            **self._record(enrollment).properties,
                            action.property: action.value or "",
                        },
                        "updated_at": entered,
                    }
                )
            )
            history.append(
                Step(
                    at=entered,
                    kind=StepKind.DONE,
                    action=index,
                    detail=f"set {action.property} to {action.value!r}",
                )
            )
            return entered
        task = Task(
            id=task_id(enrollment.id, index),
            workflow_id=workflow.id,
            object_type=enrollment.object_type,
            object_id=enrollment.object_id,
            title=action.title or "",
            body=action.body or "",
            created_at=entered,
        )
        self._db.workflows.save_task(task)  # keyed by enrollment and step: never twice
        history.append(
            Step(
                at=entered, kind=StepKind.DONE, action=index, detail=f"created task {task.title!r}"
            )
        )
        return entered

    def _record(self, enrollment: Enrollment) -> CrmRecord:
        record = self._db.records.get(enrollment.object_type, enrollment.object_id)
        if record is None:
            raise NotFound(f"Record {enrollment.object_id} no longer exists.")
        return record

    def _match(
        self,
        enrollment: Enrollment,
        action: DelayUntilEventAction,
        entered: datetime,
        until: datetime,
        definitions: dict[str, EventDefinition],
    ) -> Completion | None:
        """The first completion of the event after ``entered`` (up to ``until``) that passes
        every filter; only completions after the record entered the delay count."""
        if not action.event_name:
            return None
        definition = definitions.get(action.event_name)
        props = {p.name: p for p in all_properties(definition)} if definition else {}
        query = CompletionQuery(
            object_type=enrollment.object_type,
            object_id=enrollment.object_id,
            event_names=frozenset({action.event_name}),
            # strictly after entering: a completion at the very moment of entry does not count
            occurred_after=entered + timedelta(milliseconds=1),
            occurred_before=until + timedelta(milliseconds=1),
            newest_first=False,
        )
        for completion in self._occurrences.iterate(query):
            if matches_all(completion, props, action.filters):
                return completion
        return None

    # -- reading ---------------------------------------------------------------------------

    def tasks_for(self, object_type: ObjectType, object_id: str) -> list[Task]:
        return self._db.workflows.tasks_for(object_type, object_id)

    def timeline_entries(self, record: CrmRecord) -> list[TimelineEntry]:
        """The record's workflow activity for its timeline: enrolled, matched or timed out,
        property set, finished; and the tasks workflows created."""
        names = {w.id: w.name for w in self.all()}
        tasks = self.tasks_for(record.object_type, record.id)
        task_ids = {task.id for task in tasks}
        made_at: dict[str, int] = {}  # task id -> the history step that created it
        found: list[TimelineEntry] = []
        for enrollment in self.enrollments_for(record.object_type, record.id):
            name = names.get(enrollment.workflow_id, f"workflow {enrollment.workflow_id}")
            for n, step in enumerate(enrollment.history):
                text = _STEP_TEXT.get(step.kind)
                if text is None:
                    continue
                if step.kind is StepKind.DONE and step.action is not None:
                    made = task_id(enrollment.id, step.action)
                    if made in task_ids:  # the step made a task: the task's entry stands for it
                        made_at[made] = n
                        continue
                rows = [PropertyRow("workflow", "Workflow", name)]
                if step.action is not None:
                    rows.append(PropertyRow("action", "Action", f"{step.action + 1}"))
                if step.detail:
                    rows.append(PropertyRow("detail", "Detail", step.detail))
                found.append(
                    TimelineEntry(
                        f"Workflow {name}: {text}",
                        rows,
                        at=step.at,
                        key_text=f"step:{enrollment.id}:{n}",
                        kind=ActivityType.WORKFLOW,
                        summary_text=step.detail,
                        order=n,
                    )
                )
        for task in tasks:
            name = names.get(task.workflow_id, f"workflow {task.workflow_id}")
            rows = [
                PropertyRow("title", "Task", task.title),
                PropertyRow("workflow", "Workflow", name),
            ]
            if task.body:
                rows.append(PropertyRow("body", "Note", task.body))
            found.append(
                TimelineEntry(
                    f"Task: {task.title}",
                    rows,
                    at=task.created_at,
                    key_text=f"task:{task.id}",
                    kind=ActivityType.WORKFLOW,
                    order=made_at.get(task.id, 0),
                    summary_text=f"created by {name}" + (f" · {task.body}" if task.body else ""),
                )
            )
        return found

    def enrollments_for(self, object_type: ObjectType, object_id: str) -> list[Enrollment]:
        return [
            e
            for e in self._db.workflows.list_enrollments(None)
            if e.object_type is object_type and e.object_id == object_id
        ]


_STEP_TEXT = {
    StepKind.ENROLLED: "enrolled",
    StepKind.MATCHED: "event happened",
    StepKind.TIMED_OUT: "stopped waiting",
    StepKind.WAITED: "delay over",
    StepKind.DONE: "action done",
    StepKind.FINISHED: "finished",
}


def _check_name(name: str) -> list[Violation]:
    if not name.strip():
        return [Violation(field="name", rule=Rule.REQUIRED, message="A workflow needs a name.")]
    if len(name) > 100:
        return [
            Violation(
                field="name",
                rule=Rule.LABEL_TOO_LONG,
                message=f"A workflow name is at most 100 characters; this one is {len(name)}.",
                limit=100,
                actual=len(name),
            )
        ]
    return []


def _positive(field: str, what: str) -> Violation:
    return Violation(
        field=field, rule=Rule.INVALID_VALUE, message=f"{what} must be more than zero."
    )
