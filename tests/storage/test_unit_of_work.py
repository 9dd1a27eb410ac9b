"""The unit of work on a database folder: cbe.json written once at commit, the journal line
after it, nothing at all without a commit (the contract suite, tests/contract, holds what every
adapter does; this is what the files show)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import storage.atomic
from cli.bootstrap import open_services
from core.errors import StorageFull
from core.ingestion import IngestResult, Mode
from core.models import ObjectType, Source
from core.ports import CompletionSelection
from core.services import Services
from tests.storage.full_disk import FullDisk
from tests.storage.helpers import setup_database


@dataclass
class Opened:
    folder: Path
    event: str
    """The fully qualified name of the event a completion is sent for."""
    services: Services

    def send(self, email: str) -> IngestResult:
        """A completion of the event by ``email``, as the JavaScript collector sends it (a
        contact is made for an unknown email)."""
        body = {"eventName": self.event, "email": email}
        return self.services.ingestion.ingest([body], Mode.LENIENT, Source.JS)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    """A database folder with an event, contact 1 (ann@example.com) and one completion."""
    folder = tmp_path / "db"
    event = setup_database(folder)
    services = open_services(folder)
    database = Opened(folder, event, services)
    database.send("ann@example.com")
    yield database
    services.close()


def _reopened(folder: Path) -> tuple[list[str], int]:
    """The contacts' emails and how many completions a new opening of ``folder`` finds."""
    services = open_services(folder)
    try:
        emails = [r.properties["email"] for r in services.records.search(ObjectType.CONTACT)]
        return emails, len(list(services.db.completions.scan(CompletionSelection())))
    finally:
        services.close()


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of the database but its lock, by path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_what_a_unit_writes_reaches_cbe_json_once_at_its_commit(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = opened.services
    written: list[str] = []
    real = storage.atomic.write_atomically

    def counted(path: Path, payload: bytes) -> None:
        written.append(path.name)
        real(path, payload)

    monkeypatch.setattr(storage.atomic, "write_atomically", counted)
    before = (opened.folder / "cbe.json").read_bytes()
    with services.db.transaction() as unit:
        services.records.create(ObjectType.CONTACT, {"email": "bo@example.com"})
        workflow = services.workflows.create("Welcome", ObjectType.CONTACT)
        services.workflows.update(workflow.id, name="Welcome back")
        opened.send("cy@example.com")
        assert (opened.folder / "cbe.json").read_bytes() == before  # nothing yet
        unit.commit()
    assert written == ["cbe.json"]
    assert [w.name for w in services.workflows.all()] == ["Welcome back"]
    emails = ["ann@example.com", "bo@example.com", "cy@example.com"]
    assert _reopened(opened.folder) == (emails, 2)


def test_a_unit_left_without_a_commit_leaves_every_file_as_it_was(opened: Opened) -> None:
    services = opened.services
    before = _files(opened.folder)
    with pytest.raises(RuntimeError), services.db.transaction():
        services.records.create(ObjectType.CONTACT, {"email": "bo@example.com"})
        opened.send("cy@example.com")
        raise RuntimeError("a rule broke")
    assert _files(opened.folder) == before
    assert services.db.records.find_contact_by_email("cy@example.com") is None
    assert len(list(services.db.completions.scan(CompletionSelection()))) == 1


def test_contacts_made_for_a_send_whose_journal_write_fails_are_not_kept(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (opened.folder / "cbe.json").read_bytes()
    disk = FullDisk(monkeypatch, opened.folder / "completions").fill()
    with pytest.raises(StorageFull):
        opened.send("new@example.com")
    # cbe.json was written at the commit, and put back when the journal refused the line
    assert (opened.folder / "cbe.json").read_bytes() == before
    assert opened.services.db.records.find_contact_by_email("new@example.com") is None

    disk.free()
    assert [c.id for c in opened.send("new@example.com").created_contacts] == ["2"]
    assert _reopened(opened.folder) == (["ann@example.com", "new@example.com"], 2)


def test_a_failed_second_commit_keeps_what_the_first_one_committed(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = opened.services
    with pytest.raises(StorageFull), services.db.transaction() as unit:
        opened.send("bo@example.com")
        unit.commit()
        FullDisk(monkeypatch, opened.folder / "completions").fill()
        opened.send("cy@example.com")
        unit.commit()
    monkeypatch.undo()
    assert services.db.records.find_contact_by_email("cy@example.com") is None
    emails = ["ann@example.com", "bo@example.com"]
    assert _reopened(opened.folder) == (emails, 2)
