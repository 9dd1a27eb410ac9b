"""What many background folds in a row cost a long-lived writer's memory (``cbe serve``).

    uv run python bench/fold_memory.py [--contacts 100000] [--folds 32]

Builds a database folder of N contacts (as bench/records.py does), opens it with
``background_folds`` (as ``cbe serve`` has it) and, ``--folds`` times, updates contacts (units
of 20, a job title each, and one contact looked up by email per unit) until the records' log
is folded in the fold's thread; after each fold (its new snapshot in place) it
prints the process's resident memory (VmRSS), the objects frozen out of the cycle collector
(``gc.get_freeze_count``: storage.database's _Interpreter.settle freezes the heap as each fold
begins), the full collections since the last line and the seconds and writes that fold took.
At the end, the heap unfrozen and collected whole: what the freezes kept (cycles of garbage)
is then freed. ``--no-freeze`` leaves the freeze out (to compare).
``CBE_ROOT`` names another checkout to measure (its code is imported instead of this one's).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("CBE_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

from records import build, email_of  # noqa: E402

from cli.bootstrap import open_services  # noqa: E402
from core.models import ObjectType  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--folds", type=int, default=32)
    parser.add_argument(
        "--no-freeze", action="store_true", help="no gc.freeze as a fold begins (to compare)"
    )
    args = parser.parse_args()
    if args.no_freeze:
        import storage.database

        storage.database._Interpreter.settle = staticmethod(lambda: None)  # type: ignore[method-assign]
    size = args.contacts
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; code: {ROOT}")
    full = [0]

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full[0] += 1

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "db"
        build(folder, size)
        services = open_services(folder, preferences=MemoryPreferences())
        db = services.db
        tables = db._tables  # type: ignore[attr-defined]
        db.background_folds = True  # type: ignore[attr-defined]
        gc.callbacks.append(counted)
        count, writes = 0, 0
        print("fold | RSS MB | frozen objects | full collections | seconds | writes")
        print(f"0 | {rss_mb():.1f} | {gc.get_freeze_count():,} | {full[0]} | 0 | 0")
        began_all = time.perf_counter()
        for number in range(1, args.folds + 1):
            log, began, written = tables._log, time.perf_counter(), writes
            while tables._log == log:  # until its new snapshot stands
                with db.transaction() as unit:
                    for _ in range(20):
                        count += 1
                        contact = str(1 + count * 7919 % size)
                        services.records.update(
                            ObjectType.CONTACT, contact, {"jobtitle": f"M{count}"}
                        )
                    services.records.find_contact(email_of(1 + count * 31 % size))
                    unit.commit()
                writes += 20
            took = time.perf_counter() - began
            print(
                f"{number} | {rss_mb():.1f} | {gc.get_freeze_count():,} | {full[0]} | "
                f"{took:.1f} | {writes - written:,}",
                flush=True,
            )
            full[0] = 0
        total = time.perf_counter() - began_all
        print(f"{writes:,} writes in {total:.0f} s ({writes / total:,.0f} a second)")
        before = rss_mb()
        unfrozen = gc.get_freeze_count()
        gc.unfreeze()
        collected = gc.collect()
        print(
            f"then gc.unfreeze() ({unfrozen:,} objects) and gc.collect(): {collected:,} "
            f"unreachable objects collected, RSS {before:.1f} -> {rss_mb():.1f} MB"
        )
        gc.callbacks.remove(counted)
        services.close()


if __name__ == "__main__":
    main()
