"""An event's details: names, properties with their internal names, its code, its completions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widgets import (
    Collapsible,
    DataTable,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from core.codegen import api_examples, tracking_id
from core.defaults import DEFAULT_PROPERTIES
from core.errors import CbeError, NotFound, ValidationFailed
from core.models import EventDefinition, PropertyDefinition, PropertyType, TrackingMethod
from core.occurrences import CompletionQuery
from core.ports import EventSummary
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.edit_event import EditEventDialog
from tui.dialogs.property import PropertyPanel, ask_property_action, create_property
from tui.formatting import editable, escape, relative_time, selected_key
from tui.screens.base import CbeScreen
from tui.widgets.tables import fill_property_table

DAYS = 30


@dataclass(frozen=True)
class _Activity:
    summary: EventSummary | None
    per_day: list[int]


class EventDetailScreen(CbeScreen):
    """Everything about one event, and the edits HubSpot allows (the internal name stays)."""

    TITLE = "Event details"
    SECTION = "events"
    HELP = (
        "An event's names, properties and code. i shows the internal name of the selected "
        "property (what you send); the internal name of the event never changes."
    )
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("i", "internal_name", "Internal name"),
        Binding("l", "edit_event", "Edit event"),
        Binding("p", "create_property", "Add property"),
        Binding("e", "edit_property", "Edit", show=False),  # also in enter's actions menu
        Binding("d", "delete_property", "Delete", show=False),
        Binding("enter", "property_actions", "Property actions", show=False),
        Binding("ctrl+s", "save_snippet", "Save snippet"),
        Binding("r", "records", "Records"),
        Binding("v", "validate", "Validate"),
        Binding("t", "typed_code", "Typed code", show=False),
        Binding("c", "copy_name", "Copy fully qualified name", show=False),
        Binding("y", "copy_code", "Copy code", show=False),
        Binding("a", "archive", "Archive/restore", show=False),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.event_name = name
        self.definition: EventDefinition | None = None

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with VerticalScroll(classes="page", id="detail"):
            yield Static("", id="detail-title", classes="page-title")
            yield Static("", id="detail-description", classes="muted")
            yield Grid(id="facts", classes="facts")
            yield Static("Completions", classes="section-title")
            yield Static("", id="activity")
            yield Sparkline([], id="per-day", summary_function=max)
            yield Static("", id="custom-heading", classes="section-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="detail-custom")
            with Collapsible(
                title=f"HubSpot's default event properties ({len(DEFAULT_PROPERTIES)})",
                collapsed=True,
                id="detail-defaults-box",
            ):
                yield DataTable(cursor_type="row", zebra_stripes=True, id="detail-defaults")
            yield Static("", id="code-heading", classes="section-title")
            with Vertical(id="code"):
                yield TextArea.code_editor(
                    "",
                    language="javascript",
                    id="detail-snippet",
                    soft_wrap=False,
                    # Tab moves on (as in every other field) instead of typing spaces
                    # that ctrl+s would save; esc then reaches the screen (it asks first).
                    tab_behavior="focus",
                )
                with TabbedContent(id="detail-examples"):
                    for name in ("curl", "Python", "Node"):
                        with TabPane(name, id=f"detail-tab-{name.lower()}"):
                            yield TextArea(
                                "",
                                read_only=True,
                                id=f"detail-example-{name.lower()}",
                                classes="example",
                                language="javascript" if name == "Node" else None,
                            )
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        for table_id in ("#detail-custom", "#detail-defaults"):
            table = self.query_one(table_id, DataTable)
            table.add_column("Label", key="label")
            table.add_column("Internal name", key="name")
            table.add_column("Type", key="type")
            table.add_column("Details", key="details")
        fill_property_table(self.query_one("#detail-defaults", DataTable), list(DEFAULT_PROPERTIES))
        self.cbe.last_event = self.event_name
        self.load()
        self.query_one("#detail-custom", DataTable).focus()

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        try:
            self.definition = self.services.definitions.get(self.event_name)
        except NotFound:
            self.notify(f"The event {self.event_name} no longer exists.", severity="error")
            self.dismiss()
            return
        self._show()
        self.load_activity()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save_snippet":
            # Only a JavaScript event has a snippet: an API event's footer offers no save.
            d = self.definition
            return d is not None and d.tracking_method is TrackingMethod.JAVASCRIPT
        return True

    def _show(self) -> None:
        d = self.definition
        assert d is not None
        self.refresh_bindings()  # the footer follows the event's tracking method
        state = "  [$warning](archived: receives no completions)[/]" if d.archived else ""
        self.query_one("#detail-title", Static).update(f"{escape(d.label)}{state}")
        self.query_one("#detail-description", Static).update(
            escape(d.description) or "No description."
        )
        facts = self.query_one("#facts", Grid)
        facts.remove_children()
        rows = [
            ("Internal name", d.name),
            ("Fully qualified name", d.fully_qualified_name),
            ("Associated object", d.primary_object.label),
            ("Tracking", d.tracking_method.label),
            ("Created", d.created_at.strftime("%b %d, %Y %H:%M UTC")),
            ("Updated", d.updated_at.strftime("%b %d, %Y %H:%M UTC")),
        ]
        for key, value in rows:
            facts.mount(Static(key, classes="key"), Static(escape(value)))
        custom = self.query_one("#detail-custom", DataTable)
        selected = selected_key(custom)
        fill_property_table(custom, d.properties)
        if selected and selected in {p.name for p in d.properties}:
            custom.move_cursor(row=custom.get_row_index(selected))
        self.query_one("#custom-heading", Static).update(
            f"Custom properties ({len(d.properties)})"
            + ("" if d.properties else "  [$text-muted]none: press p to add one[/]")
        )
        javascript = d.tracking_method is TrackingMethod.JAVASCRIPT
        self.query_one("#code-heading", Static).update(
            "JavaScript snippet  [$text-muted]edit here, ctrl+s saves; /tracking.js carries it[/]"
            if javascript
            else f"Send data via the API  [$text-muted]tracking ID (eventName): [/]"
            f"[b]{escape(tracking_id(d))}[/b]"
        )
        snippet = self.query_one("#detail-snippet", TextArea)
        snippet.display = javascript
        code = editable(d.snippet or "")
        if javascript and snippet.text != code:
            snippet.load_text(code)
        examples = self.query_one("#detail-examples", TabbedContent)
        examples.display = not javascript
        for name, code in api_examples(d, self.cbe.api_url).items():
            self.query_one(f"#detail-example-{name.lower()}", TextArea).load_text(code)

    @work(thread=True, exclusive=True, group="event-activity")
    def load_activity(self) -> None:
        d = self.definition
        if d is None:
            return
        services = self.services
        summary = services.db.completions.summaries().get(d.fully_qualified_name)
        now = services.clock.now()
        start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        per_day = [0] * DAYS
        query = CompletionQuery(
            event_names=frozenset({d.fully_qualified_name}), occurred_after=start
        )
        for completion in services.occurrences.iterate(query):
            index = (completion.occurred_at - start).days
            if 0 <= index < DAYS:
                per_day[index] += 1
        self.from_worker(self._show_activity, _Activity(summary, per_day))

    def _show_activity(self, activity: _Activity) -> None:
        now = self.services.clock.now()
        summary = activity.summary
        if summary is None:
            text = "No completions yet."
        else:
            text = (
                f"[b]{summary.count:,}[/b] completion{'s' if summary.count != 1 else ''} · "
                f"last {relative_time(summary.last_occurred_at, now)} · "
                f"[b]{sum(activity.per_day):,}[/b] in the last {DAYS} days (per day below)"
            )
        self.query_one("#activity", Static).update(text)
        self.query_one("#per-day", Sparkline).data = activity.per_day

    # -- properties ------------------------------------------------------------------------

    def _selected_property(self) -> PropertyDefinition | None:
        if self.definition is None:
            return None
        name = selected_key(self.query_one("#detail-custom", DataTable))
        return self.definition.custom_property(name) if name else None

    def action_internal_name(self) -> None:
        table = self.query_one("#detail-defaults", DataTable)
        name = selected_key(table) if table.has_focus else None
        prop = self._selected_property() if name is None else None
        name = name or (prop.name if prop else None)
        if name is None:
            self.notify("Select a property first.", severity="warning")
            return
        self.app.copy_to_clipboard(name)
        self.notify(f"Internal name: [b]{name}[/b] (copied)", title="Property")

    def action_property_actions(self) -> None:
        prop = self._selected_property()
        if prop is None or not self.query_one("#detail-custom", DataTable).has_focus:
            return

        ask_property_action(self.app, prop, self.action_edit_property, self.action_delete_property)

    @on(DataTable.RowSelected, "#detail-custom")
    def _row_chosen(self) -> None:
        self.action_property_actions()

    def action_create_property(self) -> None:
        d = self.definition
        if d is None:
            return

        def added(prop: PropertyDefinition | None) -> None:
            if prop is None:
                return
            body = {
                "name": prop.name,
                "label": prop.label,
                "type": prop.type.value,
                "description": prop.description,
                "options": [o.to_json() for o in prop.options],
            }
            self._apply(lambda: self.services.definitions.add_property(d.name, body), "Added")

        create_property(self.app, {p.name for p in d.properties}, added)

    def action_edit_property(self) -> None:
        d, prop = self.definition, self._selected_property()
        if d is None or prop is None:
            return

        def edited(updated: PropertyDefinition | None) -> None:
            if updated is None:
                return
            body = {
                "label": updated.label,
                "description": updated.description,
                "options": [o.to_json() for o in updated.options]
                if updated.type is PropertyType.ENUMERATION
                else None,
            }
            self._apply(
                lambda: self.services.definitions.update_property(d.name, prop.name, body),
                "Saved",
            )

        taken = {p.name for p in d.properties if p.name != prop.name}
        self.app.push_screen(PropertyPanel(prop.type, taken, prop), edited)

    def action_delete_property(self) -> None:
        d, prop = self.definition, self._selected_property()
        if d is None or prop is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply(
                    lambda: self.services.definitions.delete_property(d.name, prop.name),
                    "Deleted",
                )

        self.app.push_screen(
            ConfirmDialog(
                "Delete property?",
                f"Deleting {escape(prop.label)} ({prop.name}) stops future completions from "
                "using it; completions already stored keep their values.",
            ),
            answered,
        )

    def _apply(self, change: object, verb: str) -> None:
        try:
            result = change()  # type: ignore[operator]
        except ValidationFailed as failed:
            self.notify(
                "\n".join(escape(v.message) for v in failed.violations),
                severity="error",
                title="Not saved",
            )
            return
        except CbeError as error:
            self.notify(escape(str(error)), severity="error", title="Not saved")
            return
        label = getattr(result, "label", None)
        self.notify(f"{verb}{' ' + escape(label) if label else ''}.", title="Event")
        self.load()

    # -- event -----------------------------------------------------------------------------

    def action_edit_event(self) -> None:
        d = self.definition
        if d is None:
            return

        def edited(result: tuple[str, str] | None) -> None:
            if result is not None:
                label, description = result
                self._apply(
                    lambda: self.services.definitions.update(
                        d.name, label=label, description=description
                    ),
                    "Saved",
                )

        self.app.push_screen(EditEventDialog(d.label, d.description), edited)

    def action_save_snippet(self) -> None:
        d = self.definition
        if d is None or d.tracking_method is not TrackingMethod.JAVASCRIPT:
            return
        text = self.query_one("#detail-snippet", TextArea).text
        self._apply(
            lambda: self.services.definitions.update(d.name, snippet=text), "Saved snippet of"
        )

    def action_copy_name(self) -> None:
        if self.definition is not None:
            self.app.copy_to_clipboard(self.definition.fully_qualified_name)
            self.notify(
                f"Copied {self.definition.fully_qualified_name} to the clipboard.", title="Copied"
            )

    def action_copy_code(self) -> None:
        d = self.definition
        if d is None:
            return
        if d.tracking_method is TrackingMethod.JAVASCRIPT:
            text, what = self.query_one("#detail-snippet", TextArea).text, "the snippet"
        else:
            active = self.query_one("#detail-examples", TabbedContent).active
            name = active.removeprefix("detail-tab-")
            text = self.query_one(f"#detail-example-{name}", TextArea).text
            what = f"the {name} example"
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {what} to the clipboard.", title="Copied")

    def action_archive(self) -> None:
        d = self.definition
        if d is None:
            return
        verb = "Restored" if d.archived else "Archived"
        self._apply(lambda: self.services.definitions.archive(d.name, not d.archived), verb)

    def action_records(self) -> None:
        """The records that completed this event."""
        from tui.screens.records import RecordsScreen

        if self.definition is not None:
            d = self.definition
            self.app.push_screen(RecordsScreen(d.fully_qualified_name, d.label))

    def action_validate(self) -> None:
        """Try a send body against this event's rules (POST /cbe/v1/validate)."""
        from tui.dialogs.validate import ValidateDialog

        if self.definition is not None:
            self.app.push_screen(ValidateDialog(self.services, self.definition))

    def action_typed_code(self) -> None:
        """This event as a typed TypeScript and Python function (cbe codegen)."""
        from tui.dialogs.typed_code import TypedCodeDialog

        if self.definition is not None:
            self.app.push_screen(TypedCodeDialog(self.definition))

    def unsaved_work(self) -> str | None:
        d = self.definition
        if d is None or d.tracking_method is not TrackingMethod.JAVASCRIPT:
            return None
        if self.query_one("#detail-snippet", TextArea).text == editable(d.snippet or ""):
            return None
        return f"The snippet of {d.label} was edited and not saved (ctrl+s saves it)."

    def action_back(self) -> None:
        lost = self.unsaved_work()
        if lost is None:
            self.dismiss()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss()

        self.app.push_screen(
            ConfirmDialog("Discard the snippet edits?", escape(lost), confirm="Discard"), answered
        )
