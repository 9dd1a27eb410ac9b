"""Batched ingest with and without 10,000 workflow enrollments waiting on another event.

    uv run python bench/workflows.py [--enrollments 10000] [--ingest 100000] [--runs 3]

Builds the demo (10,000 completions) with 10,000 more contacts and its own workflow turned off
(it waits for the event sent here: a record that moves on rewrites ``cbe.json``, whose size
grows with every enrollment, a cost of today's embedded store for any write of a record or an
enrollment), then two copies of it: one as it is, one with a workflow (turned on) that holds
each of those contacts in a "delay until event happens" for an event the benchmark never
sends. Strict batches of 500 (each input with its own
uuid) of the demo's buy button event, spread over every contact, go into a fresh copy of each,
alternately, each run in a new process; only the ``send_batch`` calls are timed (as ``scale.py``
times batched ingest), in wall time and in the process's CPU time (which other work on a busy
machine disturbs less). Every batch holds completions of enrolled contacts, so an ingest that
looked at the enrollments of the records it stores would pay for them.

The contacts and enrollments are written straight into ``cbe.json`` in one unit: one by one,
today's embedded store rebuilds its cache of every record (and enrollment) after each write.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(HERE))

from children import run_child  # noqa: E402  (bench/children.py)

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
WAITED_FOR = "viewed_pricing_page"  # what the enrollments wait for: never sent here


def prepare(folder: Path, contacts: int, enrollments: int) -> None:
    """Add ``contacts`` contacts to a demo, and a workflow holding ``enrollments`` of them."""
    from cli.bootstrap import open_services
    from core.clock import FixedClock
    from core.models import CrmRecord, ObjectType
    from core.workflow_models import (
        DelayUntilEventAction,
        Enrollment,
        Step,
        StepKind,
        enrollment_id,
    )

    services = open_services(folder, create=False, clock=FixedClock(NOW))
    db: Any = services.db
    for workflow in services.workflows.all():  # the demo's: it waits for the buy button
        services.workflows.set_enabled(workflow.id, False)
    first = int(services.db.records.next_id(ObjectType.CONTACT))
    ids = [str(first + i) for i in range(contacts)]
    with db.transaction() as unit:  # one log line for them all (storage/tables.py)
        for i in ids:
            db.records.insert(
                CrmRecord(
                    object_type=ObjectType.CONTACT,
                    id=i,
                    properties={"email": f"waiting{i}@example.com"},
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        unit.commit()
    if enrollments:
        workflow = services.workflows.create("Waiting", ObjectType.CONTACT)
        services.workflows.add_action(
            workflow.id, DelayUntilEventAction(id="a1", event_name=WAITED_FOR)
        )
        services.workflows.set_enabled(workflow.id, True)
        entered = NOW - timedelta(days=1)
        with db.transaction() as unit:
            for i in ids[:enrollments]:
                db.workflows.save_enrollment(
                    Enrollment(
                        id=enrollment_id(workflow.id, ObjectType.CONTACT, i),
                        workflow_id=workflow.id,
                        object_type=ObjectType.CONTACT,
                        object_id=i,
                        entered_at=entered,
                        history=[
                            Step(at=entered, kind=StepKind.ENROLLED, detail="by hand"),
                            Step(at=entered, kind=StepKind.ENTERED, action=0),
                        ],
                    )
                )
            unit.commit()
        active = services.db.workflows.list_enrollments(workflow.id, active_only=True)
        assert len(active) == enrollments, len(active)
    services.close()


def ingest(folder: str, count: str) -> dict[str, Any]:
    """Strict batches of 500 into ``folder``; only ``send_batch`` is timed."""
    from scale import BATCH, _chunks, bodies

    from api.server import ready_to_serve
    from cli.bootstrap import open_services, warm_up

    services = open_services(Path(folder), create=False)
    waiting = len(services.db.workflows.list_enrollments(None, active_only=True))
    ready_to_serve(lambda: warm_up(services))  # as `cbe serve` does before it listens
    stored = 0
    elapsed = cpu = 0.0
    for batch in _chunks(bodies(services, int(count)), BATCH):
        began, used = time.perf_counter(), time.process_time()
        stored += len(services.ingestion.send_batch({"inputs": batch}))
        elapsed += time.perf_counter() - began
        cpu += time.process_time() - used
    services.close()
    assert stored == int(count), stored
    return {"rate": stored / elapsed, "cpu": stored / cpu, "waiting": waiting}


def child(task: str, *args: str) -> dict[str, Any]:
    """Run ``task`` of this script in a fresh interpreter (bench/children.py)."""
    return run_child(__file__, task, *args, cwd=ROOT)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        task, rest = sys.argv[2], sys.argv[3:]
        print(json.dumps({"ingest": ingest}[task](*rest)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=10_000)
    parser.add_argument("--ingest", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the two databases here and keep them")
    args = parser.parse_args()
    from demodb import build_demo, clone_store

    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        sources: dict[int, Path] = {}
        for waiting in (0, args.enrollments):
            source = base / f"source-{waiting}"
            if not sources:
                build_demo(source, 10_000, now=NOW)
            else:
                clone_store(sources[0], source)
            sources[waiting] = source
        for waiting, source in sources.items():
            prepare(source, args.enrollments, waiting)
        rates: dict[int, list[float]] = {w: [] for w in sources}
        cpu: dict[int, list[float]] = {w: [] for w in sources}
        for run in range(args.runs):
            for waiting, source in sources.items():
                copy = base / f"run-{run}-{waiting}"
                clone_store(source, copy)
                result = child("ingest", str(copy), str(args.ingest))
                assert result["waiting"] >= waiting, result
                rates[waiting].append(result["rate"])
                cpu[waiting].append(result["cpu"])
                print(
                    f"run {run + 1}, {result['waiting']:,} active enrollments: "
                    f"{result['rate']:,.0f} completions/s, {result['cpu']:,.0f} per CPU second "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        for name, figures in (("wall time", rates), ("CPU time", cpu)):
            none, some = (statistics.median(figures[w]) for w in sources)
            print(
                f"batched ingest, strict, {args.ingest:,} per run, median of {args.runs}, "
                f"{name}: {none:,.0f}/s with no enrollment waiting, {some:,.0f}/s with "
                f"{args.enrollments:,} waiting on another event ({(some - none) / none:+.1%})"
            )


if __name__ == "__main__":
    main()
