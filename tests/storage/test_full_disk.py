"""A full disk: a write that stops part-way is refused, cut back and leaves the store as it was;
writes resume once there is space again (issue 14, item 2)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli.bootstrap import open_services
from core.errors import StorageFull, StorageUnavailable, ValidationFailed
from core.models import Completion, ObjectType, Source
from core.ports import CompletionSelection
from core.rejections import RejectedRequest
from storage.atomic import storage_error
from storage.atomic import write_beside as real_write_beside
from storage.completions import segment_file
from storage.rejections import RejectionStore
from tests.sending import send_one
from tests.storage.full_disk import FullDisk
from tests.storage.helpers import EMAIL, REPO, read_raw, setup_database

_IDS = """
import json, sys
from core.ports import CompletionSelection
from cli.bootstrap import open_services
services = open_services(sys.argv[1], create=False)
print(json.dumps(sorted(c.id for c in services.db.completions.scan(CompletionSelection()))))
services.close()
"""


def ids_in_a_new_process(folder: Path) -> list[str]:
    """The completions another process finds on opening the database."""
    done = subprocess.run(
        [sys.executable, "-c", _IDS, str(folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    ids: list[str] = json.loads(done.stdout)
    return ids


def _batch(event: str, n: int, day: int) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "eventName": event,
                "email": EMAIL,
                "occurredAt": f"2026-03-{day:02d}T10:00:{i % 60:02d}Z",
                "properties": {"make": f"car {i} " + "x" * 200},
            }
            for i in range(n)
        ]
    }


def _journal(folder: Path) -> Path:
    [journal] = (folder / "completions").glob("journal-*.jsonl")
    return journal


def test_a_batch_cut_short_by_a_full_disk_is_refused_and_cut_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    earlier = [c.id for c in services.ingestion.send_batch(_batch(event, 3, 1))]
    journal = _journal(folder)
    size = journal.stat().st_size
    disk = FullDisk(monkeypatch, folder)

    disk.fill()
    with pytest.raises(StorageFull, match="is full") as refused:
        services.ingestion.send_batch(_batch(event, 40, 2))
    assert disk.short_writes == 1 and disk.refused >= 1  # half the line went out first
    assert str(folder.resolve()) in str(refused.value)
    assert "nothing of this request was stored" in str(refused.value)
    assert journal.stat().st_size == size
    assert journal.read_bytes().endswith(b"\n")
    assert services.db.completions.summaries()[event].count == 3
    assert sorted(
        c.id for c in services.db.completions.scan(CompletionSelection(object_id="1"))
    ) == sorted(earlier)
    assert ids_in_a_new_process(folder) == sorted(earlier)

    disk.free()  # space is back
    later = [c.id for c in services.ingestion.send_batch(_batch(event, 40, 3))]
    assert services.db.completions.summaries()[event].count == 43
    services.close()
    assert ids_in_a_new_process(folder) == sorted(earlier + later)
    assert len(read_raw(folder).completions) == 43  # every journal line whole


def test_a_refused_write_in_one_process_leaves_another_reading_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    writer, reader = open_services(folder), open_services(folder)
    writer.ingestion.send_batch(_batch(event, 2, 1))
    assert reader.db.completions.summaries()[event].count == 2
    disk = FullDisk(monkeypatch, folder).fill()
    with pytest.raises(StorageFull):
        writer.ingestion.send_batch(_batch(event, 5, 2))
    assert reader.db.completions.summaries()[event].count == 2
    disk.free()
    reader.ingestion.send_batch(_batch(event, 4, 3))  # the reader writes next, at a line end
    writer.ingestion.send_batch(_batch(event, 1, 4))
    assert writer.db.completions.summaries()[event].count == 7
    assert reader.db.completions.summaries()[event].count == 7
    writer.close()
    reader.close()
    assert len(ids_in_a_new_process(folder)) == 7


def test_a_failed_fsync_acknowledges_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failed fsync the pages may be gone from the disk: the batch is refused, its line
    cut back, and the journal read again."""
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    earlier = [c.id for c in services.ingestion.send_batch(_batch(event, 2, 1))]
    size = _journal(folder).stat().st_size
    real_fsync, failing = os.fsync, [True]

    def fsync(fd: int) -> None:
        if failing and os.readlink(f"/proc/self/fd/{fd}").endswith(".jsonl"):
            failing.clear()
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(StorageUnavailable, match="could not be written") as refused:
        services.ingestion.send_batch(_batch(event, 3, 2))
    assert not isinstance(refused.value, StorageFull)
    assert _journal(folder).stat().st_size == size
    assert services.db.completions.summaries()[event].count == 2
    later = [c.id for c in services.ingestion.send_batch(_batch(event, 3, 3))]
    services.close()
    assert ids_in_a_new_process(folder) == sorted(earlier + later)


def _completion(event: str, cid: str) -> Completion:
    return Completion(
        id=cid,
        uuid=f"u-{cid}",
        event_name=event,
        object_type=ObjectType.CONTACT,
        object_id="1",
        email=EMAIL,
        occurred_at=datetime(2026, 3, 5, 10, tzinfo=UTC),
        received_at=datetime(2026, 3, 5, 10, tzinfo=UTC),
        source=Source.API,
    )


def test_a_failed_fsync_outside_a_transaction_is_cut_back_before_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append that does not hold the lock while it waits for the disk cannot take it when
    the fsync fails (a writer holding it may wait for that fsync): the unacknowledged line is
    cut before the next append, and nothing is acknowledged meanwhile."""
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    store = services.db.completions
    store.append([_completion(event, "a")])
    size = _journal(folder).stat().st_size
    real_fsync, failing = os.fsync, [True]

    def fsync(fd: int) -> None:
        if failing and os.readlink(f"/proc/self/fd/{fd}").endswith(".jsonl"):
            failing.clear()
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(StorageUnavailable):
        store.append([_completion(event, "b")])
    store.append([_completion(event, "c")])
    assert _journal(folder).stat().st_size > size
    assert sorted(c.id for c in store.scan(CompletionSelection())) == ["a", "c"]
    services.close()
    assert ids_in_a_new_process(folder) == ["a", "c"]


def test_a_fold_the_disk_refuses_keeps_the_journal_and_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is in the journal (durable) before the fold: a fold that fails for lack of
    space removes what it wrote, acknowledges the batch, and is tried again later."""
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 3)
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    full = [True]

    def write_beside(path: Path, payload: bytes) -> Path:
        if full and path.suffix == ".idx":  # the segment went out; its index does not
            raise storage_error(OSError(errno.ENOSPC, "No space left"), path)
        return real_write_beside(path, payload)

    monkeypatch.setattr(segment_file, "write_beside", write_beside)
    sent = [c.id for c in services.ingestion.send_batch(_batch(event, 3, 1))]  # acknowledged
    names = sorted(p.name for p in (folder / "completions").iterdir())
    assert names == ["journal-000001.jsonl"]
    assert ids_in_a_new_process(folder) == sorted(sent)

    full.clear()  # space is back: the next write past the retry point folds
    sent += [c.id for c in services.ingestion.send_batch(_batch(event, 1, 2))]
    names = sorted(p.name for p in (folder / "completions").iterdir())
    assert names == ["seg-000001.idx", "seg-000001.json"]
    services.close()
    assert ids_in_a_new_process(folder) == sorted(sent)


def test_a_main_file_write_refused_keeps_the_old_file_and_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    services = open_services(folder)
    main = folder / "cbe.json"
    before = main.read_bytes()
    disk = FullDisk(monkeypatch, folder).fill()
    with pytest.raises(StorageFull):
        services.records.create(ObjectType.CONTACT, {"email": "bo@example.com"})
    with pytest.raises(StorageFull):
        services.definitions.create({"label": "Signed up", "primaryObject": "CONTACT"})
    assert main.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == []
    assert [r.properties["email"] for r in services.records.search(ObjectType.CONTACT)] == [EMAIL]
    assert [d.label for d in services.definitions.search()] == ["Viewed Car"]

    disk.free()
    services.records.create(ObjectType.CONTACT, {"email": "bo@example.com"})
    services.definitions.create({"label": "Signed up", "primaryObject": "CONTACT"})
    services.close()
    reopened = open_services(folder)
    assert len(reopened.records.search(ObjectType.CONTACT)) == 2
    assert len(reopened.definitions.search()) == 2
    reopened.close()


def _rejected(n: int, body: Any = None) -> RejectedRequest:
    return RejectedRequest(
        id=f"r{n}",
        received_at=datetime(2026, 11, 1, tzinfo=UTC),
        source=Source.API,
        body={"eventName": f"e{n}"} if body is None else body,
        violations=[],
    )


def test_a_quarantine_append_refused_is_cut_back_and_the_answer_stays_a_400(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    services = open_services(folder)
    services.db.rejections.add([_rejected(1)])
    path = folder / "rejections.jsonl"
    before = path.read_bytes()
    disk = FullDisk(monkeypatch, folder).fill()
    with pytest.raises(StorageFull):
        services.db.rejections.add([_rejected(2, {"eventName": "x" * 5000})])
    assert path.read_bytes() == before
    # Refused by the rules while the quarantine cannot keep it: still a refusal, not an error.
    with pytest.raises(ValidationFailed):
        send_one(services.ingestion, {"eventName": "pe1_nothing", "email": EMAIL})
    assert path.read_bytes() == before
    disk.free()
    services.db.rejections.add([_rejected(3)])
    assert [r.id for r in services.db.rejections.list_all()] == ["r3", "r1"]
    services.close()


def test_the_quarantine_keeps_bodies_orjson_cannot_write(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    services = open_services(folder)
    big = {"eventName": "pe1_nothing", "email": EMAIL, "properties": {"n": 2**70, "m": -(2**65)}}
    lone = {"eventName": "pe1_nothing", "email": EMAIL, "properties": {"s": "a\ud800b"}}
    for body in (big, lone):
        with pytest.raises(ValidationFailed):
            send_one(services.ingestion, body)
    services.close()
    reopened = open_services(folder)
    kept = reopened.db.rejections.list_all()
    assert [r.body for r in kept] == [lone, big]
    assert type(kept[1].body["properties"]["n"]) is int
    reopened.close()


def test_a_torn_last_quarantine_line_over_a_mebibyte_cuts_only_that_line(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    services = open_services(folder)
    services.db.rejections.add([_rejected(1), _rejected(2, {"eventName": "y" * 300_000})])
    path = folder / "rejections.jsonl"
    whole = path.read_bytes()
    with path.open("ab") as handle:  # a writer killed mid-append of a 1.5 MiB line
        handle.write(b'{"id":"r9","body":"' + b"z" * (3 << 19))
    assert [r.id for r in services.db.rejections.list_all()] == ["r2", "r1"]
    services.db.rejections.add([_rejected(3)])
    assert path.read_bytes().startswith(whole)
    assert path.read_bytes().count(b"\n") == 3
    assert [r.id for r in services.db.rejections.list_all()] == ["r3", "r2", "r1"]
    services.close()


def test_the_quarantine_is_bounded_in_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    services = open_services(folder)
    store = services.db.rejections
    assert isinstance(store, RejectionStore)
    store.max_bytes = 20_000
    path = folder / "rejections.jsonl"
    for n in range(200):
        store.add([_rejected(n, {"eventName": f"e{n}", "pad": "p" * 1000})])
        assert path.stat().st_size <= 25_000
    kept = store.list_all()
    assert kept[0].id == "r199"
    assert 15 <= len(kept) <= 24
    assert [r.id for r in kept] == [f"r{n}" for n in range(199, 199 - len(kept), -1)]
    assert all(orjson.loads(line) for line in path.read_bytes().splitlines())
    services.close()


def test_a_rewrite_the_disk_refuses_leaves_a_database_that_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting an event rewrites the segments holding it; a full disk stops that part-way:
    the delete is refused, each file is its old or its new version, and the database opens."""
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 3)
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    other = services.definitions.create(
        {
            "label": "Signed up",
            "primaryObject": "CONTACT",
            "propertyDefinitions": [{"label": "Make", "type": "string"}],
        }
    )
    kept = [c.id for c in services.ingestion.send_batch(_batch(other.fully_qualified_name, 2, 1))]
    for n, day in ((1, 2), (3, 3), (1, 4)):  # two segments and a journal, each with the event
        services.ingestion.send_batch(_batch(event, n, day))
    assert len(list((folder / "completions").glob("seg-*.json"))) == 2
    disk = FullDisk(monkeypatch, folder).fill()
    with pytest.raises(StorageFull):
        services.definitions.delete("viewed_car")
    assert disk.refused
    left = ids_in_a_new_process(folder)
    assert set(kept) <= set(left)
    assert sorted(p.name for p in folder.rglob(".*.tmp")) == []
    disk.free()
    services.definitions.delete("viewed_car")
    services.close()
    assert ids_in_a_new_process(folder) == sorted(kept)


def test_an_append_after_another_process_rewrote_the_journal_is_kept(tmp_path: Path) -> None:
    """A journal rewritten by another process (a delete, a cut after a failed fsync) is a new
    file: the next append goes to it, not to the old file the writer still had open (where an
    acknowledged completion was lost)."""
    folder = tmp_path / "db"
    event = setup_database(folder)
    writer, other = open_services(folder), open_services(folder)
    signed_up = writer.definitions.create({"label": "Signed up", "primaryObject": "CONTACT"})
    first = send_one(writer.ingestion, {"eventName": event, "email": EMAIL})
    send_one(writer.ingestion, {"eventName": signed_up.fully_qualified_name, "email": EMAIL})
    other.definitions.delete("signed_up")  # rewrites the journal
    last = send_one(writer.ingestion, {"eventName": event, "email": EMAIL})
    writer.close()
    other.close()
    assert first is not None and last is not None
    assert ids_in_a_new_process(folder) == sorted([first.id, last.id])
