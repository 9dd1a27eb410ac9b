"""How long ``identify`` holds the database's write lock in a large store.

    uv run cbe demo --db /tmp/d200k --completions 200000
    uv run python bench/identify.py --db /tmp/d200k [--runs 5]

Works on a copy of the database: sends a few completions of an anonymous visitor through the
collector's path (lenient, JS, a ``utk`` and no email), folds part of them into a segment of their
own, then times ``RecordService.identify`` (the lock is held for all of it) for a new visitor each
run, and prints the median and the worst.
"""

from __future__ import annotations

import argparse
import functools
import operator
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.bootstrap import open_services  # noqa: E402
from core.ingestion import Mode  # noqa: E402
from core.models import ObjectType, Source  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402
from storage.completions import CompletionStore  # noqa: E402


def _mark(target: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "bench": 1} if doc["id"] == target else doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="a demo database (copied)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--folded",
        action="store_true",
        help="fold the journal (with the visitor's completions) into a segment before identify",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "db"
        shutil.copytree(args.db, folder)
        services = open_services(folder, preferences=MemoryPreferences())
        try:
            event = next(
                d.fully_qualified_name
                for d in services.db.definitions.list_all()
                if d.primary_object is ObjectType.CONTACT
            )
            store: CompletionStore = services.db.completions  # type: ignore[assignment]
            total = sum(s.count for s in store.summaries().values())
            times = []
            for run in range(args.runs):
                utk = f"{run:032x}"
                body = {"eventName": event, "utk": utk, "properties": {}}
                services.ingestion.ingest([body] * 3, Mode.LENIENT, Source.JS)
                if args.folded:
                    with services.db.transaction():
                        store._refresh()
                        store._fold()  # the segment to rewrite holds the journal's completions
                started = time.perf_counter()
                _, moved = services.records.identify(utk, f"visitor{run}@example.com")
                times.append(time.perf_counter() - started)
                assert moved == 3, moved
            print(
                f"identify at {total:,} completions ({os.cpu_count()} CPUs): "
                f"median {statistics.median(times) * 1000:.1f} ms, "
                f"worst {max(times) * 1000:.1f} ms over {args.runs} runs"
            )
            # When the visitor's completions were folded into a full segment, identify rewrites
            # that segment: the same work as changing one document of it.
            rewrites = []
            for _ in range(args.runs):
                with services.db.transaction():
                    store._refresh()
                    first = store._segments[min(store._segments)]
                    target = first.ids[0]
                    started = time.perf_counter()
                    store._rewrite(
                        functools.partial(_mark, target), functools.partial(operator.is_, first)
                    )
                    rewrites.append(time.perf_counter() - started)
            print(
                f"rewriting the one full segment ({first.count:,} completions) that holds a "
                f"visitor: median {statistics.median(rewrites) * 1000:.1f} ms"
            )
        finally:
            services.close()


if __name__ == "__main__":
    main()
