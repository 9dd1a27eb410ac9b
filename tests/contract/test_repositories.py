"""Each repository's contract, on every adapter: what a use case may count on."""

from __future__ import annotations

import pytest

from core.errors import Conflict, Rule, Violation
from core.models import Association, ObjectType, Source
from core.ports import CompletionSelection, Database
from core.rejections import RejectedRequest
from core.workflow_models import Enrollment, Task, Workflow, enrollment_id
from tests.conftest import NOW
from tests.contract.conftest import at, completion, contact, definition

VIEWED = "pe12345678_viewed"
CLICKED = "pe12345678_clicked"


# -- definitions -----------------------------------------------------------------------------


def test_definitions_are_listed_oldest_first_and_found_by_name(db: Database) -> None:
    db.definitions.insert(definition(db.definitions.next_id(), "viewed"))
    db.definitions.insert(definition(db.definitions.next_id(), "clicked"))
    assert [d.name for d in db.definitions.list_all()] == ["viewed", "clicked"]
    found = db.definitions.get("clicked")
    assert found is not None and found.id == "2"
    assert db.definitions.get("missing") is None


def test_a_taken_definition_name_is_a_conflict_in_cores_words(db: Database) -> None:
    db.definitions.insert(definition("1", "viewed"))
    with pytest.raises(Conflict) as refused:
        db.definitions.insert(definition("2", "viewed"))
    assert [v.rule for v in refused.value.violations] == [Rule.NAME_TAKEN]
    assert str(refused.value) == "An event named 'viewed' already exists."


def test_a_deleted_definitions_name_and_id_are_never_handed_out_again(db: Database) -> None:
    db.definitions.insert(definition("1", "viewed"))
    db.definitions.insert(definition("2", "clicked"))
    db.definitions.delete("clicked")
    assert db.definitions.deleted_names() == {"clicked"}
    assert db.definitions.next_id() == "3"
    assert [d.name for d in db.definitions.list_all()] == ["viewed"]


def test_a_replaced_definition_keeps_its_place(db: Database) -> None:
    db.definitions.insert(definition("1", "viewed"))
    db.definitions.insert(definition("2", "clicked"))
    db.definitions.replace(definition("1", "viewed").model_copy(update={"label": "Seen"}))
    assert [(d.name, d.label) for d in db.definitions.list_all()] == [
        ("viewed", "Seen"),
        ("clicked", "Clicked"),
    ]


# -- records ---------------------------------------------------------------------------------


def test_records_are_listed_by_id_and_ids_count_up_per_type(db: Database) -> None:
    assert db.records.next_id(ObjectType.CONTACT) == "1"
    for record_id in ("2", "10", "1"):
        db.records.insert(contact(record_id, f"p{record_id}@example.com"))
    assert [r.id for r in db.records.list_records(ObjectType.CONTACT)] == ["1", "2", "10"]
    assert db.records.next_id(ObjectType.CONTACT) == "11"
    assert db.records.next_id(ObjectType.COMPANY) == "1"
    assert db.records.get(ObjectType.COMPANY, "1") is None


def test_a_page_of_records_is_in_id_order_with_how_many_match_in_all(db: Database) -> None:
    for n in (3, 1, 12, 2, 5):
        db.records.insert(contact(str(n), f"p{n}@Example.com", archived=n == 2))
    page = db.records.page(ObjectType.CONTACT, offset=1, limit=2)
    assert ([r.id for r in page.records], page.total) == (["3", "5"], 4)
    every = db.records.page(ObjectType.CONTACT, include_archived=True)
    assert ([r.id for r in every.records], every.total) == (["1", "2", "3", "5", "12"], 5)
    assert every.records == db.records.list_records(ObjectType.CONTACT)
    beyond = db.records.page(ObjectType.CONTACT, offset=10, limit=5)
    assert (beyond.records, beyond.total) == ([], 4)
    assert db.records.page(ObjectType.COMPANY).total == 0


def test_a_page_searches_every_property_value_ignoring_case(db: Database) -> None:
    db.records.insert(contact("1", "ann@example.com", utk="ZZ-top"))
    db.records.insert(contact("2", "bo@EXAMPLE.org"))
    db.records.insert(contact("3", "cy@example.org", archived=True))
    db.records.replace(contact("1", "ann@example.net", utk="ZZ-top"))

    def ids(text: str, include_archived: bool = False) -> tuple[list[str], int]:
        page = db.records.page(ObjectType.CONTACT, text, include_archived, limit=1)
        return [r.id for r in page.records], page.total

    assert ids("example.ORG") == (["2"], 1)
    assert ids("example.org", include_archived=True) == (["2"], 2)
    assert ids("zz-TOP") == (["1"], 1)
    assert ids("ann@example.com") == ([], 0)  # the value it had before it was replaced
    assert ids("ann@example.net") == (["1"], 1)
    assert ids("m\x00z") == ([], 0)  # no match across two values
    assert ids("") == (["1"], 2)


def test_a_contact_is_found_by_email_in_any_case_and_an_active_one_first(db: Database) -> None:
    db.records.insert(contact("1", "Ann@Example.com", archived=True, utk="utk-1"))
    assert db.records.find_contact_by_email("ann@example.COM") is not None
    db.records.insert(contact("2", "ann@example.com", utk="utk-1"))
    found = db.records.find_contact_by_email("ANN@example.com")
    assert found is not None and found.id == "2"
    by_utk = db.records.find_contact_by_utk("utk-1")
    assert by_utk is not None and by_utk.id == "2"
    assert db.records.find_contact_by_utk("utk-2") is None


def test_a_replaced_record_is_what_is_found(db: Database) -> None:
    db.records.insert(contact("1", "ann@example.com"))
    db.records.replace(contact("1", "bob@example.com"))
    assert db.records.find_contact_by_email("ann@example.com") is None
    found = db.records.get(ObjectType.CONTACT, "1")
    assert found is not None and found.properties["email"] == "bob@example.com"


def test_an_association_is_kept_once_and_seen_from_both_sides(db: Database) -> None:
    link = Association(
        from_type=ObjectType.CONTACT, from_id="1", to_type=ObjectType.COMPANY, to_id="7"
    )
    back = Association(
        from_type=ObjectType.COMPANY, from_id="7", to_type=ObjectType.CONTACT, to_id="1"
    )
    db.records.associate(link)
    db.records.associate(link)
    db.records.associate(back)
    assert db.records.associations(ObjectType.CONTACT, "1") == [link]
    assert db.records.associations(ObjectType.COMPANY, "7") == [back]
    assert db.records.associations(ObjectType.CONTACT, "2") == []


# -- completions -----------------------------------------------------------------------------


def _ids(db: Database, **selection: object) -> list[str]:
    return [c.id for c in db.completions.scan(CompletionSelection(**selection))]  # type: ignore[arg-type]


def test_completions_are_scanned_by_time_either_way_and_resumed_after_a_cursor(
    db: Database,
) -> None:
    db.completions.append([completion(3), completion(1)])
    db.completions.append([completion(2), completion(4, minutes=2)])
    assert _ids(db) == ["c3", "c4", "c2", "c1"]
    assert _ids(db, newest_first=False) == ["c1", "c2", "c4", "c3"]
    assert _ids(db, start_after=(at(2), "c2")) == ["c1"]
    assert _ids(db, start_after=(at(2), "c2"), newest_first=False) == ["c4", "c3"]


def test_a_scan_selects_by_record_event_time_and_tag(db: Database) -> None:
    db.completions.append(
        [
            completion(1, object_id="1"),
            completion(2, object_id="2", event=CLICKED),
            completion(3, object_id=None, utk="visitor"),
            completion(4, object_id="1", tag="run-1"),
        ]
    )
    assert _ids(db, object_id="1") == ["c4", "c1"]
    assert _ids(db, object_type=ObjectType.CONTACT) == ["c4", "c2", "c1"]  # no visitor
    assert _ids(db, event_names=frozenset({CLICKED})) == ["c2"]
    assert _ids(db, occurred_after=at(2), occurred_before=at(4)) == ["c3", "c2"]
    assert [c.id for c in db.completions.scan(CompletionSelection(tag="run-1")) if c.tag] == ["c4"]


def test_a_taken_uuid_refuses_the_whole_batch_in_cores_words(db: Database) -> None:
    db.completions.append([completion(1, uuid="u-1")])
    with pytest.raises(Conflict) as refused:
        db.completions.append([completion(2), completion(3, uuid="u-1")])
    assert [v.message for v in refused.value.violations] == [
        f"A completion of {VIEWED} with uuid 'u-1' was already received; the first is kept."
    ]
    with pytest.raises(Conflict):
        db.completions.append([completion(4, uuid="u-2"), completion(5, uuid="u-2")])
    assert _ids(db) == ["c1"]
    assert db.completions.existing_uuids({(VIEWED, "u-1"), (VIEWED, "u-2"), (CLICKED, "u-1")}) == {
        (VIEWED, "u-1")
    }


def test_uuids_looked_up_begun_answer_as_existing_uuids_in_a_unit_and_out(db: Database) -> None:
    db.completions.append([completion(1, uuid="u-1")])
    keys = {(VIEWED, "u-1"), (VIEWED, "u-2"), (CLICKED, "u-1")}
    assert db.completions.begin_existing_uuids(keys)() == {(VIEWED, "u-1")}
    with db.transaction() as unit:
        answer = db.completions.begin_existing_uuids(keys)
        assert answer() == {(VIEWED, "u-1")}
        assert db.completions.begin_existing_uuids(set())() == set()
        db.completions.append([completion(2, uuid="u-2")])
        unit.commit()
    assert db.completions.begin_existing_uuids(keys)() == {(VIEWED, "u-1"), (VIEWED, "u-2")}


def test_a_completion_is_found_by_uuid_or_id(db: Database) -> None:
    db.completions.append([completion(1, uuid="u-1"), completion(2, uuid="u-1", event=CLICKED)])
    assert [c.id for c in db.completions.find("u-1")] == ["c1", "c2"]
    assert [c.id for c in db.completions.find("c2")] == ["c2"]
    assert db.completions.find("nothing") == []


def test_summaries_and_tallies_count_per_event_and_record(db: Database) -> None:
    db.completions.append(
        [
            completion(1, object_id="1"),
            completion(2, object_id="2"),
            completion(3, object_id="1", event=CLICKED),
            completion(4, object_id=None, utk="visitor"),
        ]
    )
    summaries = db.completions.summaries()
    assert (summaries[VIEWED].count, summaries[VIEWED].last_occurred_at) == (3, at(4))
    assert summaries[CLICKED].count == 1
    records = db.completions.record_summaries()
    assert set(records) == {(ObjectType.CONTACT, "1"), (ObjectType.CONTACT, "2")}
    assert records[(ObjectType.CONTACT, "1")].count == 2
    tally = db.completions.tally([VIEWED, CLICKED], [at(0), at(2), at(5)])
    assert tally[VIEWED].series == [1, 2]
    assert tally[VIEWED].records == 2  # the anonymous visitor is not counted
    assert tally[CLICKED].series == [0, 1]


def test_rewrites_delete_rename_and_attach_completions(db: Database) -> None:
    db.completions.append(
        [
            completion(1),
            completion(2, event=CLICKED),
            completion(3, object_id=None, utk="visitor"),
            completion(4, tag="run-1"),
        ]
    )
    assert db.completions.delete_tagged("run-1") == 1
    assert db.completions.attach_visitor("visitor", "9") == 1
    assert _ids(db, object_id="9") == ["c3"]
    assert db.completions.rename_events({CLICKED: "pe1_clicked"}) == 1
    assert db.completions.delete_event(VIEWED) == 2
    assert [(c.id, c.event_name) for c in db.completions.scan(CompletionSelection())] == [
        ("c2", "pe1_clicked")
    ]


# -- workflows -------------------------------------------------------------------------------


def _workflow(workflow_id: str) -> Workflow:
    return Workflow(
        id=workflow_id,
        name=f"Workflow {workflow_id}",
        object_type=ObjectType.CONTACT,
        created_at=NOW,
        updated_at=NOW,
    )


def _enrollment(workflow_id: str, object_id: str, active: bool = True) -> Enrollment:
    return Enrollment(
        id=enrollment_id(workflow_id, ObjectType.CONTACT, object_id),
        workflow_id=workflow_id,
        object_type=ObjectType.CONTACT,
        object_id=object_id,
        entered_at=NOW,
        finished_at=None if active else NOW,
    )


def test_workflows_enrollments_and_tasks_are_kept_and_listed(db: Database) -> None:
    assert db.workflows.next_workflow_id() == "1"
    db.workflows.save_workflow(_workflow("1"))
    db.workflows.save_workflow(_workflow("2"))
    db.workflows.save_workflow(_workflow("1").model_copy(update={"name": "Renamed"}))
    assert [w.name for w in db.workflows.list_workflows()] == ["Renamed", "Workflow 2"]
    assert db.workflows.next_workflow_id() == "3"
    db.workflows.save_enrollment(_enrollment("1", "7"))
    db.workflows.save_enrollment(_enrollment("2", "8"))
    db.workflows.save_enrollment(_enrollment("1", "7", active=False))
    assert [e.object_id for e in db.workflows.list_enrollments(None)] == ["7", "8"]
    assert [e.object_id for e in db.workflows.list_enrollments(None, active_only=True)] == ["8"]
    assert [e.object_id for e in db.workflows.list_enrollments("2")] == ["8"]
    task = Task(
        id=f"{enrollment_id('1', ObjectType.CONTACT, '7')}:0",
        workflow_id="1",
        object_type=ObjectType.CONTACT,
        object_id="7",
        title="Call",
        created_at=NOW,
    )
    db.workflows.save_task(task)
    db.workflows.save_task(task.model_copy(update={"title": "Call back"}))
    assert [t.title for t in db.workflows.tasks_for(ObjectType.CONTACT, "7")] == ["Call back"]
    db.workflows.delete_workflow("1")
    assert db.workflows.get_workflow("1") is None
    assert [e.object_id for e in db.workflows.list_enrollments(None)] == ["8"]
    assert len(db.workflows.tasks_for(ObjectType.CONTACT, "7")) == 1  # tasks stay


def test_waiting_at_finds_the_active_enrollments_of_records_at_actions(db: Database) -> None:
    db.workflows.save_workflow(_workflow("1"))
    db.workflows.save_workflow(_workflow("2"))
    for workflow_id, object_id in (("2", "8"), ("1", "7"), ("1", "8"), ("2", "9")):
        db.workflows.save_enrollment(_enrollment(workflow_id, object_id))
    db.workflows.save_enrollment(
        _enrollment("1", "8").model_copy(update={"action_index": 1})  # moved on
    )
    db.workflows.save_enrollment(_enrollment("2", "9", active=False))  # finished
    contacts = {(ObjectType.CONTACT, i) for i in ("7", "8", "9", "10")}
    found = db.workflows.waiting_at({("1", 0), ("2", 0)}, contacts)
    assert [e.id for e in found] == ["2:CONTACT:8", "1:CONTACT:7"]  # as first saved
    assert [e.id for e in db.workflows.waiting_at({("1", 1)}, contacts)] == ["1:CONTACT:8"]
    assert db.workflows.waiting_at({("1", 0)}, {(ObjectType.COMPANY, "7")}) == []
    assert db.workflows.waiting_at({("1", 0)}, {(ObjectType.CONTACT, "8")}) == []
    assert db.workflows.waiting_at(set(), contacts) == []


# -- the quarantine and the portal -----------------------------------------------------------


def _rejected(n: int) -> RejectedRequest:
    return RejectedRequest(id=f"r{n}", received_at=NOW, source=Source.API, body={"n": n})


def test_rejected_requests_are_listed_newest_first_within_the_bound(db: Database) -> None:
    db.rejections.add([_rejected(1), _rejected(2)])
    db.rejections.add([_rejected(3)])
    assert [r.id for r in db.rejections.list_all()] == ["r3", "r2", "r1"]
    db.rejections.set_bound(2)
    assert db.rejections.bound == 2
    assert [r.id for r in db.rejections.list_all()] == ["r3", "r2"]
    assert db.rejections.remove({"r3", "r9"}) == 1
    assert [r.id for r in db.rejections.list_all()] == ["r2"]


def _retry(n: int) -> RejectedRequest:
    taken = Violation(field="uuid", rule=Rule.DUPLICATE_UUID, message="already received")
    return RejectedRequest(
        id=f"t{n}", received_at=NOW, source=Source.API, body={"n": n}, violations=[taken]
    )


def test_retries_in_a_loop_never_push_out_what_was_refused(db: Database) -> None:
    db.rejections.set_bound(8)
    db.rejections.add([_rejected(n) for n in range(1, 6)])
    for n in range(100):  # a client retrying one send in a loop, one request at a time
        db.rejections.add([_retry(n)])
    kept = [r.id for r in db.rejections.list_all()]
    # A quarter of the room for retries (the newest), the rest for what was refused.
    assert kept == ["t99", "t98", "r5", "r4", "r3", "r2", "r1"]
    db.rejections.add([_rejected(6)])
    assert [r.id for r in db.rejections.list_all()][:3] == ["r6", "t99", "t98"]


def test_a_new_portal_id_is_kept(db: Database) -> None:
    db.replace_portal(db.portal.model_copy(update={"portal_id": 42}))
    assert db.portal.portal_id == 42
