"""Live updates: how long from a send's 204 to the app's timeline showing the completion.

A real ``cbe serve`` takes sends from HubSpot's Python SDK while the app (headless, Pilot) shows
the contact's timeline with its timers an hour apart: what brings the completion is the store's
own word (PostgreSQL's NOTIFY, the folder's files looked at every 0.1 s). One send at a time,
half a second apart (more than the follower's gap of 0.25 s: each is a first change), the
median of ``SENDS`` (20), then a burst to count the reloads it makes.

    uv run python bench/live.py [--postgres URL] [--sends 20]

Without ``--postgres`` it starts a throwaway PostgreSQL cluster as the tests do
(tests/postgres.py: ``initdb`` and ``pg_ctl`` on PATH; fsync off).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hubspot import HubSpot
from hubspot.events.send import (
    BatchedBehavioralEventHttpCompletionRequest,
    BehavioralEventHttpCompletionRequest,
)

from cli.bootstrap import open_services
from core.models import ObjectType
from storage.postgres.watch import PostgresWatcher
from tests.api.conftest import start_server, stop_server
from tests.conftest import PORTAL_ID, VIEWED_CAR
from tests.postgres import fresh_database_url
from tests.postgres import stop_server as stop_postgres
from tests.quiet import until_quiet
from tui.app import CbeApp
from tui.screens.record import RecordScreen
from tui.widgets.timeline import TimelineView


async def _until(holds: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not holds():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app did not get there within a minute: {holds}")
        await asyncio.sleep(0.001)


async def _measure(db: str, sends: int) -> tuple[list[float], int, int]:
    """Seconds from each 204 to the timeline showing it; then, for a burst of 2,000
    completions, how many times the timeline read again and how long the burst took (ms)."""
    services = open_services(db, portal_id=PORTAL_ID)
    event = services.definitions.create(VIEWED_CAR)
    contact = services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
    server = start_server(db)
    client = HubSpot(access_token=server.token, host=server.url, base_url=server.url)

    def send(n: int) -> None:
        client.events.send.basic_api.send(
            behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
                event_name=event.fully_qualified_name,
                object_id=contact.id,
                occurred_at=datetime.now(UTC) + timedelta(seconds=n),
                properties={"make": f"Make {n}"},
            )
        )

    app = CbeApp(services, refresh_seconds=3600)
    latencies: list[float] = []
    try:
        async with app.run_test(size=(130, 40)) as pilot:
            await until_quiet(pilot)
            await pilot.press("2")
            await until_quiet(pilot)
            await pilot.press("enter")
            await until_quiet(pilot)
            screen = app.screen
            assert isinstance(screen, RecordScreen)
            timeline = screen.query_one(TimelineView)
            assert app.follower is not None
            watcher = app.follower.watcher
            if isinstance(watcher, PostgresWatcher):
                await _until(lambda: watcher.connections == 1)
            await until_quiet(pilot)
            for n in range(sends):
                await asyncio.sleep(0.5)  # apart: each send is a first change
                shown = len(timeline.entries)
                await asyncio.to_thread(send, n)
                acknowledged = time.perf_counter()
                await _until(lambda: len(timeline.entries) > shown)  # noqa: B023
                latencies.append(time.perf_counter() - acknowledged)
            await until_quiet(pilot)

            # A burst: 2,000 completions in batches of 100, as fast as one sender goes.
            reads = 0
            original = screen.refresh_from_store

            def counted():  # type: ignore[no-untyped-def]
                nonlocal reads
                reads += 1
                return original()

            screen.refresh_from_store = counted  # type: ignore[method-assign]
            target = len(timeline.entries) + 2000

            def batches(first: int, count: int) -> None:
                for start in range(first, first + count, 100):
                    inputs = [
                        BehavioralEventHttpCompletionRequest(
                            event_name=event.fully_qualified_name,
                            object_id=contact.id,
                            occurred_at=datetime.now(UTC) + timedelta(hours=1, seconds=i),
                            properties={"make": f"Burst {i}"},
                        )
                        for i in range(start, start + 100)
                    ]
                    client.events.send.batch_api.send(
                        batched_behavioral_event_http_completion_request=(
                            BatchedBehavioralEventHttpCompletionRequest(inputs=inputs)
                        )
                    )

            began = time.perf_counter()
            # One sender: the timeline looks for completions newer than the newest it shows,
            # so batches must be stored in the order of their times.
            await asyncio.to_thread(batches, 0, 2000)
            burst_ms = int((time.perf_counter() - began) * 1000)
            # The timeline reads the new ones 50 at a time (a page): wait for the last reads.
            try:
                await _until(lambda: len(timeline.entries) == target)
            except RuntimeError:
                print("shown", len(timeline.entries), "of", target, "reads", reads, db)
                raise
            await until_quiet(pilot)
    finally:
        stop_server(server)
        services.close()
    return latencies, reads, burst_ms


def _row(name: str, latencies: list[float], reads: int, burst_ms: int) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p90 = ms[int(len(ms) * 0.9) - 1]
    return (
        f"| {name} | {statistics.median(ms):.0f} ms | {ms[0]:.0f} ms | {p90:.0f} ms | "
        f"{ms[-1]:.0f} ms | {reads} in {burst_ms / 1000:.1f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (else a throwaway cluster)")
    parser.add_argument("--sends", type=int, default=20)
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or fresh_database_url()
        try:
            rows.append(_row("PostgreSQL", *asyncio.run(_measure(url, args.sends))))
        finally:
            stop_postgres()
        folder = str(Path(tmp) / "db")
        rows.append(_row("folder", *asyncio.run(_measure(folder, args.sends))))
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print("| store | median | fastest | 90th percentile | slowest | burst of 2,000: reads |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
