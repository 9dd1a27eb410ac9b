"""How long the event report and attribution take on a large database (issue 18).

    uv run cbe demo --db /tmp/d1m --completions 1000000
    uv run python bench/reports.py --db /tmp/d1m [--runs 3] [--event viewed_pricing_page]

Over the last 90 days (of today), each figure the median of ``--runs``:

- whole commands, each in a new process: ``cbe report analyze`` (the baseline: process start
  and index reads), ``cbe report event EVENT`` and ``cbe report attribution started_trial``
  (touchpoint source);
- the work after the store is open, in a process that has just opened it (cold): the event
  report (every property's breakdown, unique records) and attribution by each dimension;
- in the app (headless, 120x36, after the events home has counted): from opening the event
  report screen, and the attribution screen, until a frame with its numbers is drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.worker import WorkerCancelled  # noqa: E402

from cli.bootstrap import open_services  # noqa: E402
from core.analytics import DateRange, Dimension, RangePreset, resolve_range  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402
from core.services import Services  # noqa: E402


def command(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cli", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def cold(folder: Path, runs: int, work: Callable[[Services], object]) -> float:
    times = []
    for _ in range(runs):
        services = open_services(folder, preferences=MemoryPreferences())
        try:
            began = time.perf_counter()
            work(services)
            times.append(time.perf_counter() - began)
        finally:
            services.close()
    return statistics.median(times)


async def settled(app: Any, pilot: Any) -> None:
    """Until no worker runs (an exclusive worker may cancel another meanwhile)."""
    while True:
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            continue
        await pilot.pause()
        return


def app_time(db: Path, period: DateRange, screen: str, name: str, runs: int) -> float:
    """From pushing the screen (``report``: the event report of event ``name``;
    ``attribution``: attribution of ``name``) until a frame with its numbers is drawn (median
    of ``runs``), each in an app that has just opened the database and shown the events home.
    Prints when the screen was mounted and first drawn."""
    from tui.app import CbeApp
    from tui.screens.analyze import AttributionScreen, EventReportScreen

    mounts: list[float] = []
    firsts: list[float] = []

    async def once() -> float:
        services = open_services(db, preferences=MemoryPreferences())
        app = CbeApp(services, refresh_seconds=0)
        try:
            async with app.run_test(size=(120, 36)) as pilot:
                await settled(app, pilot)
                shown: EventReportScreen | AttributionScreen
                if screen == "report":
                    shown = EventReportScreen(name, period)
                else:
                    shown = AttributionScreen(name, period)
                frames: list[tuple[float, bool]] = []
                display = app._display

                def displaying(on: Any, update: Any) -> None:
                    display(on, update)
                    if on is shown and update is not None:  # drawn: were the numbers there?
                        done = (
                            shown.report if isinstance(shown, EventReportScreen) else shown.result
                        )
                        frames.append((time.perf_counter(), done is not None))

                app._display = displaying  # type: ignore[method-assign,assignment]
                began = time.perf_counter()
                await app.push_screen(shown)
                mounts.append(time.perf_counter() - began)
                while not any(numbers for _, numbers in frames):
                    await pilot.pause(0.005)
                firsts.append(frames[0][0] - began)
                return next(t for t, numbers in frames if numbers) - began
        finally:
            services.close()

    drawn = statistics.median(asyncio.run(once()) for _ in range(runs))
    print(
        f"app: {screen} screen mounted after {statistics.median(mounts) * 1000:.0f} ms, first "
        f"drawn after {statistics.median(firsts) * 1000:.0f} ms (median)"
    )
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--event", default="viewed_pricing_page")
    parser.add_argument("--converting", default="started_trial")
    parser.add_argument("--skip-commands", action="store_true")
    args = parser.parse_args()
    db, runs = str(args.db), args.runs
    print(f"load average at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    rows: list[tuple[str, float]] = []
    if not args.skip_commands:
        common = ["--db", db, "--range", "last_90_days"]
        rows.append(("`cbe report analyze`", command(["report", "analyze", *common], runs)))
        rows.append(
            (
                f"`cbe report event {args.event}`",
                command(["report", "event", args.event, *common], runs),
            )
        )
        rows.append(
            (
                f"`cbe report attribution {args.converting}`",
                command(["report", "attribution", args.converting, *common], runs),
            )
        )
    period = resolve_range(RangePreset.LAST_90_DAYS, datetime.now(UTC))

    def report(services: Services) -> object:
        return services.reports.event_report(services.definitions.get(args.event), period)

    rows.append((f"event report {args.event}, work after open", cold(args.db, runs, report)))
    for dimension in Dimension:

        def attribution(services: Services, dimension: Dimension = dimension) -> object:
            definition = services.definitions.get(args.converting)
            return services.reports.attribution(definition, period, dimension)

        rows.append(
            (
                f"attribution {args.converting} by {dimension.label}, work after open",
                cold(args.db, runs, attribution),
            )
        )
    rows.append(
        (
            "app: event report screen opened to its numbers drawn",
            app_time(args.db, period, "report", args.event, runs),
        )
    )
    rows.append(
        (
            "app: attribution screen opened to its numbers drawn",
            app_time(args.db, period, "attribution", args.converting, runs),
        )
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print()
    print(f"| figure (last 90 days) | median of {runs} |")
    print("| --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1000:,.0f} ms |")


if __name__ == "__main__":
    main()
