"""Records at scale: writing one record, the Records list's first screen and a search by email.

    uv run python bench/records.py [--sizes 1000,10000,100000] [--demo 100000]

For each size N it builds a database folder of N contacts in the layout of schema version 2
(every record in ``cbe.json``, as databases written before issue 18 are; a newer cbe upgrades
it when opening, and the time that takes is shown), then, in one process that opens it:

- the store: the Records list's first page (200 contacts; before issue 18: every contact, which
  the list showed), first in the process (the records read from disk) and again; a search for a
  whole email, first (the store makes its search text) and again; a contact found by email;
- the Records screen in the app (headless, 120x36): from pushing the screen until the contacts
  table shows rows, the first time and again (the store already read by the figures above);
- search by email on that screen: from typing a whole email into the search field until the
  table shows only that contact;
- create one contact / update one contact through ``RecordService`` (each its own unit of work,
  durable when it returns): median, p99 and slowest of up to 200 of each (fewer when each takes
  long);
- the write that folds the records' log into a new snapshot (once per sixteenth of the
  snapshot's size of writes): the log filled with units of updates until it nearly is due, then
  single updates, each timed, until one folds; the one that did, and the one after it;
- the same with the fold in a thread (``background_folds``, as ``cbe serve`` has it): every
  single update from just before the fold is due until its new snapshot stands, and the
  cycle collector's full collections meanwhile (how many, the slowest);
- the physical limit: one line appended to a file and fsynced, 200 times, in the same folder.

Then, each in a fresh process that opens the folder (cold: nothing of it read yet), the store's
answers again (the list's first page of every kind, the first search by email, the first
contact by email), and what ``cbe serve`` does before it listens (``warm_up``).

``--demo N`` times ``cbe demo --contacts N --completions 4000`` in a fresh process (``0``: not).
``CBE_ROOT`` names another checkout to measure (its code is imported instead of this one's).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(os.environ.get("CBE_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

if TYPE_CHECKING:
    from _typeshed import HasFileno

from cli.bootstrap import open_services  # noqa: E402
from core.models import ObjectType  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402
from core.services import Services  # noqa: E402
from tui.app import CbeApp  # noqa: E402
from tui.screens.records import RecordsScreen  # noqa: E402

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
FIRST = ["Ann", "Bo", "Cy", "Dee", "Eve", "Finn", "Gus", "Hal"]
LAST = ["Lee", "Ng", "Ortiz", "Park", "Quinn", "Roy", "Sato", "Tran"]
JOBS = ["Developer", "Marketing manager", "CTO", "Support lead", "Analyst"]


def email_of(i: int) -> str:
    return f"{FIRST[i % 8].lower()}.{LAST[i // 8 % 8].lower()}{i}@example{i % 97}.com"


def build(folder: Path, contacts: int) -> None:
    """A version 2 folder: the portal made by cbe, ``contacts`` contacts written into
    ``cbe.json`` directly (as thousands of creates would have left them)."""
    services = open_services(folder, portal_id=4242)
    services.close()
    shutil.rmtree(folder / "records", ignore_errors=True)
    stamp = NOW.isoformat().replace("+00:00", "Z")
    table = {
        str(i): {
            "objectType": "CONTACT",
            "id": str(i),
            "properties": {
                "email": email_of(i),
                "firstname": FIRST[i % 8],
                "lastname": LAST[i // 8 % 8],
                "jobtitle": JOBS[i % 5],
                "hubspotutk": f"{i:032x}",
            },
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
        for i in range(1, contacts + 1)
    }
    main = {"meta": {"1": {"schemaVersion": 2}}, "contacts": table}
    (folder / "cbe.json").write_bytes(orjson.dumps(main))


FSYNCS = [0.0]
"""Seconds spent in ``os.fsync`` so far (the disk's part of a write)."""
_fsync = os.fsync


def _timed_fsync(fd: int | HasFileno) -> None:  # as os.fsync
    began = time.perf_counter()
    try:
        _fsync(fd)
    finally:
        FSYNCS[0] += time.perf_counter() - began


os.fsync = _timed_fsync


def timed(action: object, limit: int, budget: float) -> tuple[list[float], list[float]]:
    """Seconds per call of ``action(i)``, up to ``limit`` calls or ``budget`` seconds, and of
    each the seconds not spent in ``os.fsync``."""
    found: list[float] = []
    besides: list[float] = []
    began = time.perf_counter()
    for i in range(limit):
        start, synced = time.perf_counter(), FSYNCS[0]
        action(i)  # type: ignore[operator]
        found.append(time.perf_counter() - start)
        besides.append(found[-1] - (FSYNCS[0] - synced))
        if time.perf_counter() - began > budget:
            break
    return found, besides


def _near_a_fold(
    services: Services, tables: Any, size: int, mark: str, stride: int
) -> Callable[[], None]:
    """Update contacts (``stride`` apart, a job title marked ``mark``) in units of 20, about
    10 KB of log each, until the records' log is within 20 KB of being due to fold; then the
    single update to time next."""
    import storage.tables

    records = services.records
    due = max(storage.tables.FOLD_FLOOR, tables._snapshot_size // storage.tables.FOLD_SHARE)
    count = 0

    def update() -> None:
        nonlocal count
        count += 1
        contact = str(1 + count * stride % size)
        records.update(ObjectType.CONTACT, contact, {"jobtitle": f"{mark}{count}"})

    while tables._offset < due - 20_000:
        with services.db.transaction() as unit:
            for _ in range(20):
                update()
            unit.commit()
    return update


def folding_write(services: Services, size: int) -> list[tuple[float, float]] | None:
    """The update that folds the records' log (see the module docstring) and the one after it
    (which reads what it needs of the new snapshot's index): seconds, and of them those not in
    ``os.fsync`` (None: a store without a log to fold)."""
    tables = getattr(services.db, "_tables", None)
    if tables is None or not hasattr(tables, "fold_due"):
        return None
    update = _near_a_fold(services, tables, size, "J", 7907)
    found: list[tuple[float, float]] = []
    for _ in range(10_000):
        before, start, synced = tables._offset, time.perf_counter(), FSYNCS[0]
        update()
        took = time.perf_counter() - start
        if found or tables._offset < before:  # folded: the log starts anew
            found.append((took, took - (FSYNCS[0] - synced)))
            if len(found) == 2:
                return found
    return None


FULL_COLLECTIONS: list[float] = []
"""Seconds each full collection of the cycle collector took while the last background fold
ran (writes_across_a_background_fold), timed with ``gc.callbacks``."""


def writes_across_a_background_fold(services: Services, size: int) -> list[float] | None:
    """With ``background_folds`` (as ``cbe serve`` has it): single updates, each timed, from
    just before the log is due until the fold started in a thread has put its snapshot in
    place (None: a store without them). The full collections meanwhile: FULL_COLLECTIONS."""
    db = services.db
    tables = getattr(db, "_tables", None)
    if tables is None or not hasattr(db, "background_folds"):
        return None
    db.background_folds = True
    update = _near_a_fold(services, tables, size, "B", 7919)
    log, found = tables._log, list[float]()
    began = [0.0]

    def timing(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                FULL_COLLECTIONS.append(time.perf_counter() - began[0])

    FULL_COLLECTIONS.clear()
    gc.callbacks.append(timing)
    try:
        while tables._log == log and len(found) < 100_000:
            start = time.perf_counter()
            update()
            found.append(time.perf_counter() - start)
    finally:
        gc.callbacks.remove(timing)
    db.background_folds = False
    return found


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


FILLS: list[float] = []
"""How long each of the list's fills took (its rows made from the store's answer)."""
_fill = RecordsScreen._fill


def _timed_fill(self: RecordsScreen) -> None:
    began = time.perf_counter()
    _fill(self)
    FILLS.append(time.perf_counter() - began)


RecordsScreen._fill = _timed_fill  # type: ignore[method-assign]


async def screen(services: object, email: str) -> tuple[float, float, float]:
    """First screen, again, and a search by email: seconds."""
    app = CbeApp(services, refresh_seconds=0)  # type: ignore[arg-type]
    figures = []
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(2):
            began = time.perf_counter()
            await app.push_screen(RecordsScreen())
            table = app.screen.query_one("#table-contacts")
            while not table.row_count:  # type: ignore[attr-defined]
                await pilot.pause(0.001)
            figures.append(time.perf_counter() - began)
            if len(figures) == 1:
                app.pop_screen()
                await pilot.pause()
        search = app.screen.query_one("#search")
        began = time.perf_counter()
        search.value = email  # type: ignore[attr-defined]
        while table.row_count != 1:  # type: ignore[attr-defined]
            await pilot.pause(0.001)
        figures.append(time.perf_counter() - began)
    return figures[0], figures[1], figures[2]


def store_page(services: Services, text: str | None = None) -> int:
    """What the Records list asks the store for: its first page (main: every record)."""
    records = services.records
    if hasattr(records, "page"):
        return len(records.page(ObjectType.CONTACT, text, limit=200).records)
    return len(records.search(ObjectType.CONTACT, text))


def physical_limit(folder: Path, lines: int = 200) -> list[float]:
    """Appending one 300-byte line to a file and fsyncing it, ``lines`` times: the least a
    durable write costs on this disk, measured in the same run."""
    path = folder / "limit.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    found = []
    try:
        for _ in range(lines):
            began = time.perf_counter()
            os.write(fd, b"x" * 299 + b"\n")
            os.fsync(fd)
            found.append(time.perf_counter() - began)
    finally:
        os.close(fd)
        path.unlink()
    return found


COLD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from cli.bootstrap import open_services, warm_up
from core.models import ObjectType
from core.ports import MemoryPreferences

def opened():
    began = time.perf_counter()
    services = open_services(sys.argv[2], preferences=MemoryPreferences())
    return services, time.perf_counter() - began

def page(services, kind, text=None):
    records = services.records
    if hasattr(records, "page"):
        return records.page(kind, text, limit=200)
    return records.search(kind, text)

figures = {}
services, figures["open"] = opened()
began = time.perf_counter()
for kind in ObjectType:
    page(services, kind)
figures["pages"] = time.perf_counter() - began
began = time.perf_counter()
page(services, ObjectType.CONTACT, sys.argv[3])
figures["search"] = time.perf_counter() - began
services.close()
services, _ = opened()
began = time.perf_counter()
services.records.find_contact(sys.argv[3])
figures["by_email"] = time.perf_counter() - began
services.close()
services, _ = opened()
began = time.perf_counter()
warm_up(services)
figures["warm_up"] = time.perf_counter() - began
services.close()
print(json.dumps(figures))
"""


def cold(folder: Path, email: str) -> dict[str, float]:
    """Seconds, in fresh processes that open ``folder``: see the module docstring."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", COLD, str(ROOT), str(folder), email],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return figures


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def measure(size: int, tmp: Path, budget: float) -> dict[str, str]:
    folder = tmp / f"db{size}"
    build(folder, size)
    began = time.perf_counter()
    services = open_services(folder, preferences=MemoryPreferences())
    opened = time.perf_counter() - began
    row: dict[str, str] = {"open, upgrade included (once)": f"{opened * 1000:,.0f} ms"}
    try:
        email = email_of(size // 2)
        for name, text in (
            ("store: first page, records read from disk", None),
            ("store: first page, again", None),
            ("store: search by email, first", email),
            ("store: search by email, again", email),
        ):
            began = time.perf_counter()
            store_page(services, text)
            row[name] = ms(time.perf_counter() - began)
        services.records.find_contact(email_of(size // 3))
        began = time.perf_counter()
        services.records.find_contact(email_of(size // 4))
        row["store: contact by email (exact)"] = ms(time.perf_counter() - began)
        FILLS.clear()
        first, again, search = asyncio.run(screen(services, email))
        row["app: Records list first screen"] = f"{first * 1000:,.0f} ms"
        row["app: Records list first screen, again"] = f"{again * 1000:,.0f} ms"
        row["app: search by email in the list"] = f"{search * 1000:,.0f} ms"
        row["app: of which the list's own work (first fill / search's fill)"] = (
            f"{ms(FILLS[0])} / {ms(FILLS[-1])}"
        )
        records = services.records
        created = timed(
            lambda i: records.create(ObjectType.CONTACT, {"email": f"new{i}@example.org"}),
            200,
            budget,
        )
        updated = timed(
            lambda i: records.update(
                ObjectType.CONTACT, str(1 + i * 7919 % size), {"firstname": f"F{i}"}
            ),
            200,
            budget,
        )
        folded = folding_write(services, size)
        beside = writes_across_a_background_fold(services, size)
        limit = physical_limit(folder)
    finally:
        services.close()
    found = cold(folder, email)
    row["fresh process: open"] = ms(found["open"])
    row["fresh process: first page of each kind (4)"] = ms(found["pages"])
    row["fresh process: first search by email"] = ms(found["search"])
    row["fresh process: first contact by email (exact)"] = ms(found["by_email"])
    row["fresh process: cbe serve's warm-up"] = ms(found["warm_up"])
    for name, values in (
        ("create one (median / p99 / slowest, count)", created[0]),
        ("create one: besides fsync", created[1]),
        ("update one (median / p99 / slowest, count)", updated[0]),
        ("update one: besides fsync", updated[1]),
        ("physical limit: append + fsync one line", limit),
    ):
        row[name] = (
            f"{ms(statistics.median(values))} / {ms(p99(values))} / {ms(max(values))} "
            f"({len(values)})"
        )
    row["updates while a fold runs in the background: median / p99 / slowest (count)"] = (
        "n/a"
        if beside is None
        else f"{ms(statistics.median(beside))} / {ms(p99(beside))} / {ms(max(beside))} "
        f"({len(beside)})"
    )
    row["full collections while it runs: count, slowest"] = (
        f"{len(FULL_COLLECTIONS)}, {ms(max(FULL_COLLECTIONS, default=0.0))}"
    )
    row["the update that folds the log / the next (besides fsync)"] = (
        "n/a"
        if folded is None
        else " / ".join(f"{ms(took)} ({ms(besides)})" for took, besides in folded)
    )
    shutil.rmtree(folder)
    return row


def demo(contacts: int, tmp: Path, timeout: float) -> str:
    folder = tmp / "demo"
    command = [sys.executable, "-m", "cli", "demo", "--db", str(folder)]
    command += ["--contacts", str(contacts), "--completions", "4000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    try:
        subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"not done after {timeout:,.0f} s"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return f"{time.perf_counter() - began:,.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--demo", type=int, default=100_000)
    parser.add_argument("--demo-timeout", type=float, default=900.0)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per write figure")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f"; code: {ROOT}"
    )
    rows: dict[int, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            rows[size] = measure(size, Path(tmp), args.budget)
            print(f"{size:,} contacts: {rows[size]}", flush=True)
        made = demo(args.demo, Path(tmp), args.demo_timeout) if args.demo else None
    print()
    print("| figure | " + " | ".join(f"{s:,} contacts" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for name in rows[sizes[0]]:
        print(f"| {name} | " + " | ".join(rows[s][name] for s in sizes) + " |")
    if made is not None:
        print(f"\n`cbe demo --contacts {args.demo:,} --completions 4000`: {made}")


if __name__ == "__main__":
    main()
