"""The analyze numbers on PostgreSQL two ways, side by side on one database: schema version
2's query over ``completions`` and version 3's count over the summaries of days
(storage.postgres.completions), alternately, each on a fresh connection; both must agree.

    uv run python bench/pg_day_counts.py --db postgresql://.../cbe_scale_big [--runs 4]

Times the busiest event over the last 90 days by day (scale.py's "analyze one"), then the same
period begun at 07:13 on its first day and ended at 19:00 on its last (its partial days are
read from the table); then checks every event over 120 days by day and over a period that
begins and ends mid-day. The database must be at schema version 3 (open it with cbe once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from storage.postgres.completions import _count

Counts = tuple[list[int], int]
Conn = psycopg.Connection[tuple[Any, ...]]


def old_count(conn: Conn, name: str, edges: Sequence[datetime]) -> Counts:
    """Schema version 2's query: every completion of the period, from the covering index."""
    series = [0] * (len(edges) - 1)
    for bucket, count in conn.execute(
        "SELECT width_bucket(occurred_at, %s::timestamptz[]), count(*) FROM completions"
        " WHERE event_name = %s AND occurred_at >= %s AND occurred_at < %s GROUP BY 1",
        [list(edges), name, edges[0], edges[-1]],
    ).fetchall():
        series[bucket - 1] += count
    row = conn.execute(
        "SELECT count(*) FROM (SELECT DISTINCT object_type, object_id FROM completions"
        " WHERE event_name = %s AND occurred_at >= %s AND occurred_at < %s"
        " AND object_id IS NOT NULL) d",
        [name, edges[0], edges[-1]],
    ).fetchone()
    return series, int(row[0]) if row else 0


def new_count(conn: Conn, name: str, edges: Sequence[datetime]) -> Counts:
    series, records = _count(conn, [name], edges)
    return series[name], records[name]


def side_by_side(url: str, name: str, periods: dict[str, list[datetime]], runs: int) -> None:
    ways: dict[str, Callable[[Conn, str, Sequence[datetime]], Counts]] = {
        "version 2": old_count,
        "version 3": new_count,
    }
    times: dict[tuple[str, str], list[float]] = {}
    for run in range(runs):
        for label, edges in periods.items():
            found: dict[str, Counts] = {}
            for how in sorted(ways, reverse=run % 2 == 1):  # alternate which goes first
                with psycopg.connect(url) as conn:
                    began = time.perf_counter()
                    found[how] = ways[how](conn, name, edges)
                    elapsed = (time.perf_counter() - began) * 1000
                times.setdefault((label, how), []).append(elapsed)
            assert found["version 2"] == found["version 3"], (label, found)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{time.strftime('%H:%M:%S')} UTC, load {load}: {name}, equal both ways")
    for (label, how), values in times.items():
        shown = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {label}, {how}: median {statistics.median(values):.0f} ms ({shown})")


def check_all(url: str) -> None:
    """Every event, by day over 120 days up to tomorrow and over a period from 03:00 thirty
    days ago to 11:00 today: the same numbers both ways."""
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow += timedelta(days=1)
    by_day = [tomorrow - timedelta(days=120 - k) for k in range(121)]
    three_in_the_morning = tomorrow - timedelta(days=31) + timedelta(hours=3)
    mid_day = [three_in_the_morning, tomorrow - timedelta(days=7), tomorrow - timedelta(hours=13)]
    with psycopg.connect(url) as conn:
        names = [
            str(r[0]) for r in conn.execute("SELECT DISTINCT event_name FROM completion_counts")
        ]
        for edges in (by_day, mid_day):
            for name in names:
                assert old_count(conn, name, edges) == new_count(conn, name, edges), name
    print(f"every event ({len(names)}) by day over 120 days and mid-day to mid-day: equal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="postgresql://... (schema version 3)")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    with psycopg.connect(args.db) as conn:
        row = conn.execute(
            "SELECT event_name, sum(count) FROM completion_counts GROUP BY 1 ORDER BY 2 DESC"
        ).fetchone()
        last = conn.execute("SELECT max(occurred_at) FROM completions").fetchone()
    assert row and last, "no completions"
    today = last[0].astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    midnights = [today - timedelta(days=90 - k) for k in range(91)]
    mid_day = [
        midnights[0] + timedelta(hours=7, minutes=13),
        *midnights[1:-1],
        midnights[-1] - timedelta(hours=5),
    ]
    side_by_side(args.db, str(row[0]), {"midnights": midnights, "mid-day ends": mid_day}, args.runs)
    check_all(args.db)


if __name__ == "__main__":
    main()
