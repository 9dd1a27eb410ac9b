"""The analyze screens by keyboard: chart toggles, reports, filters, attribution, CSV export."""

from __future__ import annotations

import csv
from pathlib import Path

from textual.widgets import DataTable, Select

from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.tui.conftest import SIZE, send_days_ago, settle, step, type_text
from tui.app import CbeApp
from tui.screens.analyze import AnalyzeScreen, AttributionScreen, EventReportScreen


async def test_analyze_report_filter_and_export(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, tmp_path: Path
) -> None:
    send_days_ago(services, viewed_car, contact, 1, make="Ford", year=2020)
    # the touch comes with the contact's first completion in the period
    send_days_ago(
        services, viewed_car, contact, 2, make="Kia", year=2010, hs_touchpoint_source="REFERRALS"
    )
    send_days_ago(services, viewed_car, contact, 40, make="Saab")  # outside the last 30 days
    app = CbeApp(services, refresh_seconds=0, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnalyzeScreen)
        table = screen.query_one("#analyze-events", DataTable)
        assert [str(c) for c in table.get_row_at(0)] == ["[x]", "Viewed Car", "Contacts", "2", "1"]
        await pilot.press("space")
        assert screen.charted == set()
        await step(pilot, "x", "enter")  # asked where: the offered folder
        analysis = screen.analysis
        assert analysis is not None
        exported = tmp_path / f"cbe-analyze-{analysis.period.start}-{analysis.period.end}.csv"
        rows = list(csv.reader(exported.open()))
        assert rows == [
            ["Event", "Internal name", "Completions", "Unique records"],
            ["Viewed Car", viewed_car.name, "2", "1"],
        ]

        await pilot.press("enter")
        await settle(pilot)
        report = app.screen
        assert isinstance(report, EventReportScreen)
        assert report.report is not None and report.report.completions == 2
        await pilot.press("f")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#filter-property", Select).focus()
        await pilot.press("enter", "down", "down", "down", "enter")  # condition, year, make
        dialog.query_one("#filter-operator", Select).focus()
        await pilot.press("enter", "down", "enter")  # is equal to any of
        dialog.query_one("#filter-value").focus()
        await type_text(pilot, "kia")
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert report.report.completions == 1
        assert [f.values for f in report.filters] == [["kia"]]
        await pilot.press("backspace")
        await settle(pilot)
        assert report.report.completions == 2

        await pilot.press("a")
        await settle(pilot)
        attribution = app.screen
        assert isinstance(attribution, AttributionScreen)
        assert attribution.result is not None
        assert [(r.value, r.first_touch) for r in attribution.result.rows] == [("REFERRALS", 1)]
        await step(pilot, "x", "enter")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert any(name.startswith("cbe-attribution-viewed_car") for name in files)
