"""A million completions on the embedded store, beside plain TinyDB and the physical limit.

    uv run python bench/scale.py [--db PATH] [--completions 1000000] [--ingest 100000]

Builds the demo with ``--completions`` (or uses an existing database given by ``--db``) and a
small demo with 10,000, then prints one table of the storage-at-scale figures. Each figure is
measured three ways in the same run, each in a fresh process:

- **cbe**: the real store (``storage/``), through the same services the app and ``cbe serve`` use;
- **plain TinyDB**: the same documents in one TinyDB file with ``JSONStorage``, one ``insert`` per
  completion and ``search`` for reads (what TinyDB does without cbe's store around it);
- **physical limit**: the same documents as JSON lines appended to one file, one ``fsync`` per
  batch (or per request for single sends), and reads that scan that file (what any store without
  indexes must do at least).

Writes go to copies of the databases (segments are hard-linked, they are never changed in place),
so ``--db`` is left as it was. Single sends are driven over HTTP by ``wrk`` against a real
``cbe serve``; without ``wrk`` on the PATH that row says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scale_instant  # noqa: E402  (bench/scale_instant.py)
from children import run_child, started_app, until_ready  # noqa: E402  (bench/children.py)
from demodb import build_demo, clone_store  # noqa: E402  (bench/demodb.py)

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
BATCH = 500  # HubSpot's largest batch
EVENT = "clicked_buy_button"  # the event the write benchmarks send
TIMELINE_SIZE = 10_000  # the timeline figure uses the record whose count is nearest this


# ---------------------------------------------------------------------------------------------
# helpers


def peak_mib() -> float:
    """The most resident memory this process has had."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Resident memory of this process now, from /proc (peak from getrusage elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Children may write bytecode caches, as Python does on a user's machine after the first run.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def child(task: str, *args: str) -> dict[str, Any]:
    """Run ``task`` of this script in a fresh interpreter (bench/children.py)."""
    return run_child(__file__, task, *args, cwd=ROOT, env=ENV)


def stored_docs(folder: Path) -> Iterator[bytes]:
    """The stored completions of a cbe database as JSON documents, oldest segment first."""
    import orjson

    from storage.completions import read_segment

    completions = folder / "completions"
    for path in sorted(completions.glob("seg-*.json")):
        docs, _ = read_segment(path)
        for doc in docs:
            yield orjson.dumps(doc)
    for path in sorted(completions.glob("journal-*.jsonl")):
        with path.open("rb") as journal:
            for line in journal:
                if line.endswith(b"\n"):
                    for doc in orjson.loads(line)["docs"]:
                        yield orjson.dumps(doc)


def write_baselines(folder: Path, plain: Path, lines: Path) -> int:
    """Write a database's completions as one plain TinyDB file and as a JSON lines file."""
    count = 0
    with plain.open("wb") as tiny, lines.open("wb") as jsonl:
        tiny.write(b'{"_default": {')
        for count, doc in enumerate(stored_docs(folder), 1):
            tiny.write((b", " if count > 1 else b"") + b'"%d": ' % count + doc)
            jsonl.write(doc + b"\n")
        tiny.write(b"}}")
    return count


def bodies(services: Any, count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Valid strict send bodies for the demo's buy button event, spread over its contacts."""
    import random

    from core.models import ObjectType

    rng = random.Random(seed)
    event = services.definitions.get(EVENT).fully_qualified_name
    contacts = [r.id for r in services.db.records.list_records(ObjectType.CONTACT)]
    plans = {"starter": 29, "professional": 99, "enterprise": 499}
    for _ in range(count):
        plan = rng.choice(list(plans))
        yield {
            "eventName": event,
            "objectId": rng.choice(contacts),
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "properties": {
                "button_location": rng.choice(["header", "pricing_table", "footer"]),
                "plan": plan,
                "price": plans[plan],
                "hs_page_url": "https://www.example.com/pricing",
                "hs_touchpoint_source": rng.choice(["DIRECT_TRAFFIC", "ORGANIC_SEARCH"]),
            },
        }


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}/s" if value >= 10 else f"{value:.2g}/s"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f} ms" if value < 10 else f"{value:,.0f} ms"


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def ratio(cbe: float | None, other: float | None, higher_is_better: bool) -> str:
    """How many times better cbe does than ``other`` (below 1: worse)."""
    if cbe is None or other is None or cbe == 0 or other == 0:
        return "n/a"
    times = cbe / other if higher_is_better else other / cbe
    return f"{times:,.2f}x" if times < 10 else f"{times:,.0f}x"


# ---------------------------------------------------------------------------------------------
# children: cbe


def cbe_ingest(folder: str, count: str, dump: str, seed: str = "1") -> dict[str, Any]:
    """Strict, durable batches of 500 into ``folder``; the stored documents go to ``dump``.

    Only the ``send_batch`` calls are timed. Each batch is made just before it is sent, and
    what it stored is written out as JSON right after, so that the benchmark holds no more
    objects in memory than a server would (Python's collector scans whatever is held).
    """
    import orjson

    from api.server import ready_to_serve
    from cli.bootstrap import database_target, open_services, warm_up

    services = open_services(database_target(folder), create=False)
    before = sum(s.count for s in services.db.completions.summaries().values())
    ready_to_serve(lambda: warm_up(services))  # as `cbe serve` does before it listens
    stored = 0
    elapsed = 0.0
    with open(dump, "wb") as out:
        for batch in _chunks(bodies(services, int(count), int(seed)), BATCH):
            began = time.perf_counter()
            completions = services.ingestion.send_batch({"inputs": batch})
            elapsed += time.perf_counter() - began
            stored += len(completions)
            out.write(b"".join(orjson.dumps(c.to_json()) + b"\n" for c in completions))
    after = sum(s.count for s in services.db.completions.summaries().values())
    services.close()
    assert after - before == stored == int(count), (before, after, stored)
    return {"rate": stored / elapsed, "before": before}


def _chunks(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000


def cbe_reads(folder: str, runs: str) -> dict[str, Any]:
    """Timeline first page and analyze numbers, each cold (just opened) and warm."""
    from cli.bootstrap import database_target, open_services
    from core.analytics import Frequency, RangePreset, buckets, resolve_range
    from core.clock import FixedClock
    from core.ports import MemoryPreferences

    services = open_services(database_target(folder), create=False, preferences=MemoryPreferences())
    counts = services.db.completions.record_summaries()
    (kind, record_id), summary = min(
        counts.items(), key=lambda item: abs(item[1].count - TIMELINE_SIZE)
    )
    totals = services.db.completions.summaries()
    busiest = max(totals, key=lambda name: totals[name].count)
    now = max(s.last_occurred_at for s in totals.values() if s.last_occurred_at)
    services.close()
    period = resolve_range(RangePreset.LAST_90_DAYS, now)
    slots = buckets(period, Frequency.DAILY)
    edges = [
        period.after,
        *(datetime.combine(day, datetime.min.time(), tzinfo=UTC) for day in slots[1:]),
        period.before,
    ]
    figures: dict[str, list[float]] = {}

    def measure(name: str, work: Callable[[Any], object]) -> None:
        for _ in range(int(runs)):
            services = open_services(
                database_target(folder),
                create=False,
                clock=FixedClock(now),
                preferences=MemoryPreferences(),
            )
            try:
                for phase in ("cold", "warm"):
                    began = time.perf_counter()
                    work(services)
                    elapsed = (time.perf_counter() - began) * 1000
                    figures.setdefault(f"{name} {phase}", []).append(elapsed)
            finally:
                services.close()

    def first_page(services: Any) -> None:
        record = services.records.get(kind, record_id)
        page = services.timeline.page(record, limit=50)
        assert len(page.entries) == 50

    measure("timeline", first_page)
    measure("analyze one", lambda s: s.db.completions.tally([busiest], edges))
    measure("analyze all", lambda s: s.reports.analyze(period, Frequency.DAILY))
    result: dict[str, Any] = {k: statistics.median(v) for k, v in figures.items()}
    result |= {
        "record": f"{kind.value} {record_id}",
        "record_count": summary.count,
        "event": busiest,
        "event_count": totals[busiest].count,
        "now": now.isoformat(),
    }
    return result


def cbe_app(folder: str) -> dict[str, Any]:
    """Start the app on ``folder`` (headless, 120x36) until the first screen has its numbers."""
    rss = started_app(folder, rss_mib)
    return {"rss": rss, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cbe_open(folder: str) -> dict[str, Any]:
    """Open the store and count every event's completions (the first screen's numbers)."""
    from cli.bootstrap import database_target, open_services

    before = rss_mib()
    began = time.perf_counter()
    services = open_services(database_target(folder), create=False)
    counts = services.db.completions.summaries()
    elapsed = time.perf_counter() - began
    assert counts
    rss = rss_mib()
    services.close()
    return {"open": elapsed * 1000, "rss": rss, "data": peak_mib() - before}


# ---------------------------------------------------------------------------------------------
# children: plain TinyDB


def plain_insert(path: str, docs: str, budget: str) -> dict[str, Any]:
    """One TinyDB ``insert`` per completion for ``budget`` seconds (at least one)."""
    import orjson
    from tinydb import TinyDB

    lines = Path(docs).read_bytes().splitlines()
    database = TinyDB(path)
    table = database.table("_default")
    done = 0
    began = time.perf_counter()
    while done < len(lines) and (done == 0 or time.perf_counter() - began < float(budget)):
        table.insert(orjson.loads(lines[done]))
        done += 1
    elapsed = time.perf_counter() - began
    database.close()
    return {"rate": done / elapsed, "inserts": done, "seconds": elapsed}


def plain_reads(
    path: str, object_type: str, object_id: str, event: str, now: str
) -> dict[str, Any]:
    """Timeline first page, one event's and every event's daily counts, with TinyDB ``search``."""
    from tinydb import Query, TinyDB

    completion = Query()
    database = TinyDB(path)
    table = database.table("_default")
    after, before = _window(datetime.fromisoformat(now))

    def first_page() -> None:
        found = table.search(
            (completion.objectType == object_type) & (completion.objectId == object_id)
        )
        found.sort(key=lambda doc: doc["occurredAt"], reverse=True)
        assert len(found[:50]) == 50

    def one_event() -> None:
        found = table.search(
            (completion.eventName == event)
            & completion.occurredAt.test(lambda at: after <= at < before)
        )
        _daily(found)

    def all_events() -> None:
        found = table.search(completion.occurredAt.test(lambda at: after <= at < before))
        _daily(found)

    result = {
        "timeline": _timed(first_page),
        "analyze one": _timed(one_event),
        "analyze all": _timed(all_events),
    }
    database.close()
    return result


def plain_open(path: str) -> dict[str, Any]:
    """What a plain TinyDB app must do before its first screen: read and count every event."""
    from collections import Counter

    from tinydb import TinyDB

    before = rss_mib()
    began = time.perf_counter()
    database = TinyDB(path)
    counts = Counter(doc["eventName"] for doc in database.table("_default").all())
    elapsed = time.perf_counter() - began
    rss = rss_mib()
    database.close()
    # TinyDB keeps nothing between reads: its memory is what one read of the file takes
    return {"open": elapsed * 1000, "events": len(counts), "rss": rss, "data": peak_mib() - before}


def _window(now: datetime) -> tuple[str, str]:
    """The analyze screen's last 90 days as ``occurredAt`` strings (they sort as times)."""
    from core.analytics import RangePreset, resolve_range
    from core.clock import format_utc

    period = resolve_range(RangePreset.LAST_90_DAYS, now)
    return format_utc(period.after), format_utc(period.before)


def _daily(docs: Sequence[Mapping[str, Any]]) -> dict[tuple[str, date], int]:
    from collections import Counter

    return Counter((d["eventName"], date.fromisoformat(d["occurredAt"][:10])) for d in docs)


# ---------------------------------------------------------------------------------------------
# children: the physical limit


def limit_append(docs: str, target: str, per: str) -> dict[str, Any]:
    """Append JSON lines to ``target`` with one fsync per ``per`` lines."""
    lines = Path(docs).read_bytes().splitlines(keepends=True)
    size = int(per)
    descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    began = time.perf_counter()
    for start in range(0, len(lines), size):
        os.write(descriptor, b"".join(lines[start : start + size]))
        os.fsync(descriptor)
    elapsed = time.perf_counter() - began
    os.close(descriptor)
    return {"rate": len(lines) / elapsed}


def limit_reads(
    path: str, object_type: str, object_id: str, event: str, now: str
) -> dict[str, Any]:
    """Scan the JSON lines file for a timeline page and for daily counts."""
    import orjson

    after, before = _window(datetime.fromisoformat(now))
    record_mark = b'"objectId":"%s"' % object_id.encode()
    event_mark = b'"eventName":"%s"' % event.encode()

    def scan(mark: bytes | None) -> list[dict[str, Any]]:
        found = []
        with open(path, "rb") as lines:
            for line in lines:
                if mark is None or mark in line:
                    found.append(orjson.loads(line))
        return found

    def first_page() -> None:
        found = [
            d
            for d in scan(record_mark)
            if d["objectType"] == object_type and d["objectId"] == object_id
        ]
        found.sort(key=lambda doc: doc["occurredAt"], reverse=True)
        assert len(found[:50]) == 50

    def one_event() -> None:
        found = scan(event_mark)
        _daily([d for d in found if d["eventName"] == event and after <= d["occurredAt"] < before])

    def all_events() -> None:
        # parsing only the time of each line, the least a scan without an index can do
        at = re.compile(rb'"occurredAt":"([^"]+)"')
        counts: dict[bytes, int] = {}
        low, high = after.encode(), before.encode()
        with open(path, "rb") as lines:
            for line in lines:
                found = at.search(line)
                if found and low <= found.group(1) < high:
                    day = found.group(1)[:10]
                    counts[day] = counts.get(day, 0) + 1

    def count_events() -> None:
        name = re.compile(rb'"eventName":"([^"]+)"')
        counts: dict[bytes, int] = {}
        with open(path, "rb") as lines:
            for line in lines:
                found = name.search(line)
                if found:
                    counts[found.group(1)] = counts.get(found.group(1), 0) + 1

    return {
        "timeline": _timed(first_page),
        "analyze one": _timed(one_event),
        "analyze all": _timed(all_events),
        "open": _timed(count_events),
    }


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "cbe-ingest": cbe_ingest,
    "cbe-reads": cbe_reads,
    "cbe-app": cbe_app,
    "cbe-open": cbe_open,
    "plain-insert": plain_insert,
    "plain-reads": plain_reads,
    "plain-open": plain_open,
    "limit-append": limit_append,
    "limit-reads": limit_reads,
}


# ---------------------------------------------------------------------------------------------
# the parent


def app_start(folder: Path | str, runs: int) -> dict[str, Any]:
    """Wall time from starting a process to the app's first screen with its numbers.

    The first start writes Python's bytecode caches (as any first run after installing does)
    and is not counted; the figure is the median of the next ``runs``.
    """
    starts: list[float] = []
    measured: dict[str, Any] = {}
    for _ in range(runs + 1):
        command = [sys.executable, __file__, "--child", "cbe-app", str(folder)]
        wall, measured = until_ready(command, cwd=ROOT, env=ENV)
        starts.append(wall)
    return {"start": statistics.median(starts[1:]), "first": starts[0]} | measured


def send_body(name: str) -> str:
    """What each single send of the bench posts (wrk repeats it): one completion of ``name``
    with the demo event's properties."""
    return json.dumps(
        {
            "eventName": name,
            "objectId": "1",
            "properties": {
                "button_location": "header",
                "plan": "starter",
                "price": 29,
                "hs_page_url": "https://www.example.com/pricing",
            },
        }
    )


def until_serving(base: str, seconds: float) -> None:
    """Wait until a `cbe serve` started at ``base`` answers (at most ``seconds``)."""
    import httpx

    for _ in range(int(seconds / 0.05)):
        try:
            httpx.get(base + "/tracking.js", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)


def single_sends(folder: Path, seconds: int, connections: int) -> dict[str, Any] | None:
    """``POST /events/v3/send`` driven by wrk against a real ``cbe serve`` on ``folder``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    import socket

    token = json.loads((folder / "portal.json").read_text())["accessToken"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--db", str(folder), "--port", str(port)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        until_serving(base, 10)
        out = wrk_sends(wrk, base, token, folder.parent / "send.lua", seconds, connections)
    finally:
        server.terminate()
        server.wait()
    return wrk_figures(out)


def wrk_sends(wrk: str, base: str, token: str, script: Path, seconds: int, connections: int) -> str:
    """What ``wrk`` prints after sending :func:`send_body` of the bench's event to the
    ``cbe serve`` at ``base`` for ``seconds`` (two threads; ``script``: where its Lua goes)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    event = httpx.get(base + "/events/v3/event-definitions", headers=headers).json()
    name = next(d["fullyQualifiedName"] for d in event["results"] if d["name"] == EVENT)
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        f"wrk.body = '{send_body(name)}'\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("non-2xx: %d\\n", summary.errors.status))\n'
        "end\n"
    )
    command = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script)]
    return subprocess.run(
        [*command, base + "/events/v3/send"], capture_output=True, text=True, check=True
    ).stdout


def wrk_figures(out: str) -> dict[str, Any]:
    """Requests a second, answers not 2xx, mean latency and requests, from what ``wrk``
    printed (:func:`wrk_sends`)."""

    def found(pattern: str) -> str:
        match = re.search(pattern, out)
        assert match is not None, (pattern, out)
        return match.group(1)

    return {
        "rate": float(found(r"Requests/sec:\s+([\d.]+)")),
        "errors": int(found(r"non-2xx: (\d+)")),
        "latency": found(r"Latency\s+(\S+)"),
        "requests": int(found(r"(\d+) requests in")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        type=lambda text: text if text.startswith(("postgresql://", "postgres://")) else Path(text),
        help="an existing database with many completions, or postgresql://... (a server the "
        "PostgreSQL figures are taken on beside the embedded store: bench/scale_postgres.py)",
    )
    parser.add_argument("--folder", type=Path, help="with --db postgresql://: an existing demo")
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--ingest", type=int, default=100_000, help="completions to send")
    parser.add_argument("--seconds", type=int, default=10, help="of single sends over HTTP")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--plain-seconds", type=float, default=30, help="of plain inserts")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--records", action="store_true", help="add records at 100,000 contacts (minutes)"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    import scale_postgres  # bench/scale_postgres.py (which imports this module)

    scale_postgres.add_arguments(parser)
    args = parser.parse_args()
    postgres = args.db if isinstance(args.db, str) else None
    if args.child:
        task, *rest = args.child
        print(json.dumps(CHILDREN[task](*rest)), flush=True)
        return

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(dir=os.environ.get("CBE_BENCH_TMP")) as tmp:
        work = Path(tmp)
        large = args.folder if postgres else args.db
        if large is None:
            large = work / "large"
            say(f"building the demo with {args.completions:,} completions")
            say(f"built in {build_demo(large, args.completions, now=NOW, progress=True):.0f} s")
        small = work / "small"
        build_demo(small, 10_000, now=NOW)

        figures: dict[str, dict[str, Any]] = {}
        say("cbe: batched ingest")
        for name, source in (("large", large), ("small", small)):
            runs = []
            for _ in range(args.runs):  # this machine's speed varies: the median of fresh runs
                copy = work / f"ingest-{name}"
                clone_store(source, copy)
                runs.append(
                    child(
                        "cbe-ingest", str(copy), str(args.ingest), str(work / f"docs-{name}.jsonl")
                    )
                )
                shutil.rmtree(copy)
            rates = sorted(r["rate"] for r in runs)
            figures[f"ingest {name}"] = runs[0] | {"rate": statistics.median(rates), "all": rates}
        stored = figures["ingest large"]["before"]
        small_stored = figures["ingest small"]["before"]

        say("cbe: single sends over HTTP")
        copy = work / "serve"
        clone_store(large, copy)
        sends = single_sends(copy, args.seconds, args.connections)
        shutil.rmtree(copy)

        say("cbe: reads")
        reads = child("cbe-reads", str(large), str(args.runs))
        say("cbe: app start")
        app = app_start(large, args.runs)
        opened = child("cbe-open", str(large))

        say("plain TinyDB and JSON lines: writing the same completions")
        plain, lines = work / "plain.json", work / "lines.jsonl"
        plain_small, lines_small = work / "plain-small.json", work / "lines-small.jsonl"
        write_baselines(large, plain, lines)
        write_baselines(small, plain_small, lines_small)
        object_type, object_id = reads["record"].split()
        where = [object_type, object_id, reads["event"], reads["now"]]
        say("plain TinyDB: reads")
        plain_reads = child("plain-reads", str(plain), *where)
        plain_app = child("plain-open", str(plain))
        say("plain TinyDB: inserts")
        budget = str(args.plain_seconds)
        plain_large = child("plain-insert", str(plain), str(work / "docs-large.jsonl"), budget)
        plain_small_ins = child(
            "plain-insert", str(plain_small), str(work / "docs-small.jsonl"), budget
        )
        say("physical limit")
        limit_reads_ = child("limit-reads", str(lines), *where)
        limit_large = child("limit-append", str(work / "docs-large.jsonl"), str(lines), "500")
        limit_small = child("limit-append", str(work / "docs-small.jsonl"), str(lines_small), "500")
        limit_single = child("limit-append", str(work / "docs-small.jsonl"), str(lines_small), "1")
        instant = scale_instant.rows(large, small, work, args.runs, args.ingest, args.records, say)
        pg = scale_postgres.measure(postgres, large, args, say) if postgres else None

    ingest_large, ingest_small = figures["ingest large"]["rate"], figures["ingest small"]["rate"]
    rows: list[tuple[str, str, Any, float | None, float | None, bool, str]] = [
        (
            f"batched ingest, strict, durable, {stored:,} stored",
            ">= 20,000/s",
            ingest_large,
            plain_large["rate"],
            limit_large["rate"],
            True,
            "rate",
        ),
        (
            f"the same with {small_stored:,} stored",
            "",
            ingest_small,
            plain_small_ins["rate"],
            limit_small["rate"],
            True,
            "rate",
        ),
        (
            "single POST /events/v3/send over HTTP, durable 204",
            ">= 1,250/s",
            sends["rate"] if sends else None,
            plain_large["rate"],
            limit_single["rate"],
            True,
            "rate",
        ),
    ]
    for label, key, target in (
        (
            f"timeline first page ({reads['record_count']:,} completions), cold",
            "timeline",
            "<= 50 ms",
        ),
        (
            f"analyze numbers, one event ({reads['event_count']:,}), cold",
            "analyze one",
            "<= 300 ms",
        ),
        ("analyze numbers, all events, cold", "analyze all", ""),
    ):
        rows.append(
            (label, target, reads[key + " cold"], plain_reads[key], limit_reads_[key], False, "ms")
        )
    rows.append(("app start to first screen", "<= 1 s", app["start"], None, None, False, "ms"))
    rows.append(
        (
            "of which: open the store, count each event",
            "",
            opened["open"],
            plain_app["open"],
            limit_reads_["open"],
            False,
            "ms",
        )
    )
    rows.append(("resident memory, app open", "<= 1 GiB", app["rss"], None, None, False, "mib"))
    rows.append(
        (
            "of which: the store, opened and counted (peak)",
            "",
            opened["data"],
            plain_app["data"],
            None,
            False,
            "mib",
        )
    )
    rows += instant  # issue 18's rows (bench/scale_instant.py)

    show: dict[str, Callable[[Any], str]] = {
        "rate": fmt_rate,
        "ms": fmt_ms,
        "mib": fmt_mib,
        "text": str,
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{stored:,} completions stored; every write below is fsynced before it counts")
    print()
    print("| figure | target | cbe | plain TinyDB | cbe vs plain | physical limit | cbe vs limit |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, target, cbe, tiny, limit, higher, kind in rows:
        fmt = show[kind]
        print(
            f"| {label} | {target} | {fmt(cbe)} | {fmt(tiny)} | {ratio(cbe, tiny, higher)} "
            f"| {fmt(limit)} | {ratio(cbe, limit, higher)} |"
        )
    print()
    print(
        "batched ingest runs: "
        + "; ".join(
            f"{figures[f'ingest {n}']['before']:,} stored: "
            + ", ".join(f"{r:,.0f}" for r in figures[f"ingest {n}"]["all"])
            for n in ("large", "small")
        )
        + f" completions/s ({args.ingest:,} each)"
    )
    print(
        f"ratio of batched ingest, {stored:,} / {small_stored:,} stored: "
        f"{ingest_large / ingest_small:.2f} (target >= 0.8)"
    )
    print(
        f"warm: timeline {fmt_ms(reads['timeline warm'])}, analyze one event "
        f"{fmt_ms(reads['analyze one warm'])}, all events {fmt_ms(reads['analyze all warm'])}"
    )
    if sends:
        print(
            f"single sends: {sends['errors']} non-2xx, mean latency {sends['latency']} "
            f"({args.connections} connections, wrk and server on the same cores)"
        )
    else:
        print("single sends: wrk is not installed (apt-get install wrk), so not measured")
    print(
        f"plain TinyDB inserts: {plain_large['inserts']} in {plain_large['seconds']:.0f} s at "
        f"{stored:,} stored (JSONStorage does not fsync)"
    )
    print(
        f"app: first start after install {fmt_ms(app['first'])} (writes bytecode caches), "
        f"peak memory {fmt_mib(app['peak'])}"
    )

    if pg:
        embedded = {
            "ingest": ingest_large,
            "sends": sends["rate"] if sends else None,
            "timeline": reads["timeline cold"],
            "analyze one": reads["analyze one cold"],
            "analyze all": reads["analyze all cold"],
            "app": app["start"],
            "open": opened["open"],
            "rss": app["rss"],
        }
        scale_postgres.report(pg, embedded)
        if args.json:
            Path(args.json).write_text(json.dumps(pg | {"embedded": embedded}, indent=1))


if __name__ == "__main__":
    main()
