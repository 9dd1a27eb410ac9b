"""Live updates: an app open on a contact's timeline shows what another process stores, as it
is stored, without a key pressed. The other process is a real ``cbe serve`` on loopback taking
a send from HubSpot's Python SDK; the app's timers are set an hour apart, so only the store's
own word (PostgreSQL's NOTIFY, the folder's files) can have brought it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic

import pytest
from hubspot import HubSpot
from hubspot.events.send import (
    BatchedBehavioralEventHttpCompletionRequest,
    BehavioralEventHttpCompletionRequest,
)
from textual.pilot import Pilot

from cli.bootstrap import open_services
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from storage.postgres.watch import PostgresWatcher
from tests.api.conftest import Server, start_server, stop_server
from tests.conftest import PORTAL_ID, VIEWED_CAR
from tests.postgres import fresh_database_url
from tests.sending import send_one
from tests.storage.test_postgres import kill_listeners
from tests.tui.conftest import SIZE, settle
from tests.tui.test_records import _completion, _open_contact
from tui.app import CbeApp
from tui.widgets.timeline import TimelineView

AN_HOUR = 3600.0
"""The app's refresh_seconds: no timer of the app fires while a test runs."""

WITHIN = 60.0
"""Seconds a state may take on a machine busy elsewhere before a test fails (it comes within
a fraction of a second: bench/live.py measures it)."""


@dataclass
class Portal:
    db: str
    services: Services
    server: Server
    event: EventDefinition
    contact: CrmRecord

    def _client(self) -> HubSpot:
        return HubSpot(
            access_token=self.server.token, host=self.server.url, base_url=self.server.url
        )

    def _completion(self, make: str, seconds: int = 0) -> BehavioralEventHttpCompletionRequest:
        return BehavioralEventHttpCompletionRequest(
            event_name=self.event.fully_qualified_name,
            object_id=self.contact.id,
            occurred_at=datetime.now(UTC) + timedelta(seconds=seconds),
            properties={"make": make},
        )

    def send(self, make: str) -> None:
        """A completion by the contact, sent to the server with HubSpot's SDK (a 204)."""
        self._client().events.send.basic_api.send(
            behavioral_event_http_completion_request=self._completion(make)
        )

    def send_batch(self, count: int) -> None:
        """``count`` completions in one batch, a second apart from a minute on."""
        batch = BatchedBehavioralEventHttpCompletionRequest(
            inputs=[self._completion(f"Batch {n}", 60 + n) for n in range(count)]
        )
        self._client().events.send.batch_api.send(
            batched_behavioral_event_http_completion_request=batch
        )


def _portal(db: str) -> Iterator[Portal]:
    services = open_services(db, portal_id=PORTAL_ID)  # the real clock, as the server's
    event = services.definitions.create(VIEWED_CAR)
    contact = services.records.create(
        ObjectType.CONTACT, {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}
    )
    for hours in (2, 1):
        send_one(
            services.ingestion,
            {
                "eventName": event.fully_qualified_name,
                "objectId": contact.id,
                "occurredAt": (datetime.now(UTC) - timedelta(hours=hours)).isoformat(),
                "properties": {"make": f"Make {hours}"},
            },
        )
    server = start_server(db)
    try:
        yield Portal(db, services, server, event, contact)
    finally:
        print(stop_server(server))  # shown by pytest when the test failed
        services.close()


@pytest.fixture(params=["postgres", "folder"])
def portal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Portal]:
    db = fresh_database_url() if request.param == "postgres" else str(tmp_path / "db")
    yield from _portal(db)


@pytest.fixture
def on_postgres() -> Iterator[Portal]:
    yield from _portal(fresh_database_url())


async def until(pilot: Pilot[None], holds: Callable[[], bool], what: str) -> None:
    """Let the app run until ``holds()``; fail after :data:`WITHIN` seconds saying ``what``."""
    deadline = monotonic() + WITHIN
    while not holds():
        if monotonic() > deadline:
            raise AssertionError(f"not within {WITHIN:.0f} s: {what}")
        await asyncio.sleep(0.01)


async def _listening(pilot: Pilot[None], app: CbeApp, connections: int = 1) -> None:
    """Until the app follows the store (PostgreSQL: its watcher's connection is made)."""
    assert app.follower is not None
    watcher = app.follower.watcher
    if isinstance(watcher, PostgresWatcher):
        await until(pilot, lambda: watcher.connections == connections, "the app listens")
    await settle(pilot)


async def test_the_timeline_shows_what_a_server_stores_without_a_key_pressed(
    portal: Portal,
) -> None:
    app = CbeApp(portal.services, refresh_seconds=AN_HOUR)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        timeline = screen.query_one(TimelineView)
        await _listening(pilot, app)
        assert [_completion(e).properties["make"] for e in timeline.entries] == [
            "Make 1",
            "Make 2",
        ]
        await pilot.press("down", "enter")  # on the older completion, expanded
        await settle(pilot)
        on, expanded = timeline.current, set(timeline.expanded)
        assert on is not None and expanded == {on.key}

        await asyncio.to_thread(portal.send, "Live")
        await until(pilot, lambda: len(timeline.entries) == 3, "the new completion is shown")
        await settle(pilot)
        assert [_completion(e).properties["make"] for e in timeline.entries] == [
            "Live",
            "Make 1",
            "Make 2",
        ]
        # The person's place is kept: the cursor on the same completion, still expanded.
        assert timeline.current == on
        assert timeline.expanded == expanded
        assert any("1 new completion." in n.message for n in app._notifications)

        # A batch of more than a page (the timeline reads 50 new ones at a time): all shown.
        await asyncio.to_thread(portal.send_batch, 120)
        await until(pilot, lambda: len(timeline.entries) == 123, "the whole batch is shown")
        assert _completion(timeline.entries[0]).properties["make"] == "Batch 119"
        assert timeline.current == on


async def test_after_its_connection_is_killed_the_app_listens_again(on_postgres: Portal) -> None:
    app = CbeApp(on_postgres.services, refresh_seconds=AN_HOUR)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_contact(pilot)
        timeline = screen.query_one(TimelineView)
        await _listening(pilot, app)
        assert kill_listeners(on_postgres.db) == 1
        await _listening(pilot, app, connections=2)
        await asyncio.to_thread(on_postgres.send, "After")
        await until(pilot, lambda: len(timeline.entries) == 3, "the new completion is shown")
        assert _completion(timeline.entries[0]).properties["make"] == "After"
