"""How long the analyze screen's numbers take.

    uv run python bench/analyze.py [--completions 4000] [--contacts 120] [--db PATH]

Builds the demo database (or uses ``--db``) and times, each several times in a process that has
just opened the database (cold) and again with warm caches:

- the analyze screen's numbers: every event's completions and unique records over the last 90
  days, per day;
- one event's report: its completions, unique records and every property's breakdown;
- one event's attribution (first and last touch by touchpoint source).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demodb import build_demo  # noqa: E402  (bench/demodb.py)

from cli.bootstrap import open_services  # noqa: E402
from core.analytics import Dimension, Frequency, RangePreset, resolve_range  # noqa: E402
from core.clock import FixedClock  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402
from core.services import Services  # noqa: E402

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def timed(folder: Path, runs: int, work: Callable[[Services], object]) -> tuple[float, float]:
    cold, warm = [], []
    for _ in range(runs):
        services = open_services(folder, clock=FixedClock(NOW), preferences=MemoryPreferences())
        try:
            began = time.perf_counter()
            work(services)
            cold.append(time.perf_counter() - began)
            began = time.perf_counter()
            work(services)
            warm.append(time.perf_counter() - began)
        finally:
            services.close()
    return statistics.median(cold), statistics.median(warm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=4000)
    parser.add_argument("--contacts", type=int, default=120)
    parser.add_argument("--db", type=Path, default=None, help="an existing database")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.db or Path(tmp) / "demo"
        built = 0.0
        if args.db is None:
            built = build_demo(folder, args.completions, contacts=args.contacts, now=NOW)
        period = resolve_range(RangePreset.LAST_90_DAYS, NOW)

        def analyze(services: Services) -> object:
            return services.reports.analyze(period, Frequency.DAILY)

        def report(services: Services) -> object:
            event = services.definitions.search()[0]
            return services.reports.event_report(event, period)

        def attribution(services: Services) -> object:
            event = services.definitions.get("started_trial")
            return services.reports.attribution(event, period, Dimension.TOUCHPOINT_SOURCE)

        figures = {
            "analyze screen numbers (all events, 90 days, daily)": timed(
                folder, args.runs, analyze
            ),
            "event report (busiest event, every property)": timed(folder, args.runs, report),
            "attribution (touchpoint source)": timed(folder, args.runs, attribution),
        }
        services = open_services(folder, preferences=MemoryPreferences())
        stored = sum(s.count for s in services.db.completions.summaries().values())
        services.close()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{stored:,} completions stored" + (f" (demo built in {built:.1f} s)" if built else ""))
    print()
    print("| figure | cold (just opened) | warm |")
    print("| --- | --- | --- |")
    for name, (cold, warm) in figures.items():
        print(f"| {name} | {cold * 1000:,.0f} ms | {warm * 1000:,.0f} ms |")


if __name__ == "__main__":
    main()
