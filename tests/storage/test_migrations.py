"""Schema versions: older databases are upgraded step by step, newer ones are refused."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import storage.atomic
from cli.bootstrap import open_services
from core.models import Completion, ObjectType, Source
from core.ports import CompletionSelection
from core.workflow_models import Enrollment, Task
from storage import schema
from storage.atomic import AtomicJSONStorage
from storage.completions import segment_file
from storage.database import open_database
from storage.schema import DatabaseTooNew, MigrationMissing, read_version, write_version
from tests.storage.helpers import EMAIL, read_raw, read_tables, setup_database


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
    """A database at schema version 1, opened below by a cbe that writes version 4 (the steps
    between are the tests' own)."""
    folder = tmp_path / "db"
    setup_database(folder)
    _set_version(folder, 1)
    return folder


def test_a_new_database_records_the_current_version(tmp_path: Path) -> None:
    open_database(tmp_path / "db").close()
    assert _version(tmp_path / "db") == schema.SCHEMA_VERSION


def test_migrations_run_in_order_exactly_once(
    old_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[int, Path]] = []

    def rename_definitions(folder: Path) -> None:
        # A migration may rewrite the main file through its own storage object.
        ran.append((2, folder))
        storage = AtomicJSONStorage(folder / "cbe.json")
        data = storage.read()
        assert data is not None
        for doc in data["definitions"].values():
            doc["label"] = doc["label"].upper()
        storage.write(data)
        storage.close()

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 4)
    monkeypatch.setattr(
        schema,
        "MIGRATIONS",
        {
            1: lambda folder: ran.append((1, folder)),
            2: rename_definitions,
            3: lambda folder: ran.append((3, folder)),
        },
    )
    db = open_database(old_db)
    assert ran == [(1, old_db), (2, old_db), (3, old_db)]
    assert _version(old_db) == 4
    # The version written after the step did not undo what the step wrote.
    assert [d.label for d in db.definitions.list_all()] == ["VIEWED CAR"]
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


def test_the_version_lives_in_the_meta_table(tmp_path: Path) -> None:
    setup_database(tmp_path / "db")
    main = orjson.loads((tmp_path / "db" / "cbe.json").read_bytes())
    assert main["meta"] == {"1": {"schemaVersion": schema.SCHEMA_VERSION}}
    db = open_database(tmp_path / "db")
    assert [r.email for r in db.records.list_records(ObjectType.CONTACT)] == [EMAIL]
    db.close()


# -- version 1 to 2: month files become a journal and segments ------------------------------


def _v1_doc(event: str, n: int, month: int) -> dict[str, object]:
    return Completion(
        id=f"c{n:06d}",
        uuid=f"u{n}",
        event_name=event,
        object_type=ObjectType.CONTACT,
        object_id="1",
        email=EMAIL,
        occurred_at=datetime(2026, month, 1 + n % 28, 9, tzinfo=UTC),
        received_at=datetime(2026, 6, 1, tzinfo=UTC),
        source=Source.API,
    ).to_json()


def _version_1_database(folder: Path) -> list[dict[str, object]]:
    """What cbe wrote at schema version 1: one TinyDB file per month, and a journal of a batch
    spanning months that a crash left half applied (January written, February not) followed
    by a torn line that was never acknowledged. Returns the completions it holds."""
    event = setup_database(folder)
    _set_version(folder, 1)
    store = folder / "completions"
    for path in store.iterdir():
        path.unlink()
    months = {
        month: [_v1_doc(event, month * 100 + i, month) for i in range(3)] for month in (1, 2, 3)
    }
    for month in (1, 3):
        table = {str(i): doc for i, doc in enumerate(months[month], 1)}
        (store / f"2026-0{month}.json").write_bytes(orjson.dumps({"completions": table}))
    batch = {"2026-01": months[1][:1], "2026-02": months[2]}
    torn = orjson.dumps({"groups": {"2026-04": [_v1_doc(event, 999, 4)]}})
    journal = orjson.dumps({"groups": batch}) + b"\n" + torn[:40]
    (store / "journal.jsonl").write_bytes(journal)
    return [doc for docs in months.values() for doc in docs]


def test_version_1_month_files_become_segments(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    expected = _version_1_database(folder)
    db = open_database(folder)
    stored = list(db.completions.scan(CompletionSelection(newest_first=False)))
    db.close()
    assert _version(folder) == schema.SCHEMA_VERSION
    assert [c.to_json() for c in stored] == sorted(
        expected, key=lambda d: (str(d["occurredAt"]), str(d["id"]))
    )
    assert sorted(p.name for p in (folder / "completions").iterdir()) == [
        "seg-000001.idx",
        "seg-000001.json",
    ]
    assert sorted(d["id"] for d in read_raw(folder).completions) == sorted(
        str(d["id"]) for d in expected
    )


def test_an_interrupted_upgrade_from_version_1_finishes_with_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    expected = _version_1_database(folder)
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 4)
    real_unlink = Path.unlink

    def dies_after_the_first_month_file(path: Path, missing_ok: bool = False) -> None:
        real_unlink(path, missing_ok=missing_ok)
        if path.name == "2026-01.json":
            raise _Crash

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", dies_after_the_first_month_file)
        with pytest.raises(_Crash):
            open_database(folder)
    assert _version(folder) == 1
    assert (folder / "completions" / "seg-000003.json").exists()  # 9 completions, 4 a segment

    open_database(folder).close()
    assert _version(folder) == schema.SCHEMA_VERSION
    stored = read_raw(folder).completions
    assert sorted(d["id"] for d in stored) == sorted(str(d["id"]) for d in expected)


class _Crash(Exception):
    """Stands for the process dying at this point."""


# -- version 2 to 3: records, associations, enrollments and tasks leave cbe.json -------------


def _version_2_database(folder: Path) -> None:
    """What cbe wrote at schema version 2: records, associations, enrollments and tasks as
    TinyDB tables of ``cbe.json`` (records by id, the others numbered in the order written),
    beside the event definition."""
    setup_database(folder)  # the event and contact 1 (ann@example.com)
    services = open_services(folder)
    try:
        services.records.archive(ObjectType.CONTACT, "1")
        bo = services.records.create(ObjectType.CONTACT, {"email": EMAIL, "firstname": "Bo"})
        acme = services.records.create(ObjectType.COMPANY, {"name": "Acme"})
        services.records.associate(ObjectType.CONTACT, bo.id, ObjectType.COMPANY, acme.id)
        for n in (1, 2):
            services.db.workflows.save_enrollment(
                Enrollment(
                    id=f"w1:CONTACT:{n}",
                    workflow_id="1",
                    object_type=ObjectType.CONTACT,
                    object_id=str(n),
                    entered_at=datetime(2026, 6, 1, tzinfo=UTC),
                )
            )
        services.db.workflows.save_task(
            Task(
                id="w1:CONTACT:2:0",
                workflow_id="1",
                object_type=ObjectType.CONTACT,
                object_id="2",
                title="Call",
                created_at=datetime(2026, 6, 1, tzinfo=UTC),
            )
        )
    finally:
        services.close()
    tables = read_tables(folder)
    main = orjson.loads((folder / "cbe.json").read_bytes())
    for name, docs in tables.items():
        if name in ("associations", "enrollments", "tasks"):
            main[name] = {str(i): doc for i, doc in enumerate(docs.values(), 1)}
        else:
            main[name] = dict(docs)
    main["meta"] = {"1": {"schemaVersion": 2}}
    (folder / "cbe.json").write_bytes(orjson.dumps(main))
    shutil.rmtree(folder / "records")


def _read_records(folder: Path) -> dict[str, object]:
    db = open_database(folder)
    try:
        contacts = db.records.list_records(ObjectType.CONTACT)
        found = db.records.find_contact_by_email(EMAIL)
        return {
            "contacts": [(r.id, r.email, r.archived) for r in contacts],
            "by email": found.id if found else None,
            "next contact": db.records.next_id(ObjectType.CONTACT),
            "links": [
                (a.to_type, a.to_id) for a in db.records.associations(ObjectType.COMPANY, "1")
            ],
            "enrollments": [e.id for e in db.workflows.list_enrollments(None)],
            "tasks": [t.title for t in db.workflows.tasks_for(ObjectType.CONTACT, "2")],
            "definitions": [d.label for d in db.definitions.list_all()],
        }
    finally:
        db.close()


_EXPECTED_V3 = {
    "contacts": [("1", EMAIL, True), ("2", EMAIL, False)],
    "by email": "2",
    "next contact": "3",
    "links": [(ObjectType.CONTACT, "2")],
    "enrollments": ["w1:CONTACT:1", "w1:CONTACT:2"],
    "tasks": ["Call"],
    "definitions": ["Viewed Car"],
}


def test_version_2_records_move_from_cbe_json_to_the_logged_tables(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    _version_2_database(folder)
    assert _read_records(folder) == _EXPECTED_V3
    assert _version(folder) == schema.SCHEMA_VERSION
    main = orjson.loads((folder / "cbe.json").read_bytes())
    assert not set(main) & set(schema.MOVED_TABLES)  # cbe.json no longer grows with records
    assert set(read_tables(folder)) == set(schema.MOVED_TABLES)


def test_an_upgrade_from_version_2_interrupted_before_cbe_json_is_replaced_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    _version_2_database(folder)
    real = storage.atomic.write_atomically

    def dies_writing_cbe_json(path: Path, payload: bytes) -> None:
        if path.name == "cbe.json":
            raise _Crash
        real(path, payload)

    with monkeypatch.context() as patch:
        patch.setattr(schema, "write_atomically", dies_writing_cbe_json)
        with pytest.raises(_Crash):
            open_database(folder)
    assert _version(folder) == 2
    assert (folder / "records" / "snapshot.json").exists()
    assert _read_records(folder) == _EXPECTED_V3
