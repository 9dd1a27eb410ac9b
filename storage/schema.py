"""The schema version of a database folder and the migrations between versions.

The version lives in the main file's ``meta`` table. Opening a database runs every migration
from its version up to :data:`SCHEMA_VERSION`, one step at a time under the database lock, and
records each finished step, so that an interrupted upgrade resumes where it stopped. A database
written by a newer cbe is refused with a clear message rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tinydb.table import Document, Table

from core.errors import CbeError
from storage.atomic import AtomicJSONStorage

SCHEMA_VERSION = 1
"""The version this program writes."""

Migration = Callable[[Path], None]

MIGRATIONS: dict[int, Migration] = {}
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
