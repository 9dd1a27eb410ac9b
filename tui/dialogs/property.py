"""Creating and editing a custom property: the field type, the side panel, the options.

As in HubSpot's wizard: "Create property" asks for the field type, then a panel on the right
takes the name and description; an enumeration has a further step for its labels and values.
Every rule comes from core and is shown with core's own message.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    ContentSwitcher,
    DataTable,
    Input,
    OptionList,
    Static,
)
from textual.widgets.option_list import Option

from core.defaults import DEFAULT_PROPERTY_NAMES
from core.definitions import OptionDraft, PropertyDraft, build_options, build_property
from core.errors import Violation
from core.models import EnumerationOption, PropertyDefinition, PropertyType
from core.rules import (
    MAX_PROPERTY_LABEL_LENGTH,
    check_label,
    check_options,
    generate_name,
)
from tui.dialogs.focus import FirstFieldFocused
from tui.formatting import editable, escape, plain

TYPE_CHOICES: tuple[tuple[PropertyType, str], ...] = (
    (PropertyType.STRING, "plain text"),
    (PropertyType.NUMBER, "a numeric value"),
    (PropertyType.DATETIME, "a date: epoch milliseconds or ISO 8601"),
    (PropertyType.ENUMERATION, "one or more of a set of predefined values"),
)


def _messages(violations: list[Violation]) -> str:
    """Core's messages for a Static (they quote what the user typed: never markup)."""
    return "\n".join(escape(v.message) for v in violations)


class PropertyTypeDialog(FirstFieldFocused, ModalScreen[PropertyType | None]):
    """The first question of "Create property": which field type."""

    DEFAULT_CSS = """
    PropertyTypeDialog { align: center middle; }
    PropertyTypeDialog > Vertical {
        width: 72; height: auto; padding: 1 2;
        border: thick $primary 60%; background: $surface;
    }
    PropertyTypeDialog OptionList { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Create property[/b]: choose the field type")
            yield OptionList(
                *(Option(f"{t.label:<12} {text}", id=t.value) for t, text in TYPE_CHOICES),
                id="types",
            )

    @on(OptionList.OptionSelected, "#types")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.dismiss(PropertyType(event.option.id))


class PropertyPanel(ModalScreen[PropertyDefinition | None]):
    """The side panel: name and description, then (enumerations) labels and values."""

    DEFAULT_CSS = """
    PropertyPanel { align: right top; }
    PropertyPanel > Vertical {
        width: 64; height: 100%; padding: 1 2;
        border-left: thick $primary; background: $surface;
    }
    PropertyPanel .panel-title { text-style: bold; }
    PropertyPanel ContentSwitcher { height: 1fr; }
    PropertyPanel #options { height: 1fr; min-height: 5; margin-top: 1; }
    PropertyPanel .option-inputs { height: auto; }
    PropertyPanel .option-inputs Input { width: 1fr; }
    PropertyPanel .panel-buttons { height: 3; align-horizontal: right; }
    PropertyPanel .panel-buttons Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "done", "Done"),
        Binding("ctrl+n", "next", "Next: options", show=False),
        Binding("ctrl+b", "back", "Back", show=False),
        Binding("delete,ctrl+x", "remove_option", "Remove option", show=False),
        Binding("shift+up", "move_option(-1)", "Move up", show=False),
        Binding("shift+down", "move_option(1)", "Move down", show=False),
    ]

    def __init__(
        self,
        type_: PropertyType,
        taken: Collection[str],
        existing: PropertyDefinition | None = None,
    ) -> None:
        super().__init__()
        self.type_ = type_
        self.taken = set(taken)
        self.existing = existing
        self.options: list[EnumerationOption] = list(existing.options) if existing else []
        self._value_edited = False

    @property
    def is_enumeration(self) -> bool:
        return self.type_ is PropertyType.ENUMERATION

    def compose(self) -> ComposeResult:
        verb = "Edit" if self.existing else "Create"
        with Vertical():
            yield Static(f"{verb} {self.type_.label.lower()} property", classes="panel-title")
            with ContentSwitcher(initial="details"):
                with Vertical(id="details"):
                    yield Static("Name", classes="field-label")
                    yield Input(
                        editable(self.existing.label) if self.existing else "",
                        placeholder="e.g. Condition",
                        max_length=200,
                        id="prop-label",
                        # editing a name: the cursor at its end, not all of it selected
                        # (a first key typed would replace it)
                        select_on_focus=False,
                    )
                    yield Static("", id="prop-label-error", classes="error")
                    yield Static("Description", classes="field-label")
                    yield Input(
                        editable(self.existing.description) if self.existing else "",
                        placeholder="What this property holds (optional)",
                        id="prop-description",
                        select_on_focus=False,
                    )
                    yield Static("", id="prop-name", classes="names")
                with Vertical(id="options-step"):
                    yield Static(
                        "Labels and values. Send the value; several values are separated "
                        "by ';'. Set them up before data is sent: values not in this list are "
                        "kept but not usable in filters and reports.",
                        classes="field-hint",
                    )
                    yield DataTable(cursor_type="row", id="options")
                    with Horizontal(classes="option-inputs"):
                        yield Input(placeholder="Label", id="opt-label")
                        yield Input(placeholder="Value", id="opt-value")
                    yield Static(
                        "enter adds · delete removes · shift+↑/↓ reorders", classes="field-hint"
                    )
                    yield Static("", id="options-error", classes="error")
            with Horizontal(classes="panel-buttons"):
                yield Button("Cancel", id="cancel")
                if self.is_enumeration:
                    yield Button("Back", id="back")
                    yield Button("Next: options (ctrl+n)", id="next", variant="primary")
                yield Button("Done (ctrl+s)", id="done", variant="success")

    def on_mount(self) -> None:
        table = self.query_one("#options", DataTable)
        table.add_column("Label", key="label")
        table.add_column("Value", key="value")
        self._fill_options()
        self._show_step("details")
        self._preview()
        self.query_one("#prop-label", Input).focus()

    # -- steps -------------------------------------------------------------------------

    def _show_step(self, step: str) -> None:
        self.query_one(ContentSwitcher).current = step
        if self.is_enumeration:
            self.query_one("#back", Button).display = step == "options-step"
            self.query_one("#next", Button).display = step == "details"
        self.query_one("#done", Button).display = step == "options-step" or not self.is_enumeration

    def action_next(self) -> None:
        if not self.is_enumeration or self._details_violations():
            self._preview(show_errors=True)
            return
        self._show_step("options-step")
        self.query_one("#opt-label", Input).focus()

    def action_back(self) -> None:
        if self.is_enumeration:
            self._show_step("details")
            self.query_one("#prop-label", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        actions = {
            "cancel": self.action_cancel,
            "next": self.action_next,
            "back": self.action_back,
            "done": self.action_done,
        }
        if event.button.id in actions:
            actions[event.button.id]()

    # -- details -----------------------------------------------------------------------

    def _label(self) -> str:
        return self.query_one("#prop-label", Input).value

    def _internal_name(self) -> str:
        if self.existing is not None:
            return self.existing.name
        return generate_name(self._label(), {*self.taken, *DEFAULT_PROPERTY_NAMES}, "property")

    def _details_violations(self) -> list[Violation]:
        return check_label(self._label(), MAX_PROPERTY_LABEL_LENGTH, "label")

    @on(Input.Changed, "#prop-label")
    def _label_changed(self) -> None:
        self._preview(show_errors=bool(self._label()))

    @on(Input.Submitted, "#prop-label")
    @on(Input.Submitted, "#prop-description")
    def _details_submitted(self) -> None:
        if self.is_enumeration:
            self.action_next()
        else:
            self.action_done()

    def _preview(self, show_errors: bool = False) -> None:
        label = self._label()
        name = self._internal_name() if label.strip() or self.existing else "…"
        kind = "stays" if self.existing else "will be"
        self.query_one("#prop-name", Static).update(
            f"Internal name ({kind}): [b]{name}[/b]\nField type: {self.type_.label}"
        )
        problems = self._details_violations() if show_errors else []
        self.query_one("#prop-label-error", Static).update(_messages(problems))

    # -- options -----------------------------------------------------------------------

    def _fill_options(self, cursor: int | None = None) -> None:
        table = self.query_one("#options", DataTable)
        table.clear()
        for i, option in enumerate(self.options):
            table.add_row(plain(option.label), plain(option.value), key=str(i))
        if cursor is not None and self.options:
            table.move_cursor(row=max(0, min(cursor, len(self.options) - 1)))

    @on(Input.Changed, "#opt-label")
    def _option_label_changed(self, event: Input.Changed) -> None:
        if not self._value_edited:
            value = self.query_one("#opt-value", Input)
            value.value = generate_name(event.value, set(), "option") if event.value else ""
            self._value_edited = False
        self._recheck_options()

    @on(Input.Changed, "#opt-value")
    def _option_value_changed(self, event: Input.Changed) -> None:
        label = self.query_one("#opt-label", Input).value
        auto = generate_name(label, set(), "option") if label else ""
        self._value_edited = event.value != auto
        self._recheck_options()

    def _recheck_options(self) -> None:
        """An options error on screen follows the fix: it goes once what it named is
        fixed (or says what is still wrong), instead of staying until the next enter."""
        error = self.query_one("#options-error", Static)
        if not str(error.render()).strip():
            return
        label = self.query_one("#opt-label", Input).value.strip()
        value = self.query_one("#opt-value", Input).value.strip()
        candidate = list(self.options)
        if label or value:
            candidate.append(EnumerationOption(label=label, value=value))
        problems = (
            check_options(PropertyType.ENUMERATION, candidate, "options") if candidate else []
        )
        error.update(_messages(problems))

    @on(Input.Submitted, "#opt-label")
    @on(Input.Submitted, "#opt-value")
    def _add_option(self) -> None:
        label_input = self.query_one("#opt-label", Input)
        value_input = self.query_one("#opt-value", Input)
        label, value = label_input.value.strip(), value_input.value.strip()
        if not label and not value:
            return
        candidate = [*self.options, EnumerationOption(label=label, value=value)]
        problems = check_options(PropertyType.ENUMERATION, candidate, "options")
        last = f"options[{len(candidate) - 1}]"
        mine = [v for v in problems if v.field.startswith(last)]
        if mine:
            self.query_one("#options-error", Static).update(_messages(mine))
            return
        self.options = candidate
        self._renumber()
        self._fill_options(cursor=len(self.options) - 1)
        label_input.value = ""
        value_input.value = ""
        self._value_edited = False
        self.query_one("#options-error", Static).update("")
        label_input.focus()

    def _renumber(self) -> None:
        self.options = [
            o.model_copy(update={"display_order": i}) for i, o in enumerate(self.options)
        ]

    def _cursor(self) -> int | None:
        table = self.query_one("#options", DataTable)
        if not self.options or not table.has_focus:
            return None
        return table.cursor_row

    def action_remove_option(self) -> None:
        row = self._cursor()
        if row is None:
            return
        del self.options[row]
        self._renumber()
        self._fill_options(cursor=row)
        self._recheck_options()

    def action_move_option(self, step: int) -> None:
        row = self._cursor()
        if row is None or not 0 <= row + step < len(self.options):
            return
        self.options[row], self.options[row + step] = self.options[row + step], self.options[row]
        self._renumber()
        self._fill_options(cursor=row + step)

    # -- done --------------------------------------------------------------------------

    def action_done(self) -> None:
        if self.is_enumeration and self.query_one(ContentSwitcher).current == "details":
            self.action_next()
            return
        label = self._label()
        description = self.query_one("#prop-description", Input).value
        drafts = [
            OptionDraft(
                label=o.label, value=o.value, display_order=o.display_order, hidden=o.hidden
            )
            for o in self.options
        ]
        if self.existing is not None:
            problems = check_label(label, MAX_PROPERTY_LABEL_LENGTH, "label")
            options = build_options(drafts)
            problems += check_options(self.type_, options, "options")
            prop: PropertyDefinition | None = self.existing.model_copy(
                update={"label": label.strip(), "description": description, "options": options}
            )
        else:
            draft = PropertyDraft(
                label=label, type=self.type_, description=description, options=drafts
            )
            prop, problems = build_property(draft, self.taken)
        if problems:
            details = [v for v in problems if not v.field.startswith("options")]
            options_problems = [v for v in problems if v.field.startswith("options")]
            self.query_one("#prop-label-error", Static).update(_messages(details))
            self.query_one("#options-error", Static).update(_messages(options_problems))
            if details and self.is_enumeration:
                self.action_back()
            return
        self.dismiss(prop)


class ActionsMenu(FirstFieldFocused, ModalScreen[str | None]):
    """The "Actions" dropdown of a property row: Edit or Delete."""

    DEFAULT_CSS = """
    ActionsMenu { align: center middle; }
    ActionsMenu > Vertical {
        width: 40; height: auto; padding: 1 2;
        border: thick $primary 60%; background: $surface;
    }
    ActionsMenu OptionList { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, subject: str) -> None:
        super().__init__()
        self.subject = subject

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Actions: [b]{escape(self.subject)}[/b]")
            yield OptionList(Option("Edit", id="edit"), Option("Delete", id="delete"), id="actions")

    @on(OptionList.OptionSelected, "#actions")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


def ask_property_action(
    app: App[Any], prop: PropertyDefinition, edit: Callable[[], None], delete: Callable[[], None]
) -> None:
    """Open a property's actions menu and run the action chosen."""

    def chosen(action: str | None) -> None:
        if action == "edit":
            edit()
        elif action == "delete":
            delete()

    app.push_screen(ActionsMenu(prop.label), chosen)


def create_property(
    app: App[Any], taken: Collection[str], done: Callable[[PropertyDefinition | None], None]
) -> None:
    """HubSpot's "Create property": the field type, then the side panel."""

    def chosen(type_: PropertyType | None) -> None:
        if type_ is not None:
            app.push_screen(PropertyPanel(type_, taken), done)

    app.push_screen(PropertyTypeDialog(), chosen)
