"""Walk the event wizard by keyboard, as a developer would, and check what was stored."""

from __future__ import annotations

from textual.widgets import Input, Static, TextArea

from core.models import ObjectType, PropertyDefinition, PropertyType, TrackingMethod
from core.services import Services
from tests.conftest import PORTAL_ID
from tests.tui.conftest import SIZE, make_app, settle, type_text
from tui.screens.event_detail import EventDetailScreen
from tui.screens.wizard import CreateEventScreen


async def _name_step(pilot, label: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CreateEventScreen)
    await type_text(pilot, label)


async def _add_enumeration(pilot, label: str, options: list[str]) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("p")
    await pilot.press("down", "down", "down", "enter")  # Enumeration
    await type_text(pilot, label)
    await pilot.press("ctrl+n")
    for option in options:
        await type_text(pilot, option)
        await pilot.press("enter")
    await pilot.press("ctrl+s")
    await pilot.pause()


async def _add_simple(pilot, label: str, downs: int) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("p")
    await pilot.press(*(["down"] * downs), "enter")
    await type_text(pilot, label)
    await pilot.press("enter")
    await pilot.pause()


async def test_wizard_creates_a_javascript_event(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _name_step(pilot, "Viewed Car")
        names = str(app.screen.query_one("#names", Static).render())
        assert "viewed_car" in names and f"pe{PORTAL_ID}_viewed_car" in names
        await pilot.press("ctrl+n")
        await _add_enumeration(pilot, "Condition", ["New", "Used"])
        await _add_simple(pilot, "Year", downs=1)  # Number
        await _add_simple(pilot, "Listed at", downs=2)  # Timestamp
        await pilot.press("ctrl+n")  # to tracking; JavaScript is the default
        editor = app.screen.query_one("#snippet", TextArea)
        assert 'condition: "new"' in editor.text
        editor.focus()
        await pilot.press("ctrl+home")
        await type_text(pilot, "/* mine */")
        await pilot.press("ctrl+n")  # create
        await settle(pilot)
        assert isinstance(app.screen, EventDetailScreen)

    stored = fresh.definitions.get("viewed_car")
    assert stored.label == "Viewed Car"
    assert stored.primary_object is ObjectType.CONTACT
    assert stored.tracking_method is TrackingMethod.JAVASCRIPT
    assert [(p.name, p.type) for p in stored.properties] == [
        ("condition", PropertyType.ENUMERATION),
        ("year", PropertyType.NUMBER),
        ("listed_at", PropertyType.DATETIME),
    ]
    assert [(o.label, o.value) for o in stored.properties[0].options] == [
        ("New", "new"),
        ("Used", "used"),
    ]
    assert stored.snippet is not None
    assert stored.snippet.startswith("/* mine */")
    assert f'name: "pe{PORTAL_ID}_viewed_car"' in stored.snippet


async def test_wizard_creates_an_api_event_for_deals(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _name_step(pilot, "Signed contract")
        await pilot.press("tab")  # description
        await type_text(pilot, "Sales signed it")
        await pilot.press("tab", "enter")  # the object select opens
        await pilot.press("down", "down", "enter")  # Deals
        await pilot.press("ctrl+n")
        await _add_simple(pilot, "Seats", downs=1)
        await pilot.press("ctrl+n")
        await pilot.press("right", "enter")  # Send data via the API
        curl = app.screen.query_one("#example-curl", TextArea).text
        assert f'"eventName": "pe{PORTAL_ID}_signed_contract"' in curl
        assert '"objectId"' in curl
        await pilot.press("ctrl+n")
        await settle(pilot)

    stored = fresh.definitions.get("signed_contract")
    assert stored.primary_object is ObjectType.DEAL
    assert stored.description == "Sales signed it"
    assert stored.tracking_method is TrackingMethod.API
    assert stored.snippet is None
    assert [p.name for p in stored.properties] == ["seats"]


async def test_back_and_next_keep_what_was_typed(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _name_step(pilot, "Started trial")
        await pilot.press("ctrl+n")
        await _add_simple(pilot, "Plan", downs=0)
        await pilot.press("ctrl+b")
        assert app.screen.query_one("#label", Input).value == "Started trial"
        await pilot.press("ctrl+n")
        screen = app.screen
        assert isinstance(screen, CreateEventScreen)
        assert [p.name for p in screen.properties] == ["plan"]


async def test_step_one_refuses_a_taken_name_with_cores_message(fresh: Services) -> None:
    fresh.definitions.create({"label": "Viewed Car"})
    fresh.definitions.create({"label": "Gone"})
    fresh.definitions.delete("gone")
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _name_step(pilot, "Gone")
        await pilot.press("ctrl+n")
        screen = app.screen
        assert isinstance(screen, CreateEventScreen)
        # a generated name never collides: the wizard picks gone_2, so the step is valid
        assert screen.step == 1
        await pilot.press("ctrl+b")
        await pilot.press("ctrl+a", "ctrl+k")  # clear the field
        await pilot.press("ctrl+n")
        assert screen.step == 0
        error = str(screen.query_one("#label-error", Static).render())
        assert error == "A label is required."


async def test_the_fifty_first_property_is_refused(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _name_step(pilot, "Wide")
        await pilot.press("ctrl+n")
        screen = app.screen
        assert isinstance(screen, CreateEventScreen)
        screen.properties.extend(_number(f"p{i}") for i in range(50))
        screen._show_properties()
        await pilot.press("p")
        await pilot.pause()
        error = str(screen.query_one("#properties-error", Static).render())
        assert "at most 50 custom properties" in error
        assert isinstance(app.screen, CreateEventScreen)  # no type dialog opened


def _number(name: str) -> PropertyDefinition:
    return PropertyDefinition(name=name, label=name, type=PropertyType.NUMBER)


async def test_property_actions_edit_and_delete(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _name_step(pilot, "Viewed Car")
        await pilot.press("ctrl+n")
        await _add_simple(pilot, "Make", downs=0)
        await _add_simple(pilot, "Year", downs=1)
        screen = app.screen
        assert isinstance(screen, CreateEventScreen)
        await pilot.press("up", "enter")  # the actions menu of "Make"
        await pilot.press("enter")  # Edit
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "Brand")
        await pilot.press("enter")
        await pilot.pause()
        assert [(p.name, p.label) for p in screen.properties] == [
            ("make", "Brand"),
            ("year", "Year"),
        ]
        await pilot.press("down", "enter", "down", "enter")  # Year -> Delete
        await pilot.pause()
        assert [p.name for p in screen.properties] == ["make"]
