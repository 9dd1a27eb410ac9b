"""Shared helpers of the storage tests: child processes and reading a database from the outside.

A database is checked twice over: its files are parsed raw (as a crashed process left them, after
the open that recovers them), and the same data is read back through cbe's own repositories.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from cli.bootstrap import open_services
from core.models import ObjectType
from core.ports import CompletionSelection
from core.services import Services
from storage import atomic
from storage.completions import read_index
from storage.tables import parse_log_line

REPO = Path(__file__).resolve().parents[2]


class Killed(BaseException):
    """The process dies here (a crash test's stand-in for SIGKILL at one step)."""


def killed_at_step(monkeypatch: pytest.MonkeyPatch, kill_at: int, *importers: ModuleType) -> None:
    """The process dies (:class:`Killed`) at its ``kill_at``-th rename or folder fsync, counted
    from 0: ``os.replace`` and ``storage.atomic.fsync_dir``, and the ``fsync_dir`` that each of
    ``importers`` imported by name."""
    steps = iter(range(100))

    def dying(real: Callable[..., object]) -> Callable[..., object]:
        def step(*args: object) -> object:
            if next(steps) == kill_at:
                raise Killed
            return real(*args)

        return step

    fsync_dir = atomic.fsync_dir
    monkeypatch.setattr(os, "replace", dying(os.replace))
    monkeypatch.setattr(atomic, "fsync_dir", dying(fsync_dir))
    for module in importers:
        monkeypatch.setattr(module, "fsync_dir", dying(fsync_dir))


WRITER = Path(__file__).with_name("writer.py")
PORTAL_ID = 12345678
EMAIL = "ann@example.com"
SEGMENT_FILE = re.compile(r"seg-(\d{6})\.json")
JOURNAL_FILE = re.compile(r"journal-(\d{6})\.jsonl")
BATCH_UUID = re.compile(r"(?P<batch>.+-b\d+x(?P<size>\d+))\.\d+")


def spawn(*args: str) -> subprocess.Popen[str]:
    """Start ``writer.py`` with pipes on stdin and stdout (see its docstring for the protocol)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def expect_line(proc: subprocess.Popen[str], prefix: str) -> str:
    """The child's next stdout line, which must start with ``prefix``."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        _, err = finish(proc)
        raise AssertionError(f"expected {prefix!r} from the child, got {line!r}; stderr:\n{err}")
    return line.rstrip("\n")


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The rest of the child's stdout and its stderr, once it has ended.

    Not ``communicate()``: after ``readline()`` the pipe's buffer may already hold more lines,
    which ``communicate()`` (reading the raw descriptors) would drop.
    """
    assert proc.stdout is not None and proc.stderr is not None
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    return out, err


def tell(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def setup_database(folder: Path) -> str:
    """A database with the event the writers send and the contact they send for.

    Returns the event's fully qualified name.
    """
    services = open_services(folder, portal_id=PORTAL_ID)
    try:
        event = services.definitions.create(
            {
                "label": "Viewed Car",
                "primaryObject": "CONTACT",
                "propertyDefinitions": [{"label": "Make", "type": "string"}],
            }
        )
        services.records.create(ObjectType.CONTACT, {"email": EMAIL, "firstname": "Ann"})
        return event.fully_qualified_name
    finally:
        services.close()


@dataclass
class Acks:
    """What child processes acknowledged, parsed from their stdout lines."""

    completions: dict[str, str] = field(default_factory=dict)
    """completion id -> uuid"""
    batches: dict[str, list[str]] = field(default_factory=dict)
    """batch name -> completion ids"""
    records: dict[str, str] = field(default_factory=dict)
    """contact email -> record id"""
    firstname: str | None = None
    """The first name of contact 1 as last updated"""
    operations: int = 0

    def read(self, output: str) -> None:
        for line in output.splitlines():
            kind, *rest = line.split(" ")
            if kind == "S":
                uuid, cid = rest
                self.completions[cid] = uuid
            elif kind == "B":
                batch, size, ids = rest
                id_list = ids.split(",")
                assert len(id_list) == int(size), line
                self.batches[batch] = id_list
                for i, cid in enumerate(id_list):
                    self.completions[cid] = f"{batch}.{i}"
            elif kind == "R":
                email, rid = rest
                self.records[email] = rid
            elif kind == "U":
                op, size = rest
                self.firstname = f"{op}-" + "x" * int(size)
            else:
                continue
            self.operations += 1


@dataclass
class Stored:
    """What a database holds, read raw from its files."""

    completions: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    files: list[Path]


def read_raw(folder: Path) -> Stored:
    """Parse every data file of ``folder``; each must be valid JSON in the expected shape.

    Completions live in TinyDB segments (each sorted by time, with an index naming the journal
    it was folded from) and in the open journal, whose lines must all be whole.
    """
    files: list[Path] = []
    portal = orjson.loads((folder / "portal.json").read_bytes())
    assert isinstance(portal, dict) and portal["portalId"]
    files.append(folder / "portal.json")
    main = orjson.loads((folder / "cbe.json").read_bytes())
    assert isinstance(main, dict)
    files.append(folder / "cbe.json")
    contacts = list(read_tables(folder, files).get("contacts", {}).values())
    completions: list[dict[str, Any]] = []
    folded: set[int] = set()
    journals: list[Path] = []
    for path in sorted((folder / "completions").iterdir()):
        if JOURNAL_FILE.fullmatch(path.name):
            journals.append(path)
        if SEGMENT_FILE.fullmatch(path.name) is None:
            continue
        files.append(path)
        data = orjson.loads(path.read_bytes())
        assert isinstance(data, dict) and set(data) == {"completions", "segment"}, path
        docs = list(data["completions"].values())
        assert list(data["completions"]) == [str(i) for i in range(1, len(docs) + 1)], path
        keys = [(datetime.fromisoformat(doc["occurredAt"]), doc["id"]) for doc in docs]
        assert keys == sorted(keys), f"{path} is not in time order"
        index = read_index(path.with_suffix(".idx").read_bytes())
        assert index.ids() == [doc["id"] for doc in docs], path
        assert index.header["journal"] == data["segment"]["1"]["journal"], path
        folded.add(index.header["journal"])
        completions.extend(docs)
    for path in journals:
        number = int(JOURNAL_FILE.fullmatch(path.name).group(1))  # type: ignore[union-attr]
        assert number not in folded, f"{path.name} was folded into a segment but not removed"
        files.append(path)
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path.name} ends in a torn line"
        for line in data.splitlines():
            completions.extend(orjson.loads(line)["docs"])
    return Stored(completions, contacts, files)


def read_tables(folder: Path, files: list[Path] | None = None) -> dict[str, dict[str, Any]]:
    """The logged tables (records, associations, enrollments, tasks) of ``folder``, read raw:
    the snapshot, then every whole line of the log it names (each with a good checksum); a
    torn last line (a killed writer's) is left out, as cbe leaves it."""
    records = folder / "records"
    snapshot = records / "snapshot.json"
    data: dict[str, Any] = {"log": 1, "tables": {}}
    if snapshot.exists():
        data = orjson.loads(snapshot.read_bytes())
    assert set(data) - {"token"} == {"log", "tables"}, snapshot  # token: its index's
    tables: dict[str, dict[str, Any]] = data["tables"]
    log = records / f"log-{data['log']:06d}.jsonl"
    for path in (snapshot, log):
        if path.exists() and files is not None:
            files.append(path)
    raw = log.read_bytes() if log.exists() else b""
    for line in raw[: raw.rfind(b"\n") + 1].splitlines():
        for table, key, doc in parse_log_line(line):
            if doc is None:
                tables.get(table, {}).pop(key, None)
            else:
                tables.setdefault(table, {})[key] = doc
    return tables


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a killed writer left behind."""
    return sorted(p for p in folder.rglob("*") if p.name.endswith(".tmp"))


def verify(folder: Path, acks: Acks) -> Stored:
    """Open the database as cbe would and check it against what was acknowledged.

    Every file valid, no journal left that was folded, every acknowledged completion and
    record present exactly once, every batch stored whole or not at all, and the repositories
    agree with the raw files.
    """
    services = open_services(folder, create=False)
    try:
        stored = read_raw(folder)
        check_consistent(stored, acks)
        check_repositories_agree(services, stored)
        return stored
    finally:
        services.close()


def check_consistent(stored: Stored, acks: Acks) -> None:
    by_id = Counter(doc["id"] for doc in stored.completions)
    duplicated = {cid: n for cid, n in by_id.items() if n > 1}
    assert not duplicated, f"completions stored more than once: {duplicated}"
    uuids = Counter((doc["eventName"], doc["uuid"]) for doc in stored.completions)
    assert max(uuids.values(), default=1) == 1, "a uuid was stored twice for one event"
    uuid_of = {doc["id"]: doc["uuid"] for doc in stored.completions}
    lost = sorted(cid for cid in acks.completions if cid not in uuid_of)
    assert not lost, f"{len(lost)} acknowledged completions are missing: {lost[:10]}"
    for cid, uuid in acks.completions.items():
        assert uuid_of[cid] == uuid, (cid, uuid, uuid_of[cid])

    batch_sizes: dict[str, int] = {}
    batch_counts: Counter[str] = Counter()
    for doc in stored.completions:
        match = BATCH_UUID.fullmatch(doc["uuid"])
        if match:
            batch_counts[match["batch"]] += 1
            batch_sizes[match["batch"]] = int(match["size"])
    half = {b: f"{n}/{batch_sizes[b]}" for b, n in batch_counts.items() if n != batch_sizes[b]}
    assert not half, f"batches stored in part: {half}"
    for batch, ids in acks.batches.items():
        assert batch_counts[batch] == len(ids), batch

    emails = Counter(doc["properties"].get("email", "").lower() for doc in stored.contacts)
    twice = {e: n for e, n in emails.items() if n > 1}
    assert not twice, f"contacts stored twice: {twice}"
    id_of = {doc["properties"].get("email", "").lower(): doc["id"] for doc in stored.contacts}
    for email, rid in acks.records.items():
        assert id_of.get(email) == rid, f"acknowledged contact {email} (id {rid}) is missing"
    contact_ids = Counter(doc["id"] for doc in stored.contacts)
    assert max(contact_ids.values(), default=1) == 1, "two contacts share an id"


def check_repositories_agree(services: Services, stored: Stored) -> None:
    scanned = list(services.db.completions.scan(CompletionSelection()))
    assert sorted(c.id for c in scanned) == sorted(doc["id"] for doc in stored.completions)
    counts = Counter(doc["eventName"] for doc in stored.completions)
    summaries = services.db.completions.summaries()
    assert {name: s.count for name, s in summaries.items()} == dict(counts)
    contacts = services.records.search(ObjectType.CONTACT, include_archived=True)
    assert sorted(r.id for r in contacts) == sorted(doc["id"] for doc in stored.contacts)
