"""How long ``identify`` holds the database's write lock in a large store.

    uv run cbe demo --db /tmp/d1m --completions 1000000
    uv run python bench/identify.py --db /tmp/d1m [--runs 5]

Works on a copy of the database (segments hard-linked: they are only ever replaced). Each run
sends three completions of a new anonymous visitor through the collector's path (lenient, JS, a
``utk`` and no email), then times ``RecordService.identify``: the whole call, and the longest
time it held the write lock at a stretch (the file lock that every writer, in every process,
waits for), and each stretch (the contact's unit of work, then the swap of the rewritten
files). Three cases: the visitor's completions still in the open journal (as good as empty
at first), in an open journal filled to half a segment with strict sends of other contacts, and
folded into a full segment (filled up so that the journal folds), which identify rewrites.
Prints the median and the worst of each.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demodb import clone_store  # noqa: E402  (bench/demodb.py)

from cli.bootstrap import open_services  # noqa: E402
from core.ingestion import Mode  # noqa: E402
from core.models import ObjectType, Source  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402
from storage.completions import CompletionStore, segment_file  # noqa: E402
from storage.locking import DatabaseLock  # noqa: E402

BATCH = 500


class LockClock:
    """The stretches for which this process held the database's file lock."""

    def __init__(self) -> None:
        self.held: list[float] = []
        self._since = 0.0
        enter, leave = DatabaseLock.__enter__, DatabaseLock.__exit__
        clock = self

        def entering(lock: DatabaseLock) -> DatabaseLock:
            result = enter(lock)
            if lock._depth == 1:
                clock._since = time.perf_counter()
            return result

        def leaving(lock: DatabaseLock, *exc: Any) -> None:
            if lock._depth == 1:
                clock.held.append(time.perf_counter() - clock._since)
            leave(lock, *exc)

        DatabaseLock.__enter__ = entering  # type: ignore[method-assign]
        DatabaseLock.__exit__ = leaving  # type: ignore[method-assign]

    def longest_since(self, start: int) -> float:
        return max(self.held[start:], default=0.0)


def fill(services: Any, store: CompletionStore, rng: random.Random, upto: int = 0) -> None:
    """Strict sends of other contacts until the open journal holds ``upto`` completions, or
    (0) until it folds into a full segment."""
    event = next(
        d.fully_qualified_name
        for d in services.db.definitions.list_all()
        if d.primary_object is ObjectType.CONTACT
    )
    contacts = [r.id for r in services.db.records.list_records(ObjectType.CONTACT)]
    with services.db.transaction():
        store._refresh()
        assert store._tail is not None
        number = store._tail.number
    while True:
        with services.db.transaction():
            store._refresh()
            assert store._tail is not None
            if store._tail.number != number or (upto and store._tail.count >= upto):
                return
            left = (upto or segment_file.SEGMENT_SIZE) - store._tail.count
        inputs = [
            {
                "eventName": event,
                "objectId": rng.choice(contacts),
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "properties": {},
            }
            for _ in range(min(BATCH, left))
        ]
        services.ingestion.send_batch({"inputs": inputs})


CASES = ("journal", "half", "segment")


def where(case: str) -> str:
    half = segment_file.SEGMENT_SIZE // 2
    return {
        "journal": "in the open journal",
        "half": f"in an open journal of {half:,}",
        "segment": f"in a full segment of {segment_file.SEGMENT_SIZE:,}",
    }[case]


def measure(db: Path, runs: int, cases: tuple[str, ...] = CASES) -> dict[str, dict[str, Any]]:
    """Identify ``runs`` visitors in each of ``cases`` on a copy of ``db``: for each case the
    longest stretch the lock was held (``held``), the whole call (``whole``) and each stretch
    (``stretches``) of every run, in seconds; ``total``: the completions stored at the start."""
    clock = LockClock()
    rng = random.Random(1)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "db"
        clone_store(db, folder)
        services = open_services(folder, preferences=MemoryPreferences())
        try:
            event = next(
                d.fully_qualified_name  # a send names its event so
                for d in services.db.definitions.list_all()
                if d.primary_object is ObjectType.CONTACT
            )
            store: CompletionStore = services.db.completions  # type: ignore[assignment]
            total = sum(s.count for s in store.summaries().values())
            half = segment_file.SEGMENT_SIZE // 2
            for case in cases:
                whole, held = [], []
                stretches: list[list[float]] = []
                for run in range(runs):
                    utk = f"{case}{run:026x}"
                    body = {"eventName": event, "utk": utk, "properties": {}}
                    services.ingestion.ingest([body] * 3, Mode.LENIENT, Source.JS)
                    if case == "half":
                        fill(services, store, rng, upto=half)
                    if case == "segment":
                        fill(services, store, rng)
                        holding = [s for s in store._segments.values() if utk in s.visitors]
                        assert [s.count for s in holding] == [segment_file.SEGMENT_SIZE]
                    start = len(clock.held)
                    began = time.perf_counter()
                    _, moved = services.records.identify(utk, f"{utk}@example.com")
                    whole.append(time.perf_counter() - began)
                    held.append(clock.longest_since(start))
                    stretches.append(clock.held[start:])
                    assert moved == 3, moved
                results[case] = {
                    "held": held,
                    "whole": whole,
                    "stretches": stretches,
                    "total": total,
                    "load": os.getloadavg()[0],
                }
        finally:
            services.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="a demo database (copied)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for case, result in measure(args.db, args.runs).items():
        held, whole, stretches = result["held"], result["whole"], result["stretches"]
        print(
            f"identify at {result['total']:,} completions ({os.cpu_count()} CPUs, load "
            f"{result['load']:.1f}), the visitor's completions {where(case)}: "
            f"lock held at most {statistics.median(held) * 1000:.1f} ms (median; "
            f"worst {max(held) * 1000:.1f}), whole call "
            f"{statistics.median(whole) * 1000:.1f} ms (worst {max(whole) * 1000:.1f}) "
            f"over {args.runs} runs; each stretch, median: "
            + " + ".join(
                f"{statistics.median(s) * 1000:.1f} ms" for s in zip(*stretches, strict=False)
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
