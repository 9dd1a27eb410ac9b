"""PostgreSQL at scale, beside the embedded store: what ``bench/scale.py --db postgresql://...``
adds to scale.py's table (and, run alone, the PostgreSQL figures only).

    uv run python bench/scale.py --db postgresql://postgres@127.0.0.1:5432/postgres [--folder D]
    uv run python bench/scale_postgres.py --db postgresql://... --folder /tmp/d1m [--big 10000000]

The URL names a server and a database to connect to for ``CREATE DATABASE``; the bench makes
its own databases there (the role must be allowed to create databases):

- ``cbe_scale_1m``: the embedded demo (``--folder``, or the one scale.py builds) copied in with
  ``cbe copy``, so every row is what cbe itself stores; kept for the next run while it holds
  exactly the folder's completions;
- ``cbe_scale_big``: ``--big`` completions (10,000,000): a copy of ``cbe_scale_1m``
  (``CREATE DATABASE ... TEMPLATE``) whose completions are repeated with fresh ids and uuids by
  SQL (each copy at the same moment, for the same record, with the same properties: ten times
  as dense), indexes rebuilt after, then ``VACUUM ANALYZE``. :func:`check_repeated` reads
  sampled copies back through cbe and compares them with their originals. Ingest and single
  sends write into it (it grows by about 400,000 a run, which the table says);
- ``cbe_scale_work``: a fresh copy of ``cbe_scale_1m`` that the 1M writes go to.

Figures, each in a fresh process as scale.py takes them: batched ingest (scale.py's
``cbe-ingest``: strict batches of 500 through ``send_batch``, three runs of ``--ingest`` one after
the other, each with its own uuids), single sends over HTTP with ONE and with THREE
``cbe serve`` processes on the same database (one ``wrk``, the same threads and connections for
both, its threads spread over the servers; then again with each server capped to
``--server-cpu`` of a core, as if each ran on a machine of its own: :class:`CpuCaps`), reads
(``cbe-reads``: timeline first page and analyze numbers, cold), app start (``app_start``)
and opening the store with its counts (``cbe-open``).
``os.getloadavg()`` is noted with every figure: this machine's two cores are shared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
import scale  # noqa: E402  (bench/scale.py: its children, app_start and formats)
from psycopg import sql  # noqa: E402

SMALL = "cbe_scale_1m"
BIG = "cbe_scale_big"
WORK = "cbe_scale_work"
Say = Callable[[str], None]


def load() -> str:
    """The load averages over 1, 5 and 15 minutes, as ``uptime`` shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def database_url(url: str, name: str) -> str:
    """``url`` naming the database ``name`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@contextmanager
def admin(url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def exists(url: str, name: str) -> bool:
    with admin(url) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def drop(url: str, name: str) -> None:
    with admin(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def clone(url: str, source: str, name: str) -> float:
    """A fresh copy of database ``source`` named ``name``; seconds it took."""
    began = time.perf_counter()
    drop(url, name)
    with admin(url) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(source)
            )
        )
    return time.perf_counter() - began


def stored(url: str) -> int:
    """Completions in the cbe database at ``url`` (0 when it holds none or no cbe)."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM completions").fetchone()
    except psycopg.Error:
        return 0
    return int(row[0]) if row else 0


def size(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def vacuum(url: str) -> None:
    """What an operator runs after a bulk load: the planner's statistics, and the visibility
    map that lets counts be answered from an index alone."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def folder_count(folder: Path) -> int:
    """Completions in the embedded database in ``folder``, as cbe counts them."""
    from cli.bootstrap import open_services

    services = open_services(folder, create=False, read_only=True)
    try:
        return sum(s.count for s in services.db.completions.summaries().values())
    finally:
        services.close()


def copy_in(url: str, folder: Path, say: Say) -> str:
    """``cbe_scale_1m``: the demo in ``folder`` copied in by ``cbe copy`` (reused when it
    already holds exactly the folder's completions)."""
    target = database_url(url, SMALL)
    want = folder_count(folder)
    if exists(url, SMALL) and stored(target) == want:
        say(f"postgres: {SMALL} already holds the demo's {want:,} completions")
        return target
    drop(url, SMALL)
    with admin(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SMALL)))
    say(f"postgres: cbe copy of {want:,} completions into {SMALL}")
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cli", "copy", "--from", str(folder), "--to", target],
        cwd=ROOT,
        env=scale.ENV,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    vacuum(target)
    say(f"postgres: copied in {time.perf_counter() - began:.0f} s; {size(target) >> 20:,} MiB")
    if stored(target) != want:
        sys.exit(f"{SMALL} holds {stored(target):,} completions, not {want:,}")
    return target


_REPEAT = """
INSERT INTO completions ({columns})
SELECT fresh.id, fresh.uuid, c.event_name, c.object_type, c.object_id, c.utk, c.tag,
    c.occurred_at, c.received_at,
    ('{{"id":"' || fresh.id || '","uuid":"' || fresh.uuid || '"'
        || substr(c.doc::text, length('{{"id":"' || c.id || '","uuid":"' || c.uuid || '"') + 1)
    )::json
FROM completions c
CROSS JOIN generate_series(1, %s) AS k
CROSS JOIN LATERAL (
    SELECT n.id, CASE WHEN c.uuid = c.id THEN n.id ELSE gen_random_uuid()::text END AS uuid
    FROM (SELECT gen_random_uuid()::text || left(k::text, 0) AS id) n
) fresh
"""
"""Each completion repeated: the same document under a new id and uuid (``Completion.to_json``
puts them first: ``{"id":"…","uuid":"…",``); a completion sent without a uuid
(its uuid is its id) keeps the two equal."""


def repeat(url: str, times: int, say: Say) -> None:
    """Repeat every completion of the database at ``url`` so that it holds ``times`` as many:
    its indexes dropped, the rows inserted, the same indexes made again (faster than inserting
    into them), ``completion_uuids`` filled from the completions, the counts cbe keeps
    (``completion_counts``, and per day ``completion_days`` and ``record_days``) made again
    from them, then VACUUM ANALYZE."""
    columns = scale_columns()
    with psycopg.connect(url) as conn:
        bad = conn.execute(
            "SELECT count(*) FROM completions"
            """ WHERE NOT starts_with(doc::text, '{"id":"' || id || '","uuid":"' || uuid || '"')"""
        ).fetchone()
        if bad and bad[0]:
            sys.exit(f"{bad[0]} documents do not begin with their id and uuid: cannot repeat them")
        indexes = [
            str(r[0])
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                " AND tablename = 'completions'"
            ).fetchall()
        ]
        names = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = 'completions'"
        ).fetchall()
        for (name,) in names:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        conn.execute("ALTER TABLE completion_uuids DROP CONSTRAINT completion_uuids_pkey")
        conn.execute("TRUNCATE completion_uuids")
        say(f"postgres: repeating the completions {times - 1} more times")
        conn.execute("ALTER TABLE completions DISABLE TRIGGER USER")  # counted once below
        conn.execute(_REPEAT.format(columns=columns).encode(), [times - 1])
        conn.execute("ALTER TABLE completions ENABLE TRIGGER USER")
        counted = conn.execute("SELECT to_regclass('completion_counts') IS NOT NULL").fetchone()
        if counted and counted[0]:  # schema version 2: each event's count, as cbe keeps it
            conn.execute("TRUNCATE completion_counts")
            conn.execute(
                "INSERT INTO completion_counts SELECT event_name, count(*) FROM completions"
                " GROUP BY 1"
            )
        days = conn.execute("SELECT to_regclass('record_days') IS NOT NULL").fetchone()
        if days and days[0]:  # schema version 3: each event's counts and records per day
            from storage.postgres.schema import FILL_DAYS

            conn.execute("TRUNCATE completion_days, record_days, record_days_unsure")
            conn.execute(FILL_DAYS.encode())
        say("postgres: making the indexes again")
        conn.execute("SET maintenance_work_mem = '1GB'")
        for index in indexes:  # ON ONLY would make the parent's index alone, invalid
            conn.execute(index.replace(" ON ONLY ", " ON ").encode())
        conn.execute("INSERT INTO completion_uuids SELECT event_name, uuid FROM completions")
        conn.execute("ALTER TABLE completion_uuids ADD PRIMARY KEY (event_name, uuid)")
        conn.commit()
    say("postgres: VACUUM ANALYZE")
    vacuum(url)


def scale_columns() -> str:
    from storage.postgres.completions import _COLUMNS

    return _COLUMNS


def check_repeated(url: str, sample: int = 200) -> dict[str, Any]:
    """Read ``sample`` repeated completions back through cbe (by uuid, as ``cbe trace`` does)
    and compare each with its original: the same completion but for its id and uuid."""
    import random

    from cli.bootstrap import open_services
    from core.models import Completion

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT uuid, event_name, object_type, object_id, occurred_at, received_at, doc::text"
            " FROM completions TABLESAMPLE SYSTEM (1) LIMIT %s",
            [sample * 5],
        ).fetchall()
    random.Random(3).shuffle(rows)
    services = open_services(url, create=False)
    checked = 0
    try:
        for key, *_ in rows[:sample]:
            (found,) = services.db.completions.find(key)
            twins = [
                c
                for c in services.db.completions.scan(_same_moment(found))
                if c.id != found.id and _without_ids(c) == _without_ids(found)
            ]
            assert twins, f"no original for {key}"
            assert found.to_json() == Completion.from_stored(found.to_json()).to_json()
            checked += 1
        totals = sum(s.count for s in services.db.completions.summaries().values())
    finally:
        services.close()
    return {"checked": checked, "total": totals}


def _same_moment(found: Any) -> Any:
    from datetime import timedelta

    from core.ports import CompletionSelection

    return CompletionSelection(
        object_type=found.object_type,
        object_id=found.object_id,
        event_names=frozenset({found.event_name}),
        occurred_after=found.occurred_at,
        occurred_before=found.occurred_at + timedelta(milliseconds=1),
    )


def _without_ids(completion: Any) -> dict[str, Any]:
    doc: dict[str, Any] = completion.to_json()
    return {k: v for k, v in doc.items() if k not in ("id", "uuid")}


def build_big(url: str, source: str, completions: int, say: Say) -> str:
    """``cbe_scale_big``: ``completions`` (a multiple of the source's) repeated from
    ``cbe_scale_1m``; reused when it already holds at least that many."""
    target = database_url(url, BIG)
    if exists(url, BIG) and stored(target) >= completions:
        say(f"postgres: {BIG} already holds {stored(target):,} completions")
        return target
    base = stored(database_url(url, source))
    times = max(2, round(completions / base))
    say(f"postgres: {BIG} from {SMALL}, {times} x {base:,} completions")
    began = time.perf_counter()
    clone(url, source, BIG)
    repeat(target, times, say)
    say(f"postgres: built in {time.perf_counter() - began:.0f} s; {size(target) >> 30:,} GiB")
    return target


# ---------------------------------------------------------------------------------------------
# single sends over HTTP, with one and with several servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class CpuCaps:
    """Each ``cbe serve`` of a run in a control group of its own that may use ``share`` of one
    core (Linux cgroups, version 1's ``cpu`` controller or version 2's ``cpu.max``), as if each
    ran on a machine of its own: on two cores one server already keeps a core busy and the
    database the other, so three servers without caps measure the machine, not the design.
    ``available()`` says why not when the groups cannot be made (not root, no controller)."""

    V1 = Path("/sys/fs/cgroup/cpu")
    V2 = Path("/sys/fs/cgroup")
    PERIOD = 100_000  # microseconds

    def __init__(self, share: float) -> None:
        self.share = share
        self.groups: list[Path] = []

    @classmethod
    def available(cls) -> str | None:
        """None when groups can be made here, else the reason."""
        controllers = cls.V2 / "cgroup.controllers"
        if (cls.V1 / "cpu.cfs_quota_us").exists():
            base = cls.V1
        elif controllers.exists() and "cpu" in controllers.read_text().split():
            base = cls.V2
        else:
            return "no cgroup cpu controller"
        return None if os.access(base, os.W_OK) else f"{base} is not writable (run as root)"

    def cap(self, pid: int) -> None:
        quota = int(self.share * self.PERIOD)
        name = f"cbe-bench-{os.getpid()}-{len(self.groups)}"
        if (self.V1 / "cpu.cfs_quota_us").exists():
            group = self.V1 / name
            group.mkdir()
            (group / "cpu.cfs_period_us").write_text(str(self.PERIOD))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            subtree = self.V2 / "cgroup.subtree_control"
            if "cpu" not in subtree.read_text().split():
                subtree.write_text("+cpu")
            group = self.V2 / name
            group.mkdir()
            (group / "cpu.max").write_text(f"{quota} {self.PERIOD}")
        self.groups.append(group)
        (group / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        """Remove the groups (their processes have ended)."""
        for group in self.groups:
            with contextlib.suppress(OSError):
                group.rmdir()
        self.groups.clear()


def single_sends(
    url: str,
    servers: int,
    seconds: int,
    threads: int,
    connections: int,
    cpu_share: float | None = None,
) -> dict[str, Any] | None:
    """``POST /events/v3/send`` by one ``wrk`` against ``servers`` ``cbe serve`` processes on
    the database at ``url``, its threads spread over them (each thread keeps to one server);
    with ``cpu_share``, each server may use that share of one core (:class:`CpuCaps`).
    Checks that the database holds at least every completion answered with a 204."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT doc->>'accessToken' FROM portal").fetchone()
        name_row = conn.execute(
            "SELECT doc->>'fullyQualifiedName' FROM definitions WHERE name = %s", [scale.EVENT]
        ).fetchone()
    assert row and name_row
    token, name = str(row[0]), str(name_row[0])
    ports = [free_port() for _ in range(servers)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--db", url, "--port", str(port)],
            cwd=ROOT,
            env=scale.ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    caps = CpuCaps(cpu_share) if cpu_share else None
    try:
        if caps is not None:
            for process in processes:
                caps.cap(process.pid)
        for port in ports:
            scale.until_serving(f"http://127.0.0.1:{port}", 30)
        body = scale.send_body(name)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "send.lua"
            script.write_text(
                f"local ports = {{{', '.join(str(p) for p in ports)}}}\n"
                "local counter = 0\n"
                "function setup(thread)\n"
                "  local port = ports[counter % #ports + 1]\n"
                '  thread.addr = wrk.lookup("127.0.0.1", tostring(port))[1]\n'
                "  counter = counter + 1\n"
                "end\n"
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {token}"\n'
                f"wrk.body = '{body}'\n"
                "done = function(summary, latency, requests)\n"
                '  io.write(string.format("non-2xx: %d\\n", summary.errors.status))\n'
                '  io.write(string.format("requests: %d\\n", summary.requests))\n'
                "end\n"
            )
            before = stored(url)
            average = load()
            out = subprocess.run(
                [
                    wrk,
                    f"-t{threads}",
                    f"-c{connections}",
                    f"-d{seconds}s",
                    "-s",
                    str(script),
                    f"http://127.0.0.1:{ports[0]}/events/v3/send",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        if caps:
            caps.remove()
    after = stored(url)
    import re

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = int(re.search(r"non-2xx: (\d+)", out).group(1))  # type: ignore[union-attr]
    answered = int(re.search(r"requests: (\d+)", out).group(1))  # type: ignore[union-attr]
    latency = re.search(r"Latency\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    if after - before < answered - errors:
        sys.exit(f"{answered - errors} sends answered 204 but {after - before} stored")
    return {
        "rate": rate,
        "errors": errors,
        "latency": latency,
        "answered": answered,
        "stored": after - before,
        "load": average,
        "cpu share": cpu_share,
    }


# ---------------------------------------------------------------------------------------------
# measuring one database


def ingest_runs(url: str, count: int, runs: int, say: Say) -> dict[str, Any]:
    rates, loads, counts = [], [], []
    for run in range(runs):
        counts.append(stored(url))
        loads.append(load())
        seed = str(int(time.time() * 1000) + run)  # fresh uuids for each run
        result = scale.child("cbe-ingest", url, str(count), os.devnull, seed)
        rates.append(result["rate"])
        say(f"postgres: ingest {counts[-1]:,} stored: {result['rate']:,.0f}/s (load {loads[-1]})")
    return {
        "rate": sorted(rates)[len(rates) // 2],
        "all": rates,
        "stored": counts,
        "loads": loads,
    }


def measure_database(
    label: str,
    url: str,
    write_url: str,
    args: argparse.Namespace,
    say: Say,
) -> dict[str, Any]:
    """Every figure on one database: reads and app start on ``url``, writes on ``write_url``."""
    figures: dict[str, Any] = {"label": label, "stored": stored(url), "bytes": size(url)}
    say(f"postgres {label}: reads (load {load()})")
    figures["reads_load"] = load()
    figures["reads"] = scale.child("cbe-reads", url, str(args.runs))
    say(f"postgres {label}: app start (load {load()})")
    figures["app_load"] = load()
    figures["app"] = scale.app_start(url, args.runs)
    figures["open"] = scale.child("cbe-open", url)
    say(f"postgres {label}: batched ingest")
    figures["ingest"] = ingest_runs(write_url, args.ingest, args.runs, say)
    for servers in (1, 3):
        say(f"postgres {label}: single sends, {servers} server(s) (load {load()})")
        figures[f"sends {servers}"] = single_sends(
            write_url, servers, args.seconds, args.wrk_threads, args.pg_connections
        )
    capped = CpuCaps.available() if args.server_cpu else "--server-cpu 0"
    figures["capped why not"] = capped
    for servers in (1, 3) if capped is None else ():
        say(
            f"postgres {label}: single sends, {servers} server(s) of {args.server_cpu} core "
            f"each (load {load()})"
        )
        figures[f"capped {servers}"] = single_sends(
            write_url,
            servers,
            args.seconds,
            args.wrk_threads,
            args.pg_connections,
            args.server_cpu,
        )
    return figures


def measure(url: str, folder: Path, args: argparse.Namespace, say: Say) -> dict[str, Any]:
    """The PostgreSQL figures at the demo's size (from ``folder``) and at ``args.big``."""
    small = copy_in(url, folder, say)
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    say(f"postgres: a copy of {SMALL} to write to")
    results["clone seconds"] = clone(url, SMALL, WORK)
    work = database_url(url, WORK)
    results["small"] = measure_database("1M", small, work, args, say)
    drop(url, WORK)
    if args.big:
        big = build_big(url, SMALL, args.big, say)
        results["check"] = check_repeated(big)
        say(f"postgres: {results['check']['checked']} repeated completions read back by cbe")
        results["big"] = measure_database("big", big, big, args, say)
    return results


# ---------------------------------------------------------------------------------------------
# the table


def report(results: dict[str, Any], embedded: dict[str, Any] | None = None) -> None:
    """Print the PostgreSQL table, with the embedded store's figures of the same run beside."""
    small, big = results["small"], results.get("big")
    columns = [small] + ([big] if big else [])
    fmt_rate, fmt_ms, fmt_mib = scale.fmt_rate, scale.fmt_ms, scale.fmt_mib
    emb = embedded or {}

    def sends(figures: dict[str, Any], servers: int, kind: str = "sends") -> float | None:
        found = figures.get(f"{kind} {servers}")
        return None if found is None else float(found["rate"])

    def capped(figures: dict[str, Any], servers: int) -> str:
        if figures.get("capped why not"):
            return f"n/a ({figures['capped why not']})"
        rate = sends(figures, servers, "capped")
        if servers == 1:
            return fmt_rate(rate)
        return f"{fmt_rate(rate)} ({_times(rate, sends(figures, 1, 'capped'))})"

    share = next(
        (f[k]["cpu share"] for f in columns for k in ("capped 1", "capped 3") if f.get(k)), None
    )

    rows: list[tuple[str, str, list[str], str]] = [
        (
            "batched ingest, strict, durable (stored at the start of each run: below)",
            ">= 20,000/s",
            [fmt_rate(f["ingest"]["rate"]) for f in columns],
            fmt_rate(emb.get("ingest")),
        ),
        (
            "single POST /events/v3/send over HTTP, durable 204, ONE cbe serve",
            "",
            [fmt_rate(sends(f, 1)) for f in columns],
            fmt_rate(emb.get("sends")),
        ),
        (
            "the same, THREE cbe serve on the same database",
            ">= 2x one",
            [f"{fmt_rate(sends(f, 3))} ({_times(sends(f, 3), sends(f, 1))})" for f in columns],
            "n/a (one process per folder)",
        ),
        (
            f"ONE cbe serve that may use {share or '...'} of a core (as on a machine of its own)",
            "",
            [capped(f, 1) for f in columns],
            "",
        ),
        (
            f"THREE cbe serve, each may use {share or '...'} of a core",
            ">= 2x one",
            [capped(f, 3) for f in columns],
            "n/a (one process per folder)",
        ),
        (
            "timeline first page, cold",
            "<= 50 ms",
            [
                f"{fmt_ms(f['reads']['timeline cold'])} ({f['reads']['record_count']:,})"
                for f in columns
            ],
            fmt_ms(emb.get("timeline")),
        ),
        (
            "analyze numbers, one event, cold",
            "<= 300 ms",
            [
                f"{fmt_ms(f['reads']['analyze one cold'])} ({f['reads']['event_count']:,})"
                for f in columns
            ],
            fmt_ms(emb.get("analyze one")),
        ),
        (
            "analyze numbers, all events, cold",
            "",
            [fmt_ms(f["reads"]["analyze all cold"]) for f in columns],
            fmt_ms(emb.get("analyze all")),
        ),
        (
            "app start to first screen",
            "<= 1 s",
            [fmt_ms(f["app"]["start"]) for f in columns],
            fmt_ms(emb.get("app")),
        ),
        (
            "of which: open the store, count each event",
            "",
            [fmt_ms(f["open"]["open"]) for f in columns],
            fmt_ms(emb.get("open")),
        ),
        (
            "resident memory, app open",
            "<= 1 GiB",
            [fmt_mib(f["app"]["rss"]) for f in columns],
            fmt_mib(emb.get("rss")),
        ),
    ]
    heads = [f"PostgreSQL, {f['stored']:,} stored" for f in columns]
    print()
    print(f"PostgreSQL ({results['started']}): synchronous_commit on, a 204 is a durable commit")
    print()
    print("| figure | target | " + " | ".join(heads) + " | embedded store (this run) |")
    print("| --- | --- | " + " | ".join("---" for _ in heads) + " | --- |")
    for label, target, values, beside in rows:
        print(f"| {label} | {target} | " + " | ".join(values) + f" | {beside} |")
    print()
    for f in columns:
        ingest = f["ingest"]
        print(
            f"- {f['label']} ({f['bytes'] >> 20:,} MiB): ingest runs "
            + "; ".join(
                f"{r:,.0f}/s at {n:,} stored (load {a})"
                for r, n, a in zip(ingest["all"], ingest["stored"], ingest["loads"], strict=True)
            )
        )
        for kind, servers in (("sends", 1), ("sends", 3), ("capped", 1), ("capped", 3)):
            found = f.get(f"{kind} {servers}")
            if found:
                each = f" of {found['cpu share']} core each" if found["cpu share"] else ""
                print(
                    f"  single sends, {servers} server(s){each}: {found['rate']:,.0f}/s, "
                    f"{found['errors']} non-2xx, mean latency {found['latency']}, "
                    f"{found['stored']:,} stored for {found['answered']:,} answered "
                    f"(load {found['load']})"
                )
        reads = f["reads"]
        print(
            f"  warm: timeline {fmt_ms(reads['timeline warm'])}, analyze one event "
            f"{fmt_ms(reads['analyze one warm'])}, all events "
            f"{fmt_ms(reads['analyze all warm'])}; reads at load {f['reads_load']}, "
            f"app start at load {f['app_load']} (first start {fmt_ms(f['app']['first'])})"
        )
    if "check" in results:
        check = results["check"]
        print(
            f"- the big database: {check['checked']} sampled repeated completions read back by "
            f"cbe equal their originals but for id and uuid; cbe counts {check['total']:,}"
        )


def _times(three: float | None, one: float | None) -> str:
    if not three or not one:
        return "n/a"
    return f"{three / one:.2f}x one"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="postgresql://... (a server's database)")
    parser.add_argument("--folder", type=Path, required=True, help="the embedded demo to copy")
    add_arguments(parser)
    parser.add_argument("--ingest", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    results = measure(args.db, args.folder, args, say)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options scale.py takes for PostgreSQL too."""
    parser.add_argument(
        "--big", type=int, default=10_000_000, help="completions of the large PostgreSQL database"
    )
    parser.add_argument("--wrk-threads", type=int, default=3, help="wrk threads (PostgreSQL)")
    parser.add_argument(
        "--pg-connections", type=int, default=48, help="wrk connections (PostgreSQL)"
    )
    parser.add_argument(
        "--server-cpu",
        type=float,
        default=0.25,
        help="single sends again with each cbe serve capped to this share of a core "
        "(cgroups; 0: not)",
    )
    parser.add_argument("--json", help="also write the PostgreSQL figures to this file")


if __name__ == "__main__":
    main()
