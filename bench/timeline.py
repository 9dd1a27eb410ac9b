"""How long the first page of a large timeline takes to appear.

    uv run python bench/timeline.py [--completions 10000] [--others 0]

Builds a database in a temporary folder where one contact has N completions over 90 days (and
``--others`` completions of other contacts beside them), then measures, each several times:

- core: ``TimelineService.page`` for the contact, in a process that has just opened the
  database (cold: every month file parsed) and again with warm caches;
- the app: from opening the record screen until its timeline shows entries (headless).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.bootstrap import open_services  # noqa: E402
from core.clock import FixedClock  # noqa: E402
from core.models import ObjectType  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402
from tui.app import CbeApp  # noqa: E402
from tui.screens.record import RecordScreen  # noqa: E402
from tui.widgets.timeline import TimelineView  # noqa: E402

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def build(folder: Path, completions: int, others: int) -> str:
    services = open_services(folder, clock=FixedClock(NOW), portal_id=4242)
    try:
        event = services.definitions.create(
            {
                "label": "Viewed page",
                "propertyDefinitions": [
                    {
                        "label": "Plan",
                        "type": "enumeration",
                        "options": [{"label": "Pro", "value": "pro"}],
                    },
                    {"label": "Seconds", "type": "number"},
                ],
            }
        )
        contact = services.records.create(ObjectType.CONTACT, {"email": "big@example.com"})
        other = services.records.create(ObjectType.CONTACT, {"email": "other@example.com"})
        span = 90 * 24 * 3600
        bodies = []
        for i in range(completions + others):
            who = contact.id if i < completions else other.id
            at = NOW - timedelta(seconds=(i * 7919) % span)
            bodies.append(
                {
                    "eventName": event.fully_qualified_name,
                    "objectId": who,
                    "occurredAt": at.isoformat(),
                    "properties": {
                        "plan": "pro",
                        "seconds": i % 300,
                        "hs_page_url": "https://www.example.com/pricing",
                    },
                }
            )
        bodies.sort(key=lambda b: str(b["occurredAt"]))
        for start in range(0, len(bodies), 500):
            services.ingestion.send_batch({"inputs": bodies[start : start + 500]})
        return contact.id
    finally:
        services.close()


def core_first_page(folder: Path, contact_id: str, runs: int) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(runs):
        services = open_services(folder, clock=FixedClock(NOW), preferences=MemoryPreferences())
        try:
            record = services.records.get(ObjectType.CONTACT, contact_id)
            began = time.perf_counter()
            page = services.timeline.page(record, limit=50)
            cold.append(time.perf_counter() - began)
            assert len(page.entries) == 50
            began = time.perf_counter()
            services.timeline.page(record, limit=50)
            warm.append(time.perf_counter() - began)
        finally:
            services.close()
    return cold, warm


async def app_first_page(folder: Path, contact_id: str, runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        services = open_services(folder, clock=FixedClock(NOW), preferences=MemoryPreferences())
        try:
            app = CbeApp(services, refresh_seconds=0)
            async with app.run_test(size=(120, 36)) as pilot:
                await app.workers.wait_for_complete()  # the events home has counted everything
                await pilot.pause()
                began = time.perf_counter()
                await app.push_screen(RecordScreen(ObjectType.CONTACT, contact_id))
                timeline = app.screen.query_one(TimelineView)
                while not timeline.entries:
                    await pilot.pause(0.001)
                found.append(time.perf_counter() - began)
        finally:
            services.close()
    return found


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.0f} ms (median of {len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "db"
        began = time.perf_counter()
        contact_id = build(folder, args.completions, args.others)
        built = time.perf_counter() - began
        cold, warm = core_first_page(folder, contact_id, args.runs)
        shown = asyncio.run(app_first_page(folder, contact_id, args.runs))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"one contact with {args.completions:,} completions, {args.others:,} others "
        f"(built in {built:.1f} s)"
    )
    print()
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| first page (50) in core, just opened (cold) | {ms(cold)} |")
    print(f"| first page (50) in core, warm | {ms(warm)} |")
    print(f"| record screen opened to timeline shown, in the app | {ms(shown)} |")


if __name__ == "__main__":
    main()
