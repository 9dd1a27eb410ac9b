"""Integrity of a database folder: identify touches only what it must, damage is named and
refused until ``cbe doctor`` has run, folders that are not cbe databases are refused, and a
read-only copy can be read without the lock."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from cli.bootstrap import open_services
from cli.main import main
from core.ingestion import Mode
from core.models import Source
from core.occurrences import CompletionQuery
from core.ports import CompletionSelection
from storage import atomic
from storage.completions import (
    CompletionStore,
    index_file,
    mapped_segment,
    read_index,
    rewrites,
    segment_file,
)
from storage.completions import store as store_module
from storage.database import NotADatabase, TinyDatabase, open_database
from storage.locking import WritesRefused
from storage.manifest import DamagedDatabase
from tests.sending import send_one
from tests.storage.helpers import EMAIL, Killed, killed_at_step, setup_database

VISITOR = "0123456789abcdef0123456789abcdef"


def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, segment_size: int) -> tuple[Path, str]:
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", segment_size)
    folder = tmp_path / "db"
    return folder, setup_database(folder)


def _inodes(folder: Path) -> dict[str, int]:
    store = folder / "completions"
    return {p.name: p.stat().st_ino for p in store.iterdir() if p.name.startswith("seg-")}


def test_identify_rewrites_only_the_segments_that_hold_the_visitor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    services = open_services(folder)
    known = {"eventName": event, "email": EMAIL}
    anonymous = {"eventName": event, "utk": VISITOR}
    # seg 1: known only; seg 2: two of the visitor's; seg 3: known only; journal: one more.
    for body in [known] * 4 + [anonymous, known, anonymous, known] + [known] * 4 + [anonymous]:
        services.ingestion.ingest([body], Mode.LENIENT, Source.JS)
    before = _inodes(folder)
    read: set[str] = set()
    doc = mapped_segment.Segment.doc

    def reading(segment: mapped_segment.Segment, pos: int) -> dict[str, object]:
        read.add(segment.path.name)
        return doc(segment, pos)

    monkeypatch.setattr(mapped_segment.Segment, "doc", reading)
    assert sorted(before) == [f"seg-00000{n}.{x}" for n in (1, 2, 3) for x in ("idx", "json")]

    contact, moved = services.records.identify(VISITOR, "visitor@example.com")

    assert moved == 3
    assert read == {"seg-000002.json"}  # the other segments' documents were never read
    after = _inodes(folder)
    for name in ("seg-000001.json", "seg-000001.idx", "seg-000003.json", "seg-000003.idx"):
        assert after[name] == before[name], f"{name} was rewritten"
    assert after["seg-000002.json"] != before["seg-000002.json"]
    timeline = services.db.completions.scan(CompletionSelection(object_id=contact.id))
    assert len(list(timeline)) == 3
    services.close()
    reopened = open_services(folder)
    selection = CompletionSelection(object_id=contact.id)
    assert len(list(reopened.db.completions.scan(selection))) == 3
    reopened.close()


def _visitor_in_segment_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """seg 1: known only; seg 2: two of the visitor's; seg 3: known only; journal: one more."""
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    services = open_services(folder)
    known = {"eventName": event, "email": EMAIL}
    anonymous = {"eventName": event, "utk": VISITOR}
    for body in [known] * 4 + [anonymous, known, anonymous, known] + [known] * 4 + [anonymous]:
        services.ingestion.ingest([body], Mode.LENIENT, Source.JS)
    services.close()
    return folder, event


def _visitors(folder: Path) -> tuple[int, int]:
    """How many completions are stored, and how many are still of the anonymous visitor."""
    services = open_services(folder)
    try:
        stored = list(services.db.completions.scan(CompletionSelection()))
        return len(stored), sum(1 for c in stored if c.object_id is None)
    finally:
        services.close()


def test_identify_makes_the_visitors_segment_before_it_takes_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = _visitor_in_segment_two(tmp_path, monkeypatch)
    services = open_services(folder)
    lock = services.db.completions._lock  # type: ignore[attr-defined]
    made: list[tuple[str, int | None]] = []
    prepare = rewrites.prepare_segment

    def preparing(segment: mapped_segment.Segment, change: rewrites.Change) -> object:
        made.append((segment.path.name, lock.held_epoch()))
        return prepare(segment, change)

    monkeypatch.setattr(store_module, "prepare_segment", preparing)
    monkeypatch.setattr(rewrites, "write_segment", _never)  # nothing is made under the lock
    monkeypatch.setattr(rewrites, "_rewrite_journal", _never)

    _, moved = services.records.identify(VISITOR, "visitor@example.com")

    assert moved == 3
    assert made == [("seg-000002.json", None)]  # read and written without the lock
    leftovers = [p.name for p in (folder / "completions").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    services.close()
    assert _visitors(folder) == (13, 0)


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("a file was made under the lock")


@pytest.mark.parametrize("meanwhile", ["rewritten", "temporary files removed", "appended"])
def test_identify_makes_the_segment_again_when_it_changed_before_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    folder, event = _visitor_in_segment_two(tmp_path, monkeypatch)
    services = open_services(folder)
    other = services.definitions.create({"label": "Booked Test Drive"}).fully_qualified_name
    prepare = rewrites.prepare_segment

    def preparing(segment: mapped_segment.Segment, change: rewrites.Change) -> object:
        made = prepare(segment, change)
        # Between the files made and the lock taken, another process...
        elsewhere = open_services(folder)
        if meanwhile == "rewritten":  # ...renames the event: seg 2 and the journal rewritten
            elsewhere.db.completions.rename_events({event: other})
        elif meanwhile == "appended":  # ...sends to the journal, which the lock then finishes
            body = {"eventName": event, "email": EMAIL}
            elsewhere.ingestion.ingest([body], Mode.LENIENT, Source.JS)
        elsewhere.close()
        if meanwhile == "temporary files removed":  # ...opens the database, which removes them
            assert made is not None
            assert not any(tmp.exists() for tmp, _ in made.files)
        return made

    monkeypatch.setattr(store_module, "prepare_segment", preparing)
    if meanwhile == "appended":  # the journal made before the lock is finished under it
        monkeypatch.setattr(rewrites, "_rewrite_journal", _never)
    contact, moved = services.records.identify(VISITOR, "visitor@example.com")

    assert moved == 3
    mine = list(services.db.completions.scan(CompletionSelection(object_id=contact.id)))
    renamed = meanwhile == "rewritten"
    assert {c.event_name for c in mine} == {other if renamed else event}
    services.close()
    assert _visitors(folder) == (14 if meanwhile == "appended" else 13, 0)


IDENTIFY_STEPS = 7
"""Renames and folder fsyncs of an identify that moves a segment's and the journal's
completions: the manifest announcing the new segment (renamed, its folder fsynced), then the
segment, its index, its summary and the journal renamed, and their folder fsynced once. The
manifest is not written again (what it announced reads as done); the contact itself is one
line of the records' log (storage/tables.py)."""


def test_the_kill_test_covers_every_step_of_identify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = _visitor_in_segment_two(tmp_path, monkeypatch)
    services = open_services(folder)
    store: CompletionStore = services.db.completions  # type: ignore[assignment]
    assert store.journal  # as the kill test: caught up, every summary written
    assert all(segment.summary for segment in store._segments.values())
    steps: list[str] = []

    def step(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def counted(*args: object) -> object:
            steps.append(name)
            return real(*args)

        return counted

    monkeypatch.setattr(os, "replace", step("replace", os.replace))
    monkeypatch.setattr(atomic, "fsync_dir", step("fsync_dir", atomic.fsync_dir))
    services.records.identify(VISITOR, "visitor@example.com")
    monkeypatch.undo()
    services.close()
    assert len(steps) == IDENTIFY_STEPS, steps


@pytest.mark.parametrize("kill_at", range(IDENTIFY_STEPS))
def test_identify_killed_at_any_step_leaves_each_file_old_or_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    """Killed at any rename or fsync of a folder (under the lock: the manifest's
    announcement, the segment, its index, its summary, the journal, the folder's fsync):
    reopened, nothing is damaged or lost, the visitor's completions of each file are all
    moved or none, and identifying again moves the rest."""
    folder, _ = _visitor_in_segment_two(tmp_path, monkeypatch)
    services = open_services(folder)
    store: CompletionStore = services.db.completions  # type: ignore[assignment]
    assert store.journal  # caught up with the folder
    for segment in store._segments.values():
        assert segment.summary  # written beside it: a rewrite makes it again too
    assert (folder / "completions" / "seg-000002.sum").exists()
    killed_at_step(monkeypatch, kill_at)
    with pytest.raises(Killed):
        services.records.identify(VISITOR, "visitor@example.com")
    monkeypatch.undo()
    stored, anonymous = _visitors(folder)
    assert stored == 13
    assert anonymous in (0, 1, 3)  # seg 2 holds two, the journal one
    again = open_services(folder)
    reopened: CompletionStore = again.db.completions  # type: ignore[assignment]
    assert reopened.damage == []
    _, moved = again.records.identify(VISITOR, "visitor@example.com")
    assert moved == anonymous
    again.close()
    assert _visitors(folder) == (13, 0)
    assert not [p for p in (folder / "completions").iterdir() if p.name.endswith(".tmp")]


def test_identify_writes_the_manifest_once_and_what_it_announced_reads_as_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _visitor_in_segment_two(tmp_path, monkeypatch)
    services = open_services(folder)
    manifest = folder / "manifest.json"
    written: list[Path] = []
    replace = os.replace

    def replacing(src: object, dst: object) -> None:
        written.append(Path(str(dst)))
        replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replacing)
    _, moved = services.records.identify(VISITOR, "visitor@example.com")
    monkeypatch.undo()

    assert moved == 3
    assert written.count(manifest) == 1
    segment = services.db.completions._segments[2]  # type: ignore[attr-defined]
    announced = orjson.loads(manifest.read_bytes())["pending"]
    assert announced["000002"]["token"] == segment.token  # named beside the old entry
    before = manifest.stat().st_ino
    send_one(services.ingestion, {"eventName": event, "email": EMAIL})
    services.close()
    assert manifest.stat().st_ino == before  # the next write does not settle it either
    reopened = open_services(folder)
    store: CompletionStore = reopened.db.completions  # type: ignore[assignment]
    assert store.damage == []
    reopened.close()
    assert _doctor(folder).exit_code == 0
    assert _visitors(folder) == (14, 0)


def test_a_rewrite_killed_after_announcing_beside_an_unsettled_one_is_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segment 2 rewritten for one visitor (its announcement left pending), then for another
    one killed between the manifest's announcement and the renames: the first rewrite stays
    done, the second is undone, and identifying again moves the rest."""
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    other = "fedcba9876543210fedcba9876543210"
    services = open_services(folder)
    known = {"eventName": event, "email": EMAIL}
    first, second = {"eventName": event, "utk": VISITOR}, {"eventName": event, "utk": other}
    for body in [known] * 4 + [first, second, first, second] + [known] * 4:
        services.ingestion.ingest([body], Mode.LENIENT, Source.JS)
    assert services.records.identify(VISITOR, "first@example.com")[1] == 2
    killed_at_step(monkeypatch, 2)  # the manifest renamed and its folder fsynced
    with pytest.raises(Killed):
        services.records.identify(other, "second@example.com")
    monkeypatch.undo()
    again = open_services(folder)
    store: CompletionStore = again.db.completions  # type: ignore[assignment]
    assert store.damage == []
    assert again.records.identify(other, "second@example.com")[1] == 2
    again.close()
    assert _doctor(folder).exit_code == 0
    assert _visitors(folder) == (12, 0)


# -- folders that are not cbe databases ----------------------------------------------------------


def test_a_database_without_its_portal_file_is_refused_not_given_a_new_portal(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    (folder / "portal.json").unlink()
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(DamagedDatabase) as raised:
        open_database(folder)
    message = str(raised.value)
    assert str(folder) in message and "portal.json is missing" in message
    assert "cbe doctor" in message
    assert sorted(p.name for p in folder.iterdir()) == before  # no new portal


def test_a_new_empty_folder_still_gets_a_portal(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    db = open_database(folder)
    assert (folder / "portal.json").exists()
    db.close()


def test_a_home_directory_of_dotfiles_is_not_a_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("alias ll='ls -l'\n")
    (home / ".cache").mkdir()
    with pytest.raises(NotADatabase) as raised:
        open_database(home)
    message = str(raised.value)
    assert "not empty" in message and ".bashrc" in message and "--db" in message
    assert sorted(p.name for p in home.iterdir()) == [".bashrc", ".cache"]


@pytest.mark.parametrize("with_portal", [False, True])
def test_another_programs_cbe_json_is_not_a_database(tmp_path: Path, with_portal: bool) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "cbe.json").write_text('{"name": "cbe", "version": "1.0.0"}')
    if with_portal:
        (folder / "portal.json").write_text('{"theme": "dark"}')
    with pytest.raises(NotADatabase) as raised:
        open_database(folder)
    assert "cbe.json is not cbe's" in str(raised.value) or "its cbe.json" in str(raised.value)
    assert (folder / "cbe.json").read_text() == '{"name": "cbe", "version": "1.0.0"}'
    assert not (folder / ".lock").exists()


# -- damage: named on open, writes refused, `cbe doctor --repair` ---------------------------------


def _damaged_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """Three segments of 4 completions (January, February, March) and a journal of three
    lines of one completion each."""
    folder, event = _store(tmp_path, monkeypatch, segment_size=4)
    services = open_services(folder)
    for month in (1, 2, 3):
        for day in (1, 2, 3, 4):
            body = {"eventName": event, "email": EMAIL, "occurredAt": f"2026-0{month}-0{day}"}
            send_one(services.ingestion, body)
    for day in (5, 6, 7):
        send_one(
            services.ingestion,
            {"eventName": event, "email": EMAIL, "occurredAt": f"2026-04-0{day}"},
        )
    services.close()
    return folder, event


def _doctor(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["doctor", "--db", str(folder), *args])


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _refused_then_repaired(folder: Path, event: str, named: list[str], lost: int) -> Result:
    """Opening names the damage; reading still works where asked for; writes are refused
    until `cbe doctor --repair`, after which the store holds 15 - ``lost`` completions."""
    with pytest.raises(DamagedDatabase) as raised:
        open_services(folder)
    message = str(raised.value)
    for text in named:
        assert text in message, message
    assert "cbe doctor" in message
    reading = open_services(folder, allow_damage=True)
    assert reading.occurrences.count(CompletionQuery()) <= 15
    with pytest.raises(WritesRefused, match="cbe doctor"):
        send_one(reading.ingestion, {"eventName": event, "email": EMAIL})
    reading.close()

    checked = _doctor(folder)
    assert checked.exit_code == 1, checked.output
    for text in named:
        assert text.split(" ")[0] in checked.output, checked.output  # the file
    repaired = _doctor(folder, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "Repaired" in repaired.output

    services = open_services(folder)
    assert services.occurrences.count(CompletionQuery()) == 15 - lost
    send_one(services.ingestion, {"eventName": event, "email": EMAIL})  # writes again
    assert services.occurrences.count(CompletionQuery()) == 16 - lost
    services.close()
    healthy = _doctor(folder)
    assert healthy.exit_code == 0 and "No damage found" in healthy.output, healthy.output
    return repaired


def test_a_deleted_segment_is_named_and_its_loss_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    (folder / "completions" / "seg-000002.json").unlink()
    repaired = _refused_then_repaired(
        folder,
        event,
        ["seg-000002.json is missing: 4 completions from 2026-02-01 to 2026-02-04"],
        4,
    )
    assert "4 completions from 2026-02-01 to 2026-02-04 are lost" in repaired.output


def test_a_damaged_line_in_the_middle_of_the_journal_is_named_and_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    journal = folder / "completions" / "journal-000004.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    journal.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2] + b"\n" + lines[2])
    repaired = _refused_then_repaired(folder, event, [f"{journal} has a damaged line (line 2"], 1)
    assert "journal-000004.jsonl line 2 is damaged" in repaired.output


def test_a_changed_value_in_a_journal_line_fails_its_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    journal = folder / "completions" / "journal-000004.jsonl"
    data = journal.read_bytes()
    journal.write_bytes(data.replace(b"2026-04-06", b"2026-04-16", 1))  # still valid JSON
    _refused_then_repaired(folder, event, ["checksum does not match"], 1)


def test_flipped_index_bytes_are_named_and_the_index_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    index = folder / "completions" / "seg-000001.idx"
    start, _size, _crc = read_index(index.read_bytes()).header["sections"]["occurred"]
    body = index.read_bytes().index(b"\n", len(index_file.INDEX_MAGIC)) + 1
    _flip(index, body + start + 5)  # a time, far off
    named = [f"{index} is damaged (its occurred column does not match its checksum)"]
    # reads go through an index rebuilt in memory: the times are right
    reading = open_services(folder, allow_damage=True)
    january = reading.occurrences.iterate(CompletionQuery(newest_first=False))
    assert next(iter(january)).occurred_at.month == 1
    reading.close()
    repaired = _refused_then_repaired(folder, event, named, 0)
    assert "rebuilt from its segment; nothing lost" in repaired.output


def test_a_flipped_byte_in_a_segment_is_found_by_doctor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _event = _damaged_store(tmp_path, monkeypatch)
    segment = folder / "completions" / "seg-000003.json"
    data = segment.read_bytes()
    at = data.index(b'"Ann"') if b'"Ann"' in data else data.index(b"2026-03-02T")
    _flip(segment, at + 12)  # a minute: still valid JSON, same size, same order
    checked = _doctor(folder)
    assert checked.exit_code == 1
    assert f"{segment} does not match its checksum" in checked.output
    repaired = _doctor(folder, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "kept as it reads now; no completion is lost" in repaired.output
    assert _doctor(folder).exit_code == 0


def test_an_unreadable_segment_is_moved_aside_and_its_loss_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    segment = folder / "completions" / "seg-000001.json"
    segment.write_bytes(segment.read_bytes()[:-40])  # torn: not JSON
    (folder / "completions" / "seg-000001.idx").unlink()
    repaired = _refused_then_repaired(folder, event, [str(segment)], 4)
    assert "4 completions from 2026-01-01 to 2026-01-04 are lost" in repaired.output
    assert (folder / "damaged" / "seg-000001.json").exists()


def test_a_database_without_its_portal_file_is_given_a_new_portal_by_doctor(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "db"
    setup_database(folder)
    (folder / "portal.json").unlink()
    assert _doctor(folder).exit_code == 1
    repaired = _doctor(folder, "--repair")
    assert repaired.exit_code == 0 and "a new portal" in repaired.output
    open_services(folder).close()


# -- read-only copies ---------------------------------------------------------------------------


def _copy_without_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    (folder / ".lock").unlink()
    return folder, event


def test_a_read_only_copy_is_read_without_taking_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _copy_without_lock(tmp_path, monkeypatch)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    services = open_services(folder, read_only=True)
    assert services.occurrences.count(CompletionQuery()) == 15
    contact = services.db.records.find_contact_by_email(EMAIL)
    assert contact is not None
    with pytest.raises(WritesRefused, match="read-only"):
        send_one(services.ingestion, {"eventName": event, "email": EMAIL})
    with pytest.raises(WritesRefused, match="read-only"):
        services.records.identify(VISITOR, "someone@example.com")
    services.close()
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before  # no lock file, nothing written


def test_the_cli_reads_a_read_only_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _event = _copy_without_lock(tmp_path, monkeypatch)
    runner = CliRunner()
    shown = runner.invoke(main, ["--read-only", "timeline", "--db", str(folder), "--email", EMAIL])
    assert shown.exit_code == 0, shown.output
    assert "Apr 07" in shown.output
    report = runner.invoke(main, ["--read-only", "report", "analyze", "--db", str(folder)])
    assert report.exit_code == 0, report.output
    assert not (folder / ".lock").exists()


def test_a_read_only_mount_is_opened_read_only_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real read-only file system (a tmpfs remounted read-only); skipped where mounting is not
    allowed. Root ignores permission bits, so a chmod would not show it."""
    import shutil
    import subprocess

    source, _event = _copy_without_lock(tmp_path, monkeypatch)
    mount = tmp_path / "mnt"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(source, mount / "db")
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(mount)])
        if remounted.returncode:
            pytest.skip("cannot remount read-only here")
        services = open_services(mount / "db", create=False, read_only=None)
        assert services.occurrences.count(CompletionQuery()) == 15
        assert isinstance(services.db, TinyDatabase)
        assert services.db.refusal is not None and "read-only" in services.db.refusal
        services.close()
    finally:
        subprocess.run(["umount", str(mount)])


async def test_the_app_opens_a_read_only_copy_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.app import CbeApp

    folder, _event = _copy_without_lock(tmp_path, monkeypatch)
    services = open_services(folder, read_only=True)
    app = CbeApp(services, refresh_seconds=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)  # the workflow clock ticks, and writes nothing
        assert app.sub_title.endswith("read-only")
        assert any("read-only" in n.message for n in app._notifications)
        assert app.is_running
    services.close()
    assert not (folder / ".lock").exists()


def test_what_a_killed_writer_leaves_is_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A torn last journal line, and a manifest announcing a segment a fold never wrote."""
    folder, event = _damaged_store(tmp_path, monkeypatch)
    journal = folder / "completions" / "journal-000004.jsonl"
    with journal.open("ab") as handle:
        handle.write(b'{"docs":[{"id":"torn","eventN')
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    # Beside what the last fold left pending (its segment 3, there: read as done).
    assert set(manifest["pending"]) == {"000003"}
    manifest["pending"]["000004"] = dict(manifest["segments"]["000001"], token="feedface")
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    assert _doctor(folder).exit_code == 0
    services = open_services(folder)
    # Opening drops the announcement of the segment never written (and takes 3 as done).
    assert orjson.loads((folder / "manifest.json").read_bytes())["pending"] == {}
    assert services.occurrences.count(CompletionQuery()) == 15
    send_one(services.ingestion, {"eventName": event, "email": EMAIL})  # a fold: segment 4
    services.close()
    pending = orjson.loads((folder / "manifest.json").read_bytes())["pending"]
    assert list(pending) == ["000004"] and pending["000004"]["token"] != "feedface"
    assert _doctor(folder).exit_code == 0


def test_a_document_that_is_not_json_names_its_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _event = _damaged_store(tmp_path, monkeypatch)
    segment = folder / "completions" / "seg-000002.json"
    data = segment.read_bytes()
    at = data.index(b'"eventName"')
    segment.write_bytes(data[:at] + b"\x00" + data[at + 1 :])  # same size: open cannot tell
    services = open_services(folder)
    with pytest.raises(DamagedDatabase, match=f"{segment} is damaged: its completion 1"):
        list(services.occurrences.iterate(CompletionQuery(limit=100)))
    services.close()
    checked = _doctor(folder)
    assert checked.exit_code == 1 and str(segment) in checked.output
    assert "1 of its 4 completions cannot be read" in checked.output
    repaired = _doctor(folder, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "3 completions kept; 1 completion of 2026-02-01 is lost" in repaired.output
    assert (folder / "damaged" / "seg-000002.json").read_bytes() == data[:at] + b"\x00" + data[
        at + 1 :
    ]
    services = open_services(folder)
    assert services.occurrences.count(CompletionQuery()) == 14
    send_one(services.ingestion, {"eventName": _event, "email": EMAIL})
    services.close()
    assert _doctor(folder).exit_code == 0


def test_the_api_answers_503_in_hubspots_shape_when_writes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api.conftest import TEST_HOSTS

    folder, event = _copy_without_lock(tmp_path, monkeypatch)
    services = open_services(folder, read_only=True)
    with TestClient(create_app(services, "token", allowed_hosts=TEST_HOSTS)) as client:
        client.headers["Authorization"] = "Bearer token"
        answer = client.post("/events/v3/send", json={"eventName": event, "email": EMAIL})
        assert answer.status_code == 503
        assert answer.json()["category"] == "SERVICE_UNAVAILABLE"
        assert "read-only" in answer.json()["message"]
        assert client.get("/events/v3/event-definitions").status_code == 200
    services.close()


def _as_version_2(index: bytes) -> bytes:
    """``index`` as cbe wrote it before columns had checksums (its columns where they were)."""
    magic = index_file.INDEX_MAGIC
    end = index.index(b"\n", len(magic))
    header = orjson.loads(index[len(magic) : end])
    header["version"] = 2
    header["sections"] = {name: section[:2] for name, section in header["sections"].items()}
    line = orjson.dumps(header)
    line += b" " * (-(len(magic) + len(line) + 1) % 8)
    return magic + line + b"\n" + index[end + 1 :]


def test_a_database_from_before_manifests_and_checksums_opens_and_gets_a_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    (folder / "manifest.json").unlink()
    index = folder / "completions" / "seg-000001.idx"
    index.write_bytes(_as_version_2(index.read_bytes()))
    old = index.read_bytes()
    services = open_services(folder)
    assert services.occurrences.count(CompletionQuery()) == 15
    assert index.read_bytes() == old  # read as it is, not rebuilt
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert sorted(manifest["segments"]) == ["000001", "000002", "000003"]
    assert manifest["segments"]["000002"]["count"] == 4
    send_one(services.ingestion, {"eventName": event, "email": EMAIL})
    services.close()
    checked = _doctor(folder)
    assert checked.exit_code == 0, checked.output
    assert "seg-000001.json: index of an earlier cbe matches" in checked.output
    assert _doctor(folder, "--repair").exit_code == 0
    assert read_index(index.read_bytes()).header["version"] == index_file.INDEX_VERSION


def test_doctor_leaves_a_folder_that_is_no_database_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("")
    checked = _doctor(home)
    assert checked.exit_code == 1 and "There is no cbe database" in checked.output
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]


def test_the_cli_reads_a_damaged_database_and_refuses_to_write_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, event = _damaged_store(tmp_path, monkeypatch)
    (folder / "completions" / "seg-000002.json").unlink()
    runner = CliRunner()
    shown = runner.invoke(main, ["timeline", "--db", str(folder), "--email", EMAIL])
    assert shown.exit_code == 0, shown.output
    assert "Apr 07" in shown.output and "Feb 01" not in shown.output
    body = tmp_path / "send.json"
    body.write_text(f'{{"eventName": "{event}", "email": "{EMAIL}"}}')
    sent = runner.invoke(main, ["send", str(body), "--db", str(folder)])
    assert sent.exit_code == 1
    assert "seg-000002.json is missing" in sent.output and "cbe doctor" in sent.output
