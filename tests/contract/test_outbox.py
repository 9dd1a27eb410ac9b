"""The forwarding outbox, on every adapter: owed with its completion, in the same unit of work."""

from __future__ import annotations

import pytest

from core.ingestion import Mode
from core.outbox import OutboxCounts, OutboxEntry, outbox_entry
from core.ports import Database
from core.services import Services
from tests.contract.conftest import completion, contact, definition
from tests.sending import send_one

ANN = contact("1", "ann@example.com")


def _entry(n: int) -> OutboxEntry:
    return outbox_entry(completion(n, uuid=f"u-{n}"), None, ANN)


def test_an_owed_completion_carries_its_uuid_and_the_email_of_its_contact(db: Database) -> None:
    entry = _entry(1)
    assert entry.id == "c1"
    assert entry.body["uuid"] == "u-1"
    assert entry.body["email"] == "ann@example.com"
    assert "objectId" not in entry.body  # this database's id means nothing in another portal
    assert entry.body["eventName"] == "pe12345678_viewed"
    assert entry.refused is None


def test_entries_are_owed_oldest_first_and_once(db: Database) -> None:
    with db.transaction() as unit:
        db.outbox.add([_entry(1), _entry(2)])
        db.outbox.add([_entry(2), _entry(3)])
        unit.commit()
    assert [e.id for e in db.outbox.owed(10)] == ["c1", "c2", "c3"]
    assert [e.id for e in db.outbox.owed(2)] == ["c1", "c2"]
    assert db.outbox.counts() == OutboxCounts(owed=3, sent=0, refused=0)


def test_settling_forgets_the_sent_and_keeps_the_refused_with_the_answer(db: Database) -> None:
    with db.transaction() as unit:
        db.outbox.add([_entry(1), _entry(2), _entry(3)])
        unit.commit()
    with db.transaction() as unit:
        db.outbox.settle(["c1", "c3"], {"c2": "400 VALIDATION_ERROR: no such property"})
        unit.commit()
    assert db.outbox.owed(10) == []
    assert [(e.id, e.refused) for e in db.outbox.refused()] == [
        ("c2", "400 VALIDATION_ERROR: no such property")
    ]
    assert db.outbox.counts() == OutboxCounts(owed=0, sent=2, refused=1)
    with db.transaction() as unit:
        assert db.outbox.requeue() == 1
        unit.commit()
    assert [e.id for e in db.outbox.owed(10)] == ["c2"]
    assert db.outbox.counts() == OutboxCounts(owed=1, sent=2, refused=0)


def test_what_is_owed_is_not_kept_without_a_commit(db: Database) -> None:
    with db.transaction():
        db.outbox.add([_entry(1)])
    assert db.outbox.owed(10) == []
    with pytest.raises(RuntimeError), db.transaction() as unit:
        db.outbox.add([_entry(2)])
        raise RuntimeError("refused")
        unit.commit()
    assert db.outbox.counts() == OutboxCounts(owed=0, sent=0, refused=0)


def test_a_forwarding_ingestion_owes_each_completion_it_stores(services: Services) -> None:
    db = services.db
    with db.transaction() as unit:
        db.definitions.insert(definition(db.definitions.next_id(), "viewed"))
        db.records.insert(ANN)
        unit.commit()
    services.ingestion.forwarding = True
    stored = send_one(
        services.ingestion,
        {"eventName": "pe12345678_viewed", "objectId": "1", "uuid": "u-9"},
        mode=Mode.HUBSPOT,
    )
    no_uuid = send_one(
        services.ingestion,
        {"eventName": "pe12345678_viewed", "objectId": "1"},
        mode=Mode.HUBSPOT,
    )
    owed = db.outbox.owed(10)
    assert [e.id for e in owed] == [stored.id, no_uuid.id]
    assert owed[0].body["uuid"] == "u-9"
    assert owed[1].body["uuid"] == no_uuid.id  # the id cbe gave it: a retry never doubles
    assert owed[0].body["email"] == "ann@example.com"  # sent by objectId, owed by email


def test_the_relay_keeps_its_remote_and_last_error_for_other_readers(db: Database) -> None:
    assert (db.outbox.counts().remote, db.outbox.counts().last_error) == (None, None)
    with db.transaction() as unit:
        db.outbox.note_relay("https://api.hubapi.com", "no answer from https://api.hubapi.com")
        unit.commit()
    counts = db.outbox.counts()
    assert counts.remote == "https://api.hubapi.com"
    assert counts.last_error == "no answer from https://api.hubapi.com"


def test_an_entry_refused_when_owed_is_kept_refused_and_never_owed(db: Database) -> None:
    refused = OutboxEntry("c9", {"eventName": "pe12345678_viewed"}, "Not sent: no identity.")
    with db.transaction() as unit:
        db.outbox.add([_entry(1), refused])
        unit.commit()
    assert [e.id for e in db.outbox.owed(10)] == ["c1"]
    assert [(e.id, e.refused) for e in db.outbox.refused()] == [("c9", "Not sent: no identity.")]
    assert db.outbox.counts() == OutboxCounts(owed=1, sent=0, refused=1)
