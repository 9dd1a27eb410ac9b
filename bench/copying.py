"""How fast ``cbe copy`` moves a portal from one database folder to another.

    uv run python bench/copying.py [--completions 100000] [--batch 2000] [--db PATH]

Builds a small demo (200 contacts, 2,000 completions) and fills it up to ``--completions`` with
copies of its completions (new ids and uuids, spread over the same 90 days), appended in
batches through the port: building the whole demo at that size takes a long time on a busy
machine, and a copy does not care how completions came. Or it uses the database given by
``--db``, which is only read. Then copies it into a new folder as ``cbe copy`` does
(core.copying over the two folders' ports) and prints the time of the whole copy, of its
completions, and completions per second.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demodb import build_demo  # noqa: E402  (bench/demodb.py)

from cli.bootstrap import open_services  # noqa: E402
from core.copying import COMPLETIONS, copy_portal  # noqa: E402
from core.ports import CompletionSelection, MemoryPreferences  # noqa: E402

SEED_COMPLETIONS = 2000


def fill(folder: Path, completions: int) -> None:
    """Add copies of the demo's completions until ``folder`` holds ``completions``."""
    services = open_services(folder, create=False, preferences=MemoryPreferences())
    db = services.db
    seeds = list(db.completions.scan(CompletionSelection(newest_first=False)))
    made = len(seeds)
    while made < completions:
        chunk = []
        for seed in seeds[: min(5000, completions - made)]:
            made += 1
            key = f"copy-{made:08d}"
            shift = timedelta(seconds=made % 86_400)
            chunk.append(
                seed.model_copy(
                    update={"id": key, "uuid": key, "occurred_at": seed.occurred_at - shift}
                )
            )
        with db.transaction() as unit:
            db.completions.append(chunk)
            unit.commit()
    services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--db", type=Path, default=None, help="An existing database to copy.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cbe-copy-bench-") as tmp:
        source = args.db
        if source is None:
            source = Path(tmp) / "source"
            began = time.perf_counter()
            build_demo(source, SEED_COMPLETIONS, contacts=200)
            fill(source, args.completions)
            took = time.perf_counter() - began
            print(f"source with {args.completions:,} completions built in {took:.1f} s")
        reading = open_services(
            source, create=False, read_only=True, preferences=MemoryPreferences()
        )
        writing = open_services(
            Path(tmp) / "copy",
            portal_id=reading.db.portal.portal_id,
            preferences=MemoryPreferences(),
        )
        marks: dict[str, float] = {}

        def progress(kind: str, done: int, total: int) -> None:
            marks.setdefault(f"{kind} began", time.perf_counter())
            if done >= total:
                marks.setdefault(f"{kind} ended", time.perf_counter())

        began, cpu = time.perf_counter(), time.process_time()
        report = copy_portal(reading.db, writing.db, batch=args.batch, progress=progress)
        whole = time.perf_counter() - began
        cpu = time.process_time() - cpu
        reading.close()
        writing.close()
    copied = {c.kind: c.copied for c in report.counts}[COMPLETIONS]
    phase = marks[f"{COMPLETIONS} ended"] - marks[f"{COMPLETIONS} began"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"verified: {report.verified}; {report.copied:,} items written, batch {args.batch}")
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| whole copy (counts and checks included) | {whole:.2f} s ({cpu:.2f} s of CPU) |")
    print(f"| completions copied | {copied:,} in {phase:.2f} s |")
    print(f"| completions per second, folder to folder | {copied / phase:,.0f}/s |")
    print(f"| peak memory of the process | {peak:,.0f} MiB |")


if __name__ == "__main__":
    main()
