"""The logged tables (records/: a snapshot and an append-only log): a write appends one line
and rewrites nothing, the log folds into a new snapshot, other handles on the folder follow,
and what a killed writer leaves is never read."""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import storage.tables
from core.models import CrmRecord, ObjectType
from storage.database import FOLD_SWITCH_INTERVAL, TinyDatabase, open_database
from storage.doctor import doctor
from storage.locking import DatabaseLock
from storage.memory import MemoryDatabase
from storage.record_index import RECORD_COLUMNS
from storage.tables import LoggedTables, parse_log_line
from tests.storage.helpers import read_tables

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def _contact(record_id: str, email: str | None = None, **properties: str) -> CrmRecord:
    return CrmRecord(
        object_type=ObjectType.CONTACT,
        id=record_id,
        properties={"email": email or f"c{record_id}@example.com", **properties},
        created_at=NOW,
        updated_at=NOW,
    )


def _add(db: TinyDatabase, count: int) -> None:
    for _ in range(count):
        db.records.insert(_contact(db.records.next_id(ObjectType.CONTACT)))


def _inode(path: Path) -> int:
    return os.stat(path).st_ino


def test_a_write_appends_one_line_and_rewrites_no_file(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    try:
        _add(db, 50)
        db.records._tables.fold()  # the 50 in a snapshot; the log starts empty
        before = {p.name: (_inode(p), p.stat().st_size) for p in folder.iterdir() if p.is_file()}
        snapshot = folder / "records" / "snapshot.json"
        written = snapshot.read_bytes()
        with db.transaction() as unit:
            db.records.insert(_contact("51"))
            db.records.replace(_contact("7", "seven@example.com"))
            unit.commit()
        after = {p.name: (_inode(p), p.stat().st_size) for p in folder.iterdir() if p.is_file()}
        assert after == before  # cbe.json and portal.json untouched
        assert snapshot.read_bytes() == written
        (log,) = (folder / "records").glob("log-*.jsonl")
        (line,) = log.read_bytes().splitlines()
        assert [(t, k) for t, k, _ in parse_log_line(line)] == [
            ("contacts", "51"),
            ("contacts", "7"),
        ]
    finally:
        db.close()


def test_the_log_folds_into_a_new_snapshot_once_it_outgrows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    other = open_database(folder)
    try:
        assert other.records.list_records(ObjectType.CONTACT) == []  # read before the folds
        logs: set[str] = set()
        for n in range(1, 120):
            _add(db, 1)
            logs.update(p.name for p in (folder / "records").glob("log-*.jsonl"))
            if n % 17 == 0:  # the other handle follows, across folds
                assert len(other.records.list_records(ObjectType.CONTACT)) == n
        assert len(logs) > 2  # folded more than once
        assert len(list((folder / "records").glob("log-*.jsonl"))) <= 1  # old logs deleted
        assert len(read_tables(folder)["contacts"]) == 119
        found = other.records.find_contact_by_email("C119@example.com")
        assert found is not None and found.id == "119"
    finally:
        db.close()
        other.close()
    assert _contact_ids(folder) == [str(n) for n in range(1, 120)]


def _logs(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "records").glob("log-*.jsonl"))


def _contact_ids(folder: Path) -> list[str]:
    """The contacts' ids as another process reads them, in the list's order."""
    reopened = open_database(folder)
    try:
        return [r.id for r in reopened.records.list_records(ObjectType.CONTACT)]
    finally:
        reopened.close()


def test_a_bulk_load_folds_once_at_its_end_every_unit_durable_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)  # a fold every few contacts
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    try:
        with db.bulk_load():
            for _ in range(8):
                with db.transaction() as unit:
                    _add(db, 10)
                    unit.commit()
            assert _logs(folder) == ["log-000001.jsonl"]  # nothing folded yet
            other = open_database(folder, read_only=True)  # what a crash here would leave
            try:
                assert len(other.records.list_records(ObjectType.CONTACT)) == 80
            finally:
                other.close()
        assert _logs(folder) == []  # folded once, at the end: the new log not begun
        assert len(read_tables(folder)["contacts"]) == 80
        _add(db, 1)
        assert _logs(folder) == ["log-000002.jsonl"]  # folds as before once the load is over
    finally:
        db.close()


def test_a_bulk_load_stopped_by_an_error_folds_nothing_and_the_next_write_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    try:
        with pytest.raises(KeyboardInterrupt), db.bulk_load():
            _add(db, 40)
            raise KeyboardInterrupt
        assert _logs(folder) == ["log-000001.jsonl"]
        _add(db, 1)
        assert _logs(folder) == []  # the write folded what was due
        assert len(read_tables(folder)["contacts"]) == 41
    finally:
        db.close()


_BULK_WRITER = """
import sys
from storage.database import open_database
import storage.tables
from tests.storage.test_tables import _add
storage.tables.FOLD_FLOOR = 2_000
db = open_database(sys.argv[1], portal_id=12345678)
with db.bulk_load():
    for unit_number in range(1, 10_000):
        with db.transaction() as unit:
            _add(db, 10)
            unit.commit()
        print(unit_number * 10, flush=True)
"""


def test_a_bulk_load_killed_part_way_loses_no_acknowledged_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)  # as the writer's
    folder = tmp_path / "db"
    child = subprocess.Popen(
        [sys.executable, "-c", _BULK_WRITER, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.stdout is not None
    acknowledged = 0
    while acknowledged < 150:
        acknowledged = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _logs(folder) == ["log-000001.jsonl"]  # never folded: the whole load is in the log
    db = open_database(folder)
    try:
        assert len(db.records.list_records(ObjectType.CONTACT)) >= acknowledged
        _add(db, 1)  # the next write folds what the load left
        assert _logs(folder) == []
        assert db.records._tables.mapped
    finally:
        db.close()


def test_background_folds_happen_beside_the_writes_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)  # a fold every few contacts
    finished: list[bool] = []
    finish = LoggedTables.finish_fold

    def finishing(self: LoggedTables, folding: storage.tables.Folding) -> bool:
        finished.append(finish(self, folding))
        return finished[-1]

    monkeypatch.setattr(LoggedTables, "finish_fold", finishing)
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    db.background_folds = True
    other = open_database(folder)
    try:
        for n in range(1, 121):
            _add(db, 1)  # never folds itself: a fold due is started in a thread
            if n % 30 == 0:
                assert len(other.records.list_records(ObjectType.CONTACT)) == n
                with db.transaction() as unit:  # a unit of work too
                    db.records.replace(_contact("2", f"two{n}@example.com"))
                    unit.commit()
    finally:
        db.close()  # waits for a fold under way
        other.close()
    assert True in finished  # folded (some may have been let go: a write came first)
    reopened = open_database(folder)
    try:
        listed = reopened.records.list_records(ObjectType.CONTACT)
        assert [r.id for r in listed] == [str(n) for n in range(1, 121)]
        assert listed[1].email == "two120@example.com"
        assert reopened.records._tables._log > 1
        assert len(_logs(folder)) <= 1
    finally:
        reopened.close()


@pytest.mark.parametrize("apart", [False, True])
def test_while_a_fold_is_made_in_a_thread_threads_switch_often_and_no_collection_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, apart: bool
) -> None:
    """Writes beside a fold wait for neither the fold's thread's 5 ms turns nor a full
    collection of garbage it made (a snapshot made in this process: ``apart`` False; one
    made in a process of its own leaves little here, and the collector runs as usual); the
    interpreter is as it was once the fold is done."""
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)
    seen: list[tuple[bool, float]] = []
    build = LoggedTables.build_fold

    def building(self: LoggedTables, folding: storage.tables.Folding) -> bool:
        seen.append((gc.isenabled(), sys.getswitchinterval()))
        return build(self, folding)

    monkeypatch.setattr(LoggedTables, "build_fold", building)
    before = sys.getswitchinterval()
    assert gc.isenabled() and before > FOLD_SWITCH_INTERVAL
    db = open_database(tmp_path / "db", portal_id=12345678)
    if not apart:
        db._tables.columns_at = None  # made in the fold's thread
    db.background_folds = True
    try:
        _add(db, 40)
    finally:
        db.close()  # waits for the fold under way
    assert seen and set(seen) == {(apart, FOLD_SWITCH_INTERVAL)}
    assert gc.isenabled() and sys.getswitchinterval() == before


def test_what_stands_as_a_background_fold_begins_is_left_out_of_full_collections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write beside a fold waits for no full collection of the writer's long-lived heap
    (``gc.freeze`` as the fold begins); the young generations were collected first."""
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)
    held = [[n] for n in range(100)]  # tracked objects made before the fold
    young: list[object] = []
    young.append(young)  # garbage in a cycle, not yet collected
    gone = id(young)
    del young
    seen: list[tuple[int, bool, bool]] = []
    build = LoggedTables.build_fold

    def building(self: LoggedTables, folding: storage.tables.Folding) -> bool:
        tracked = {id(o) for o in gc.get_objects()}  # the permanent generation left out
        seen.append((gc.get_freeze_count(), id(held[0]) in tracked, gone in tracked))
        return build(self, folding)

    monkeypatch.setattr(LoggedTables, "build_fold", building)
    gc.unfreeze()
    db = open_database(tmp_path / "db", portal_id=12345678)
    db.background_folds = True
    try:
        _add(db, 40)
    finally:
        db.close()  # waits for the fold under way
        gc.unfreeze()
    assert seen
    assert all(count > len(held) and not (kept or cycle) for count, kept, cycle in seen)


def test_a_background_fold_that_lagged_behind_the_writes_is_followed_by_the_next_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enough written while a fold is made to make the log due again: the next fold starts as
    it ends, not at the next write (a fresh process would read that long log whole)."""
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    builds: list[int] = []
    build = LoggedTables.build_fold

    def building(self: LoggedTables, folding: storage.tables.Folding) -> bool:
        builds.append(folding.log)
        if len(builds) == 1:
            _add(db, 40)  # meanwhile: a log due again (these start no fold, one is under way)
        return build(self, folding)

    monkeypatch.setattr(LoggedTables, "build_fold", building)
    db.background_folds = True
    try:
        with db.transaction() as unit:
            _add(db, 40)
            unit.commit()  # makes the log due: a fold in a thread
        thread = db._folder
        assert thread is not None
        thread.join(timeout=60)  # no write since
        assert not thread.is_alive()
        assert len(builds) == 2 and builds[1] == builds[0] + 1
        assert not db._tables.fold_due()
        assert len(_logs(folder)) == 1
    finally:
        db.close()
    assert _contact_ids(folder) == [str(n) for n in range(1, 81)]


def test_a_fold_that_stopped_before_deleting_the_old_log_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    try:
        _add(db, 5)
        old_log = next((folder / "records").glob("log-*.jsonl"))
        kept = old_log.read_bytes()
        db.records._tables.fold()
        old_log.write_bytes(kept)  # as if the process died before deleting it
        db.records.replace(_contact("2", "two@example.com"))
    finally:
        db.close()
    reopened = open_database(folder)
    try:
        listed = reopened.records.list_records(ObjectType.CONTACT)
        assert [r.email for r in listed] == [
            "c1@example.com",
            "two@example.com",
            "c3@example.com",
            "c4@example.com",
            "c5@example.com",
        ]
        reopened.records._tables.fold()
        assert [p.name for p in (folder / "records").glob("log-*.jsonl")] == []
    finally:
        reopened.close()


def test_a_torn_last_line_is_left_alone_by_readers_and_cut_by_the_next_writer(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    _add(db, 2)
    db.close()
    (log,) = (folder / "records").glob("log-*.jsonl")
    whole = log.read_bytes()
    with log.open("ab") as handle:  # a writer killed mid-append
        handle.write(b'{"changes":[["contacts","3",{"objectType":"CONTACT"')
    reader = open_database(folder)
    try:
        assert [r.id for r in reader.records.list_records(ObjectType.CONTACT)] == ["1", "2"]
        assert reader.records.next_id(ObjectType.CONTACT) == "3"
        reader.records.insert(_contact("3", "three@example.com"))
        data = log.read_bytes()
        assert data.startswith(whole) and data.count(b"\n") == 3 and data.endswith(b"\n")
    finally:
        reader.close()
    again = open_database(folder)
    try:
        found = again.records.find_contact_by_email("three@example.com")
        assert found is not None and found.id == "3"
    finally:
        again.close()


def test_a_damaged_line_is_left_out_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    _add(db, 3)
    db.close()
    (log,) = (folder / "records").glob("log-*.jsonl")
    lines = log.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"c2@example.com", b"c9@example.com")
    log.write_bytes(b"".join(lines))
    reopened = open_database(folder)
    try:
        assert [r.id for r in reopened.records.list_records(ObjectType.CONTACT)] == ["1", "3"]
        (damage,) = reopened.records._tables.damage
        assert "checksum" in damage and str(log) in damage
    finally:
        reopened.close()


def test_a_search_finds_what_a_test_of_every_record_finds_as_records_change(
    tmp_path: Path,
) -> None:
    """The store searches one text of every record, and the records changed since it was made
    one by one: the same matches, in id order, as core's rule applied to each record."""
    rng = random.Random(7)
    words = ["ann", "Bo", "cy", "ÄRGER", "straße", "example", "x"]
    db = open_database(tmp_path / "db", portal_id=12345678)
    memory = MemoryDatabase(db.portal)
    try:
        for step in range(400):
            record_id = str(rng.randrange(1, 120))
            record = _contact(
                record_id,
                f"{rng.choice(words)}{record_id}@{rng.choice(words)}.com",
                firstname=rng.choice(words),
            ).model_copy(update={"archived": rng.random() < 0.1})
            for target in (db, memory):
                target.records.replace(record)
            if step % 9 == 0:
                needle = rng.choice([*words, "1", "@b", "sse", "arger", "com\x00"])
                for include_archived in (False, True):
                    ours = db.records.page(ObjectType.CONTACT, needle, include_archived)
                    rule = memory.records.page(ObjectType.CONTACT, needle, include_archived)
                    assert ([r.id for r in ours.records], ours.total) == (
                        [r.id for r in rule.records],
                        rule.total,
                    ), needle
    finally:
        db.close()


def test_doctor_names_a_damaged_records_line(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    _add(db, 2)
    db.close()
    assert any("records/" in line for line in doctor(folder).checked)
    (log,) = (folder / "records").glob("log-*.jsonl")
    log.write_bytes(log.read_bytes().replace(b"c1@example.com", b"c7@example.com"))
    (finding,) = doctor(folder).findings
    assert str(log) in finding.problem and "checksum" in finding.problem


def _remove(db: TinyDatabase, kind: ObjectType, record_id: str) -> None:
    """Delete a record's document (no use case deletes records: the log can hold it)."""
    with db.transaction() as unit:
        db.records._tables.put(kind.plural, record_id, None)
        unit.commit()


def _same_answers(reader: TinyDatabase, rule: MemoryDatabase, needles: list[str]) -> None:
    """``reader`` answers the Records list's questions as core's rule over every record does."""
    for kind in (ObjectType.CONTACT, ObjectType.COMPANY):
        for needle in [None, *needles]:
            for include_archived in (False, True):
                for offset, limit in ((0, 200), (0, 7), (5, 11), (40, None)):
                    ours = reader.records.page(kind, needle, include_archived, offset, limit)
                    want = rule.records.page(kind, needle, include_archived, offset, limit)
                    assert ([r.id for r in ours.records], ours.total) == (
                        [r.id for r in want.records],
                        want.total,
                    ), (kind, needle, include_archived, offset, limit)
                    assert ours.records == want.records
    for record in rule.records.list_records(ObjectType.CONTACT):
        for email in (record.email, (record.email or "").upper()):
            if email:
                assert reader.records.find_contact_by_email(email) == (
                    rule.records.find_contact_by_email(email)
                )
        utk = record.properties.get("hubspotutk")
        if utk:
            assert reader.records.find_contact_by_utk(utk) == rule.records.find_contact_by_utk(utk)
    for record_id in ("1", "17", "59", "60", "61", "200"):
        assert reader.records.get(ObjectType.CONTACT, record_id) == rule.records.get(
            ObjectType.CONTACT, record_id
        )
    assert reader.records.find_contact_by_email("nobody@example.com") is None


def test_pages_searches_and_lookups_through_the_index_match_every_record_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process reads the snapshot through its index and the log over it; its pages,
    searches and contacts by email and visitor token are what core's rule over every record
    gives (the memory store), as two handles write (updates, archives, emails and visitor
    tokens moved between contacts, deletions, ids written again out of order) and the log
    folds now and then, and for a handle that opens the folder afresh at each check."""
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 6_000)
    rng = random.Random(18)
    words = ["ann", "Bo", "cy", "ÄRGER", "straße", "example", "x"]
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    other = open_database(folder)
    memory = MemoryDatabase(db.portal)
    needles = ["ann", "bo", "ärger", "strasse", "sse", "@ex", "1", "x", "a.com", "zzz"]
    folds = 0
    try:
        for step in range(500):
            writer = db if rng.random() < 0.6 else other
            kind = ObjectType.CONTACT if rng.random() < 0.8 else ObjectType.COMPANY
            record_id = str(rng.randrange(1, 61))
            if rng.random() < 0.08 and memory.records.get(kind, record_id) is not None:
                _remove(writer, kind, record_id)
                memory._held.state.records.pop((kind, record_id))
            else:
                email = f"{rng.choice(words)}{rng.randrange(30)}@{rng.choice(words)}.com"
                record = CrmRecord(
                    object_type=kind,
                    id=record_id,
                    properties={
                        "email": email,
                        "firstname": rng.choice(words),
                        "hubspotutk": f"utk{rng.randrange(40)}",
                    },
                    created_at=NOW,
                    updated_at=NOW,
                    archived=rng.random() < 0.15,
                )
                writer.records.replace(record)
                memory.records.replace(record)
            if step % 50 == 49:
                fresh = open_database(folder)
                try:
                    assert fresh.records._tables.mapped == bool(folds)
                    _same_answers(fresh, memory, needles)
                finally:
                    fresh.close()
                _same_answers(db, memory, rng.sample(needles, 3))
                _same_answers(other, memory, rng.sample(needles, 3))
            logs = {p.name for p in (folder / "records").glob("log-*.jsonl")}
            folds = max(folds, len({"log-000001.jsonl", *logs}) - 1)
    finally:
        db.close()
        other.close()
    assert folds  # the checks above read folded snapshots through their index


def test_a_fold_killed_between_its_snapshot_and_its_index_reads_the_snapshot_whole(
    tmp_path: Path,
) -> None:
    """A crash after the new snapshot and before its index leaves the index of the snapshot
    before: it is not used (it names another snapshot), the new one is read whole and right,
    and the next open indexes it."""
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    try:
        _add(db, 30)
        db.records._tables.fold()
        index = folder / "records" / "snapshot.idx"
        old_index = index.read_bytes()
        db.records.replace(_contact("7", "seven@example.com").model_copy(update={"archived": True}))
        db.records.replace(_contact("31", "thirty-one@example.com"))
        db.records._tables.fold()
        index.write_bytes(old_index)  # as the crash left it
    finally:
        db.close()
    tables = LoggedTables(folder / "records", DatabaseLock(folder), columns=RECORD_COLUMNS)
    try:
        assert not tables.mapped  # the index names the snapshot before
        contacts = tables.table("contacts")
        assert len(contacts) == 31 and contacts.live_count() == 30
        assert contacts.lookup("email", "seven@example.com") == ["7"]
    finally:
        tables.close()
    reopened = open_database(folder)  # indexes it again
    try:
        assert reopened.records._tables.mapped
        page = reopened.records.page(ObjectType.CONTACT)
        assert page.total == 30 and "7" not in [r.id for r in page.records]
        found = reopened.records.find_contact_by_email("thirty-one@example.com")
        assert found is not None and found.id == "31"
    finally:
        reopened.close()


def test_a_damaged_index_is_not_trusted_the_snapshot_is_read_whole(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    try:
        _add(db, 40)
        db.records._tables.fold()
    finally:
        db.close()
    index = folder / "records" / "snapshot.idx"
    data = bytearray(index.read_bytes())
    data[-5] ^= 0x01  # a byte of the last part (a column)
    index.write_bytes(bytes(data))
    reopened = open_database(folder)
    try:
        assert [r.id for r in reopened.records.list_records(ObjectType.CONTACT)] == [
            str(n) for n in range(1, 41)
        ]
        for n in (1, 20, 40):
            found = reopened.records.find_contact_by_utk("nobody")
            assert found is None
            found = reopened.records.find_contact_by_email(f"c{n}@example.com")
            assert found is not None and found.id == str(n)
        assert reopened.records.page(ObjectType.CONTACT, "c33@").total == 1
    finally:
        reopened.close()


def test_a_record_removed_and_written_again_after_the_snapshot_is_listed_once_in_id_order(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    try:
        _add(db, 10)
        db.records._tables.fold()
        _remove(db, ObjectType.CONTACT, "4")
        _remove(db, ObjectType.CONTACT, "9")
        db.records.insert(_contact("4", "four@example.com"))
        db.records.insert(_contact("12", "twelve@example.com"))
        db.records.insert(_contact("11", "eleven@example.com"))
        for reader in (db, open_database(folder)):
            page = reader.records.page(ObjectType.CONTACT)
            ids = ["1", "2", "3", "4", "5", "6", "7", "8", "10", "11", "12"]
            assert ([r.id for r in page.records], page.total) == (ids, 11)
            assert reader.records.page(ObjectType.CONTACT, offset=3, limit=2).records == [
                reader.records.get(ObjectType.CONTACT, "4"),
                reader.records.get(ObjectType.CONTACT, "5"),
            ]
            found = reader.records.find_contact_by_email("four@example.com")
            assert found is not None and found.id == "4"
            assert reader.records.find_contact_by_email("c4@example.com") is None
            assert reader.records.find_contact_by_email("c9@example.com") is None
            for needle, found_ids in (("c4@", []), ("four", ["4"]), ("c1", ["1", "10"])):
                listed = reader.records.page(ObjectType.CONTACT, needle).records
                assert [r.id for r in listed] == found_ids
            if reader is not db:
                reader.close()
    finally:
        db.close()
