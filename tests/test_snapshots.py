"""Snapshot tests of every screen and wizard step, on the seeded demo and a fixed clock.

Written with Python 3.11 at a fixed terminal size; cursors do not blink (tests/conftest.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from cli.bootstrap import open_services
from core.analytics import Frequency, RangePreset
from core.clock import FixedClock
from core.demo import DEMO_PORTAL_ID, DemoSpec, build_demo
from core.errors import ValidationFailed
from core.models import ObjectType
from core.outbox import OutboxEntry
from core.services import Services
from core.timeline import ActivityType, Period, TimelineFilter
from tests.conftest import NOW
from tests.quiet import until_quiet
from tests.sending import send_one
from tui.app import CbeApp
from tui.screens.record import RecordScreen

SIZE = (120, 36)
Steps = Callable[[Pilot[None]], Awaitable[None]]


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("snapshots") / "demo"
    services = open_services(folder, clock=FixedClock(NOW), portal_id=DEMO_PORTAL_ID)
    try:
        build_demo(services.db, DemoSpec(seed=7, contacts=60, completions=1500), NOW)
    finally:
        services.close()
    return folder


@pytest.fixture
def demo(demo_folder: Path) -> Iterator[Services]:
    ids = (f"c{n:06d}" for n in itertools.count(1))  # what a screen shows of a new id is fixed
    services = open_services(demo_folder, clock=FixedClock(NOW), new_id=lambda: next(ids))
    yield services
    services.close()


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Services]:
    services = open_services(tmp_path / "empty", clock=FixedClock(NOW), portal_id=1234567)
    yield services
    services.close()


def app_for(services: Services) -> CbeApp:
    return CbeApp(services, refresh_seconds=0)


async def settle(pilot: Pilot[None]) -> None:
    """Workers done and the app quiet by its state (tests/quiet.py), so that the footer has
    caught up with the bindings."""
    await until_quiet(pilot)


def keys(*presses: str, text: str = "") -> Steps:
    """Press keys, then type text; let the app settle before and after."""

    async def run(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press(*presses)
        if text:
            await pilot.press(*("space" if c == " " else c for c in text))
        await settle(pilot)

    return run


def then(*steps: Steps) -> Steps:
    async def run(pilot: Pilot[None]) -> None:
        for step in steps:
            await step(pilot)

    return run


def snap(snap_compare: Any, services: Services, steps: Steps | None = None) -> bool:
    return bool(snap_compare(app_for(services), terminal_size=SIZE, run_before=steps or settle))


# The wizard, step by step: a contact event with an enumeration and a number.
NAME = keys("n", text="Viewed Car")
TO_PROPERTIES = then(NAME, keys("ctrl+n"))
ENUMERATION = then(
    TO_PROPERTIES,
    keys("p", "down", "down", "down", "enter", text="Condition"),
    keys("ctrl+n", text="New"),
    keys("enter", text="Used"),
    keys("enter"),
)
WITH_PROPERTIES = then(
    ENUMERATION, keys("ctrl+s"), keys("p", "down", "enter", text="Year"), keys("enter")
)
TO_TRACKING = then(WITH_PROPERTIES, keys("ctrl+n"))


class TestEvents:
    def test_home_lists_the_events(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo)

    def test_home_of_an_empty_portal(self, snap_compare: Any, empty: Services) -> None:
        assert snap(snap_compare, empty)

    def test_search(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("slash", text="trial"))

    def test_search_without_match(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("slash", text="zebra"))

    def test_delete_confirmation(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("down", "d"))

    def test_help(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("question_mark"))

    def test_rejected_requests(self, snap_compare: Any, empty: Services) -> None:
        event = empty.definitions.create(
            {
                "label": "Viewed Car",
                "propertyDefinitions": [
                    {
                        "label": "Condition",
                        "type": "enumeration",
                        "options": [{"label": "New", "value": "new"}],
                    },
                    {"label": "Year", "type": "number"},
                ],
            }
        ).fully_qualified_name
        contact = empty.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        refused: list[dict[str, object]] = [
            {"eventName": event, "objectId": contact.id, "properties": {"year": "old", "x": 1}},
            {"inputs": [{"eventName": event, "email": "bo@example.com"}]},
        ]
        for body in refused:
            with pytest.raises(ValidationFailed):
                if "inputs" in body:
                    empty.ingestion.send_batch(body)
                else:
                    send_one(empty.ingestion, body)
        assert snap(snap_compare, empty, keys("r"))

    def test_forwarding_at_80_by_24(self, snap_compare: Any, empty: Services) -> None:
        """Where `cbe serve --forward` stands: a remote that is down, one refusal."""
        with empty.db.transaction() as unit:
            empty.db.outbox.add(
                [
                    OutboxEntry(
                        f"c{n:06d}",
                        {
                            "eventName": "pe1234567_viewed_pricing_page",
                            "uuid": f"3f2a9c1e-{n:04d}-4b7a-9d2e-8c1f0a7b6e5d",
                            "email": "ann@example.com",
                            "properties": {"plan": "pro", "colour": "red"},
                        },
                    )
                    for n in range(1, 13)
                ]
            )
            answer = (
                "400 VALIDATION_ERROR: Property colour does not exist on "
                "pe7654321_viewed_pricing_page."
            )
            empty.db.outbox.settle([f"c{n:06d}" for n in range(1, 9)], {"c000009": answer})
            empty.db.outbox.note_relay(
                "https://api.hubapi.com",
                "no answer from https://api.hubapi.com (ConnectError); 3 completions stay owed",
            )
            unit.commit()

        async def open_it(pilot: Pilot[None]) -> None:
            await settle(pilot)
            host = pilot.app
            assert isinstance(host, CbeApp)
            host.action_forwarding()
            await settle(pilot)

        assert snap_compare(app_for(empty), terminal_size=(80, 24), run_before=open_it)

    def test_plan_diff(
        self, snap_compare: Any, demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plan that renames an event, adds an option and drops a property: one breaking."""
        monkeypatch.chdir(tmp_path)
        plan = json.loads(demo.plans.export())
        trial = next(e for e in plan["events"] if e["name"] == "started_trial")
        trial["label"] = "Trial started"
        trial["properties"] = [p for p in trial["properties"] if p["name"] != "signup_source"]
        plan_prop = next(p for p in trial["properties"] if p["name"] == "plan")
        plan_prop["options"].append({"label": "Team", "value": "team"})
        (tmp_path / "plan.json").write_text(json.dumps(plan))

        async def diff(pilot: Pilot[None]) -> None:
            pilot.app.screen.query_one("#plan-file", Input).value = "plan.json"
            await pilot.click("#diff")
            await settle(pilot)

        assert snap(snap_compare, demo, then(keys("c"), diff))

    def test_command_palette(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("ctrl+p", text="open"))


class TestWizard:
    def test_step_1_empty(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("n"))

    def test_step_1_names_preview_as_you_type(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, NAME)

    def test_step_1_error_for_a_missing_name(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("n", "ctrl+n"))

    def test_step_1_label_too_long(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("n", text="x" * 101))

    def test_step_2_no_properties(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, TO_PROPERTIES)

    def test_step_2_defaults_unfolded(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(TO_PROPERTIES, keys("f")))

    def test_step_2_field_type(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(TO_PROPERTIES, keys("p")))

    def test_step_2_side_panel(self, snap_compare: Any, demo: Services) -> None:
        steps = then(TO_PROPERTIES, keys("p", "enter", text="Make of the car"))
        assert snap(snap_compare, demo, steps)

    def test_step_2_side_panel_error(self, snap_compare: Any, demo: Services) -> None:
        steps = then(TO_PROPERTIES, keys("p", "enter", text="m" * 51))
        assert snap(snap_compare, demo, steps)

    def test_step_2_enumeration_options(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, ENUMERATION)

    def test_step_2_duplicate_option_value(self, snap_compare: Any, demo: Services) -> None:
        steps = then(ENUMERATION, keys(text="new"), keys("tab", text="new"), keys("enter"))
        assert snap(snap_compare, demo, steps)

    def test_step_2_custom_properties(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, WITH_PROPERTIES)

    def test_step_2_actions_menu(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(WITH_PROPERTIES, keys("enter")))

    def test_step_3_javascript_snippet(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, TO_TRACKING)

    def test_step_3_api_curl(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(TO_TRACKING, keys("right", "enter")))

    def test_step_3_api_python(self, snap_compare: Any, demo: Services) -> None:
        async def python_tab(pilot: Pilot[None]) -> None:
            pilot.app.screen.query_one("#examples").active = "tab-python"  # type: ignore[attr-defined]
            await settle(pilot)

        steps = then(TO_TRACKING, keys("right", "enter"), python_tab)
        assert snap(snap_compare, demo, steps)

    def test_cancel_asks_before_discarding(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(NAME, keys("escape")))


class TestEventDetails:
    def test_javascript_event(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("enter"))

    def test_javascript_event_snippet(self, snap_compare: Any, demo: Services) -> None:
        async def scroll(pilot: Pilot[None]) -> None:
            pilot.app.screen.query_one("#detail").scroll_end(animate=False)
            await settle(pilot)

        assert snap(snap_compare, demo, then(keys("enter"), scroll))

    def test_api_event(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("down", "enter"))

    def test_api_event_examples(self, snap_compare: Any, demo: Services) -> None:
        async def scroll(pilot: Pilot[None]) -> None:
            pilot.app.screen.query_one("#detail").scroll_end(animate=False)
            await settle(pilot)

        assert snap(snap_compare, demo, then(keys("down", "enter"), scroll))

    def test_edit_event_dialog(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("enter"), keys("l")))

    def test_delete_property_confirmation(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("enter"), keys("d")))

    def test_typed_code(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("enter"), keys("t")))

    def test_validate_a_payload(self, snap_compare: Any, demo: Services) -> None:
        """The example body names a contact; an option that is not one is kept but noted."""

        async def unusable_plan(pilot: Pilot[None]) -> None:
            area = pilot.app.screen.query_one("#payload", TextArea)
            area.text = area.text.replace('"starter"', '"platinum"')
            await pilot.pause(0.4)
            await settle(pilot)

        assert snap(snap_compare, demo, then(keys("enter"), keys("v"), unusable_plan))


def record_screen(kind: str, row_downs: int = 0) -> Steps:
    """Open the records section, the tab of ``kind``, and a record in it."""
    tabs = ["contacts", "companies", "deals", "tickets"]
    presses = ["right_square_bracket"] * tabs.index(kind)
    return then(keys("2"), keys(*presses), keys(*(["down"] * row_downs), "enter"))


def with_filter(timeline_filter: TimelineFilter) -> Steps:
    async def run(pilot: Pilot[None]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, RecordScreen)
        screen._apply_filter(timeline_filter)
        await settle(pilot)

    return run


class TestRecords:
    def test_contacts(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("2"))

    def test_companies(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("2"), keys("right_square_bracket")))

    def test_search(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("2"), keys("slash", text="acme")))

    def test_contact_timeline(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, record_screen("contacts", 1))

    def test_contact_timeline_expanded(self, snap_compare: Any, demo: Services) -> None:
        steps = then(record_screen("contacts", 1), keys("down", "enter"))
        assert snap(snap_compare, demo, steps)

    def test_contact_timeline_filtered(self, snap_compare: Any, demo: Services) -> None:
        hidden = {f"pe{DEMO_PORTAL_ID}_viewed_pricing_page"}
        steps = then(
            record_screen("contacts", 1),
            with_filter(TimelineFilter(hidden_events=hidden, period=Period.LAST_30_DAYS)),
        )
        assert snap(snap_compare, demo, steps)

    def test_contact_timeline_workflow_activity(self, snap_compare: Any, demo: Services) -> None:
        only = TimelineFilter(activity_types={ActivityType.WORKFLOW})
        steps = then(record_screen("contacts", 1), with_filter(only), keys("enter"))
        assert snap(snap_compare, demo, steps)

    def test_contact_timeline_nothing_matches(self, snap_compare: Any, demo: Services) -> None:
        steps = then(record_screen("contacts", 1), with_filter(TimelineFilter(search="zzz")))
        assert snap(snap_compare, demo, steps)

    def test_contact_timeline_empty(self, snap_compare: Any, empty: Services) -> None:
        empty.records.create(ObjectType.CONTACT, {"email": "new@example.com", "firstname": "Nia"})
        assert snap(snap_compare, empty, record_screen("contacts"))

    def test_filter_dialog(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(record_screen("contacts", 1), keys("f")))

    @pytest.mark.parametrize("kind", ["companies", "deals", "tickets"])
    def test_other_timelines(self, snap_compare: Any, demo: Services, kind: str) -> None:
        assert snap(snap_compare, demo, record_screen(kind))


class TestWorkflows:
    def test_list(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("3"))

    def test_list_empty(self, snap_compare: Any, empty: Services) -> None:
        assert snap(snap_compare, empty, keys("3"))

    def test_editor(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("3"), keys("enter")))

    def test_add_action(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("3"), keys("enter"), keys("a")))

    def test_delay_editor_new(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("3"), keys("enter"), keys("a", "enter")))

    def test_delay_editor_with_filter(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("3"), keys("enter"), keys("enter")))

    def test_delay_editor_missing_wait(self, snap_compare: Any, demo: Services) -> None:
        async def untick_and_save(pilot: Pilot[None]) -> None:
            pilot.app.screen.query_one("#wait-days").value = ""  # type: ignore[attr-defined]
            await settle(pilot)
            await pilot.press("ctrl+s")
            await settle(pilot)

        steps = then(keys("3"), keys("enter"), keys("enter"), untick_and_save)
        assert snap(snap_compare, demo, steps)

    def test_enrollments(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("3"), keys("enter"), keys("w")))

    def test_history(self, snap_compare: Any, demo: Services) -> None:
        steps = then(keys("3"), keys("enter"), keys("w"), keys("enter"))
        assert snap(snap_compare, demo, steps)


class TestAnalyze:
    def test_analyze(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, keys("4"))

    def test_analyze_weekly_last_90_days(self, snap_compare: Any, demo: Services) -> None:
        async def choose(pilot: Pilot[None]) -> None:
            screen = pilot.app.screen
            screen.query_one("#range").value = RangePreset.LAST_90_DAYS  # type: ignore[attr-defined]
            screen.query_one("#frequency").value = Frequency.WEEKLY  # type: ignore[attr-defined]
            await settle(pilot)

        assert snap(snap_compare, demo, then(keys("4"), choose))

    def test_analyze_custom_range_error(self, snap_compare: Any, demo: Services) -> None:
        async def custom(pilot: Pilot[None]) -> None:
            screen = pilot.app.screen
            screen.query_one("#range").value = RangePreset.CUSTOM  # type: ignore[attr-defined]
            await settle(pilot)
            screen.query_one("#from").value = "2026-10-20"  # type: ignore[attr-defined]
            screen.query_one("#to").value = "2026-10-01"  # type: ignore[attr-defined]
            screen.query_one("#to").focus()
            await pilot.press("enter")
            await settle(pilot)

        assert snap(snap_compare, demo, then(keys("4"), custom))

    def test_event_report(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("4"), keys("enter")))

    def test_event_report_numbers(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("4"), keys("enter"), keys("down")))

    def test_event_report_filter_dialog(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("4"), keys("enter"), keys("f")))

    def test_attribution(self, snap_compare: Any, demo: Services) -> None:
        assert snap(snap_compare, demo, then(keys("4"), keys("down", "a")))
