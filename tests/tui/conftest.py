"""Driving the app with Pilot: a fresh database, a fixed clock, no background refresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.conftest import NOW, PORTAL_ID
from tests.quiet import until_quiet
from tests.sending import send_one
from tui.app import CbeApp

SIZE = (130, 40)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Services]:
    services = open_services(tmp_path / "db", clock=FixedClock(NOW), portal_id=PORTAL_ID)
    yield services
    services.close()


def make_app(services: Services) -> CbeApp:
    return CbeApp(services, refresh_seconds=0)


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and the screen catch up (no sleeping): until the app is quiet by its
    state (tests/quiet.py). A worker cancelled on the way (an exclusive load replaced by a newer
    one) has ended too; any other error is raised."""
    await until_quiet(pilot)


async def step(pilot: Pilot[None], *keys: str) -> None:
    """Press ``keys``, then let the app settle: one step of a person at the keyboard."""
    await pilot.press(*keys)
    await settle(pilot)


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*("space" if ch == " " else ch for ch in text))


def send_days_ago(
    services: Services, event: EventDefinition, contact: CrmRecord, days_ago: int, **props: object
) -> None:
    """One completion of ``event`` by ``contact``, ``days_ago`` days before the tests' clock."""
    send_one(
        services.ingestion,
        {
            "eventName": event.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": (NOW.replace(hour=1) - timedelta(days=days_ago)).isoformat(),
            "properties": props,
        },
    )
