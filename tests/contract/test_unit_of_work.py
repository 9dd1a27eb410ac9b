"""The unit of work, on every adapter: kept when committed, and only then."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from core.errors import StorageUnavailable, ValidationFailed
from core.ingestion import Mode
from core.models import Completion, ObjectType, Source
from core.ports import CompletionSelection, Database
from core.services import Services
from core.workflow_models import Enrollment, Task, Workflow, enrollment_id
from tests.conftest import NOW
from tests.contract.conftest import completion, contact, definition
from tests.sending import send_one


def _write_one_of_each(db: Database) -> None:
    """A definition, a contact, a completion, a workflow with an enrollment and a task."""
    db.definitions.insert(definition(db.definitions.next_id(), "viewed"))
    db.records.insert(contact(db.records.next_id(ObjectType.CONTACT), "ann@example.com"))
    db.completions.append([completion(1, uuid="u-1")])
    workflow = Workflow(
        id=db.workflows.next_workflow_id(),
        name="Welcome",
        object_type=ObjectType.CONTACT,
        created_at=NOW,
        updated_at=NOW,
    )
    db.workflows.save_workflow(workflow)
    key = enrollment_id(workflow.id, ObjectType.CONTACT, "1")
    db.workflows.save_enrollment(
        Enrollment(
            id=key,
            workflow_id=workflow.id,
            object_type=ObjectType.CONTACT,
            object_id="1",
            entered_at=NOW,
        )
    )
    db.workflows.save_task(
        Task(
            id=f"{key}:0",
            workflow_id=workflow.id,
            object_type=ObjectType.CONTACT,
            object_id="1",
            title="Call",
            created_at=NOW,
        )
    )


def _what_is_stored(db: Database) -> dict[str, object]:
    return {
        "definitions": [d.name for d in db.definitions.list_all()],
        "contacts": [r.properties["email"] for r in db.records.list_records(ObjectType.CONTACT)],
        "by email": db.records.find_contact_by_email("ann@example.com") is not None,
        "completions": [c.id for c in db.completions.scan(CompletionSelection())],
        "uuids": db.completions.existing_uuids({("pe12345678_viewed", "u-1")}),
        "summaries": sorted(db.completions.summaries()),
        "workflows": [w.name for w in db.workflows.list_workflows()],
        "enrollments": [e.object_id for e in db.workflows.list_enrollments(None)],
        "tasks": [t.title for t in db.workflows.tasks_for(ObjectType.CONTACT, "1")],
        "next ids": (
            db.definitions.next_id(),
            db.records.next_id(ObjectType.CONTACT),
            db.workflows.next_workflow_id(),
        ),
    }


NOTHING = {
    "definitions": [],
    "contacts": [],
    "by email": False,
    "completions": [],
    "uuids": set(),
    "summaries": [],
    "workflows": [],
    "enrollments": [],
    "tasks": [],
    "next ids": ("1", "1", "1"),
}
ONE_OF_EACH = {
    "definitions": ["viewed"],
    "contacts": ["ann@example.com"],
    "by email": True,
    "completions": ["c1"],
    "uuids": {("pe12345678_viewed", "u-1")},
    "summaries": ["pe12345678_viewed"],
    "workflows": ["Welcome"],
    "enrollments": ["1"],
    "tasks": ["Call"],
    "next ids": ("2", "2", "2"),
}


def test_what_a_committed_unit_wrote_is_kept(db: Database) -> None:
    with db.transaction() as unit:
        _write_one_of_each(db)
        unit.commit()
    assert _what_is_stored(db) == ONE_OF_EACH


def test_a_unit_sees_its_own_writes_before_it_commits(db: Database) -> None:
    with db.transaction() as unit:
        _write_one_of_each(db)
        assert _what_is_stored(db) == ONE_OF_EACH
        unit.commit()


def test_a_unit_left_without_a_commit_keeps_nothing(db: Database) -> None:
    with db.transaction():
        _write_one_of_each(db)
    assert _what_is_stored(db) == NOTHING


def test_completions_appended_first_in_a_unit_left_without_a_commit_are_not_kept(
    db: Database,
) -> None:
    with db.transaction() as unit:
        db.completions.append([completion(1)])  # the unit's first write, before any read
    with db.transaction() as unit:
        db.records.insert(contact("1", "ann@example.com"))
        unit.commit()
        db.completions.append([completion(2)])  # after the commit: needs one of its own
    assert list(db.completions.scan(CompletionSelection())) == []


def test_an_error_in_a_unit_keeps_nothing_of_it(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        _write_one_of_each(db)
        raise RuntimeError("a rule broke")
    assert _what_is_stored(db) == NOTHING


def test_what_is_written_after_a_commit_needs_a_commit_of_its_own(db: Database) -> None:
    with db.transaction() as unit:
        db.records.insert(contact("1", "ann@example.com"))
        unit.commit()
        db.records.insert(contact("2", "bob@example.com"))
    assert [r.id for r in db.records.list_records(ObjectType.CONTACT)] == ["1"]


def test_a_unit_inside_another_joins_it(db: Database) -> None:
    with db.transaction(), db.transaction() as inner:
        db.records.insert(contact("1", "ann@example.com"))
        inner.commit()  # the outer unit decides
    assert db.records.list_records(ObjectType.CONTACT) == []
    with db.transaction() as outer:
        with db.transaction():
            db.records.insert(contact("1", "ann@example.com"))
        outer.commit()
    assert [r.id for r in db.records.list_records(ObjectType.CONTACT)] == ["1"]


def test_a_write_outside_any_unit_is_kept_at_once(db: Database) -> None:
    db.records.insert(contact("1", "ann@example.com"))
    with db.transaction():
        pass
    assert [r.id for r in db.records.list_records(ObjectType.CONTACT)] == ["1"]


def test_a_refused_send_is_quarantined_though_its_unit_kept_nothing(services: Services) -> None:
    with pytest.raises(ValidationFailed) as refused:
        send_one(
            services.ingestion, {"eventName": "pe12345678_missing", "email": "ann@example.com"}
        )
    kept = services.rejections.list()
    assert [r.id for r in kept] == [refused.value.reference]


def test_contacts_made_for_a_send_the_store_refused_are_not_kept(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.definitions.create({"label": "Viewed"})

    def full(completions: Sequence[Completion]) -> None:
        raise StorageUnavailable("The disk is full: nothing of this request was stored.")

    monkeypatch.setattr(services.db.completions, "append", full)
    body = {"eventName": "pe12345678_viewed", "email": "new@example.com"}
    with pytest.raises(StorageUnavailable):
        services.ingestion.ingest([body], Mode.LENIENT, Source.JS)
    assert services.db.records.find_contact_by_email("new@example.com") is None
    assert services.db.records.list_records(ObjectType.CONTACT) == []


def test_a_new_portal_id_is_kept_only_when_its_unit_commits(db: Database) -> None:
    old = db.portal.portal_id
    with db.transaction():
        db.replace_portal(db.portal.model_copy(update={"portal_id": 42}))
        assert db.portal.portal_id == 42
    assert db.portal.portal_id == old
    with db.transaction() as unit:
        db.replace_portal(db.portal.model_copy(update={"portal_id": 42}))
        unit.commit()
    assert db.portal.portal_id == 42


def test_a_unit_holds_the_database_so_two_read_modify_writes_do_not_collide(
    db: Database,
) -> None:
    """Each unit reads the next id and stores a record under it: the second waits for the
    first to end, so it reads the next id after the first one's."""
    started = threading.Event()
    ids: dict[str, str] = {}

    def second() -> None:
        started.set()
        with db.transaction() as unit:
            record_id = db.records.next_id(ObjectType.CONTACT)
            db.records.insert(contact(record_id, "bob@example.com"))
            unit.commit()
        ids["second"] = record_id

    other = threading.Thread(target=second)
    with db.transaction() as unit:
        record_id = db.records.next_id(ObjectType.CONTACT)
        other.start()
        started.wait()
        db.records.insert(contact(record_id, "ann@example.com"))
        unit.commit()
        # (an adapter may end the unit at commit: the second may finish before this line)
        ids["first"] = record_id
    other.join()
    assert ids == {"first": "1", "second": "2"}
    emails = [r.properties["email"] for r in db.records.list_records(ObjectType.CONTACT)]
    assert emails == ["ann@example.com", "bob@example.com"]
