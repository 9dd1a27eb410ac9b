"""Issue 19's minor items, walked as a person would, keyboard only."""

from __future__ import annotations

from core.models import EventDefinition
from core.services import Services
from tests.tui.conftest import SIZE, make_app, settle, type_text
from tui.dialogs.confirm import ConfirmDialog
from tui.screens.rejections import RejectionsScreen


async def test_the_palette_runs_the_screens_actions_by_name(
    services: Services, viewed_car: EventDefinition
) -> None:
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The events home's delete, by name: the same question as `d`.
        await pilot.press("ctrl+p")
        await type_text(pilot, "delete")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "Deleting “Viewed Car”" in app.screen.title_text + app.screen.message
        await pilot.press("escape")
        await settle(pilot)
        assert services.definitions.get("viewed_car") is not None

        # From another section, the portal's rejected requests.
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await type_text(pilot, "rejected requests")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RejectionsScreen)
        assert app.current_mode == "events"
