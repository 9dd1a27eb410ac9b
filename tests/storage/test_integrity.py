"""Integrity of a database folder: identify touches only what it must, damage is named and
refused until ``cbe doctor`` has run, folders that are not cbe databases are refused, and a
read-only copy can be read without the lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.ingestion import Mode
from core.models import Source
from core.ports import CompletionSelection
from storage import completions
from storage.bootstrap import open_services
from storage.database import NotADatabase, open_database
from storage.manifest import DamagedDatabase
from tests.storage.helpers import EMAIL, setup_database

VISITOR = "0123456789abcdef0123456789abcdef"


def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, segment_size: int) -> tuple[Path, str]:
    monkeypatch.setattr(completions, "SEGMENT_SIZE", segment_size)
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
    doc = completions._Segment.doc

    def reading(segment: completions._Segment, pos: int) -> dict[str, object]:
        read.add(segment.path.name)
        return doc(segment, pos)

    monkeypatch.setattr(completions._Segment, "doc", reading)
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
