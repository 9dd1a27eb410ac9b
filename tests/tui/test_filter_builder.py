"""The filter line of the delay editor and the event report: value fields fit the operator."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, Select

from core.filters import Operator, PropertyFilter
from core.models import PropertyDefinition, PropertyType
from tui.widgets.filter_builder import FilterBuilder


class _Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.applied: list[PropertyFilter] = []

    def compose(self) -> ComposeResult:
        yield FilterBuilder()

    def on_mount(self) -> None:
        self.query_one(FilterBuilder).set_properties(
            [PropertyDefinition(name="price", label="Price", type=PropertyType.NUMBER)]
        )

    def on_filter_builder_applied(self, message: FilterBuilder.Applied) -> None:
        self.applied.append(message.filter)


def _fields(app: _Host) -> list[str]:
    """The value fields shown, by their placeholders."""
    inputs = [app.query_one("#filter-value", Input), app.query_one("#filter-value-2", Input)]
    return [str(field.placeholder) for field in inputs if field.display]


async def test_value_fields_follow_the_operator() -> None:
    app = _Host()
    async with app.run_test(size=(100, 20)) as pilot:
        assert _fields(app) == ["Value"]  # nothing chosen yet
        app.query_one("#filter-property", Select).value = "price"
        await pilot.pause()
        operator = app.query_one("#filter-operator", Select)
        shown = {}
        for choice in (
            Operator.IS_EQUAL_TO,
            Operator.IS_GREATER_THAN,
            Operator.IS_BETWEEN,
            Operator.IS_KNOWN,
        ):
            operator.value = choice.value
            await pilot.pause()
            shown[choice] = _fields(app)
        assert shown == {
            Operator.IS_EQUAL_TO: ["Values, separated by commas"],
            Operator.IS_GREATER_THAN: ["Value"],
            Operator.IS_BETWEEN: ["From", "To"],
            Operator.IS_KNOWN: [],
        }


async def test_hidden_value_fields_do_not_count() -> None:
    app = _Host()
    async with app.run_test(size=(100, 20)) as pilot:
        app.query_one("#filter-property", Select).value = "price"
        await pilot.pause()
        app.query_one("#filter-operator", Select).value = Operator.IS_BETWEEN.value
        await pilot.pause()
        app.query_one("#filter-value", Input).value = "10"
        app.query_one("#filter-value-2", Input).value = "20"
        app.query_one(FilterBuilder).apply()
        await pilot.pause()
        # typed, then the operator changed to one without values before applying
        app.query_one("#filter-value", Input).value = "99"
        app.query_one("#filter-operator", Select).value = Operator.IS_KNOWN.value
        await pilot.pause()
        app.query_one(FilterBuilder).apply()
        await pilot.pause()
    assert [(f.operator, f.values) for f in app.applied] == [
        (Operator.IS_BETWEEN, ["10", "20"]),
        (Operator.IS_KNOWN, []),
    ]
