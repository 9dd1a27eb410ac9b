"""Rejected, not lost: what the strict path refuses is kept, bounded, and can be replayed."""

from __future__ import annotations

import pytest

from core.errors import Rule, ValidationFailed
from core.ingestion import Mode
from core.models import CrmRecord, EventDefinition, Source
from core.occurrences import CompletionQuery
from core.services import Services
from tests.conftest import NOW
from tests.core.conftest import contact_send, stored
from tests.sending import send_one


def test_a_refused_send_is_kept_with_its_body_violations_source_and_time(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    body = contact_send(viewed_car, contact, condition="mint", year="old")
    with pytest.raises(ValidationFailed):
        send_one(services.ingestion, body)
    [kept] = services.rejections.list()
    assert kept.body == body and kept.batch is False
    assert kept.source is Source.API
    assert kept.received_at == NOW
    assert [v.rule for v in kept.violations] == [Rule.INVALID_NUMBER]
    assert kept.event_names == [viewed_car.fully_qualified_name]


def test_a_refused_batch_is_kept_whole_and_an_import_line_by_line(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    good, bad = contact_send(viewed_car, contact), contact_send(viewed_car, contact, year="old")
    with pytest.raises(ValidationFailed):
        services.ingestion.send_batch({"inputs": [good, bad]})
    with pytest.raises(ValidationFailed):
        services.ingestion.send_batch({"inputs": "everything"})
    result = services.ingestion.ingest(
        [good, bad, bad], Mode.STRICT, Source.IMPORT, all_or_nothing=False
    )
    assert len(result.stored) == 1
    newest_first = services.rejections.list()
    assert [(r.batch, r.source) for r in newest_first] == [
        (False, Source.IMPORT),
        (False, Source.IMPORT),
        (True, Source.API),
        (True, Source.API),
    ]
    assert newest_first[-1].body == {"inputs": [good, bad]}
    assert newest_first[-1].violations[0].field == "inputs[1].properties.year"
    assert newest_first[-2].violations[0].rule is Rule.REQUIRED
    assert newest_first[0].body == bad


def test_lenient_refusals_and_verdicts_are_not_kept(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    bad = contact_send(viewed_car, contact, year="old")
    services.ingestion.ingest([{"eventName": "nope"}], Mode.LENIENT, Source.JS)
    assert not services.ingestion.validate(bad).valid
    assert services.rejections.list() == []


@pytest.mark.adapters("tiny")  # reads the files
def test_the_oldest_go_first_past_the_bound(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    services.rejections.set_bound(3)
    for year in range(40):
        with pytest.raises(ValidationFailed):
            send_one(services.ingestion, contact_send(viewed_car, contact, year=f"year {year}"))
    kept = services.rejections.list()
    assert [r.body["properties"]["year"] for r in kept] == ["year 39", "year 38", "year 37"]
    assert services.rejections.bound == 3
    lines = (services.db.rejections.path).read_bytes().count(b"\n")  # type: ignore[attr-defined]
    assert lines <= 3 + 16  # the file is compacted, not left to grow
    with pytest.raises(ValueError):
        services.rejections.set_bound(0)


def test_replay_stores_what_now_passes_and_keeps_what_still_fails(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    mint = contact_send(viewed_car, contact, colour="red")  # no such property yet
    old = contact_send(viewed_car, contact, year="old")
    for body in (mint, old):
        with pytest.raises(ValidationFailed):
            send_one(services.ingestion, body)
    with pytest.raises(ValidationFailed):
        services.ingestion.send_batch({"inputs": [mint, mint]})
    assert services.rejections.replay().passed == []  # nothing changed: nothing passes
    assert len(services.rejections.list()) == 3  # and nothing was kept twice

    services.definitions.add_property("viewed_car", {"label": "Colour", "type": "string"})
    report = services.rejections.replay()
    assert [(r.body, n) for r, n in report.passed] == [(mint, 1), ({"inputs": [mint, mint]}, 2)]
    assert [(r.body, [v.rule for v in vs]) for r, vs in report.failed] == [
        (old, [Rule.INVALID_NUMBER])
    ]
    assert report.summary() == "2 requests now pass (3 completions stored); 1 still breaks a rule."
    assert [r.body for r in services.rejections.list()] == [old]
    assert len(stored(services)) == 3
    assert services.rejections.clear() == 1
    assert services.rejections.replay().summary() == "Nothing to replay."


def test_a_test_runs_tag_is_kept_and_a_replay_stores_with_it(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    colour = contact_send(viewed_car, contact, colour="red")  # no such property yet
    with pytest.raises(ValidationFailed):
        send_one(services.ingestion, colour, tag="run-1")
    with pytest.raises(ValidationFailed):
        services.ingestion.send_batch({"inputs": [colour, colour]}, tag="run-2")
    with pytest.raises(ValidationFailed):
        services.ingestion.send_batch({"inputs": "everything"}, tag="run-3")
    with pytest.raises(ValidationFailed):
        services.ingestion.send_batch({"inputs": [colour] * 501}, tag="run-4")  # too many
    lines = [colour, contact_send(viewed_car, contact)]
    services.ingestion.ingest(
        lines, Mode.STRICT, Source.IMPORT, all_or_nothing=False, tags=["run-5", "run-6"]
    )
    with pytest.raises(ValidationFailed):
        send_one(services.ingestion, colour)  # no run
    assert [r.tag for r in services.rejections.list()] == [
        None,
        "run-5",
        "run-4",
        "run-3",
        "run-2",
        "run-1",
    ]

    services.definitions.add_property("viewed_car", {"label": "Colour", "type": "string"})
    services.rejections.replay()
    tags = [c.tag for c in services.occurrences.iterate(CompletionQuery())]
    assert sorted(tags, key=str) == sorted(
        ["run-6", None, "run-5", "run-2", "run-2", "run-1"], key=str
    )


def test_any_json_body_is_kept_and_listed(services: Services) -> None:
    for body in ("text", 3, None, ["a", 1], {"inputs": ["a", {"eventName": 7}]}):
        with pytest.raises(ValidationFailed):
            if isinstance(body, dict):
                services.ingestion.send_batch(body)
            else:
                send_one(services.ingestion, body)
    kept = services.rejections.list()
    assert len(kept) == 5 and all(r.event_names == [] for r in kept)
    assert services.rejections.list("pe1_anything") == []
