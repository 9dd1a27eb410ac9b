"""The rows of issue 18 ("every report and every write instant") in ``scale.py``'s table.

Measured by the functions of ``reports.py``, ``identify.py``, ``workflows.py`` and
``records.py`` (imported, not copied), each group in a fresh process, on copies of the
databases (segments hard-linked):

- ``cbe report event`` and ``cbe report attribution`` as whole commands beside
  ``cbe report analyze`` (each in a new process), over the last 90 days of today;
- the event report's and attribution's work after the store is open (cold), and the app's two
  screens from opening until a frame with their numbers is drawn;
- identify's longest stretch of the write lock, the visitor's completions in the open journal
  and in a full segment;
- batched ingest into the 10,000-completion demo with 10,000 active enrollments waiting on
  another event, beside none (alternately, each run in a new process);
- with ``--records``, records at 100,000 contacts (minutes): create and update one, the store's
  search by email and its first page.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(HERE))

from children import run_child  # noqa: E402  (bench/children.py)

EVENT = "viewed_pricing_page"
CONVERTING = "started_trial"
ENROLLMENTS = 10_000
RECORDS = 100_000

Row = tuple[str, str, Any, float | None, float | None, bool, str]
"""A row of scale.py's table: label, target, cbe, plain TinyDB, physical limit, whether higher
is better, and the kind of figure (rate, ms, mib, text)."""


def _period() -> Any:
    from core.analytics import RangePreset, resolve_range

    return resolve_range(RangePreset.LAST_90_DAYS, datetime.now(UTC))


def report_work(folder: str, runs: str) -> dict[str, Any]:
    """The reports' work after open (cold) and the app's two screens, in milliseconds."""
    from reports import app_time, cold

    from core.analytics import Dimension

    db, count, period = Path(folder), int(runs), _period()
    result: dict[str, Any] = {}

    def report(services: Any) -> object:
        return services.reports.event_report(services.definitions.get(EVENT), period)

    result["report"] = cold(db, count, report) * 1000
    for dimension in Dimension:

        def attribution(services: Any, dimension: Dimension = dimension) -> object:
            definition = services.definitions.get(CONVERTING)
            return services.reports.attribution(definition, period, dimension)

        result[f"attribution {dimension.label}"] = cold(db, count, attribution) * 1000
    result["app report"] = app_time(db, period, "report", EVENT, count) * 1000
    result["app attribution"] = app_time(db, period, "attribution", CONVERTING, count) * 1000
    return result


def identify_lock(folder: str, runs: str) -> dict[str, Any]:
    """Identify's longest stretch of the lock (median of runs, ms) in the journal and in a
    full segment."""
    from identify import measure

    cases = measure(Path(folder), int(runs), ("journal", "segment"))
    return {
        case: {
            "held": statistics.median(r["held"]) * 1000,
            "worst": max(r["held"]) * 1000,
            "load": r["load"],
        }
        for case, r in cases.items()
    }


def prepare_enrollments(folder: str, waiting: str) -> dict[str, Any]:
    from workflows import prepare

    prepare(Path(folder), ENROLLMENTS, int(waiting))
    return {}


def records_at(size: str, budget: str) -> dict[str, Any]:
    from records import measure

    with tempfile.TemporaryDirectory() as tmp:
        return dict(measure(int(size), Path(tmp), float(budget)))


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "report-work": report_work,
    "identify": identify_lock,
    "prepare-enrollments": prepare_enrollments,
    "records": records_at,
}


def child(task: str, *args: str) -> dict[str, Any]:
    """Run ``task`` of this script in a fresh interpreter (bench/children.py)."""
    return run_child(__file__, task, *args, cwd=ROOT)


def rows(
    large: Path,
    small: Path,
    work: Path,
    runs: int,
    ingest: int,
    records: bool,
    say: Callable[[str], None],
) -> list[Row]:
    """Measure issue 18's figures (``large``: the million; ``small``: the 10,000 demo; copies
    go in ``work``) and return them as rows of scale.py's table."""
    from demodb import clone_store
    from reports import command
    from workflows import child as workflow_child

    copy = work / "instant-reports"
    clone_store(large, copy)  # reports may write summaries a database lacks
    say("issue 18: report commands")
    common = ["--db", str(copy), "--range", "last_90_days"]
    analyze = command(["report", "analyze", *common], runs) * 1000
    event = command(["report", "event", EVENT, *common], runs) * 1000
    attribution = command(["report", "attribution", CONVERTING, *common], runs) * 1000
    say("issue 18: report work and the app's report screens")
    work_ms = child("report-work", str(copy), str(runs))
    say("issue 18: identify's lock")
    held = child("identify", str(copy), str(runs))
    say("issue 18: ingest beside waiting enrollments")
    sources: dict[int, Path] = {}
    for waiting in (0, ENROLLMENTS):
        sources[waiting] = work / f"instant-enrolled-{waiting}"
        clone_store(small, sources[waiting])
        child("prepare-enrollments", str(sources[waiting]), str(waiting))
    rates: dict[int, list[float]] = {0: [], ENROLLMENTS: []}
    for run in range(runs):
        for waiting, source in sources.items():
            target = work / f"instant-ingest-{run}-{waiting}"
            clone_store(source, target)
            rates[waiting].append(workflow_child("ingest", str(target), str(ingest))["rate"])
    none, some = (statistics.median(rates[w]) for w in (0, ENROLLMENTS))
    result: list[Row] = [
        ("`cbe report analyze`, last 90 days (the baseline)", "", analyze, None, None, False, "ms"),
        (f"`cbe report event {EVENT}`", "<= analyze + 1 s", event, None, None, False, "ms"),
        (
            f"`cbe report attribution {CONVERTING}`",
            "<= analyze + 1 s",
            attribution,
            None,
            None,
            False,
            "ms",
        ),
        (
            "event report, work after open, cold",
            "<= 300 ms",
            work_ms["report"],
            None,
            None,
            False,
            "ms",
        ),
    ]
    for key, value in work_ms.items():
        if key.startswith("attribution "):
            label = f"attribution by {key.removeprefix('attribution ')}, work after open, cold"
            result.append((label, "<= 300 ms", value, None, None, False, "ms"))
    result += [
        (
            "app: event report screen to its numbers drawn",
            "<= 300 ms",
            work_ms["app report"],
            None,
            None,
            False,
            "ms",
        ),
        (
            "app: attribution screen to its numbers drawn",
            "<= 300 ms",
            work_ms["app attribution"],
            None,
            None,
            False,
            "ms",
        ),
        (
            "identify: longest stretch of the write lock, visitor in the open journal",
            "<= 50 ms",
            held["journal"]["held"],
            None,
            None,
            False,
            "ms",
        ),
        (
            "identify: the same, visitor in a full segment of 20,000",
            "<= 50 ms",
            held["segment"]["held"],
            None,
            None,
            False,
            "ms",
        ),
        (
            f"batched ingest, 10,000 stored, no enrollment waiting ({ingest:,} per run)",
            "",
            none,
            None,
            None,
            True,
            "rate",
        ),
        (
            f"the same, {ENROLLMENTS:,} enrollments waiting on another event "
            f"({(some - none) / none:+.1%})",
            "< 5% slower",
            some,
            None,
            None,
            True,
            "rate",
        ),
    ]
    if records:
        say(f"issue 18: records at {RECORDS:,} contacts")
        figures = child("records", str(RECORDS), "20")
        for name, text in figures.items():
            label = f"records at {RECORDS:,} contacts: {name}"
            result.append((label, "", text, None, None, False, "text"))
    return result


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]](*sys.argv[3:])), flush=True)
