"""Crash safety: a writer killed with SIGKILL at any point loses no acknowledged write.

TinyDB's own ``JSONStorage`` rewrites its file in place and can be left corrupt by an
interrupted write (shown deterministically below); cbe's ``AtomicJSONStorage`` replaces whole
files, and completions go to an append-only journal that is folded into segments (here every
SEGMENT_SIZE completions, so that kills land in folds too).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from tinydb import TinyDB
from tinydb.storages import JSONStorage
from tinydb.table import Table

from storage.atomic import AtomicJSONStorage
from tests.storage.helpers import (
    Acks,
    Stored,
    expect_line,
    finish,
    leftovers,
    setup_database,
    spawn,
    tell,
    verify,
)

KILLS = 25
SEED = 20261101
MAX_DELAY = 0.3
FSYNC_DELAY = 0.003  # seconds: a realistic SSD fsync; this VM's takes well under 1 ms
SEGMENT_SIZE = 12


def _operations(tag: str, stored: Stored) -> set[int]:
    """Numbers of the operations of writer ``tag`` that left something in the database."""
    found: set[int] = set()
    pattern = re.compile(rf"{re.escape(tag)}-[sbru](\d+)")
    for doc in stored.completions:
        if m := pattern.match(doc["uuid"]):
            found.add(int(m[1]))
    for doc in stored.contacts:
        for key in ("email", "firstname"):
            if m := pattern.match(doc["properties"].get(key, "")):
                found.add(int(m[1]))
    return found


def _firstname(stored: Stored) -> str:
    (ann,) = [doc for doc in stored.contacts if doc["id"] == "1"]
    return str(ann["properties"]["firstname"])


def _acknowledged(tag: str, output: str) -> set[int]:
    pattern = re.compile(rf"^[SBRU] {re.escape(tag)}-[sbru](\d+)", re.MULTILINE)
    return {int(n) for n in pattern.findall(output)}


def _every_doc(stored: Stored) -> set[str]:
    return {d["id"] for d in stored.completions} | {f"contact:{d['id']}" for d in stored.contacts}


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_write(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    rng = random.Random(SEED)
    acks = Acks()
    stats: Counter[str] = Counter()
    seen: set[str] = set()
    old_tmp_files: set[Path] = set()

    def child(n: int) -> subprocess.Popen[str]:
        # Spawned one round ahead: it imports while the previous child writes, then waits.
        delay = str(FSYNC_DELAY)
        return spawn(
            "crash",
            *(str(folder), f"k{n}", event, "--seed", str(n), "--fsync-delay", delay),
            *("--segment-size", str(SEGMENT_SIZE)),
        )

    upcoming = child(0)
    try:
        for n in range(KILLS):
            writer, upcoming = upcoming, child(n + 1)
            tell(writer, "GO")
            expect_line(writer, "READY")
            time.sleep(rng.uniform(0.0, MAX_DELAY))
            os.kill(writer.pid, signal.SIGKILL)
            output, errors = finish(writer)
            assert writer.returncode == -signal.SIGKILL, f"the writer died by itself:\n{errors}"

            acked_now = _acknowledged(f"k{n}", output)
            acks.read(output)
            stats["acknowledged operations"] += len(acked_now)
            store = folder / "completions"
            segments = list(store.glob("seg-*.json"))
            if any(not p.with_suffix(".idx").exists() for p in segments):
                stats["kills between a segment and its index"] += 1
            for journal in store.glob("journal-*.jsonl"):
                if journal.read_bytes() and not journal.read_bytes().endswith(b"\n"):
                    stats["kills that left a torn journal line"] += 1
            stats["segments"] = len(segments)
            tmp_files = set(leftovers(folder))
            if tmp_files - old_tmp_files:
                stats["kills that left a .tmp file"] += 1
            old_tmp_files = tmp_files

            stored = verify(folder, acks)

            # Of this writer's operations, at most the one in flight may be stored unacknowledged.
            next_op = max(acked_now, default=0) + 1
            in_flight = _operations(f"k{n}", stored) - acked_now
            assert in_flight <= {next_op}, (n, in_flight, output)
            stats["stored but unacknowledged (in flight)"] += len(in_flight)
            # Contact 1 has the last acknowledged first name, or the one in flight.
            if acks.firstname is not None and _firstname(stored) != acks.firstname:
                assert _firstname(stored).startswith(f"k{n}-u{next_op}-"), _firstname(stored)[:20]
            acks.firstname = _firstname(stored)
            # Nothing once stored ever disappears, acknowledged or not.
            now = _every_doc(stored)
            assert seen <= now, f"{len(seen - now)} stored documents disappeared"
            seen = now
    finally:
        upcoming.kill()
        finish(upcoming)

    stats["kills"] = KILLS
    stats["completions stored"] = len(stored.completions)
    stats["contacts stored"] = len(stored.contacts)
    stats["leftover .tmp files"] = len(leftovers(folder))
    print("\ncrash test:", dict(stats))
    assert stats["acknowledged operations"] > KILLS  # the writers did get to write
    assert acks.batches, "no multi-month batch was acknowledged"


# -- deterministic interruptions --------------------------------------------------------------


def _fill(db: Any) -> None:
    db.table("items").insert_multiple({"n": i, "text": "x" * 40} for i in range(200))


class _Crash(Exception):
    """Stands for the process dying at this point."""


def _crash_at_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(fd: int) -> None:
        raise _Crash

    monkeypatch.setattr(os, "fsync", crash)


def test_tinydb_json_storage_is_left_corrupt_by_an_interrupted_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why cbe has its own storage: JSONStorage writes in place, then truncates."""
    path = tmp_path / "plain.json"
    db = TinyDB(path, storage=JSONStorage)
    _fill(db)
    with monkeypatch.context() as patch:
        _crash_at_fsync(patch)  # the new, shorter content is written; truncate never runs
        with pytest.raises(_Crash):
            db.table("items").remove(lambda doc: doc["n"] >= 10)
    db.close()
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        json.loads(path.read_text())


def test_tinydb_json_storage_is_left_corrupt_by_a_torn_write(tmp_path: Path) -> None:
    """A process killed halfway through ``write``: new bytes up to there, old ones after."""
    path = tmp_path / "plain.json"
    db = TinyDB(path, storage=JSONStorage)
    _fill(db)
    storage = db.storage
    assert isinstance(storage, JSONStorage)
    real = storage._handle

    class Torn:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def write(self, text: str) -> int:
            real.write(text[: len(text) // 2])
            real.flush()
            raise _Crash

    storage._handle = Torn()
    with pytest.raises(_Crash):
        db.table("items").update({"text": "y" * 100}, doc_ids=[1])
    storage._handle = real
    db.close()
    with pytest.raises(json.JSONDecodeError):
        json.loads(path.read_text())


def _atomic(path: Path) -> AtomicJSONStorage:
    storage = AtomicJSONStorage(path)
    Table(storage, "items").insert_multiple({"n": i, "text": "x" * 40} for i in range(200))
    return storage


def test_atomic_storage_keeps_the_old_file_when_interrupted_before_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cbe.json"
    storage = _atomic(path)
    before = path.read_bytes()
    with monkeypatch.context() as patch:
        _crash_at_fsync(patch)
        with pytest.raises(_Crash):
            Table(storage, "items").remove(lambda doc: doc["n"] >= 10)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    # The failed write changed TinyDB's in-memory copy; the storage must not serve it.
    assert len(Table(storage, "items").all()) == 200
    assert len(orjson.loads(path.read_bytes())["items"]) == 200
    storage.close()


def test_atomic_storage_keeps_the_old_file_when_the_write_is_torn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cbe.json"
    storage = _atomic(path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    def torn_fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)

        class Torn:
            def __enter__(self) -> Torn:
                return self

            def __exit__(self, *exc: object) -> None:
                handle.close()

            def write(self, payload: bytes) -> int:
                handle.write(payload[: len(payload) // 2])
                handle.flush()
                raise _Crash

        return Torn()

    with monkeypatch.context() as patch:
        patch.setattr(os, "fdopen", torn_fdopen)
        with pytest.raises(_Crash):
            Table(storage, "items").insert({"n": 999})
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert len(Table(storage, "items").all()) == 200
    storage.close()


def test_a_killed_writers_temporary_file_is_ignored_and_removed(tmp_path: Path) -> None:
    """What SIGKILL mid-write leaves: a half temporary file next to an intact database.
    Opening the database (under its lock) ignores it and deletes it."""
    folder = tmp_path / "db"
    setup_database(folder)
    (folder / ".cbe.json.k3x9.tmp").write_bytes(b'{"contacts": {"1": {"id"')
    (folder / "completions" / ".seg-000001.json.a1b2.tmp").write_bytes(b'{"completions": {')
    stored = verify(folder, Acks())
    assert len(stored.contacts) == 1
    assert stored.completions == []
    assert leftovers(folder) == []
