"""The database folder: its files, its portal, what is refused, journal recovery, deletion."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from tinydb.table import Table

from core.errors import Conflict, Rule
from core.models import Completion, CrmRecord, EventDefinition, ObjectType, Source
from core.ports import CompletionSelection
from core.services import Services
from storage import atomic
from storage.atomic import AtomicJSONStorage, CorruptFile
from storage.bootstrap import open_services
from storage.completions import CompletionStore
from storage.database import NotADatabase, open_database
from tests.storage.helpers import EMAIL, read_raw, setup_database

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Modes must not depend on the user's umask: clear it while the test runs."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("no_umask")
def test_every_file_is_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    journal_modes: list[int] = []
    clear = CompletionStore._clear_journal

    def spy(store: CompletionStore) -> None:
        journal_modes.append(_mode(store.journal))
        clear(store)

    monkeypatch.setattr(CompletionStore, "_clear_journal", spy)
    services = open_services(folder)
    services.ingestion.send_batch(
        {
            "inputs": [
                {"eventName": event, "email": EMAIL, "occurredAt": f"2026-0{m}-05T10:00:00Z"}
                for m in (1, 2, 3)
            ]
        }
    )
    services.close()

    assert journal_modes == [0o600]
    files = [p for p in folder.rglob("*") if p.is_file()]
    names = {p.relative_to(folder).as_posix() for p in files}
    assert {
        "portal.json",
        "cbe.json",
        ".lock",
        "completions/2026-01.json",
        "completions/2026-02.json",
        "completions/2026-03.json",
    } <= names
    assert {p.relative_to(folder).as_posix(): _mode(p) for p in files} == dict.fromkeys(
        names, 0o600
    )
    assert _mode(folder) == 0o700


def test_a_new_database_gets_a_portal_and_a_random_access_token(tmp_path: Path) -> None:
    first = open_database(tmp_path / "one")
    second = open_database(tmp_path / "two")
    for db in (first, second):
        assert 10_000_000 <= db.portal.portal_id < 100_000_000
        assert db.portal.access_token.startswith("cbe-")
        assert len(db.portal.access_token) >= 40
    assert first.portal.access_token != second.portal.access_token
    assert first.portal.portal_id != second.portal.portal_id
    stored = orjson.loads((tmp_path / "one" / "portal.json").read_bytes())
    assert stored["portalId"] == first.portal.portal_id
    assert stored["accessToken"] == first.portal.access_token
    first.close()
    second.close()

    again = open_database(tmp_path / "one", create=False)
    assert again.portal == first.portal
    again.close()


def test_a_chosen_portal_id_is_kept(tmp_path: Path) -> None:
    db = open_database(tmp_path / "db", portal_id=87654321)
    assert db.portal.portal_id == 87654321
    db.close()


def test_a_folder_holding_something_else_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(NotADatabase) as raised:
        open_database(folder)
    assert str(folder) in str(raised.value)
    assert "not empty" in str(raised.value)
    assert "no cbe database" in str(raised.value)
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg"]


def test_a_file_is_not_a_database_folder(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(NotADatabase, match="is a file"):
        open_database(path)
    assert path.read_text() == "hello"


def test_opening_a_missing_database_without_create_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"
    with pytest.raises(NotADatabase, match=f"There is no cbe database at {folder}"):
        open_database(folder, create=False)
    assert not folder.exists()


def test_opening_an_empty_folder_without_create_leaves_it_empty(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(NotADatabase, match="There is no cbe database"):
        open_database(folder, create=False)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("name", ["cbe.json", "portal.json"])
def test_a_corrupt_file_is_named(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    (folder / name).write_bytes(b'{"definitions": {"1": {"na')
    with pytest.raises(CorruptFile) as raised:
        open_database(folder)
    assert str(folder / name) in str(raised.value)


def test_a_corrupt_month_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    services.ingestion.send({"eventName": event, "email": EMAIL, "occurredAt": "2026-01-05"})
    services.close()
    month = folder / "completions" / "2026-01.json"
    month.write_bytes(month.read_bytes()[:-7])
    services = open_services(folder)
    with pytest.raises(CorruptFile) as raised:
        services.ingestion.send({"eventName": event, "email": EMAIL, "occurredAt": "2026-02-05"})
    assert str(month) in str(raised.value)
    services.close()


# -- the journal of batches spanning several months -------------------------------------------


def _completion(event: str, cid: str, month: int) -> dict[str, object]:
    return Completion(
        id=cid,
        uuid=f"u-{cid}",
        event_name=event,
        object_type=ObjectType.CONTACT,
        object_id="1",
        email=EMAIL,
        occurred_at=datetime(2026, month, 5, 10, tzinfo=UTC),
        received_at=NOW,
        source=Source.API,
    ).to_json()


def _journal_line(groups: dict[str, list[dict[str, object]]]) -> bytes:
    return orjson.dumps({"groups": groups}) + b"\n"


def _write_month(folder: Path, month: str, docs: list[dict[str, object]]) -> None:
    storage = AtomicJSONStorage(folder / "completions" / f"{month}.json")
    Table(storage, "completions").insert_multiple(docs)
    storage.close()


def _crashed_batch(folder: Path, event: str) -> list[dict[str, object]]:
    """What a process killed mid-batch leaves: the journal line, January written, February not."""
    jan = [_completion(event, "j1", 1)]
    feb = [_completion(event, "j2", 2), _completion(event, "j3", 2)]
    (folder / "completions" / "journal.jsonl").write_bytes(
        _journal_line({"2026-01": jan, "2026-02": feb})
    )
    _write_month(folder, "2026-01", jan)
    return jan + feb


def _stored_ids(folder: Path) -> list[str]:
    return sorted(str(d["id"]) for d in read_raw(folder).completions)


def test_opening_finishes_a_batch_a_crashed_writer_left_in_the_journal(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    _crashed_batch(folder, event)
    assert _stored_ids(folder) == ["j1"]

    services = open_services(folder, create=False)
    assert not (folder / "completions" / "journal.jsonl").exists()
    assert _stored_ids(folder) == ["j1", "j2", "j3"]  # each exactly once
    assert services.db.completions.summaries()[event].count == 3
    services.close()


def test_the_next_append_finishes_a_journaled_batch_first(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, db_path: Path
) -> None:
    event = viewed_car.fully_qualified_name
    services.ingestion.send({"eventName": event, "email": EMAIL, "occurredAt": "2026-03-01"})
    _crashed_batch(db_path, event)  # by another process, while this one is running
    services.ingestion.send({"eventName": event, "email": EMAIL, "occurredAt": "2026-03-02"})
    assert _stored_ids(db_path) == ["c000001", "c000002", "j1", "j2", "j3"]
    assert not (db_path / "completions" / "journal.jsonl").exists()


def test_a_recovery_that_dies_halfway_is_finished_by_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    docs = {f"2026-0{m}": [_completion(event, f"r{m}", m)] for m in (1, 2, 3)}
    (folder / "completions" / "journal.jsonl").write_bytes(_journal_line(docs))
    real = atomic.write_atomically
    writes: list[Path] = []

    def dies_at_the_second_month(path: Path, payload: bytes) -> None:
        writes.append(path)
        if len(writes) == 2:
            raise _Crash
        real(path, payload)

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "write_atomically", dies_at_the_second_month)
        with pytest.raises(_Crash):
            open_database(folder)
    assert _stored_ids(folder) == ["r1"]
    assert (folder / "completions" / "journal.jsonl").exists()

    open_database(folder).close()
    assert _stored_ids(folder) == ["r1", "r2", "r3"]
    assert not (folder / "completions" / "journal.jsonl").exists()


class _Crash(Exception):
    """Stands for the process dying at this point."""


def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    whole = _journal_line({"2026-01": [_completion(event, "w1", 1)]})
    torn = _journal_line(
        {"2026-02": [_completion(event, "t1", 2)], "2026-03": [_completion(event, "t2", 3)]}
    )
    (folder / "completions" / "journal.jsonl").write_bytes(whole + torn[: len(torn) // 2])

    services = open_services(folder, create=False)
    assert _stored_ids(folder) == ["w1"]
    assert not (folder / "completions" / "journal.jsonl").exists()
    assert {c.id for c in services.db.completions.scan(CompletionSelection())} == {"w1"}
    services.close()


def test_a_journal_holding_only_a_torn_line_stores_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    torn = _journal_line({"2026-02": [_completion(event, "t1", 2)]})
    (folder / "completions" / "journal.jsonl").write_bytes(torn[:-3])
    open_database(folder).close()
    assert _stored_ids(folder) == []
    assert not (folder / "completions" / "journal.jsonl").exists()


def test_a_batch_spanning_months_is_journaled_then_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    journals: list[bytes] = []
    clear = CompletionStore._clear_journal

    def spy(store: CompletionStore) -> None:
        if store.journal.exists():
            journals.append(store.journal.read_bytes())
        clear(store)

    monkeypatch.setattr(CompletionStore, "_clear_journal", spy)
    services = open_services(folder)
    one_month = services.ingestion.send_batch(
        {
            "inputs": [
                {"eventName": event, "email": EMAIL, "occurredAt": f"2026-01-0{d}"} for d in (1, 2)
            ]
        }
    )
    assert journals == []  # one month file: one atomic write, no journal
    stored = services.ingestion.send_batch(
        {
            "inputs": [
                {"eventName": event, "email": EMAIL, "occurredAt": f"2026-0{m}-01"} for m in (1, 2)
            ]
        }
    )
    assert len(journals) == 1
    groups = orjson.loads(journals[0])["groups"]
    assert {m: [d["id"] for d in docs] for m, docs in groups.items()} == {
        "2026-01": [stored[0].id],
        "2026-02": [stored[1].id],
    }
    assert _stored_ids(folder) == sorted(c.id for c in one_month + stored)
    services.close()


def test_a_batch_with_a_taken_uuid_stores_nothing_in_any_month(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    db = open_database(folder)
    store = db.completions
    store.append([Completion.model_validate(_completion(event, "a1", 3))])
    batch = [
        Completion.model_validate(_completion(event, "b1", 1)),
        Completion.model_validate(_completion(event, "b2", 2)),
        Completion.model_validate({**_completion(event, "b3", 4), "uuid": "u-a1"}),
    ]
    with pytest.raises(Conflict) as raised:
        store.append(batch)
    assert [v.rule for v in raised.value.violations] == [Rule.DUPLICATE_UUID]
    db.close()
    assert _stored_ids(folder) == ["a1"]
    assert sorted(p.name for p in (folder / "completions").iterdir()) == ["2026-03.json"]


def test_deleting_an_event_removes_its_completions_from_every_month(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    other = services.definitions.create({"label": "Booked Test Drive"}).fully_qualified_name
    for name in (event, other):
        services.ingestion.send_batch(
            {
                "inputs": [
                    {"eventName": name, "email": EMAIL, "occurredAt": f"2026-0{m}-0{d}"}
                    for m in (1, 2, 3)
                    for d in (1, 2)
                ]
            }
        )
    assert services.definitions.delete(event) == 6
    services.close()

    stored = read_raw(folder)
    assert {d["eventName"] for d in stored.completions} == {other}
    assert len(stored.completions) == 6
    for month in ("2026-01", "2026-02", "2026-03"):
        docs = orjson.loads((folder / "completions" / f"{month}.json").read_bytes())
        assert {d["eventName"] for d in docs["completions"].values()} == {other}
    reopened = open_services(folder)
    assert set(reopened.db.completions.summaries()) == {other}
    reopened.close()
