"""The analyze screens by keyboard: chart toggles, reports, filters, attribution, CSV export."""

from __future__ import annotations

import csv
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Select, Static

from core.analytics import RangePreset, resolve_range
from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.conftest import NOW
from tests.tui.conftest import SIZE, send_days_ago, settle, step, type_text
from tui.app import CbeApp
from tui.screens import analyze
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


def _summaries_drawn(app: CbeApp, summary: str) -> list[str]:
    """What ``summary`` (a Static's id) said each time a frame of the screen was drawn."""
    drawn: list[str] = []
    display = app._display

    def displaying(screen: Any, update: Any) -> None:
        display(screen, update)
        if update is not None and screen.query(summary):
            drawn.append(re.sub(r"\[/?b\]", "", str(screen.query_one(summary, Static).content)))

    app._display = displaying  # type: ignore[method-assign,assignment]
    return drawn


@pytest.mark.parametrize("screen", ["report", "attribution"])
async def test_a_report_screen_is_first_drawn_with_its_numbers_when_they_come_in_time(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    monkeypatch: pytest.MonkeyPatch,
    screen: str,
) -> None:
    send_days_ago(services, viewed_car, contact, 1, hs_touchpoint_source="REFERRALS")
    monkeypatch.setattr(analyze, "FIRST_FRAME_WAIT", 60.0)  # in time, whatever the machine's load
    app = CbeApp(services, refresh_seconds=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        period = resolve_range(RangePreset.LAST_30_DAYS, NOW)
        summary = "#report-summary" if screen == "report" else "#attribution-summary"
        drawn = _summaries_drawn(app, summary)
        if screen == "report":
            await app.push_screen(EventReportScreen(viewed_car.name, period))
        else:
            await app.push_screen(AttributionScreen(viewed_car.name, period))
        await settle(pilot)
    assert drawn, "the screen was never drawn"
    assert "Counting" not in drawn[0]
    assert drawn[0].startswith(
        "1 completions · 1 unique records" if screen == "report" else "1 records completed"
    )


async def test_a_slow_count_is_drawn_as_counting_then_with_its_numbers(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send_days_ago(services, viewed_car, contact, 1)
    monkeypatch.setattr(analyze, "FIRST_FRAME_WAIT", 0.0)
    released = threading.Event()
    count = services.reports.event_report

    def slow(*args: Any, **kwargs: Any) -> Any:
        released.wait(30)
        return count(*args, **kwargs)

    monkeypatch.setattr(services.reports, "event_report", slow)
    app = CbeApp(services, refresh_seconds=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        drawn = _summaries_drawn(app, "#report-summary")
        period = resolve_range(RangePreset.LAST_30_DAYS, NOW)
        await app.push_screen(EventReportScreen(viewed_car.name, period))
        while not drawn:
            await pilot.pause()
        assert app.screen.query_one("#report-properties").has_focus  # usable meanwhile
        released.set()
        await settle(pilot)
    assert drawn[0] == "Counting completions…"
    assert drawn[-1].startswith("1 completions · 1 unique records")
