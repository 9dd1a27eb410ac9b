"""The app on a PostgreSQL database: a record's timeline shows what another process stored."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from tests.conftest import NOW, PORTAL_ID, VIEWED_CAR
from tests.postgres import fresh_database_url
from tests.tui.conftest import SIZE, make_app, settle
from tests.tui.test_records import ROOT, _completion, _open_contact, _send
from tui.widgets.timeline import TimelineView


@pytest.fixture
def on_postgres() -> Iterator[tuple[str, Services]]:
    url = fresh_database_url()
    counter = itertools.count(1)
    services = open_services(
        url, clock=FixedClock(NOW), new_id=lambda: f"c{next(counter):06d}", portal_id=PORTAL_ID
    )
    yield url, services
    services.close()


async def test_the_timeline_shows_what_another_process_stored_in_postgres(
    on_postgres: tuple[str, Services], tmp_path: Path
) -> None:
    url, services = on_postgres
    viewed_car: EventDefinition = services.definitions.create(VIEWED_CAR)
    contact: CrmRecord = services.records.create(
        ObjectType.CONTACT, {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}
    )
    _send(services, viewed_car, contact, 2)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        timeline = screen.query_one(TimelineView)
        assert len(timeline.entries) == 2
        body = {
            "eventName": viewed_car.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": (NOW + timedelta(minutes=5)).isoformat(),
            "properties": {"make": "Live"},
        }
        file = tmp_path / "live.json"
        file.write_text(json.dumps(body))
        sent = subprocess.run(
            [sys.executable, "-m", "cli", "send", str(file), "--db", url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        screen.look_for_new()  # what the screen's timer calls every few seconds
        await settle(pilot)
        assert _completion(timeline.entries[0]).properties["make"] == "Live"
        assert len(timeline.entries) == 3
