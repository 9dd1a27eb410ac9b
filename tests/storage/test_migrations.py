"""Schema versions: older databases are upgraded step by step, newer ones are refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from core.models import ObjectType
from storage import schema
from storage.atomic import AtomicJSONStorage
from storage.database import open_database
from storage.schema import DatabaseTooNew, MigrationMissing, read_version, write_version
from tests.storage.helpers import EMAIL, setup_database


def _version(folder: Path) -> int | None:
    storage = AtomicJSONStorage(folder / "cbe.json")
    try:
        return read_version(storage)
    finally:
        storage.close()


def _set_version(folder: Path, version: int) -> None:
    storage = AtomicJSONStorage(folder / "cbe.json")
    write_version(storage, version)
    storage.close()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    """A database written at schema version 1, opened below by a cbe that writes version 4."""
    folder = tmp_path / "db"
    setup_database(folder)
    assert _version(folder) == schema.SCHEMA_VERSION == 1
    return folder


def test_a_new_database_records_the_current_version(tmp_path: Path) -> None:
    open_database(tmp_path / "db").close()
    assert _version(tmp_path / "db") == schema.SCHEMA_VERSION


def test_migrations_run_in_order_exactly_once(
    old_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[int, Path]] = []

    def rename_contacts(folder: Path) -> None:
        # A migration may rewrite the main file through its own storage object.
        ran.append((2, folder))
        storage = AtomicJSONStorage(folder / "cbe.json")
        data = storage.read()
        assert data is not None
        for doc in data["contacts"].values():
            doc["properties"]["firstname"] = doc["properties"]["firstname"].upper()
        storage.write(data)
        storage.close()

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 4)
    monkeypatch.setattr(
        schema,
        "MIGRATIONS",
        {
            1: lambda folder: ran.append((1, folder)),
            2: rename_contacts,
            3: lambda folder: ran.append((3, folder)),
        },
    )
    db = open_database(old_db)
    assert ran == [(1, old_db), (2, old_db), (3, old_db)]
    assert _version(old_db) == 4
    # The version written after the step did not undo what the step wrote.
    contact = db.records.find_contact_by_email(EMAIL)
    assert contact is not None and contact.properties["firstname"] == "ANN"
    db.close()

    open_database(old_db).close()
    assert len(ran) == 3
    assert _version(old_db) == 4


def test_a_failing_migration_stops_at_the_last_completed_step(
    old_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []

    def broken(folder: Path) -> None:
        ran.append(2)
        raise RuntimeError("disk full")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 4)
    monkeypatch.setattr(
        schema, "MIGRATIONS", {1: lambda f: ran.append(1), 2: broken, 3: lambda f: ran.append(3)}
    )
    with pytest.raises(RuntimeError, match="disk full"):
        open_database(old_db)
    assert ran == [1, 2]
    assert _version(old_db) == 2

    # Once fixed, the upgrade resumes where it stopped.
    schema.MIGRATIONS[2] = lambda f: ran.append(2)
    open_database(old_db).close()
    assert ran == [1, 2, 2, 3]
    assert _version(old_db) == 4


def test_a_newer_database_is_refused(old_db: Path) -> None:
    _set_version(old_db, 7)
    before = {p.name: p.read_bytes() for p in old_db.iterdir() if p.is_file()}
    with pytest.raises(DatabaseTooNew) as raised:
        open_database(old_db)
    message = str(raised.value)
    assert "version 7" in message
    assert f"up to {schema.SCHEMA_VERSION}" in message
    assert "Upgrade cbe" in message
    assert str(old_db) in message
    after = {p.name: p.read_bytes() for p in old_db.iterdir() if p.is_file()}
    assert after == before  # refused without touching anything
    assert _version(old_db) == 7


def test_a_missing_migration_is_reported(old_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(schema, "MIGRATIONS", {1: lambda f: None})
    with pytest.raises(MigrationMissing, match="from schema version 2 to 3"):
        open_database(old_db)
    assert _version(old_db) == 2


def test_the_version_lives_in_the_meta_table(old_db: Path) -> None:
    main = orjson.loads((old_db / "cbe.json").read_bytes())
    assert main["meta"] == {"1": {"schemaVersion": schema.SCHEMA_VERSION}}
    db = open_database(old_db)
    assert [r.email for r in db.records.list_records(ObjectType.CONTACT)] == [EMAIL]
    db.close()
