"""Issue 19's remaining stumbles, walked as a newcomer did them, keyboard only."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from textual.widgets import Input

from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.conftest import NOW
from tests.tui.conftest import SIZE, make_app, settle, step, type_text
from tui.app import CbeApp
from tui.dialogs.save_as import SaveAsDialog, default_export_dir
from tui.screens.analyze import AttributionScreen, EventReportScreen


def _send(
    services: Services, event: EventDefinition, contact: CrmRecord, days_ago: int, **props: object
) -> None:
    services.ingestion.send(
        {
            "eventName": event.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": (NOW.replace(hour=1) - timedelta(days=days_ago)).isoformat(),
            "properties": props,
        }
    )


async def test_csv_export_asks_where_offers_a_folder_outside_the_working_directory(
    services: Services,
) -> None:
    app = make_app(services)
    assert app.export_dir == default_export_dir()
    assert app.export_dir != Path.cwd()


async def test_the_event_reports_csv_keeps_the_not_an_option_bucket_and_names_columns_as_cli(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, tmp_path: Path
) -> None:
    _send(services, viewed_car, contact, 1, condition="new")
    _send(services, viewed_car, contact, 2, condition="rusty", hs_touchpoint_source="REFERRALS")
    app = CbeApp(services, refresh_seconds=0, export_dir=tmp_path / "offered")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "4", "enter")
        assert isinstance(app.screen, EventReportScreen)
        await step(pilot, "x")
        dialog = app.screen
        assert isinstance(dialog, SaveAsDialog)
        field = dialog.query_one("#save-as", Input)
        assert app.focused is field
        offered = tmp_path / "offered" / f"cbe-event-viewed_car-{app.screen_stack[-2].period.start}"
        assert field.value.startswith(str(offered))
        # Saved elsewhere: into a folder typed with a trailing slash.
        field.value = ""
        await type_text(pilot, f"{tmp_path}/reports/")
        await step(pilot, "enter")
        assert isinstance(app.screen, EventReportScreen)
        (saved,) = (tmp_path / "reports").iterdir()
        rows = list(csv.reader(saved.open(encoding="utf-8")))
        assert rows[0] == ["Property", "Internal name", "Value", "Completions", "Share"]
        assert ["Condition", "condition", "New", "1", "1.0000"] in rows
        assert ["Condition", "condition", "(not an option)", "1", ""] in rows
        # The next export offers the folder used last; attribution's shares are told apart.
        await step(pilot, "a")
        assert isinstance(app.screen, AttributionScreen)
        await step(pilot, "x")
        assert app.screen.query_one("#save-as", Input).value.startswith(f"{tmp_path}/reports/")
        await step(pilot, "enter")
        (attribution,) = (tmp_path / "reports").glob("cbe-attribution-*.csv")
        header = next(csv.reader(attribution.open(encoding="utf-8")))
        assert header == [
            "Touchpoint source",
            "First touch",
            "First touch share",
            "Last touch",
            "Last touch share",
        ]
        # Escape saves nothing.
        await step(pilot, "x", "escape")
        assert isinstance(app.screen, AttributionScreen)
        assert len(list((tmp_path / "reports").iterdir())) == 2
