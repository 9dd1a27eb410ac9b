"""What a copy of a whole portal reads (core.copying): every deleted name with its id, every
association and every task, on every adapter."""

from __future__ import annotations

from core.models import Association, ObjectType
from core.ports import Database
from core.workflow_models import Task
from tests.conftest import NOW
from tests.contract.conftest import definition


def test_deleted_definitions_are_listed_with_their_ids_in_the_order_deleted(
    db: Database,
) -> None:
    for definition_id, name in (("1", "viewed"), ("2", "clicked"), ("3", "bought")):
        db.definitions.insert(definition(definition_id, name))
    assert db.definitions.deleted_ids() == {}
    db.definitions.delete("bought")
    db.definitions.delete("viewed")
    assert list(db.definitions.deleted_ids().items()) == [("bought", "3"), ("viewed", "1")]


def test_every_association_is_listed_once_as_it_was_made(db: Database) -> None:
    def link(from_type: ObjectType, from_id: str, to_type: ObjectType, to_id: str) -> Association:
        return Association(from_type=from_type, from_id=from_id, to_type=to_type, to_id=to_id)

    first = link(ObjectType.CONTACT, "1", ObjectType.COMPANY, "7")
    second = link(ObjectType.DEAL, "3", ObjectType.CONTACT, "1")
    assert db.records.all_associations() == []
    db.records.associate(first)
    db.records.associate(second)
    db.records.associate(link(ObjectType.COMPANY, "7", ObjectType.CONTACT, "1"))  # known
    assert db.records.all_associations() == [first, second]


def test_every_task_is_listed_oldest_first_and_a_replaced_one_keeps_its_place(
    db: Database,
) -> None:
    def task(task_id: str, object_type: ObjectType, object_id: str, title: str) -> Task:
        return Task(
            id=task_id,
            workflow_id="1",
            object_type=object_type,
            object_id=object_id,
            title=title,
            created_at=NOW,
        )

    assert db.workflows.all_tasks() == []
    db.workflows.save_task(task("a", ObjectType.CONTACT, "7", "Call"))
    db.workflows.save_task(task("b", ObjectType.DEAL, "2", "Quote"))
    db.workflows.save_task(task("a", ObjectType.CONTACT, "7", "Call back"))
    assert [(t.id, t.title) for t in db.workflows.all_tasks()] == [
        ("a", "Call back"),
        ("b", "Quote"),
    ]
