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
