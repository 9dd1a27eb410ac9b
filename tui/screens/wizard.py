"""The code wizard for a new custom behavioral event, as in HubSpot's help article.

1. Name and description, and the associated object; the internal and fully qualified names
   preview as you type, with core's rules checked live.
2. Properties: HubSpot's default properties (read-only, foldable) and the custom ones, each
   with Edit and Delete.
3. How completions are sent: a JavaScript snippet (edited here, saved with the event) or the
   API (tracking ID, internal names, ready-to-run examples). "Create" finishes.

Back and next keep everything typed; nothing is stored until "Create".
"""

from __future__ import annotations

from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.widgets import (
    Button,
    Collapsible,
    ContentSwitcher,
    DataTable,
    Input,
    RadioButton,
    RadioSet,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from core.codegen import (
    SnippetTrigger,
    SnippetTriggerKind,
    api_examples,
    default_trigger,
    describe_snippet,
    tracking_id,
    triggered_snippet,
)
from core.defaults import DEFAULT_PROPERTIES
from core.definitions import check_event_name, validate_properties
from core.errors import CbeError, ValidationFailed, Violation
from core.models import (
    EventDefinition,
    ObjectType,
    PropertyDefinition,
    TrackingMethod,
)
from core.rules import (
    MAX_CUSTOM_PROPERTIES,
    check_custom_property_count,
    fully_qualified_name,
    generate_name,
)
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.property import PropertyPanel, ask_property_action, create_property
from tui.formatting import escape, selected_key
from tui.screens.base import CbeScreen
from tui.widgets.step_indicator import StepIndicator
from tui.widgets.tables import fill_property_table

STEPS = ["Name", "Properties", "Tracking"]
STEP_IDS = ["step-name", "step-properties", "step-tracking"]


class CreateEventScreen(CbeScreen):
    """The event wizard."""

    TITLE = "Create event"
    SECTION = "events"
    FORM = True
    HELP = (
        "Define an event in three steps: its name and object, its properties, and how its "
        "completions will be sent. Back and next keep what you typed; nothing is saved until "
        "Create."
    )
    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
        Binding("escape", "cancel", "Cancel"),
        Binding("p", "create_property", "Create property"),
        Binding("enter", "property_actions", "Actions", show=False),
        Binding("e", "edit_property", "Edit"),
        Binding("d", "delete_property", "Delete"),
        Binding("f", "fold_defaults", "Fold defaults"),
        Binding("y", "copy", "Copy"),
    ]
    # Below 34 rows the page tightens (cbe.tcss, and compact fields: on_resize) so the
    # snippet editor keeps room for its code at 80x24.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]

    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.properties: list[PropertyDefinition] = []
        self.existing: set[str] = set()
        self.deleted: set[str] = set()
        self._snippet_generated: str | None = None
        self._created = False

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            yield Static("Create custom behavioral event", classes="page-title")
            yield StepIndicator(STEPS, id="steps")
            with ContentSwitcher(initial=STEP_IDS[0], classes="wizard-step"):
                with VerticalScroll(id="step-name"):
                    yield Static("Event name", classes="field-label")
                    yield Input(placeholder="e.g. Viewed car", max_length=200, id="label")
                    yield Static("", id="label-error", classes="error")
                    yield Static("Description (optional)", classes="field-label")
                    yield TextArea(id="description", soft_wrap=True, show_line_numbers=False)
                    yield Static("Associated object", classes="field-label")
                    yield Select(
                        [(t.label, t) for t in ObjectType],
                        value=ObjectType.CONTACT,
                        allow_blank=False,
                        id="object",
                    )
                    yield Static("", id="names", classes="names")
                with VerticalScroll(id="step-properties"):
                    with Collapsible(
                        title=f"HubSpot's default event properties ({len(DEFAULT_PROPERTIES)})",
                        collapsed=True,
                        id="defaults",
                    ):
                        yield DataTable(cursor_type="row", zebra_stripes=True, id="defaults-table")
                    yield Static("", id="custom-title", classes="section-title")
                    yield DataTable(cursor_type="row", zebra_stripes=True, id="custom-table")
                    yield Static("", id="custom-empty", classes="muted")
                    yield Static("", id="properties-error", classes="error")
                with Vertical(id="step-tracking"):
                    with RadioSet(id="tracking-choice"):
                        yield RadioButton("JavaScript code snippet", id="javascript", value=True)
                        yield RadioButton("Send data via the API", id="api")
                    with ContentSwitcher(initial="tracking-javascript"):
                        with Vertical(id="tracking-javascript"):
                            yield Static(
                                "The tracking code runs every snippet on every page, so a "
                                "snippet sends only when its trigger happens:",
                                classes="field-hint",
                            )
                            with Horizontal(id="trigger-row"):
                                yield Select(
                                    [(k.label, k) for k in SnippetTriggerKind],
                                    value=SnippetTriggerKind.CLICK,
                                    allow_blank=False,
                                    id="trigger-kind",
                                )
                                yield Input(id="trigger-target")
                            yield Static(
                                "Edit as needed: saved with the event, it becomes part of "
                                "the tracking code (/tracking.js of cbe serve).",
                                classes="field-hint",
                                id="snippet-hint",
                            )
                            yield TextArea.code_editor(
                                "",
                                language="javascript",
                                id="snippet",
                                soft_wrap=False,
                                # Tab moves on, as in every other field (see event_detail).
                                tab_behavior="focus",
                            )
                        with Vertical(id="tracking-api"):
                            yield Static("", id="tracking-id")
                            with TabbedContent(id="examples"):
                                for name in ("curl", "Python", "Node"):
                                    with TabPane(name, id=f"tab-{name.lower()}"):
                                        yield TextArea(
                                            "",
                                            read_only=True,
                                            id=f"example-{name.lower()}",
                                            classes="example",
                                            language="javascript" if name == "Node" else None,
                                        )
                    yield Static("", id="create-error", classes="error")
            with Horizontal(classes="nav"):
                yield Button("Cancel", id="cancel")
                yield Button("Back (ctrl+b)", id="back")
                yield Button("Next (ctrl+n)", id="next", variant="primary")
                yield Button("Create (ctrl+n)", id="create", variant="success")
        yield from self.frame_bottom()

    def on_resize(self, event: events.Resize) -> None:
        # One-line fields and buttons on a short terminal (Textual's compact style).
        short = event.size.height < 34
        for widget in self.query("#trigger-kind, #trigger-target, .nav Button"):
            if isinstance(widget, Input | Select | Button):
                widget.compact = short

    def on_mount(self) -> None:
        self.existing, self.deleted = self.services.definitions.names_in_use()
        defaults = self.query_one("#defaults-table", DataTable)
        custom = self.query_one("#custom-table", DataTable)
        for table in (defaults, custom):
            table.add_column("Label", key="label")
            table.add_column("Internal name", key="name")
            table.add_column("Type", key="type")
            table.add_column("Details", key="details")
        fill_property_table(defaults, list(DEFAULT_PROPERTIES))
        self._show_names()
        self._show_properties()
        self._go(0)

    # -- state -----------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return self.query_one("#label", Input).value

    @property
    def description(self) -> str:
        return self.query_one("#description", TextArea).text

    @property
    def primary_object(self) -> ObjectType:
        value = self.query_one("#object", Select).value
        return value if isinstance(value, ObjectType) else ObjectType.CONTACT

    @property
    def tracking(self) -> TrackingMethod:
        api = self.query_one("#api", RadioButton).value
        return TrackingMethod.API if api else TrackingMethod.JAVASCRIPT

    def _name_check(self) -> tuple[str, list[Violation]]:
        return check_event_name(self.label, None, self.existing, self.deleted)

    def preview(self) -> EventDefinition:
        """The event as it would be created now (for the names and the generated code)."""
        name, _ = self._name_check()
        now = self.services.clock.now()
        return EventDefinition(
            id="0",
            name=name or "event",
            label=self.label.strip() or "New event",
            fully_qualified_name=fully_qualified_name(
                self.services.db.portal.portal_id, name or "event"
            ),
            description=self.description,
            primary_object=self.primary_object,
            properties=self.properties,
            tracking_method=self.tracking,
            created_at=now,
            updated_at=now,
        )

    # -- step 1 ----------------------------------------------------------------------------

    @on(Input.Changed, "#label")
    @on(Select.Changed, "#object")
    def _name_changed(self) -> None:
        self._show_names(show_errors=bool(self.label))

    @on(Input.Submitted, "#label")
    def _label_submitted(self) -> None:
        self.action_next()

    def _show_names(self, show_errors: bool = False) -> None:
        name, problems = self._name_check()
        portal = self.services.db.portal.portal_id
        shown = name or "…"
        fqn = fully_qualified_name(portal, name) if name else "…"
        why = ""
        plain_name = generate_name(self.label, (), "event") if name else ""
        if name and name != plain_name:
            # Say why the name got a number: a person expects the label's own name.
            whose = (
                "an event of this portal has it"
                if plain_name in self.existing
                else "a deleted event had it, and HubSpot never reuses a deleted event's name"
            )
            why = f"\n[$warning]Not {plain_name}: {whose}.[/]"
        self.query_one("#names", Static).update(
            f"Internal name         [b]{shown}[/b]\n"
            f"Fully qualified name  [b]{fqn}[/b]{why}\n"
            f"[$text-muted]Completions are sent with the fully qualified name; the internal "
            f"name never changes once the event exists.[/]"
        )
        self.query_one("#label-error", Static).update(
            "\n".join(escape(v.message) for v in problems) if show_errors else ""
        )

    # -- step 2 ----------------------------------------------------------------------------

    def _show_properties(self) -> None:
        table = self.query_one("#custom-table", DataTable)
        fill_property_table(table, self.properties)
        count = len(self.properties)
        self.query_one("#custom-title", Static).update(
            f"Custom properties ({count} of {MAX_CUSTOM_PROPERTIES})"
        )
        empty = self.query_one("#custom-empty", Static)
        empty.update("No custom properties yet. Press p to create one.")
        empty.display = count == 0
        self._snippet_refresh()

    def _taken(self, but: str | None = None) -> set[str]:
        return {p.name for p in self.properties if p.name != but}

    def action_create_property(self) -> None:
        if self.step != 1:
            return
        too_many = check_custom_property_count(len(self.properties) + 1)
        if too_many:
            message = too_many[0].message
            self.query_one("#properties-error", Static).update(escape(message))
            self.notify(escape(message), severity="error", title="Properties")
            return

        create_property(self.app, self._taken(), self._added)

    def _added(self, prop: PropertyDefinition | None) -> None:
        if prop is None:
            return
        problems = validate_properties([*self.properties, prop])
        if problems:
            self.query_one("#properties-error", Static).update(escape(problems[0].message))
            return
        self.properties.append(prop)
        self.query_one("#properties-error", Static).update("")
        self._show_properties()
        table = self.query_one("#custom-table", DataTable)
        table.move_cursor(row=len(self.properties) - 1)
        table.focus()

    def _selected_property(self) -> PropertyDefinition | None:
        name = selected_key(self.query_one("#custom-table", DataTable))
        return next((p for p in self.properties if p.name == name), None)

    def action_property_actions(self) -> None:
        prop = self._selected_property()
        if self.step != 1 or prop is None:
            return

        ask_property_action(self.app, prop, self.action_edit_property, self.action_delete_property)

    def action_edit_property(self) -> None:
        prop = self._selected_property()
        if self.step != 1 or prop is None:
            return

        def edited(updated: PropertyDefinition | None) -> None:
            if updated is not None:
                self.properties = [updated if p.name == prop.name else p for p in self.properties]
                self._show_properties()

        self.app.push_screen(PropertyPanel(prop.type, self._taken(prop.name), prop), edited)

    def action_delete_property(self) -> None:
        prop = self._selected_property()
        if self.step != 1 or prop is None:
            return
        self.properties = [p for p in self.properties if p.name != prop.name]
        self._show_properties()
        self.notify(f"Removed {escape(prop.label)} ({prop.name}).", title="Properties")

    def action_fold_defaults(self) -> None:
        if self.step == 1:
            defaults = self.query_one("#defaults", Collapsible)
            defaults.collapsed = not defaults.collapsed

    @on(DataTable.RowSelected, "#custom-table")
    def _property_chosen(self) -> None:
        self.action_property_actions()

    # -- step 3 ----------------------------------------------------------------------------

    @on(RadioSet.Changed, "#tracking-choice")
    def _tracking_changed(self) -> None:
        switcher = self.query_one("#step-tracking ContentSwitcher", ContentSwitcher)
        switcher.current = f"tracking-{self.tracking.value.lower()}"
        self.refresh_bindings()

    @property
    def trigger(self) -> SnippetTrigger:
        """The snippet's trigger as chosen: an empty target means the suggested one."""
        kind = self.query_one("#trigger-kind", Select).value
        if not isinstance(kind, SnippetTriggerKind):
            kind = SnippetTriggerKind.CLICK
        target = self.query_one("#trigger-target", Input).value.strip()
        return SnippetTrigger(kind, target) if target else default_trigger(self.preview(), kind)

    @on(Select.Changed, "#trigger-kind")
    @on(Input.Changed, "#trigger-target")
    def _trigger_changed(self) -> None:
        if self.step == 2:
            self._snippet_refresh()

    def _snippet_refresh(self) -> None:
        """Regenerate the snippet unless the user has edited it."""
        editor = self.query_one("#snippet", TextArea)
        trigger = self.trigger
        self.query_one("#trigger-target", Input).placeholder = default_trigger(
            self.preview(), trigger.kind
        ).target
        generated = triggered_snippet(self.preview(), trigger)
        if self._snippet_generated is None or editor.text == self._snippet_generated:
            editor.load_text(generated)
        self._snippet_generated = generated
        preview = self.preview()
        examples = api_examples(preview, self.cbe.api_url)
        for name, code in examples.items():
            self.query_one(f"#example-{name.lower()}", TextArea).load_text(code)
        self.query_one("#tracking-id", Static).update(
            f"Tracking ID (the eventName to send): [b]{escape(tracking_id(preview))}[/b]   "
            "[$text-muted]y copies the example shown · properties: "
            + escape(", ".join(p.name for p in self.properties) or "none yet")
            + "[/]"
        )

    def action_copy(self) -> None:
        if self.step != 2:
            return
        if self.tracking is TrackingMethod.JAVASCRIPT:
            text, what = self.query_one("#snippet", TextArea).text, "the snippet"
        else:
            active = self.query_one("#examples", TabbedContent).active.removeprefix("tab-")
            text, what = (
                self.query_one(f"#example-{active}", TextArea).text,
                f"the {active} example",
            )
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {what} to the clipboard.", title="Copied")

    # -- navigation -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"create_property", "edit_property", "delete_property", "fold_defaults"}:
            return self.step == 1
        if action == "property_actions":
            return self.step == 1
        if action == "copy":
            return self.step == 2
        if action == "back":
            return self.step > 0 or None
        return True

    def _go(self, step: int) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = STEP_IDS[step]
        self.query_one(StepIndicator).current = step
        self.query_one("#back", Button).disabled = step == 0
        self.query_one("#next", Button).display = step < 2
        self.query_one("#create", Button).display = step == 2
        focus = {0: "#label", 1: "#custom-table", 2: "#tracking-choice"}[step]
        self.query_one(focus).focus()
        if step == 2:
            self._snippet_refresh()
        self.refresh_bindings()

    def _step_violations(self, step: int) -> list[Violation]:
        if step == 0:
            return self._name_check()[1]
        if step == 1:
            return validate_properties(self.properties)
        return []

    def action_next(self) -> None:
        problems = self._step_violations(self.step)
        if problems:
            if self.step == 0:
                self._show_names(show_errors=True)
                self.query_one("#label", Input).focus()
            else:
                self.query_one("#properties-error", Static).update(escape(problems[0].message))
            return
        if self.step < 2:
            self._go(self.step + 1)
        else:
            self.create()

    def action_back(self) -> None:
        if self.step > 0:
            self._go(self.step - 1)

    def unsaved_work(self) -> str | None:
        if self._created:
            return None
        snippet = self.query_one("#snippet", TextArea).text
        edited = self._snippet_generated is not None and snippet != self._snippet_generated
        if not (self.label or self.description.strip() or self.properties or edited):
            return None
        return "The event has not been created; what you typed in the wizard will be lost."

    def action_cancel(self) -> None:
        if self.unsaved_work() is None:
            self.dismiss()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss()

        self.app.push_screen(
            ConfirmDialog(
                "Discard this event?",
                "The event has not been created; what you typed in the wizard will be lost.",
                confirm="Discard",
            ),
            answered,
        )

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        handlers = {
            "cancel": self.action_cancel,
            "back": self.action_back,
            "next": self.action_next,
            "create": self.action_next,
        }
        if event.button.id in handlers:
            handlers[event.button.id]()

    # -- create ----------------------------------------------------------------------------

    def draft(self) -> dict[str, Any]:
        """The create body for core, as the API would receive it."""
        body: dict[str, Any] = {
            "label": self.label,
            "description": self.description,
            "primaryObject": self.primary_object.value,
            "propertyDefinitions": [
                {
                    "name": p.name,
                    "label": p.label,
                    "type": p.type.value,
                    "description": p.description,
                    "options": [o.to_json() for o in p.options],
                }
                for p in self.properties
            ],
            "trackingMethod": self.tracking.value,
        }
        if self.tracking is TrackingMethod.JAVASCRIPT:
            body["snippet"] = self.query_one("#snippet", TextArea).text
        return body

    @work(thread=True, exclusive=True, group="create-event")
    def create(self) -> None:
        try:
            definition = self.services.definitions.create(self.draft())
        except ValidationFailed as failed:
            message = "\n".join(escape(str(v)) for v in failed.violations)
            self.app.call_from_thread(self._create_failed, message)
            return
        except CbeError as error:
            self.app.call_from_thread(self._create_failed, escape(str(error)))
            return
        self.app.call_from_thread(self._created_event, definition)

    def _create_failed(self, message: str) -> None:
        self.query_one("#create-error", Static).update(message)
        self.notify("The event was not created; see the message above.", severity="error")

    def _created_event(self, definition: EventDefinition) -> None:
        from tui.screens.event_detail import EventDetailScreen

        self._created = True
        message = f"Created {escape(definition.label)} ({definition.fully_qualified_name})."
        severity: SeverityLevel = "information"
        if definition.tracking_method is TrackingMethod.JAVASCRIPT:
            # What the snippet does as it stands, edits included: the page runs it as saved.
            behaviour = describe_snippet(definition.snippet or "")
            message += f" On a page with /tracking.js, its snippet {escape(behaviour.description)}."
            if behaviour.on_every_page_load or not behaviour.sends:
                severity = "warning"
        self.notify(message, title="Event", severity=severity, timeout=12)
        self.app.switch_screen(EventDetailScreen(definition.name))
