"""The forwarding outbox of a database folder (storage.outbox): an append-only file written with
the completions it owes, never ``cbe.json``; what a crash or a refused journal write leaves is
never sent; a long file is compacted; an outbox kept in ``cbe.json`` by the first version is
still owed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import ANY

import orjson
import pytest
from tinydb.table import Document, Table

from cli.bootstrap import open_services
from core.errors import StorageFull
from core.ingestion import Mode
from core.models import Source
from core.outbox import OutboxCounts
from core.services import Services
from storage.atomic import AtomicJSONStorage
from storage.locking import DatabaseLock
from tests.storage.full_disk import FullDisk
from tests.storage.helpers import EMAIL, REPO, setup_database


@dataclass
class Forwarding:
    folder: Path
    event: str
    services: Services

    def send(self, **extra: str) -> str:
        """A completion by ann (a uuid-less one unless ``uuid`` is given); its id."""
        body = {"eventName": self.event, "email": EMAIL, "properties": {}} | extra
        (stored,) = self.services.ingestion.ingest([body], Mode.HUBSPOT, Source.API).stored
        return stored.id


def _open(folder: Path, event: str) -> Forwarding:
    services = open_services(folder)
    services.ingestion.forwarding = True
    return Forwarding(folder, event, services)


@pytest.fixture
def forwarding(tmp_path: Path) -> Iterator[Forwarding]:
    folder = tmp_path / "db"
    event = setup_database(folder)
    opened = _open(folder, event)
    yield opened
    opened.services.close()


def _lines(folder: Path) -> list[dict[str, object]]:
    path = folder / "outbox.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_an_owing_send_appends_one_line_and_leaves_cbe_json_alone(forwarding: Forwarding) -> None:
    forwarding.send(uuid="u-0")  # the first creates the file
    main = forwarding.folder / "cbe.json"
    before = (main.stat().st_ino, main.stat().st_mtime_ns, main.read_bytes())
    ids = [forwarding.send(uuid=f"u-{n}") for n in range(1, 4)]
    assert (main.stat().st_ino, main.stat().st_mtime_ns, main.read_bytes()) == before
    owed = [line["owe"] for line in _lines(forwarding.folder)[1:]]
    assert owed == [[[i, ANY, None]] for i in ids]
    assert forwarding.services.db.outbox.counts() == OutboxCounts(owed=4, sent=0, refused=0)


def test_what_a_crash_between_the_outbox_and_the_journal_owed_is_never_sent(
    forwarding: Forwarding,
) -> None:
    """The gap a uuid-less send fell into: owed, never stored, sent again by the sender with a
    new id; without the check the remote would get both."""
    kept = forwarding.send()
    forwarding.services.close()
    crash = textwrap.dedent(
        f"""
        import os
        from cli.bootstrap import open_services
        from core.ingestion import Mode
        from core.models import Source
        from storage.completions.store import CompletionStore

        def crash(self):
            os._exit(9)  # the outbox line is durable, the journal line never written

        CompletionStore.commit = crash
        services = open_services({str(forwarding.folder)!r})
        services.ingestion.forwarding = True
        body = {{"eventName": {forwarding.event!r}, "email": {EMAIL!r}, "properties": {{}}}}
        services.ingestion.ingest([body], Mode.HUBSPOT, Source.API)
        """
    )
    done = subprocess.run([sys.executable, "-c", crash], cwd=REPO, check=False)
    assert done.returncode == 9
    assert len(_lines(forwarding.folder)) == 2  # the orphan is in the file

    again = _open(forwarding.folder, forwarding.event)
    try:
        retried = again.send()  # the sender, unanswered, sends it again
        assert [e.id for e in again.services.db.outbox.owed(10)] == [kept, retried]
        assert again.services.db.outbox.counts() == OutboxCounts(owed=2, sent=0, refused=0)
    finally:
        again.services.close()
    reread = _open(forwarding.folder, forwarding.event)  # and so every later reader
    try:
        assert [e.id for e in reread.services.db.outbox.owed(10)] == [kept, retried]
    finally:
        reread.services.close()


def test_a_journal_write_the_disk_refuses_owes_nothing(
    forwarding: Forwarding, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = forwarding.send(uuid="u-1")
    size = (forwarding.folder / "outbox.jsonl").stat().st_size
    disk = FullDisk(monkeypatch, forwarding.folder / "completions").fill()
    with pytest.raises(StorageFull):
        forwarding.send(uuid="u-2")
    assert (forwarding.folder / "outbox.jsonl").stat().st_size == size  # cut back
    assert [e.id for e in forwarding.services.db.outbox.owed(10)] == [kept]
    disk.free()
    second = forwarding.send(uuid="u-2")
    assert [e.id for e in forwarding.services.db.outbox.owed(10)] == [kept, second]


def test_a_long_outbox_file_is_compacted_and_keeps_its_counts(forwarding: Forwarding) -> None:
    db = forwarding.services.db
    ids = [forwarding.send(uuid=f"u-{n}") for n in range(30)]
    for n in range(2_500):  # settled one by one: a line each
        with db.transaction() as unit:
            db.outbox.settle([], {ids[n % 30]: f"400 answer {n}"})
            unit.commit()
    with db.transaction() as unit:
        db.outbox.settle(ids[:20], {})
        unit.commit()
    assert len(_lines(forwarding.folder)) > 2_500
    owed = db.outbox.owed(100)  # the relay's read compacts
    assert len(_lines(forwarding.folder)) <= 4
    assert owed == []
    assert db.outbox.counts() == OutboxCounts(owed=0, sent=20, refused=10)
    assert db.outbox.refused()[0].refused == "400 answer 2480"
    reopened = _open(forwarding.folder, forwarding.event)
    try:
        assert reopened.services.db.outbox.counts() == OutboxCounts(owed=0, sent=20, refused=10)
    finally:
        reopened.services.close()


def test_what_another_process_owes_is_seen_and_sent_once(forwarding: Forwarding) -> None:
    other = _open(forwarding.folder, forwarding.event)
    try:
        mine = forwarding.send(uuid="u-1")
        theirs = other.send(uuid="u-2")
        assert [e.id for e in forwarding.services.db.outbox.owed(10)] == [mine, theirs]
        with forwarding.services.db.transaction() as unit:
            forwarding.services.db.outbox.settle([mine, theirs], {})
            unit.commit()
        assert other.services.db.outbox.owed(10) == []
        assert other.services.db.outbox.counts() == OutboxCounts(owed=0, sent=2, refused=0)
    finally:
        other.services.close()


def test_an_outbox_the_first_version_kept_in_cbe_json_is_still_owed(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    first = _open(folder, event)
    stored = first.send(uuid="u-1")
    first.services.close()
    (folder / "outbox.jsonl").unlink()
    main = AtomicJSONStorage(folder / "cbe.json", lock=DatabaseLock(folder))
    body = {"eventName": event, "uuid": "u-1", "email": EMAIL, "properties": {}}
    Table(main, "outbox").insert({"id": stored, "body": body, "refused": None})
    Table(main, "forwarded").upsert(Document({"sent": 7}, doc_id=1))
    main.close()
    upgraded = _open(folder, event)
    try:
        assert [e.id for e in upgraded.services.db.outbox.owed(10)] == [stored]
        assert upgraded.services.db.outbox.counts() == OutboxCounts(owed=1, sent=7, refused=0)
        assert os.path.exists(folder / "outbox.jsonl")
    finally:
        upgraded.services.close()
