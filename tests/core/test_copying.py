"""Copying a whole portal between stores (core.copying): everything read back the same, a copy
stopped part-way finished by the next run, and a destination with other data refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import FixedClock
from core.copying import COMPLETIONS, KINDS, CopyRefused, copy_portal, portal_counts
from core.demo import DemoSpec, build_demo
from core.errors import Rule, Violation
from core.models import ObjectType, Source
from core.outbox import outbox_entry
from core.ports import CompletionSelection, Database
from core.rejections import RejectedRequest
from core.services import Services
from tests.adapters import services_on
from tests.conftest import NOW, PORTAL_ID

PAIRS = [
    ("tiny", "memory"),
    ("memory", "tiny"),
    ("tiny", "tiny"),
    ("tiny", "postgres"),
    ("postgres", "tiny"),
]


def _filled(services: Services) -> Services:
    """A portal with data of every kind: the demo's definitions, records, associations,
    workflow, enrollments, tasks and completions, and a deleted definition, rejected requests
    (a retry among them), completions owed to a remote and one it refused."""
    db = services.db
    build_demo(db, DemoSpec(contacts=15, completions=300, days=20), NOW)
    assert db.workflows.all_tasks(), "the demo's workflow made tasks"
    services.definitions.delete(db.definitions.list_all()[-1].name)
    db.rejections.set_bound(50)
    db.rejections.add(
        [
            RejectedRequest(
                id=f"r{n}",
                received_at=NOW + timedelta(seconds=n),
                source=Source.API,
                body={"eventName": "pe1_x", "n": n},
                violations=[
                    Violation(
                        field="eventName",
                        rule=Rule.DUPLICATE_UUID if n == 3 else Rule.UNKNOWN_EVENT,
                        message="no",
                    )
                ],
            )
            for n in range(5)
        ]
    )
    some = list(db.completions.scan(CompletionSelection(newest_first=False)))[:4]
    with db.transaction() as unit:
        db.outbox.add([outbox_entry(c) for c in some])
        unit.commit()
    db.outbox.settle([], {some[1].id: "400: no such event"})
    return services


def everything(db: Database) -> dict[str, Any]:
    """All that a database tells through its ports."""
    outbox = db.outbox.counts()
    return {
        "portal": db.portal,
        "bound": db.rejections.bound,
        "definitions": db.definitions.list_all(),
        "deleted": list(db.definitions.deleted_ids().items()),
        "next definition id": db.definitions.next_id(),
        "records": {t: db.records.list_records(t) for t in ObjectType},
        "next record ids": {t: db.records.next_id(t) for t in ObjectType},
        "associations": db.records.all_associations(),
        "associations of each contact": [
            db.records.associations(ObjectType.CONTACT, r.id)
            for r in db.records.list_records(ObjectType.CONTACT)
        ],
        "workflows": db.workflows.list_workflows(),
        "enrollments": db.workflows.list_enrollments(None),
        "tasks": db.workflows.all_tasks(),
        "completions": list(db.completions.scan(CompletionSelection(newest_first=False))),
        "summaries": db.completions.summaries(),
        "record summaries": db.completions.record_summaries(),
        "rejected": db.rejections.list_all(),
        "owed": db.outbox.owed(100),
        "refused": db.outbox.refused(),
        "outbox counts": (outbox.owed, outbox.refused),
    }


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    opened: list[Services] = []

    def make(adapter: str, name: str, portal_id: int = PORTAL_ID) -> Services:
        built = services_on(adapter, tmp_path / name, FixedClock(NOW), portal_id)
        opened.append(built)
        return built

    yield make
    for services in opened:
        services.close()


@pytest.mark.parametrize(("source_adapter", "destination_adapter"), PAIRS)
def test_a_copy_reads_back_the_same_as_its_source_and_is_verified(
    make: Any, source_adapter: str, destination_adapter: str
) -> None:
    source = _filled(make(source_adapter, "a")).db
    before = everything(source)
    destination = make(destination_adapter, "b", portal_id=99).db
    seen: list[tuple[str, int, int]] = []

    report = copy_portal(source, destination, batch=7, progress=lambda *p: seen.append(p))

    assert everything(destination) == before
    assert everything(source) == before  # the source untouched
    assert report.verified and not report.resumed
    counts = {c.kind: c for c in report.counts}
    assert [c.kind for c in report.counts] == list(KINDS)
    assert all(c.source == c.destination == c.copied for c in report.counts)
    assert min(c.source for c in report.counts) > 0, "every kind was there to copy"
    stored = len(before["completions"])
    assert counts[COMPLETIONS].copied == stored
    assert (COMPLETIONS, stored, stored) in seen


def test_copying_again_into_a_finished_copy_writes_nothing(make: Any) -> None:
    source = _filled(make("tiny", "a")).db
    destination = make("tiny", "b").db
    copy_portal(source, destination)

    again = copy_portal(source, destination)

    assert again.verified and again.resumed and again.copied == 0
    assert everything(destination) == everything(source)


class _Stop(Exception):
    pass


def test_a_copy_stopped_after_some_batches_is_finished_by_the_next_run(make: Any) -> None:
    source = _filled(make("tiny", "a")).db
    destination = make("tiny", "b").db

    def stop_at_120(kind: str, done: int, total: int) -> None:
        if kind == COMPLETIONS and done >= 120:
            raise _Stop

    with pytest.raises(_Stop):
        copy_portal(source, destination, batch=40, progress=stop_at_120)
    assert portal_counts(destination)[COMPLETIONS] == 120

    report = copy_portal(source, destination, batch=40)

    assert report.verified and report.resumed
    stored = portal_counts(source)[COMPLETIONS]
    assert {c.kind: c.copied for c in report.counts}[COMPLETIONS] == stored - 120
    assert everything(destination) == everything(source)


def test_a_batch_that_fails_half_written_is_written_whole_by_the_next_run(make: Any) -> None:
    source = _filled(make("tiny", "a")).db
    destination = make("tiny", "b").db
    append = destination.completions.append
    calls = iter(range(100))

    def failing_append(completions: Any) -> None:
        append(completions)  # held by the unit, which the failure rolls back
        if next(calls) == 2:
            raise OSError("the disk went away")

    destination.completions.append = failing_append
    with pytest.raises(OSError):
        copy_portal(source, destination, batch=50)
    del destination.completions.append
    assert portal_counts(destination)[COMPLETIONS] == 100

    assert copy_portal(source, destination, batch=50).verified
    assert everything(destination) == everything(source)


def test_a_destination_with_another_portals_data_is_refused_untouched(make: Any) -> None:
    source = _filled(make("tiny", "a")).db
    other = make("tiny", "b", portal_id=555).db
    build_demo(other, DemoSpec(contacts=3, completions=10, days=2), NOW)
    before = everything(other)

    with pytest.raises(CopyRefused, match="portal 555's data, not portal 12345678's"):
        copy_portal(source, other)
    assert everything(other) == before


def test_another_database_of_the_same_portal_id_is_refused(make: Any) -> None:
    source = _filled(make("tiny", "a")).db
    twin = make("memory", "b").db
    build_demo(twin, DemoSpec(contacts=3, completions=10, days=2), NOW)

    with pytest.raises(CopyRefused, match="another database with this portal id"):
        copy_portal(source, twin)


def test_a_finished_copy_that_was_then_used_is_refused(make: Any) -> None:
    source = _filled(make("tiny", "a")).db
    destination = make("tiny", "b").db
    copy_portal(source, destination)
    newest = next(destination.completions.scan(CompletionSelection()))
    later = newest.model_copy(
        update={"id": "new", "uuid": "new", "occurred_at": newest.occurred_at + timedelta(hours=1)}
    )
    destination.completions.append([later])

    with pytest.raises(CopyRefused, match="completion new, which the source does not have"):
        copy_portal(source, destination)


def test_a_copy_whose_source_changed_a_record_since_is_refused(make: Any) -> None:
    services = _filled(make("tiny", "a"))
    destination = make("tiny", "b").db
    copy_portal(services.db, destination)
    contact = services.db.records.list_records(ObjectType.CONTACT)[0]
    services.db.records.replace(contact.model_copy(update={"properties": {"email": "x@y.z"}}))

    with pytest.raises(CopyRefused, match=r"contacts that differ from the source's \('1'\)"):
        copy_portal(services.db, destination)
