"""The schema version of a database folder and the migrations between versions.

The version lives in the main file's ``meta`` table. Opening a database runs every migration
from its version up to :data:`SCHEMA_VERSION`, one step at a time under the database lock, and
records each finished step, so that an interrupted upgrade resumes where it stopped. A database
written by a newer cbe is refused with a clear message rather than misread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from tinydb.table import Document, Table

from core.errors import CbeError
from storage.atomic import AtomicJSONStorage, CorruptFile, fsync_dir, write_atomically
from storage.completions.segment_file import read_segment, write_segments
from storage.tables import TABLES_DIR, write_snapshot

SCHEMA_VERSION = 3
"""The version this program writes."""

Migration = Callable[[Path], None]

_MONTH_FILE = re.compile(r"\d{4}-\d{2}\.json")


def months_to_segments(folder: Path) -> None:
    """Version 1 kept completions in one TinyDB file per month, with ``journal.jsonl`` for
    batches spanning months; version 2 keeps a journal and segments (see
    :mod:`storage.completions`).

    Safe to run again after a crash: segments already written are read back and merged by id
    with what the month files (and an unfinished version 1 journal) still hold, and the month
    files go only once every segment is durable.
    """
    store = folder / "completions"
    if not store.is_dir():
        return
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(store.glob("seg-*.json")):
        docs.update((d["id"], d) for d in read_segment(path)[0])
    months = sorted(p for p in store.iterdir() if _MONTH_FILE.fullmatch(p.name))
    for path in months:
        docs.update((d["id"], d) for d in read_segment(path)[0])
    journal = store / "journal.jsonl"
    if journal.exists():
        lines = journal.read_bytes().split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                groups = orjson.loads(line)["groups"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                if number == len(lines):  # a torn last line was never acknowledged
                    break
                raise CorruptFile(f"{journal} has a damaged line: {error}") from error
            for group in groups.values():
                docs.update((d["id"], d) for d in group)
    write_segments(store, docs.values())
    for path in [*months, journal]:
        path.unlink(missing_ok=True)
    fsync_dir(store)


MOVED_TABLES = (
    "contacts",
    "companies",
    "deals",
    "tickets",
    "associations",
    "enrollments",
    "tasks",
)
"""The tables that grow with use, which version 3 keeps in ``records/`` (storage.tables)."""


def _moved_key(table: str, doc_id: str, doc: dict[str, Any]) -> str:
    if table == "associations":
        return f"{doc['fromType']}:{doc['fromId']}:{doc['toType']}:{doc['toId']}"
    if table in ("enrollments", "tasks"):
        return str(doc["id"])
    return doc_id


def tables_to_log(folder: Path) -> None:
    """Version 2 kept records, associations, enrollments and tasks in ``cbe.json``, rewritten
    whole at every write; version 3 keeps them in ``records/``: a snapshot and an append-only
    log (storage.tables), keyed by record id (associations by both ends, enrollments and
    tasks by their ids), in document order.

    The snapshot is written first (atomically), then ``cbe.json`` without those tables and
    with version 3, in one replace: a crash before that replace leaves version 2 whole, and the
    step runs again (the snapshot made again from ``cbe.json``).
    """
    path = folder / "cbe.json"
    try:
        main = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return
    except orjson.JSONDecodeError as error:
        raise CorruptFile(f"{path} is not a valid database file: {error}") from error
    if not any(name in main for name in MOVED_TABLES):
        return  # nothing to move (a folder that never held a record): records/ stays as it is
    tables: dict[str, dict[str, Any]] = {}
    for name in MOVED_TABLES:
        docs = main.pop(name, None) or {}
        ordered = sorted(docs.items(), key=lambda item: int(item[0]))
        tables[name] = {_moved_key(name, doc_id, doc): doc for doc_id, doc in ordered}
    records = folder / TABLES_DIR
    write_snapshot(records, 1, tables)
    for stale in records.glob("log-*.jsonl"):  # never written before version 3; to be sure
        stale.unlink()
    main.setdefault(META_TABLE, {})[str(_META_ID)] = {"schemaVersion": 3}
    write_atomically(path, orjson.dumps(main))


MIGRATIONS: dict[int, Migration] = {1: months_to_segments, 2: tables_to_log}
"""``MIGRATIONS[n]`` upgrades a database folder from version ``n`` to ``n + 1``."""

META_TABLE = "meta"
_META_ID = 1


class DatabaseTooNew(CbeError):
    """The database was written by a newer cbe."""


class MigrationMissing(CbeError):
    """No migration exists for a version this program should be able to upgrade."""


def read_version(main: AtomicJSONStorage) -> int | None:
    """The stored schema version, or None for a database without one (brand new)."""
    doc = Table(main, META_TABLE, cache_size=0).get(doc_id=_META_ID)
    if doc is None or not isinstance(doc, dict):
        return None
    version = doc.get("schemaVersion")
    return version if isinstance(version, int) else None


def write_version(main: AtomicJSONStorage, version: int) -> None:
    table = Table(main, META_TABLE, cache_size=0)
    table.upsert(Document({"schemaVersion": version}, doc_id=_META_ID))


def upgrade(folder: Path, main: AtomicJSONStorage) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; the caller holds the lock.

    Returns the version found before upgrading (the current one for a new database).
    """
    found = read_version(main)
    if found is None:
        write_version(main, SCHEMA_VERSION)
        return SCHEMA_VERSION
    if found > SCHEMA_VERSION:
        raise DatabaseTooNew(
            f"The database at {folder} has schema version {found}, but this cbe understands "
            f"versions up to {SCHEMA_VERSION}. Upgrade cbe to open it."
        )
    for version in range(found, SCHEMA_VERSION):
        step = MIGRATIONS.get(version)
        if step is None:
            raise MigrationMissing(
                f"cbe has no migration from schema version {version} to {version + 1}."
            )
        step(folder)
        main.invalidate()
        write_version(main, version + 1)
    return found
