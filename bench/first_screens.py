"""The app's first screens, this checkout against another, alternately (issue 18, item 5).

    uv run python bench/first_screens.py --db /tmp/d1m-copy --records-db /tmp/rec-copy \\
        --against /path/to/another/checkout [--pairs 5]

Two figures, each run in a fresh interpreter, the two checkouts' runs alternating (ABBA...) so
that both see the same machine; the first run of each checkout writes Python's bytecode caches
and is not counted:

- **app start**: from starting a process until the events home lists every event with its
  count (headless, 120x36), as ``scale.py``'s app start: ``cli.main`` imported, the store
  opened, the app run. Wall time from the parent, and the process's CPU time (all threads);
- **the Records list's first screen**: in an app open on ``--records-db`` (say 100,000
  contacts), from pushing the Records screen until the contacts table shows rows, as
  ``records.py``'s app row; the first time in the process and again. Wall time, and the CPU
  time of the app's thread (the list's worker thread reads the store beside it).

Each figure prints the median and the range over the pairs, beside the load average of the
machine when the runs were made (``os.getloadavg``). ``--db`` and ``--records-db`` are opened
by every run: give copies (the app takes their lock).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
# Children may write bytecode caches, as Python does on a user's machine after the first run.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

from children import run_child, started_app, until_ready  # noqa: E402  (bench/children.py)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_start(root: str, folder: str) -> None:
    """Run the app as ``cbe --db folder`` would, until the events home has its counts; print
    "ready" then, and the process's CPU time as JSON on the last line."""
    sys.path.insert(0, root)
    cpu = started_app(folder, _cpu)
    print(json.dumps({"cpu": cpu * 1000}))


def child_records(root: str, folder: str) -> None:
    """The Records list's first screen, then again, in an app open on ``folder``: JSON of wall
    and app-thread CPU milliseconds."""
    sys.path.insert(0, root)
    import asyncio

    from cli.bootstrap import open_services
    from core.ports import MemoryPreferences
    from tui.app import CbeApp
    from tui.screens.records import RecordsScreen

    services = open_services(folder, preferences=MemoryPreferences(), create=False)

    async def run() -> dict[str, list[float]]:
        app = CbeApp(services, refresh_seconds=0)
        figures: dict[str, list[float]] = {"wall": [], "cpu": []}
        async with app.run_test(size=(120, 36)) as pilot:
            for _ in range(2):  # the events home's load, then what its counts start
                await app.workers.wait_for_complete()
                await pilot.pause()
            for _ in range(2):
                cpu, began = time.thread_time(), time.perf_counter()
                await app.push_screen(RecordsScreen())
                table = app.screen.query_one("#table-contacts")
                while not table.row_count:  # type: ignore[attr-defined]
                    await pilot.pause(0.001)
                figures["wall"].append((time.perf_counter() - began) * 1000)
                figures["cpu"].append((time.thread_time() - cpu) * 1000)
                app.pop_screen()
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
        return figures

    figures = asyncio.run(run())
    services.close()
    print(json.dumps(figures))


def _start(root: Path, folder: Path) -> dict[str, float]:
    command = [sys.executable, str(HERE), "--child", "start", str(root), str(folder)]
    wall, found = until_ready(command, cwd=root, env=ENV)
    return {"wall": wall, "cpu": found["cpu"]}


def _records(root: Path, folder: Path) -> dict[str, float]:
    found = run_child(str(HERE), "records", str(root), str(folder), cwd=root, env=ENV)
    return {
        "first": found["wall"][0],
        "first cpu": found["cpu"][0],
        "again": found["wall"][1],
        "again cpu": found["cpu"][1],
    }


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ms ({min(values):,.0f} to {max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a copy of the million-completion demo")
    parser.add_argument("--records-db", type=Path, help="a copy of a 100,000-contact demo")
    parser.add_argument("--against", type=Path, required=True, help="the other checkout")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    roots = {"this": ROOT, "other": args.against.resolve()}
    measures: list[tuple[str, Callable[[Path], dict[str, float]]]] = []
    if args.db:
        measures.append(("app start", partial(_start, folder=args.db)))
    if args.records_db:
        measures.append(("Records list", partial(_records, folder=args.records_db)))
    loads: list[float] = []
    for name, measure in measures:
        for root in roots.values():
            measure(root)  # bytecode caches written: not counted
        runs: dict[str, list[dict[str, float]]] = {key: [] for key in roots}
        for pair in range(args.pairs):
            for key in list(roots) if pair % 2 == 0 else list(roots)[::-1]:
                runs[key].append(measure(roots[key]))
                loads.append(os.getloadavg()[0])
                print(f"{name}, {key}: {runs[key][-1]}", flush=True)
        for key, root in roots.items():
            figures = {f: _spread([run[f] for run in runs[key]]) for f in runs[key][0]}
            print(f"{name}, {key} ({root}): " + "; ".join(f"{f} {v}" for f, v in figures.items()))
    print(f"load average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "--child":
        {"start": child_start, "records": child_records}[sys.argv[2]](sys.argv[3], sys.argv[4])
    else:
        main()
