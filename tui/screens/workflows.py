"""Workflows: the list, a workflow's editor, and who is where in it."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static
from textual.worker import Worker

from core.errors import CbeError, ValidationFailed
from core.models import EventDefinition, ObjectType
from core.ports import Topic
from core.workflow_models import (
    Action,
    ActionKind,
    DelayUntilEventAction,
    Enrollment,
    Step,
    StepKind,
    TriggerKind,
    Workflow,
    blank_action,
    describe_wait,
)
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.workflow import (
    ActionKindDialog,
    EnrollDialog,
    HistoryDialog,
    NewWorkflowDialog,
    TriggerDialog,
    action_dialog,
    describe_action,
)
from tui.formatting import date_time, escape, plain, refill, selected_key, shown
from tui.screens.base import CbeScreen


@dataclass(frozen=True)
class _Counts:
    enrolled: int
    waiting: int
    finished: int


def _counts(enrollments: list[Enrollment]) -> _Counts:
    waiting = sum(1 for e in enrollments if e.active)
    return _Counts(len(enrollments), waiting, len(enrollments) - waiting)


def _last_step(enrollment: Enrollment) -> Step | None:
    """Why a record is where it is: the last wait's outcome (the event happened, or it stopped
    waiting), else the last thing done to it."""
    decisive = [s for s in enrollment.history if s.kind in (StepKind.MATCHED, StepKind.TIMED_OUT)]
    if decisive:
        return decisive[-1]
    steps = [s for s in enrollment.history if s.kind not in (StepKind.ENTERED, StepKind.FINISHED)]
    return steps[-1] if steps else None


def _errors(error: CbeError) -> str:
    if isinstance(error, ValidationFailed):
        return "\n".join(escape(v.message) for v in error.violations)
    return escape(str(error))


class WorkflowsScreen(CbeScreen):
    """Every workflow with how many records it holds."""

    TITLE = "Workflows"
    SECTION = "workflows"
    HELP = (
        "Workflows take enrolled records through actions; “delay until event happens” holds a "
        "record until it completes an event (optionally matching property filters), for at most "
        "a maximum wait or as long as possible."
    )
    AUTO_FOCUS = "#workflows"
    LIVE = frozenset({Topic.WORKFLOWS})
    BINDINGS = [
        Binding("n", "create", "New workflow"),
        Binding("enter", "open", "Open", show=False),
        Binding("o", "toggle_on", "On/off"),
        Binding("d", "delete", "Delete"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("Workflows", classes="page-title")
            yield Static("", id="workflows-empty", classes="empty")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="workflows")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        table = self.query_one("#workflows", DataTable)
        for label, key in (
            ("Name", "name"),
            ("Enrolls", "object"),
            ("Status", "status"),
            ("Enrollment", "trigger"),
            ("Actions", "actions"),
            ("Enrolled", "enrolled"),
            ("Waiting", "waiting"),
            ("Finished", "finished"),
        ):
            table.add_column(label, key=key)
        self.reload()
        if self.cbe.poll_seconds:
            self.set_interval(self.cbe.poll_seconds, self.reload)

    def refresh_from_store(self) -> Worker[None]:
        return self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="workflows-load")
    def reload(self) -> None:
        workflows = self.services.workflows
        rows = [(w, _counts(workflows.enrollments(w.id))) for w in workflows.all()]
        self.from_worker(self._fill, rows)

    def _fill(self, rows: list[tuple[Workflow, _Counts]]) -> None:
        table = self.query_one("#workflows", DataTable)
        refill(
            table,
            [
                (
                    w.id,
                    (
                        plain(w.name),
                        w.object_type.label,
                        "On" if w.enabled else "Off",
                        w.trigger.label,
                        str(len(w.actions)),
                        str(counts.enrolled),
                        str(counts.waiting),
                        str(counts.finished),
                    ),
                )
                for w, counts in rows
            ],
        )
        empty = self.query_one("#workflows-empty", Static)
        empty.update("No workflows yet. Press n to create one.")
        empty.display = not rows

    def action_create(self) -> None:
        def made(answer: tuple[str, ObjectType] | None) -> None:
            if answer is None:
                return
            try:
                workflow = self.services.workflows.create(*answer)
            except CbeError as error:
                self.notify(_errors(error), severity="error", title="Not created")
                return
            self.app.push_screen(WorkflowScreen(workflow.id))

        self.app.push_screen(NewWorkflowDialog(), made)

    @on(DataTable.RowSelected, "#workflows")
    def action_open(self) -> None:
        workflow_id = selected_key(self.query_one("#workflows", DataTable))
        if workflow_id:
            self.app.push_screen(WorkflowScreen(workflow_id))

    def action_toggle_on(self) -> None:
        workflow_id = selected_key(self.query_one("#workflows", DataTable))
        if workflow_id:
            toggle(self, workflow_id)
            self.reload()

    def action_delete(self) -> None:
        workflow_id = selected_key(self.query_one("#workflows", DataTable))
        if not workflow_id:
            return
        workflow = self.services.workflows.get(workflow_id)
        count = len(self.services.workflows.enrollments(workflow_id))

        def answered(yes: bool | None) -> None:
            if yes:
                self.services.workflows.delete(workflow_id)
                self.notify(f"Deleted {escape(workflow.name)}.", title="Workflow")
                self.reload()

        self.app.push_screen(
            ConfirmDialog(
                "Delete workflow?",
                f"Deleting “{escape(workflow.name)}” removes it and its {count} enrollment(s); "
                "tasks it created stay on the records' timelines.",
            ),
            answered,
        )


def toggle(screen: CbeScreen, workflow_id: str) -> None:
    """Turn a workflow on or off, saying why when it cannot start."""
    workflows = screen.services.workflows
    workflow = workflows.get(workflow_id)
    try:
        updated = workflows.set_enabled(workflow_id, not workflow.enabled)
    except CbeError as error:
        screen.notify(_errors(error), severity="error", title="Still off")
        return
    state = "on: enrolling and moving records" if updated.enabled else "off: everyone paused"
    screen.notify(f"{escape(updated.name)} is {state}.", title="Workflow")


class WorkflowScreen(CbeScreen):
    """A workflow's editor: enrollment, actions in order, and its records."""

    TITLE = "Workflow"
    SECTION = "workflows"
    HELP = (
        "Actions run in order for every enrolled record. Add one with a; enter edits the "
        "selected action, shift+↑/↓ moves it, d deletes it. t sets how records are enrolled, "
        "r enrolls records by hand, o turns the workflow on or off, w shows who is where."
    )
    AUTO_FOCUS = "#actions"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "add", "Add action"),
        Binding("enter", "edit", "Edit", show=False),
        Binding("d", "delete", "Delete action"),
        Binding("shift+up", "move(-1)", "Move up", show=False),
        Binding("shift+down", "move(1)", "Move down", show=False),
        Binding("t", "trigger", "Enrollment"),
        Binding("r", "enroll", "Enroll"),
        Binding("o", "toggle_on", "On/off"),
        Binding("w", "enrollments", "Who is where"),
    ]

    def __init__(self, workflow_id: str) -> None:
        super().__init__()
        self.workflow_id = workflow_id

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("", id="workflow-title", classes="page-title")
            yield Static("", id="workflow-facts", classes="muted")
            yield Static("Actions", classes="section-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="actions")
            yield Static("", id="actions-empty", classes="muted")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.query_one("#actions", DataTable).add_columns("#", "Action", "Details")
        self.refresh_workflow()

    def on_screen_resume(self) -> None:
        self.refresh_workflow()

    @property
    def workflow(self) -> Workflow:
        return self.services.workflows.get(self.workflow_id)

    def _events(self) -> list[EventDefinition]:
        kind = self.workflow.object_type
        return [d for d in self.services.definitions.search() if d.primary_object is kind]

    def refresh_workflow(self, cursor: int | None = None) -> None:
        w = self.workflow
        counts = _counts(self.services.workflows.enrollments(w.id))
        self.title = f"Workflow: {shown(w.name)}"
        state = "[$success]On[/]" if w.enabled else "[$warning]Off[/]"
        self.query_one("#workflow-title", Static).update(f"{escape(w.name)}  {state}")
        events = {d.fully_qualified_name: d for d in self.services.definitions.search()}
        enrollment = w.trigger.label
        if w.trigger is TriggerKind.EVENT and w.trigger_event:
            event = events.get(w.trigger_event)
            enrollment += f": {event.label if event else w.trigger_event}"
        elif w.trigger is TriggerKind.LIST:
            enrollment += f": {len(w.record_ids)} record(s)"
        self.query_one("#workflow-facts", Static).update(
            escape(
                f"Enrolls {w.object_type.plural} · {enrollment} · {counts.enrolled} enrolled, "
                f"{counts.waiting} in progress, {counts.finished} finished"
            )
        )
        table = self.query_one("#actions", DataTable)
        keep = table.cursor_row if cursor is None else cursor
        table.clear()
        for i, action in enumerate(w.actions):
            table.add_row(
                str(i + 1),
                action.kind.label,
                plain(describe_action(action, events)),
                key=action.id,
            )
        if w.actions:
            table.move_cursor(row=max(0, min(keep, len(w.actions) - 1)))
        empty = self.query_one("#actions-empty", Static)
        empty.update("No actions yet. Press a to add one.")
        empty.display = not w.actions

    def _selected(self) -> Action | None:
        action_id = selected_key(self.query_one("#actions", DataTable))
        return next((a for a in self.workflow.actions if a.id == action_id), None)

    def _apply(self, change: object, cursor: int | None = None) -> bool:
        try:
            change()  # type: ignore[operator]
        except CbeError as error:
            self.notify(_errors(error), severity="error", title="Not saved")
            return False
        self.refresh_workflow(cursor)
        return True

    def action_add(self) -> None:
        workflow = self.workflow

        def kind_chosen(kind: ActionKind | None) -> None:
            if kind is None:
                return
            blank = blank_action(self.services.workflows.new_action_id(workflow), kind)

            def edited(action: Action | None) -> None:
                if action is not None:
                    self._apply(
                        lambda: self.services.workflows.add_action(self.workflow_id, action),
                        cursor=len(workflow.actions),
                    )

            self.app.push_screen(action_dialog(blank, self._events()), edited)

        self.app.push_screen(ActionKindDialog(), kind_chosen)

    @on(DataTable.RowSelected, "#actions")
    def action_edit(self) -> None:
        action = self._selected()
        if action is None:
            return

        def edited(changed: Action | None) -> None:
            if changed is not None:
                self._apply(
                    lambda: self.services.workflows.replace_action(self.workflow_id, changed)
                )

        self.app.push_screen(action_dialog(action, self._events()), edited)

    def action_delete(self) -> None:
        """Delete the selected action, after saying what goes (it asks first, as every
        delete does)."""
        action = self._selected()
        if action is None:
            return
        workflow = self.workflow
        index = next(i for i, a in enumerate(workflow.actions) if a.id == action.id)
        events = {d.fully_qualified_name: d for d in self.services.definitions.search()}
        waiting = sum(
            1
            for e in self.services.workflows.enrollments(workflow.id)
            if e.active and e.action_index == index
        )
        message = (
            f"Deleting action {index + 1}, {action.kind.label} "
            f"({escape(describe_action(action, events))}), removes it from "
            f"{escape(workflow.name)}."
        )
        if waiting:
            one = waiting == 1
            message += f" {waiting} record{'' if one else 's'} waiting at it " + (
                f"go{'es' if one else ''} on with the action after it."
                if index + 1 < len(workflow.actions)
                else f"finish{'es' if one else ''} the workflow."
            )

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply(
                    lambda: self.services.workflows.delete_action(self.workflow_id, action.id)
                )

        self.app.push_screen(ConfirmDialog("Delete action?", message), answered)

    def action_move(self, step: int) -> None:
        action = self._selected()
        if action is None:
            return
        row = self.query_one("#actions", DataTable).cursor_row
        self._apply(
            lambda: self.services.workflows.move_action(self.workflow_id, action.id, step),
            cursor=max(0, row + step),
        )

    def action_trigger(self) -> None:
        def chosen(answer: tuple[TriggerKind, str | None, list[str]] | None) -> None:
            if answer is None:
                return
            kind, event, ids = answer
            self._apply(
                lambda: self.services.workflows.update(
                    self.workflow_id, trigger=kind, trigger_event=event, record_ids=ids
                )
            )

        records = self.services.records.search(self.workflow.object_type)
        self.app.push_screen(TriggerDialog(self.workflow, self._events(), records), chosen)

    def action_enroll(self) -> None:
        workflow = self.workflow
        records = self.services.records.search(workflow.object_type)
        enrolled = {e.object_id for e in self.services.workflows.enrollments(workflow.id)}

        def chosen(ids: list[str] | None) -> None:
            if ids and self._apply(lambda: self.services.workflows.enroll(self.workflow_id, ids)):
                self.notify(f"Enrolled {len(ids)} record(s).", title="Workflow")

        self.app.push_screen(EnrollDialog(records, enrolled), chosen)

    def action_toggle_on(self) -> None:
        toggle(self, self.workflow_id)
        self.refresh_workflow()

    def action_enrollments(self) -> None:
        self.app.push_screen(EnrollmentsScreen(self.workflow_id))

    def action_back(self) -> None:
        self.dismiss()


class EnrollmentsScreen(CbeScreen):
    """Who is waiting at which action since when, and why each finished."""

    TITLE = "Enrollments"
    SECTION = "workflows"
    HELP = "Every enrolled record: where it is, since when, and its last step. enter: history."
    AUTO_FOCUS = "#enrollments"
    LIVE = frozenset({Topic.WORKFLOWS, Topic.RECORDS})
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "history", "History", show=False),
    ]

    def __init__(self, workflow_id: str) -> None:
        super().__init__()
        self.workflow_id = workflow_id

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("", id="enrollments-title", classes="page-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="enrollments")
            yield Static("", id="enrollments-empty", classes="empty")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        table = self.query_one("#enrollments", DataTable)
        for label in ("Record", "Where", "Since", "Why"):
            table.add_column(label)
        self.fill()
        if self.cbe.poll_seconds:
            # Records move on while the list is open (events arrive, waits expire).
            self.set_interval(self.cbe.poll_seconds, self.fill)

    def refresh_from_store(self) -> Worker[None]:
        return self._load()

    def on_screen_resume(self) -> None:
        self.fill()

    def fill(self) -> None:
        """Read who is where off the UI thread (a workflow can hold thousands), then show it."""
        self._load()

    @work(thread=True, exclusive=True, group="enrollments-load")
    def _load(self) -> None:
        services = self.services
        workflow = services.workflows.get(self.workflow_id)
        rows = []
        enrollments = services.workflows.enrollments(workflow.id)
        # Who is waiting first, by the action they wait at; then who finished, latest first.
        waiting = sorted(
            (e for e in enrollments if e.active), key=lambda e: (e.action_index, e.entered_at)
        )
        finished = sorted(
            (e for e in enrollments if not e.active),
            key=lambda e: e.finished_at or e.entered_at,
            reverse=True,
        )
        for e in waiting + finished:
            record = services.records.get(e.object_type, e.object_id)
            name = record.display_name if record else f"{e.object_type.singular} {e.object_id}"
            if e.active and e.action_index < len(workflow.actions):
                action = workflow.actions[e.action_index]
                where = f"waiting at {e.action_index + 1}. {action.kind.label}"
                if isinstance(action, DelayUntilEventAction) and action.max_wait_minutes:
                    where += f" (max {describe_wait(action.max_wait_minutes)})"
                if not workflow.enabled:
                    where += " · paused"
            else:
                where = "finished"
            last = _last_step(e)
            last_text = (
                f"{last.kind.value.replace('_', ' ').lower()}: {last.detail}" if last else ""
            )
            # One style for every row: the date and time (a relative age beside a date read
            # as two different things).
            since = date_time(e.entered_at if e.active else e.finished_at or e.entered_at)
            rows.append((e.id, (plain(name), where, since, plain(last_text))))
        self.from_worker(self._show, workflow, rows, bool(enrollments))

    def _show(
        self, workflow: Workflow, rows: list[tuple[str, tuple[str, ...]]], anyone: bool
    ) -> None:
        self.title = f"Enrollments: {shown(workflow.name)}"
        self.query_one("#enrollments-title", Static).update(
            f"Who is where in {escape(workflow.name)}"
        )
        refill(self.query_one("#enrollments", DataTable), rows)
        empty = self.query_one("#enrollments-empty", Static)
        empty.update("Nobody is enrolled yet. Press escape, then r to enroll records.")
        empty.display = not anyone

    @on(DataTable.RowSelected, "#enrollments")
    def action_history(self) -> None:
        key = selected_key(self.query_one("#enrollments", DataTable))
        workflow = self.services.workflows.get(self.workflow_id)
        enrollment = next(
            (e for e in self.services.workflows.enrollments(workflow.id) if e.id == key), None
        )
        if enrollment is None:
            return
        record = self.services.records.get(enrollment.object_type, enrollment.object_id)
        name = record.display_name if record else enrollment.object_id
        self.app.push_screen(HistoryDialog(f"{name} in {workflow.name}", enrollment, workflow))

    def action_back(self) -> None:
        self.dismiss()
