"""Shared fixtures: a fixed clock, predictable ids and a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services

PORTAL_ID = 12345678
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _own_preferences(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests never read or write the developer's own preferences file."""
    folder = tmp_path_factory.mktemp("preferences")
    monkeypatch.setenv("CBE_PREFERENCES", str(folder / "preferences.json"))


@pytest.fixture(autouse=True)
def _steady_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """No blinking cursors: a screenshot must not depend on when it was taken."""
    from textual.widgets import Input, TextArea

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)


@pytest.fixture(autouse=True)
def _lasting_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Toasts stay until the test ends, whatever timeout the app gives them: they expire by the
    wall clock, so on a busy machine a toast could vanish between the step that raised it and
    the assertion or screenshot that looks for it."""
    from textual.app import App

    notify = App.notify

    def lasting(self: App[object], message: str, **options: Any) -> None:
        notify(self, message, **{**options, "timeout": 3600})

    monkeypatch.setattr(App, "notify", lasting)


@pytest.fixture(autouse=True)
def _pauses_wait_for_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pilot.pause()`` (and so pytest-textual-snapshot before its screenshot) waits until the
    app's messages are handled, judged by its state, not by CPU idleness, which a loaded machine
    fakes (tests/quiet.py). Workers are the tests' settling business: one may be held on purpose.
    """
    from textual.pilot import Pilot

    from tests.quiet import until_quiet

    pause = Pilot.pause

    async def pause_until_quiet(self: Pilot[Any], delay: float | None = None) -> None:
        await pause(self, delay)
        if delay is None:
            await until_quiet(self, workers=False)

    monkeypatch.setattr(Pilot, "pause", pause_until_quiet)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def services(db_path: Path, clock: FixedClock) -> Iterator[Services]:
    counter = itertools.count(1)
    built = open_services(
        db_path, clock=clock, new_id=lambda: f"c{next(counter):06d}", portal_id=PORTAL_ID
    )
    yield built
    built.close()


VIEWED_CAR: dict[str, Any] = {
    "label": "Viewed Car",
    "description": "Fires when a visitor views a car listing",
    "primaryObject": "CONTACT",
    "propertyDefinitions": [
        {
            "label": "Condition",
            "type": "enumeration",
            "options": [
                {"label": "New", "value": "new"},
                {"label": "Used", "value": "used"},
            ],
        },
        {"label": "Year", "type": "number"},
        {"label": "Make", "type": "string"},
        {"label": "Listed at", "type": "datetime"},
        {"label": "Listing URL", "type": "string"},
    ],
}
"""HubSpot's CarSpot example: an enumeration, a number, a string, a datetime and a URL."""


@pytest.fixture
def viewed_car(services: Services) -> EventDefinition:
    """HubSpot's CarSpot example: an enumeration, a number and a string property."""
    return services.definitions.create(VIEWED_CAR)


@pytest.fixture
def contact(services: Services) -> CrmRecord:
    return services.records.create(
        ObjectType.CONTACT,
        {
            "email": "ann@example.com",
            "firstname": "Ann",
            "lastname": "Lee",
            "hubspotutk": "utk-ann",
        },
    )


def pytest_configure(config: pytest.Config) -> None:
    """Snapshots are written from one Python version only: 3.11."""
    import sys

    if config.getoption("--snapshot-update", default=False) and sys.version_info[:2] != (3, 11):
        raise pytest.UsageError("Write snapshots with Python 3.11 (see README, Development).")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop this process's throwaway PostgreSQL cluster, if a test started one."""
    from tests.postgres import stop_server

    stop_server()
