"""Dialogs of the workflow editor: new workflow, trigger, actions (the delay editor among them),
enrolling records, and an enrollment's history."""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    OptionList,
    RadioButton,
    RadioSet,
    Select,
    SelectionList,
    Static,
)
from textual.widgets.option_list import Option

from core.errors import Violation
from core.filters import PropertyFilter
from core.ingestion import all_properties
from core.models import CrmRecord, EventDefinition, ObjectType, PropertyDefinition
from core.workflow_models import (
    Action,
    ActionKind,
    CreateTaskAction,
    DelayAction,
    DelayUntilEventAction,
    Enrollment,
    SetPropertyAction,
    TriggerKind,
    Workflow,
    describe_wait,
)
from tui.dialogs.focus import FirstFieldFocused
from tui.formatting import escape, plain
from tui.widgets.filter_builder import FilterBuilder

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: {width}; height: auto; max-height: 95%; padding: 1 2;
    border: thick $primary 60%; background: $surface;
}}
{name} .buttons {{ height: 3; align-horizontal: right; margin-top: 1; }}
{name} .buttons Button {{ margin-left: 1; }}
{name} .row {{ height: auto; }}
{name} .row Input {{ width: 1fr; }}
"""


def _messages(violations: list[Violation]) -> str:
    return "\n".join(escape(v.message) for v in violations)


def _buttons(done: str = "Save (ctrl+s)") -> Horizontal:
    return Horizontal(
        Button("Cancel", id="cancel"), Button(done, id="save", variant="primary"), classes="buttons"
    )


class _Dialog(FirstFieldFocused, ModalScreen[Any]):
    """Shared keys: escape cancels, ctrl+s saves."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def action_save(self) -> None:  # pragma: no cover - every dialog overrides it
        raise NotImplementedError

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()


class NewWorkflowDialog(_Dialog):
    """Name and object type of a new workflow; answers (name, object type)."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="NewWorkflowDialog", width=60)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Create workflow[/b]")
            yield Static("Name", classes="field-label")
            yield Input(placeholder="e.g. Trial nurture", id="workflow-name")
            yield Static("", id="name-error", classes="error")
            yield Static("Enrolls", classes="field-label")
            yield Select(
                [(t.label, t) for t in ObjectType],
                value=ObjectType.CONTACT,
                allow_blank=False,
                id="workflow-object",
            )
            yield _buttons("Create (ctrl+s)")

    @on(Input.Submitted, "#workflow-name")
    def action_save(self) -> None:
        name = self.query_one("#workflow-name", Input).value
        if not name.strip():
            self.query_one("#name-error", Static).update("A workflow needs a name.")
            return
        kind = self.query_one("#workflow-object", Select).value
        self.dismiss((name, kind if isinstance(kind, ObjectType) else ObjectType.CONTACT))


class ActionKindDialog(FirstFieldFocused, ModalScreen[ActionKind | None]):
    """Which action to add."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ActionKindDialog", width=56)
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Add action[/b]")
            yield OptionList(*(Option(k.label, id=k.value) for k in ActionKind), id="kinds")

    @on(OptionList.OptionSelected, "#kinds")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(ActionKind(event.option.id))


def _minutes(days: str, hours: str, minutes: str) -> int | None:
    try:
        total = int(days or 0) * 24 * 60 + int(hours or 0) * 60 + int(minutes or 0)
    except ValueError:
        return None
    return total


class DelayUntilEventDialog(_Dialog):
    """HubSpot's delay editor: the event, property filters ("Apply filter"), and the maximum
    wait or "Delay as long as possible". Answers the action."""

    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="DelayUntilEventDialog", width=86)
        + """
    DelayUntilEventDialog #filters { height: auto; max-height: 6; }
    DelayUntilEventDialog .wait Input { width: 12; }
    DelayUntilEventDialog .wait Static { width: auto; padding: 1 1 0 0; }
    """
    )
    BINDINGS = [
        *_Dialog.BINDINGS,
        Binding("ctrl+f", "apply_filter", "Apply filter"),
        Binding("delete", "remove_filter", "Remove filter", show=False),
    ]

    def __init__(self, action: DelayUntilEventAction, events: list[EventDefinition]) -> None:
        super().__init__()
        self.action = action
        self.events = events
        self.filters: list[PropertyFilter] = list(action.filters)

    def compose(self) -> ComposeResult:
        wait = self.action.max_wait_minutes
        days, rest = divmod(wait or 0, 24 * 60)
        hours, minutes = divmod(rest, 60)
        with Vertical():
            yield Static("[b]Delay until event happens[/b]")
            with VerticalScroll():
                yield Static("Event", classes="field-label")
                yield Select(
                    [(escape(e.label), e.fully_qualified_name) for e in self.events],
                    value=self.action.event_name or Select.NULL,
                    prompt="Choose a custom behavioral event",
                    id="event",
                )
                yield Static("Property filters (all must match)", classes="field-label")
                yield FilterBuilder(id="builder")
                yield DataTable(cursor_type="row", show_header=False, id="filters")
                yield Static("Maximum wait", classes="field-label")
                with Horizontal(classes="row wait"):
                    yield Input(str(days or ""), placeholder="0", id="wait-days", type="integer")
                    yield Static("days")
                    yield Input(str(hours or ""), placeholder="0", id="wait-hours", type="integer")
                    yield Static("hours")
                    yield Input(
                        str(minutes or ""), placeholder="0", id="wait-minutes", type="integer"
                    )
                    yield Static("minutes")
                yield Checkbox("Delay as long as possible", value=wait is None, id="forever")
            yield Static("", id="save-error", classes="error")
            yield _buttons()

    def on_mount(self) -> None:
        self.query_one("#filters", DataTable).add_columns("filter")
        self._event_chosen()
        self._fill_filters()
        self._forever_changed()

    def _event(self) -> EventDefinition | None:
        value = self.query_one("#event", Select).value
        return next((e for e in self.events if e.fully_qualified_name == value), None)

    def _props(self) -> dict[str, PropertyDefinition]:
        event = self._event()
        return {p.name: p for p in all_properties(event)} if event else {}

    @on(Select.Changed, "#event")
    def _event_chosen(self) -> None:
        props = self._props()
        custom = [p for p in props.values() if not p.hubspot_defined]
        defaults = [p for p in props.values() if p.hubspot_defined]
        self.query_one(FilterBuilder).set_properties(custom + defaults)
        self.filters = [f for f in self.filters if f.property in props] if props else []
        self._fill_filters()

    def action_apply_filter(self) -> None:
        self.query_one(FilterBuilder).apply()

    @on(FilterBuilder.Applied)
    def _applied(self, event: FilterBuilder.Applied) -> None:
        self.filters.append(event.filter)
        self._fill_filters()

    def action_remove_filter(self) -> None:
        table = self.query_one("#filters", DataTable)
        if table.has_focus and self.filters:
            del self.filters[table.cursor_row]
            self._fill_filters()

    def _fill_filters(self) -> None:
        table = self.query_one("#filters", DataTable)
        table.clear()
        props = self._props()
        for f in self.filters:
            table.add_row(plain(f.describe(props.get(f.property))))
        if not self.filters:
            table.add_row("No filter: any completion of the event counts.")

    @on(Checkbox.Changed, "#forever")
    def _forever_changed(self) -> None:
        forever = self.query_one("#forever", Checkbox).value
        for input_id in ("#wait-days", "#wait-hours", "#wait-minutes"):
            self.query_one(input_id, Input).disabled = forever

    def action_save(self) -> None:
        event = self._event()
        if event is None:
            self.query_one("#save-error", Static).update("Choose the event to wait for.")
            return
        forever = self.query_one("#forever", Checkbox).value
        minutes = None
        if not forever:
            minutes = _minutes(
                self.query_one("#wait-days", Input).value,
                self.query_one("#wait-hours", Input).value,
                self.query_one("#wait-minutes", Input).value,
            )
            if not minutes:
                self.query_one("#save-error", Static).update(
                    "Set a maximum wait, or tick “Delay as long as possible”."
                )
                return
        self.dismiss(
            self.action.model_copy(
                update={
                    "event_name": event.fully_qualified_name,
                    "filters": list(self.filters),
                    "max_wait_minutes": minutes,
                }
            )
        )


class DelayDialog(_Dialog):
    """Delay for a set amount of time."""

    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="DelayDialog", width=60)
        + """
    DelayDialog .wait Input { width: 12; }
    DelayDialog .wait Static { width: auto; padding: 1 1 0 0; }
    """
    )

    def __init__(self, action: DelayAction) -> None:
        super().__init__()
        self.action = action

    def compose(self) -> ComposeResult:
        days, rest = divmod(self.action.delay_minutes or 0, 24 * 60)
        hours, minutes = divmod(rest, 60)
        with Vertical():
            yield Static("[b]Delay for a set amount of time[/b]")
            with Horizontal(classes="row wait"):
                yield Input(str(days or ""), placeholder="0", id="delay-days", type="integer")
                yield Static("days")
                yield Input(str(hours or ""), placeholder="0", id="delay-hours", type="integer")
                yield Static("hours")
                yield Input(str(minutes or ""), placeholder="0", id="delay-minutes", type="integer")
                yield Static("minutes")
            yield Static("", id="save-error", classes="error")
            yield _buttons()

    def action_save(self) -> None:
        minutes = _minutes(
            self.query_one("#delay-days", Input).value,
            self.query_one("#delay-hours", Input).value,
            self.query_one("#delay-minutes", Input).value,
        )
        if not minutes:
            self.query_one("#save-error", Static).update("The delay must be more than zero.")
            return
        self.dismiss(self.action.model_copy(update={"delay_minutes": minutes}))


class SetPropertyDialog(_Dialog):
    """Set a record property to a value."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="SetPropertyDialog", width=64)

    def __init__(self, action: SetPropertyAction) -> None:
        super().__init__()
        self.action = action

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Set a record property[/b]")
            yield Static("Property (internal name)", classes="field-label")
            yield Input(self.action.property or "", placeholder="e.g. lifecyclestage", id="prop")
            yield Static("Value", classes="field-label")
            yield Input(self.action.value or "", placeholder="e.g. opportunity", id="value")
            yield Static("", id="save-error", classes="error")
            yield _buttons()

    def action_save(self) -> None:
        prop = self.query_one("#prop", Input).value.strip()
        if not prop:
            self.query_one("#save-error", Static).update("Name the property to set.")
            return
        value = self.query_one("#value", Input).value
        self.dismiss(self.action.model_copy(update={"property": prop, "value": value}))


class TaskDialog(_Dialog):
    """Create a task: a note on the record's timeline."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="TaskDialog", width=64)

    def __init__(self, action: CreateTaskAction) -> None:
        super().__init__()
        self.action = action

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Create a task[/b]")
            yield Static("Title", classes="field-label")
            yield Input(
                self.action.title or "", placeholder="e.g. Call about the trial", id="title"
            )
            yield Static("Note", classes="field-label")
            yield Input(self.action.body or "", placeholder="optional", id="body")
            yield Static("", id="save-error", classes="error")
            yield _buttons()

    def action_save(self) -> None:
        title = self.query_one("#title", Input).value.strip()
        if not title:
            self.query_one("#save-error", Static).update("Give the task a title.")
            return
        body = self.query_one("#body", Input).value
        self.dismiss(self.action.model_copy(update={"title": title, "body": body}))


def action_dialog(action: Action, events: list[EventDefinition]) -> ModalScreen[Any]:
    """The editor for an action of any kind."""
    if isinstance(action, DelayUntilEventAction):
        return DelayUntilEventDialog(action, events)
    if isinstance(action, DelayAction):
        return DelayDialog(action)
    if isinstance(action, SetPropertyAction):
        return SetPropertyDialog(action)
    return TaskDialog(action)


def describe_action(action: Action, events: dict[str, EventDefinition]) -> str:
    """One line about an action for the editor's table."""
    if isinstance(action, DelayUntilEventAction):
        event = events.get(action.event_name or "")
        label = event.label if event else (action.event_name or "?")
        props = {p.name: p for p in all_properties(event)} if event else {}
        filters = "; ".join(f.describe(props.get(f.property)) for f in action.filters)
        text = f"until {label} happens"
        if filters:
            text += f" where {filters}"
        return text + f" · wait {describe_wait(action.max_wait_minutes)}"
    if isinstance(action, DelayAction):
        return f"wait {describe_wait(action.delay_minutes)}"
    if isinstance(action, SetPropertyAction):
        return f"{action.property} = {action.value!r}"
    return f"“{action.title}”" + (f": {action.body}" if action.body else "")


class TriggerDialog(_Dialog):
    """How records are enrolled; answers (trigger, event name, record ids)."""

    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="TriggerDialog", width=72)
        + """
    TriggerDialog RadioSet { width: 100%; }
    """
    )

    def __init__(self, workflow: Workflow, events: list[EventDefinition]) -> None:
        super().__init__()
        self.workflow = workflow
        self.events = events

    def compose(self) -> ComposeResult:
        w = self.workflow
        with Vertical():
            yield Static("[b]Enrollment[/b]")
            with RadioSet(id="trigger"):
                for kind in TriggerKind:
                    yield RadioButton(kind.label, value=kind is w.trigger, id=kind.value)
            yield Static("Trigger event", classes="field-label")
            yield Select(
                [(escape(e.label), e.fully_qualified_name) for e in self.events],
                value=w.trigger_event or Select.NULL,
                prompt="Choose an event",
                id="trigger-event",
            )
            yield Static(
                f"List of {w.object_type.plural} (ids, comma separated)", classes="field-label"
            )
            yield Input(", ".join(w.record_ids), placeholder="e.g. 1, 2, 3", id="record-ids")
            yield Static("", id="save-error", classes="error")
            yield _buttons()

    def action_save(self) -> None:
        pressed = self.query_one("#trigger", RadioSet).pressed_button
        kind = TriggerKind(pressed.id) if pressed is not None and pressed.id else TriggerKind.MANUAL
        event = self.query_one("#trigger-event", Select).value
        if kind is TriggerKind.EVENT and not isinstance(event, str):
            self.query_one("#save-error", Static).update("Choose the event that enrolls records.")
            return
        ids = [
            i.strip() for i in self.query_one("#record-ids", Input).value.split(",") if i.strip()
        ]
        self.dismiss((kind, event if isinstance(event, str) else None, ids))


class EnrollDialog(_Dialog):
    """Pick records to enroll by hand; answers their ids.

    The search only narrows the list: what is ticked stays ticked while searching, and the
    dialog says how many are ticked, including those the search hides."""

    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="EnrollDialog", width=72)
        + """
    EnrollDialog SelectionList { height: 16; }
    EnrollDialog #enroll-ticked { height: auto; margin-top: 1; }
    """
    )
    BINDINGS = [
        *_Dialog.BINDINGS,
        Binding("slash", "search", "Search", key_display="/", show=False),
    ]

    def __init__(self, records: list[CrmRecord], enrolled: set[str]) -> None:
        super().__init__()
        self.records = records
        self.enrolled = enrolled
        self.ticked: set[str] = set()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "[b]Enroll records[/b]  [$text-muted]type to search · ↓ to the list · "
                "space ticks · ctrl+s enrolls[/]"
            )
            yield Input(placeholder="Search name or email", id="enroll-search")
            yield SelectionList[str](id="enroll-records")
            yield Static("", id="enroll-ticked", classes="muted")
            yield _buttons("Enroll (ctrl+s)")

    def on_mount(self) -> None:
        self._fill("")
        self._count()

    @on(Input.Changed, "#enroll-search")
    def _search(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_key(self, event: events.Key) -> None:
        # From the search, down (or enter) goes to the list to tick.
        search = self.query_one("#enroll-search", Input)
        if search.has_focus and event.key in ("down", "enter"):
            event.stop()
            event.prevent_default()
            items = self.query_one("#enroll-records", SelectionList)
            items.focus()
            if items.option_count and items.highlighted is None:
                items.highlighted = 0

    def action_search(self) -> None:
        self.query_one("#enroll-search", Input).focus()

    def _fill(self, text: str) -> None:
        needle = text.casefold()
        items = self.query_one("#enroll-records", SelectionList)
        items.clear_options()
        for record in self.records:
            if record.id in self.enrolled:
                continue
            label = f"{record.display_name}  ({record.email or record.id})"
            if needle and needle not in label.casefold():
                continue
            items.add_option((escape(label), record.id, record.id in self.ticked))
        if items.option_count:
            items.highlighted = 0

    @on(SelectionList.SelectionToggled, "#enroll-records")
    def _toggled(self, event: SelectionList.SelectionToggled[str]) -> None:
        value = event.selection.value
        if value in event.selection_list.selected:
            self.ticked.add(value)
        else:
            self.ticked.discard(value)
        self._count()

    def _count(self) -> None:
        names = [r.display_name for r in self.records if r.id in self.ticked]
        text = f"{len(names)} ticked"
        if names:
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            text += f": {shown}"
        self.query_one("#enroll-ticked", Static).update(escape(text))
        label = f"Enroll {len(names)} (ctrl+s)" if names else "Enroll (ctrl+s)"
        self.query_one("#save", Button).label = label

    def action_save(self) -> None:
        self.dismiss([r.id for r in self.records if r.id in self.ticked])


class HistoryDialog(ModalScreen[None]):
    """An enrollment's steps: entered, waited, matched or timed out, actions done."""

    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="HistoryDialog", width=100)
        + """
    HistoryDialog DataTable { height: auto; max-height: 24; }
    """
    )
    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, title: str, enrollment: Enrollment, workflow: Workflow) -> None:
        super().__init__()
        self.title_text = title
        self.enrollment = enrollment
        self.workflow = workflow

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{escape(self.title_text)}[/b]")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="history")

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        table.add_columns("When (UTC)", "Step", "Action", "Detail")
        for step in self.enrollment.history:
            action = ""
            if step.action is not None and step.action < len(self.workflow.actions):
                action = f"{step.action + 1}. {self.workflow.actions[step.action].kind.label}"
            table.add_row(
                step.at.strftime("%b %d %H:%M"),
                step.kind.value.replace("_", " ").lower(),
                action,
                plain(step.detail),
            )
