"""A verdict on demand: the strict rules applied to a body, nothing stored."""

from __future__ import annotations

from core.errors import Rule
from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.core.conftest import contact_send, stored
from tests.sending import send_one


def test_a_valid_send_says_what_would_be_stored_and_stores_nothing(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    verdict = services.ingestion.validate(
        contact_send(viewed_car, contact, make="Volvo", condition="new;bogus", year="2020")
    )
    assert verdict.valid and not verdict.batch
    [(index, completion)] = verdict.accepted
    assert index == 0
    assert completion.properties == {"make": "Volvo", "condition": "new;bogus", "year": 2020}
    assert completion.unusable == {"condition": ["bogus"]}  # kept, as the real send would
    assert verdict.summary() == "Valid: the completion would be stored."
    assert len(stored(services)) == 0


def test_an_invalid_send_gets_every_violation(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    verdict = services.ingestion.validate(
        contact_send(viewed_car, contact, make="x" * 300, year="soon", colour="red")
    )
    assert not verdict.valid and not verdict.accepted
    rules = {v.rule for v in verdict.rejected[0].violations}
    assert rules == {Rule.VALUE_TOO_LONG, Rule.INVALID_NUMBER, Rule.UNKNOWN_PROPERTY}
    assert verdict.summary() == "Invalid: 3 broken rules; nothing would be stored."
    assert len(stored(services)) == 0


def test_a_batch_is_judged_input_by_input(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    good = contact_send(viewed_car, contact, make="Kia")
    taken = {**good, "uuid": "u-1"}
    send_one(services.ingestion, taken)
    verdict = services.ingestion.validate(
        {"inputs": [good, {**good, "objectId": "999"}, taken, {**good, "uuid": "u-2"}]}
    )
    assert verdict.batch and not verdict.valid
    assert [i for i, _ in verdict.accepted] == [0, 3]
    assert {r.index: [v.rule for v in r.violations] for r in verdict.rejected} == {
        1: [Rule.UNKNOWN_OBJECT],
        2: [Rule.DUPLICATE_UUID],
    }
    assert verdict.rejected[0].violations[0].field == "inputs[1].objectId"
    assert "2 of 4 inputs break a rule" in verdict.summary()
    assert len(stored(services)) == 1  # only the one sent before


def test_an_unreadable_batch_is_a_problem_of_the_wholecontact_send(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    too_many = services.ingestion.validate({"inputs": [contact_send(viewed_car, contact)] * 501})
    assert [p.rule for p in too_many.problems] == [Rule.BATCH_TOO_LARGE]
    not_a_list = services.ingestion.validate({"inputs": "all of them"})
    assert [p.rule for p in not_a_list.problems] == [Rule.REQUIRED]
    assert not too_many.valid and not not_a_list.valid
    assert not_a_list.summary().startswith("The batch cannot be read:")
