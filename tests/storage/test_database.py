"""The database folder: its files, its portal, what is refused, journal recovery, deletion."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from cli.bootstrap import open_services
from core.errors import Conflict, Rule
from core.models import Completion, CrmRecord, EventDefinition, ObjectType, Source
from core.occurrences import CompletionQuery
from core.ports import CompletionSelection
from core.rejections import RejectedRequest
from core.services import Services
from storage import atomic
from storage.atomic import CorruptFile, fsync_dir
from storage.completions import index_file, mapped_segment, open_files, segment_file
from storage.completions import store as completion_store
from storage.completions.uuids import UuidHashes
from storage.database import NotADatabase, open_database
from tests.sending import send_one
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
    folder, event = _store(tmp_path, monkeypatch, segment_size=3)
    services = open_services(folder)
    services.ingestion.send_batch(
        {
            "inputs": [
                {"eventName": event, "email": EMAIL, "occurredAt": f"2026-0{m}-05T10:00:00Z"}
                for m in (1, 2, 3, 4)
            ]
        }
    )
    send_one(services.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": "2026-05-01"})
    services.close()

    files = [p for p in folder.rglob("*") if p.is_file()]
    names = {p.relative_to(folder).as_posix() for p in files}
    assert names == {
        "portal.json",
        "cbe.json",
        "manifest.json",
        ".lock",
        "completions/seg-000001.json",
        "completions/seg-000001.idx",
        "completions/journal-000002.jsonl",
        "records/log-000001.jsonl",
    }
    assert {p.relative_to(folder).as_posix(): _mode(p) for p in files} == dict.fromkeys(
        names, 0o600
    )
    assert _mode(folder) == 0o700
    assert _mode(folder / "completions") == 0o700
    assert _mode(folder / "records") == 0o700


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


def _fill(folder: Path, event: str, count: int) -> list[str]:
    """Store ``count`` completions one send at a time; their ids."""
    services = open_services(folder)
    ids = [
        send_one(
            services.ingestion,
            {"eventName": event, "email": EMAIL, "occurredAt": f"2026-01-{1 + n % 28:02d}"},
        ).id
        for n in range(count)
    ]
    services.close()
    return ids


def test_a_corrupt_segment_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 2)
    folder = tmp_path / "db"
    _fill(folder, setup_database(folder), 3)
    segment = folder / "completions" / "seg-000001.json"
    segment.write_bytes(segment.read_bytes()[:-7])
    (folder / "completions" / "seg-000001.idx").unlink()  # so that the segment itself is read
    with pytest.raises(CorruptFile) as raised:
        open_services(folder)
    assert str(segment) in str(raised.value)


def test_a_damaged_journal_line_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    _fill(folder, setup_database(folder), 2)
    journal = folder / "completions" / "journal-000001.jsonl"
    first, second = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(first[:20] + b"\n" + second)  # damaged, and not the last line
    with pytest.raises(CorruptFile) as raised:
        open_services(folder)
    assert str(journal) in str(raised.value)
    assert "damaged line" in str(raised.value)


# -- the journal and its folds into segments ---------------------------------------------------


def _completion(event: str, cid: str, month: int, day: int = 5) -> dict[str, object]:
    return Completion(
        id=cid,
        uuid=f"u-{cid}",
        event_name=event,
        object_type=ObjectType.CONTACT,
        object_id="1",
        email=EMAIL,
        occurred_at=datetime(2026, month, day, 10, tzinfo=UTC),
        received_at=NOW,
        source=Source.API,
    ).to_json()


def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, segment_size: int) -> tuple[Path, str]:
    """A database folder whose journal folds every ``segment_size`` completions, and its event."""
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", segment_size)
    folder = tmp_path / "db"
    return folder, setup_database(folder)


def _journal_line(docs: list[dict[str, object]]) -> bytes:
    return orjson.dumps({"docs": docs}) + b"\n"


def _stored_ids(folder: Path) -> list[str]:
    return sorted(str(d["id"]) for d in read_raw(folder).completions)


def _store_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "completions").iterdir())


def test_the_journal_folds_into_time_ordered_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _store(tmp_path, monkeypatch, segment_size=5)
    services = open_services(folder)
    days = [9, 3, 27, 1, 14, 22, 5, 18, 11, 2, 30, 7]  # sent out of time order
    sent = []
    for day in days:
        stored = send_one(
            services.ingestion,
            {"eventName": event, "email": EMAIL, "occurredAt": f"2026-03-{day:02d}"},
        )
        assert stored is not None
        sent.append(stored)
    services.close()

    assert _store_files(folder) == [
        "journal-000003.jsonl",
        "seg-000001.idx",
        "seg-000001.json",
        "seg-000002.idx",
        "seg-000002.json",
    ]
    first = orjson.loads((folder / "completions" / "seg-000001.json").read_bytes())
    assert [d["occurredAt"][8:10] for d in first["completions"].values()] == [
        "01", "03", "09", "14", "27"
    ]  # fmt: skip
    journal = (folder / "completions" / "journal-000003.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["docs"][0]["id"] for line in journal] == [c.id for c in sent[10:]]
    # read_raw checked the files; the store reads them back in time order.
    assert _stored_ids(folder) == sorted(c.id for c in sent)
    reopened = open_services(folder)
    newest_first = reopened.db.completions.scan(CompletionSelection())
    assert [c.occurred_at.day for c in newest_first] == sorted(days, reverse=True)
    reopened.close()


def test_a_torn_last_journal_line_is_cut_off(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    whole = _journal_line([_completion(event, "w1", 1)])
    torn = _journal_line([_completion(event, "t1", 2), _completion(event, "t2", 3)])
    journal = folder / "completions" / "journal-000001.jsonl"
    journal.write_bytes(whole + torn[: len(torn) // 2])

    services = open_services(folder, create=False)
    assert journal.read_bytes() == whole
    assert _stored_ids(folder) == ["w1"]
    assert {c.id for c in services.db.completions.scan(CompletionSelection())} == {"w1"}
    send_one(services.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": "2026-04-01"})
    assert len(journal.read_bytes().splitlines()) == 2  # appended after the cut
    services.close()


def test_a_journal_holding_only_a_torn_line_stores_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    torn = _journal_line([_completion(event, "t1", 2)])
    (folder / "completions" / "journal-000001.jsonl").write_bytes(torn[:-3])
    open_database(folder).close()
    assert _stored_ids(folder) == []
    assert (folder / "completions" / "journal-000001.jsonl").read_bytes() == b""


def test_a_torn_line_another_process_is_writing_is_left_alone_by_readers(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, db_path: Path
) -> None:
    """Bytes past the last line end may be a write under way: a reader neither reads nor cuts
    them; only a writer (holding the lock) does."""
    event = viewed_car.fully_qualified_name
    send_one(services.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": "2026-03-01"})
    journal = db_path / "completions" / "journal-000001.jsonl"
    partial = _journal_line([_completion(event, "p1", 3)])[:30]
    with journal.open("ab") as handle:
        handle.write(partial)
    assert len(list(services.db.completions.scan(CompletionSelection()))) == 1
    assert journal.read_bytes().endswith(partial)


FOLD_STEPS = [
    "manifest",  # announcing the segment to come
    "manifest's folder synced",
    "segment",
    "index",
    "segment's folder synced",  # one fsync for both renames
    "journal removed",
]


@pytest.mark.parametrize("dies_after", range(len(FOLD_STEPS)))
def test_a_fold_that_dies_at_any_step_loses_and_duplicates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dies_after: int
) -> None:
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    before = _fill(folder, event, 3)
    steps: list[str] = []
    real_replace, real_fsync_dir, real_unlink = os.replace, atomic.fsync_dir, Path.unlink

    def step(name: str) -> None:
        steps.append(name)
        if len(steps) > dies_after:
            raise _Crash(name)

    def replace(source: str, target: str) -> None:
        real_replace(source, target)
        name = Path(target).name
        kind = "index" if name.endswith(".idx") else "segment"
        step("manifest" if name == "manifest.json" else kind)

    def synced(path: Path) -> None:
        real_fsync_dir(path)
        owner = "segment's" if path.name == "completions" else "manifest's"
        step(f"{owner} folder synced")

    def unlink(path: Path, missing_ok: bool = False) -> None:
        real_unlink(path, missing_ok=missing_ok)
        if path.name.startswith("journal-"):
            step("journal removed")

    services = open_services(folder)
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        patch.setattr(atomic, "fsync_dir", synced)
        patch.setattr(Path, "unlink", unlink)
        with pytest.raises(_Crash):  # the fourth completion makes the fold
            send_one(
                services.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": "2026-01-01"}
            )
    assert steps == FOLD_STEPS[: dies_after + 1]
    # The process is gone: nothing of it is closed or finished.

    reopened = open_services(folder)
    stored = _stored_ids(folder)  # read_raw: no folded journal left behind, no torn lines
    assert len(stored) == 4 and set(before) < set(stored)
    assert reopened.db.completions.summaries()[event].count == 4
    send_one(reopened.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": "2026-02-01"})
    reopened.close()
    assert len(_stored_ids(folder)) == 5


def test_a_journal_already_folded_is_removed_when_opening(tmp_path: Path) -> None:
    """What a fold killed after writing its segment leaves: the same completions twice over."""
    folder = tmp_path / "db"
    event = setup_database(folder)
    docs = [_completion(event, f"f{i}", 1, day=i) for i in (3, 1, 2)]
    store = folder / "completions"
    segment_file.write_segments(store, docs)  # seg-000001, folded from journal 1
    (store / "journal-000001.jsonl").write_bytes(_journal_line(docs))
    services = open_services(folder, create=False)
    assert not (store / "journal-000001.jsonl").exists()
    assert _stored_ids(folder) == ["f1", "f2", "f3"]
    assert services.db.completions.summaries()[event].count == 3
    services.close()


def test_opening_syncs_the_folder_only_when_it_removed_a_folded_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder's fsync waits for the disk (long while other processes write to it), and
    every app start and `cbe serve` opens the store: a tidy store is opened without one; the
    removal of a journal a fold left behind is made durable."""
    folder = tmp_path / "db"
    event = setup_database(folder)
    store = folder / "completions"
    synced: list[Path] = []

    def sync(path: Path) -> None:
        synced.append(path)
        fsync_dir(path)

    monkeypatch.setattr(completion_store, "fsync_dir", sync)
    open_services(folder, create=False).close()
    assert synced == []

    docs = [_completion(event, f"f{i}", 1, day=i) for i in (1, 2)]
    segment_file.write_segments(store, docs)  # seg-000001, folded from journal 1
    (store / "journal-000001.jsonl").write_bytes(_journal_line(docs))
    open_services(folder, create=False).close()
    assert not (store / "journal-000001.jsonl").exists()
    assert synced == [store]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda index: None, id="missing"),
        pytest.param(lambda index: b"", id="empty"),
        pytest.param(lambda index: index[: len(index) // 2], id="torn"),
        pytest.param(lambda index: index.replace(b"\n", b" ", 1), id="no header line"),
        pytest.param(lambda index: b"JUNK" + index[4:], id="not an index"),
    ],
)
def test_a_segment_without_a_readable_index_gets_one_rebuilt(
    tmp_path: Path, damage: Callable[[bytes], bytes | None]
) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    store = folder / "completions"
    segment_file.write_segments(store, [_completion(event, f"x{i}", 2, day=i) for i in (2, 1)])
    index = (store / "seg-000001.idx").read_bytes()
    damaged = damage(index)
    if damaged is None:
        (store / "seg-000001.idx").unlink()
    else:
        (store / "seg-000001.idx").write_bytes(damaged)
    services = open_services(folder, create=False)
    assert [c.id for c in services.db.completions.scan(CompletionSelection())] == ["x2", "x1"]
    assert (store / "seg-000001.idx").read_bytes() == index
    services.close()


def test_an_index_of_an_earlier_version_of_its_segment_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite (deleting an event) killed between writing a segment and its index."""
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    _fill(folder, event, 2)
    services = open_services(folder)
    other = services.definitions.create({"label": "Booked Test Drive"}).fully_qualified_name
    for day in (3, 4):
        send_one(
            services.ingestion,
            {"eventName": other, "email": EMAIL, "occurredAt": f"2026-01-0{day}"},
        )
    store = folder / "completions"
    old_index = (store / "seg-000001.idx").read_bytes()
    services.definitions.delete(event)
    services.close()
    (store / "seg-000001.idx").write_bytes(old_index)  # as if the new one was never written

    reopened = open_services(folder)
    assert [c.event_name for c in reopened.db.completions.scan(CompletionSelection())] == [
        other,
        other,
    ]
    assert index_file.read_index((store / "seg-000001.idx").read_bytes()).ids() == [
        c.id for c in reopened.db.completions.scan(CompletionSelection(newest_first=False))
    ]
    reopened.close()


def _without_tags(index: bytes) -> bytes:
    """``index`` as an index written before tags were indexed (its columns where they were)."""
    end = index.index(b"\n", len(index_file.INDEX_MAGIC))
    header = orjson.loads(index[len(index_file.INDEX_MAGIC) : end])
    del header["tags"]
    line = orjson.dumps(header)
    line += b" " * (-(len(index_file.INDEX_MAGIC) + len(line) + 1) % 8)
    return index_file.INDEX_MAGIC + line + b"\n" + index[end + 1 :]


def test_a_test_runs_completions_are_found_and_deleted_by_their_tags_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    services = open_services(folder)
    for n in range(11):  # two segments and a journal; run-a in each, run-b in the first only
        tag = "run-a" if n % 5 == 0 else "run-b" if n == 1 else None
        body = {"eventName": event, "email": EMAIL, "occurredAt": f"2026-01-{1 + n:02d}"}
        send_one(services.ingestion, body, tag=tag)
    services.close()
    store = folder / "completions"
    first = store / "seg-000001.idx"
    assert index_file.read_index(first.read_bytes()).header["tags"] == {
        "0": "run-a",
        "1": "run-b",
    }
    # the second segment's index is from before tags were indexed: its documents say
    second = store / "seg-000002.idx"
    second.write_bytes(_without_tags(second.read_bytes()))

    services = open_services(folder)
    read: list[int] = []
    real_doc = mapped_segment.Segment.doc

    def doc(segment: mapped_segment.Segment, pos: int) -> dict[str, object]:
        read.append(segment.number)
        return real_doc(segment, pos)

    monkeypatch.setattr(mapped_segment.Segment, "doc", doc)
    days = [c.occurred_at.day for c in services.occurrences.iterate(CompletionQuery(tag="run-a"))]
    assert days == [11, 6, 1]
    assert read.count(1) == 1 and read.count(2) == 4  # indexed: only its own; not: every one
    read.clear()
    runs = services.occurrences.iterate(
        CompletionQuery(tag="run-b", event_names=frozenset([event]))
    )
    assert [c.occurred_at.day for c in runs] == [2]
    inodes = {p.name: p.stat().st_ino for p in store.glob("seg-*.json")}
    assert services.occurrences.delete_tagged("run-b") == 1
    after = {p.name: p.stat().st_ino for p in store.glob("seg-*.json")}
    assert after["seg-000001.json"] != inodes["seg-000001.json"]  # rewritten without it
    assert after["seg-000002.json"] == inodes["seg-000002.json"]  # read, nothing to change
    read.clear()
    assert services.occurrences.delete_tagged("run-c") == 0
    assert set(read) == {2}  # the indexed segment, without run-c, is not even read
    assert services.occurrences.delete_tagged("run-a") == 3
    assert services.occurrences.count(CompletionQuery()) == 7
    services.close()


def test_a_scan_reads_on_while_the_same_process_rewrites_its_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report runs in one thread while the user deletes an event in another: the scan goes on
    over the files as they were when it began (the mappings live as long as it does)."""
    folder, event = _store(tmp_path, monkeypatch, segment_size=3)
    services = open_services(folder)
    other = services.definitions.create({"label": "Other"}).fully_qualified_name
    for n in range(8):
        body = {"eventName": event if n % 2 else other, "email": EMAIL}
        send_one(services.ingestion, body | {"occurredAt": f"2026-01-{1 + n:02d}"})
    scan = services.db.completions.scan(CompletionSelection(newest_first=False))
    first = next(scan)
    services.definitions.delete("other")  # rewrites every segment
    assert [c.occurred_at.day for c in [first, *scan]] == list(range(1, 9))
    after = services.db.completions.scan(CompletionSelection(newest_first=False))
    assert [c.occurred_at.day for c in after] == [2, 4, 6, 8]
    services.close()


_SCAN_UNDER_A_LOW_LIMIT = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from core.ports import CompletionSelection
from cli.bootstrap import open_services
services = open_services(Path(sys.argv[1]), create=False)
print(sum(1 for _ in services.db.completions.scan(CompletionSelection())))
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def test_a_store_of_many_segments_opens_where_few_files_may_be_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each segment keeps two files open (its documents and its index, mapped): a store raises
    the process's soft limit (macOS: 256) as far as the hard limit lets it."""
    import resource
    import subprocess
    import sys

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 1024:
        pytest.skip("the hard limit of open files is too low to raise")
    folder, event = _store(tmp_path, monkeypatch, segment_size=2)
    docs = [_completion(event, f"c{n:03d}", 1 + n % 12, day=1 + n % 28) for n in range(100)]
    segment_file.write_segments(folder / "completions", docs)  # 50 segments
    done = subprocess.run(
        [sys.executable, "-c", _SCAN_UNDER_A_LOW_LIMIT, str(folder)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    scanned, limit = done.stdout.split()
    assert int(scanned) == 100
    assert int(limit) >= 2 * 50 + open_files.SPARE_FILES


class _Crash(Exception):
    """Stands for the process dying at this point."""


def test_a_batch_with_a_taken_uuid_stores_nothing(tmp_path: Path) -> None:
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
    journal = (folder / "completions" / "journal-000001.jsonl").read_bytes()
    assert len(journal.splitlines()) == 1


def test_prepare_writes_learns_the_taken_uuids_before_the_first_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _store(tmp_path, monkeypatch, segment_size=2)
    db = open_database(folder)
    db.completions.append([Completion.model_validate(_completion(event, c, 3)) for c in "abc"])
    db.close()
    built: list[int] = []
    real = UuidHashes

    def counted(hashes: Iterable[int]) -> UuidHashes:
        built.append(1)
        return real(hashes)

    monkeypatch.setattr(completion_store, "UuidHashes", counted)
    db = open_database(folder)  # a segment of a and b, c in the journal
    db.completions.prepare_writes()
    assert built == [1]
    with pytest.raises(Conflict):  # learnt from the segment and from the journal
        db.completions.append(
            [Completion.model_validate({**_completion(event, "d", 4), "uuid": "u-a"})]
        )
    with pytest.raises(Conflict):
        db.completions.append(
            [Completion.model_validate({**_completion(event, "e", 4), "uuid": "u-c"})]
        )
    db.completions.append([Completion.model_validate(_completion(event, "f", 4))])
    assert built == [1]  # the writes used what prepare_writes loaded
    db.close()
    assert _stored_ids(folder) == ["a", "b", "c", "f"]


def test_deleting_an_event_removes_its_completions_from_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _store(tmp_path, monkeypatch, segment_size=5)
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
    # Two folds (6 completions each), then two more in the open journal.
    send_one(services.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": "2026-04-01"})
    send_one(services.ingestion, {"eventName": other, "email": EMAIL, "occurredAt": "2026-04-02"})
    assert services.definitions.delete(event) == 7
    services.close()

    stored = read_raw(folder)
    assert {d["eventName"] for d in stored.completions} == {other}
    assert len(stored.completions) == 7
    # The first segment held only the deleted event's completions: it is gone.
    assert [p.name for p in stored.files if p.parent.name == "completions"] == [
        "seg-000002.json",
        "journal-000003.jsonl",
    ]
    reopened = open_services(folder)
    assert set(reopened.db.completions.summaries()) == {other}
    reopened.close()


def test_deleting_an_event_reads_and_rewrites_only_the_segments_that_hold_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    services = open_services(folder)
    other = services.definitions.create({"label": "Booked Test Drive"}).fully_qualified_name
    # Three folds of four: the other event alone, both events, the other event alone.
    for month, names in ((1, [other] * 4), (2, [event, other] * 2), (3, [other] * 4)):
        inputs = [
            {"eventName": name, "email": EMAIL, "occurredAt": f"2026-0{month}-0{day}"}
            for day, name in enumerate(names, 1)
        ]
        services.ingestion.send_batch({"inputs": inputs})
    services.close()
    store = folder / "completions"
    assert sorted(p.name for p in store.glob("seg-*.json")) == [
        "seg-000001.json",
        "seg-000002.json",
        "seg-000003.json",
    ]
    before = {p.name: p.stat().st_ino for p in store.glob("seg-*")}

    services = open_services(folder)
    read: list[int] = []
    real_doc = mapped_segment.Segment.doc

    def doc(segment: mapped_segment.Segment, pos: int) -> dict[str, object]:
        read.append(segment.number)
        return real_doc(segment, pos)

    monkeypatch.setattr(mapped_segment.Segment, "doc", doc)
    assert services.definitions.delete(event) == 2
    services.close()

    assert set(read) == {2}  # the segments without the event are not even read
    after = {p.name: p.stat().st_ino for p in store.glob("seg-*")}
    assert after["seg-000002.json"] != before["seg-000002.json"]  # rewritten without it
    for name in ("seg-000001.json", "seg-000001.idx", "seg-000003.json", "seg-000003.idx"):
        assert after[name] == before[name], name
    stored = read_raw(folder)
    assert [d["eventName"] for d in stored.completions] == [other] * 10


def test_a_folder_change_within_one_clock_tick_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File times come from a coarse clock: a fold by another process may leave the folder
    with the modification time it had at this process's last listing. A listing made that
    close to the folder's last change is not trusted, so the fold is still seen."""
    folder, event = _store(tmp_path, monkeypatch, segment_size=3)
    reader, writer = open_services(folder), open_services(folder)
    store = folder / "completions"
    send_one(reader.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": "2026-01-01"})
    assert reader.db.completions.summaries()[event].count == 1  # listed just after a change
    listed_at = os.stat(store).st_mtime_ns

    for day in (2, 3):  # the third completion folds the journal into a segment
        send_one(
            writer.ingestion, {"eventName": event, "email": EMAIL, "occurredAt": f"2026-01-0{day}"}
        )
    assert (store / "seg-000001.json").exists()
    os.utime(store, ns=(listed_at, listed_at))  # as a coarse clock could have stamped it

    assert reader.db.completions.summaries()[event].count == 3
    reader.close()
    writer.close()


def _rejected(n: int) -> RejectedRequest:
    return RejectedRequest(
        id=f"r{n}",
        received_at=datetime(2026, 11, 1, tzinfo=UTC),
        source=Source.API,
        body={"eventName": f"e{n}"},
        violations=[],
    )


def test_rejected_requests_survive_reopening_and_a_torn_append(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    services = open_services(folder)
    services.db.rejections.add([_rejected(1), _rejected(2)])
    services.close()
    path = folder / "rejections.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open("ab") as handle:
        handle.write(b'{"id": "r3", "receivedAt": "2026-')  # a writer killed mid-append
    services = open_services(folder)
    assert [r.id for r in services.db.rejections.list_all()] == ["r2", "r1"]
    services.db.rejections.add([_rejected(4)])  # cuts the torn line first
    assert [r.id for r in services.db.rejections.list_all()] == ["r4", "r2", "r1"]
    assert path.read_bytes().count(b"\n") == 3 and path.read_bytes().endswith(b"\n")
    services.close()


def test_a_damaged_rejection_line_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    services = open_services(folder)
    services.db.rejections.add([_rejected(1)])
    (folder / "rejections.jsonl").write_bytes(b"{nope}\n")
    with pytest.raises(CorruptFile, match=r"rejections\.jsonl line 1"):
        services.db.rejections.list_all()
    services.close()
