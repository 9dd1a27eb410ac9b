"""Acceptance as HubSpot does it (``Mode.HUBSPOT``, the default of ``cbe serve``): what HubSpot
checks at once is refused with every rule; what it settles after accepting (which record, a
repeated uuid) never fails the request (issue 15, design.md "Two answers to a send")."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import Rule, ValidationFailed
from core.ingestion import Mode
from core.models import Completion, CrmRecord, EventDefinition, Match, ObjectType, Source
from core.services import Services
from tests.core.conftest import assert_nothing_stored, body, stored, violations_of
from tests.sending import send_maybe, send_one


def hubspot(services: Services, request: dict[str, Any]) -> Completion | None:
    return send_maybe(services.ingestion, request, hubspot_body=True, mode=Mode.HUBSPOT)


def test_how_the_record_was_matched_is_kept(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    assert contact.email and contact.utk
    sends = [{"objectId": contact.id}, {"email": contact.email}, {"utk": contact.utk}]
    got = [hubspot(services, body(viewed_car, properties={}, **s)) for s in sends]
    assert [(c.object_id, c.matched_by) for c in got if c] == [
        (contact.id, Match.OBJECT_ID),
        (contact.id, Match.EMAIL),
        (contact.id, Match.UTK),
    ]
    assert all(c.matched_by for c in stored(services))  # and read back so


@pytest.mark.parametrize(
    ("identity", "kept"),
    [
        ({"objectId": "999"}, {"unmatched_object_id": "999"}),
        ({"email": "new@example.com"}, {"email": "new@example.com"}),
        ({"utk": "utk-stranger"}, {"utk": "utk-stranger"}),
    ],
    ids=["objectId", "email", "utk"],
)
def test_a_record_that_does_not_exist_keeps_the_completion_unassociated(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    identity: dict[str, str],
    kept: dict[str, str],
) -> None:
    completion = hubspot(services, body(viewed_car, properties={"make": "VW"}, **identity))
    assert completion is not None
    assert completion.object_id is None
    assert completion.matched_by is Match.NONE
    for name, value in kept.items():
        assert getattr(completion, name) == value
    assert stored(services) == [completion]
    assert services.records.search(ObjectType.CONTACT) == [contact]  # no contact made


def test_strict_still_refuses_a_record_that_does_not_exist(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion,
            body(viewed_car, properties={}, email="new@example.com"),
            mode=Mode.STRICT,
        )
    assert violations_of(error) == [("email", "UNKNOWN_EMAIL")]
    assert_nothing_stored(services)


def test_what_hubspot_checks_at_once_is_still_every_rule_and_nothing_stored(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    request = body(
        viewed_car,
        email="new@example.com",  # settled later: no violation of its own
        occurredAt="yesterday",
        properties={"make": "x" * 257, "colour_of_sky": "blue"},
    )
    with pytest.raises(ValidationFailed) as error:
        hubspot(services, request)
    assert violations_of(error) == [
        ("occurredAt", "INVALID_OCCURRED_AT"),
        ("properties.make", "VALUE_TOO_LONG"),
        ("properties.colour_of_sky", "UNKNOWN_PROPERTY"),
    ]
    assert_nothing_stored(services)
    with pytest.raises(ValidationFailed) as missing:
        hubspot(services, body(viewed_car, properties={}))
    assert violations_of(missing) == [("objectId", "MISSING_IDENTITY")]
    with pytest.raises(ValidationFailed) as not_an_address:
        hubspot(services, body(viewed_car, properties={}, email="not an address"))
    assert [r for _, r in violations_of(not_an_address)] == ["INVALID_EMAIL"]


def test_an_unknown_record_no_longer_fails_a_batch(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    inputs = [body(viewed_car, properties={}, objectId=contact.id) for _ in range(499)]
    inputs.insert(250, body(viewed_car, properties={}, email="nobody@example.com"))
    done = services.ingestion.send_batch(
        {"inputs": inputs}, Source.API, hubspot_body=True, mode=Mode.HUBSPOT
    )
    assert len(done) == 500 == len(stored(services))
    assert done[250].object_id is None and done[250].email == "nobody@example.com"


def test_a_repeated_uuid_is_accepted_and_stored_once(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    request = body(viewed_car, objectId=contact.id, uuid="u-1", properties={"make": "VW"})
    first = hubspot(services, request)
    assert first is not None
    assert hubspot(services, request) is None  # the retry: accepted, not stored again
    assert stored(services) == [first]
    (kept,) = services.rejections.list()  # the retry is in the quarantine, with why
    assert [v.rule for v in kept.violations] == [Rule.DUPLICATE_UUID]
    assert kept.body == request


def test_a_batch_retried_after_a_timeout_is_stored_once(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    inputs = [body(viewed_car, objectId=contact.id, uuid=f"u-{i}", properties={}) for i in range(3)]
    first = services.ingestion.send_batch({"inputs": inputs[:2]}, mode=Mode.HUBSPOT)
    again = services.ingestion.send_batch({"inputs": inputs}, mode=Mode.HUBSPOT)
    assert [c.uuid for c in first] == ["u-0", "u-1"] and [c.uuid for c in again] == ["u-2"]
    assert sorted(c.uuid for c in stored(services)) == ["u-0", "u-1", "u-2"]
    (kept,) = services.rejections.list()
    assert kept.batch and kept.body == {"inputs": inputs[:2]}
    assert [v.field for v in kept.violations] == ["inputs[0].uuid", "inputs[1].uuid"]


def test_the_same_uuid_twice_in_one_batch_is_stored_once(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    twice = body(viewed_car, objectId=contact.id, uuid="u-2", properties={})
    done = services.ingestion.send_batch({"inputs": [twice, twice]}, mode=Mode.HUBSPOT)
    assert len(done) == 1 and stored(services) == done


def test_a_repeated_uuid_with_a_broken_rule_is_refused_with_both(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    hubspot(services, body(viewed_car, objectId=contact.id, uuid="u-3", properties={}))
    with pytest.raises(ValidationFailed) as error:
        hubspot(services, body(viewed_car, objectId=contact.id, uuid="u-3", properties={"x": 1}))
    assert violations_of(error) == [
        ("properties.x", "UNKNOWN_PROPERTY"),
        ("uuid", "DUPLICATE_UUID"),
    ]


def test_the_verdict_still_answers_everything(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    hubspot(services, body(viewed_car, objectId=contact.id, uuid="u-4", properties={}))
    verdict = services.ingestion.validate(
        {
            "inputs": [
                body(viewed_car, objectId=contact.id, uuid="u-4", properties={}),
                body(viewed_car, email="new@example.com", properties={}),
            ]
        },
        hubspot_body=True,
    )
    assert [[v.rule for v in r.violations] for r in verdict.rejected] == [
        [Rule.DUPLICATE_UUID],
        [Rule.UNKNOWN_EMAIL],
    ]


def test_a_kept_retry_leaves_the_quarantine_on_replay_without_a_second_copy(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    request = body(viewed_car, objectId=contact.id, uuid="u-5", properties={})
    hubspot(services, request)
    hubspot(services, request)
    report = services.rejections.replay()
    assert report.failed == [] and [n for _, n in report.passed] == [0]
    assert services.rejections.list() == []
    assert len(stored(services)) == 1
