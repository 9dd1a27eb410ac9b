"""One filter line to build: property, HubSpot's operator for its type, value(s), "Apply filter".

Used by the workflow delay editor and by the event report; the rules come from core.filters.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Select, Static

from core.filters import OPERATORS, Operator, PropertyFilter, check_filter, value_count
from core.models import PropertyDefinition, PropertyType
from tui.formatting import escape


class FilterBuilder(Vertical):
    """Posts :class:`FilterBuilder.Applied` with a checked filter."""

    DEFAULT_CSS = """
    FilterBuilder { height: auto; }
    FilterBuilder .row { height: auto; }
    FilterBuilder .row Input { width: 1fr; }
    FilterBuilder #apply-filter { width: auto; }
    FilterBuilder #value-hint { color: $text-muted; }
    """

    class Applied(Message):
        def __init__(self, builder: FilterBuilder, applied: PropertyFilter) -> None:
            super().__init__()
            self.builder = builder
            self.filter = applied

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.props: dict[str, PropertyDefinition] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Select([], prompt="Property", id="filter-property")
            yield Select([], prompt="Filter", id="filter-operator")
        with Horizontal(classes="row"):
            yield Input(placeholder="Value", id="filter-value")
            second = Input(placeholder="To", id="filter-value-2")
            second.display = False
            yield second
            yield Button("Apply filter (ctrl+f)", id="apply-filter")
        yield Static("", id="value-hint")
        yield Static("", id="filter-error", classes="error")

    def set_properties(self, props: list[PropertyDefinition]) -> None:
        """Offer these properties (custom ones first, as the caller orders them)."""
        self.props = {p.name: p for p in props}
        self.query_one("#filter-property", Select).set_options(
            [(escape(p.label), p.name) for p in props]
        )

    @on(Select.Changed, "#filter-property")
    def _property_chosen(self) -> None:
        prop = self.props.get(str(self.query_one("#filter-property", Select).value))
        operators = OPERATORS[prop.type] if prop else ()
        self.query_one("#filter-operator", Select).set_options(
            [(o.label, o.value) for o in operators]
        )
        hint = ""
        if prop is not None and prop.options:
            hint = "Values: " + ", ".join(f"{o.value} ({o.label})" for o in prop.options[:12])
        elif prop is not None and prop.type is PropertyType.DATETIME:
            hint = "Dates as YYYY-MM-DD or ISO 8601 with Z."
        self.query_one("#value-hint", Static).update(escape(hint))
        self._operator_chosen()

    @on(Select.Changed, "#filter-operator")
    def _operator_chosen(self) -> None:
        """Offer as many value fields as the operator takes, saying what goes in each."""
        operator = self.query_one("#filter-operator", Select).value
        count = value_count(Operator(operator)) if isinstance(operator, str) else 1
        first = self.query_one("#filter-value", Input)
        second = self.query_one("#filter-value-2", Input)
        first.display = count != 0
        second.display = count == 2
        if count is None:
            first.placeholder = "Values, separated by commas"
        else:
            first.placeholder = "From" if count == 2 else "Value"

    def apply(self) -> None:
        """Check the filter typed so far; post it, or show why not."""
        prop_name = self.query_one("#filter-property", Select).value
        operator = self.query_one("#filter-operator", Select).value
        error = self.query_one("#filter-error", Static)
        if not isinstance(prop_name, str) or not isinstance(operator, str):
            error.update("Choose a property and a filter.")
            return
        first = self.query_one("#filter-value", Input).value
        second = self.query_one("#filter-value-2", Input).value
        op = Operator(operator)
        count = value_count(op)
        if count == 0:  # the value fields are hidden: what they held does not count
            values = []
        elif count == 2:
            values = [first.strip(), second.strip()]
        else:
            values = [v.strip() for v in first.split(",") if v.strip()]
        candidate = PropertyFilter(property=prop_name, operator=op, values=values)
        problems = check_filter(candidate, self.props.get(prop_name))
        if problems:
            error.update("\n".join(escape(v.message) for v in problems))
            return
        error.update("")
        self.query_one("#filter-value", Input).value = ""
        self.query_one("#filter-value-2", Input).value = ""
        self.post_message(self.Applied(self, candidate))

    @on(Button.Pressed, "#apply-filter")
    def _pressed(self) -> None:
        self.apply()
