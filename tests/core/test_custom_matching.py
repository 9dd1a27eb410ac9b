"""``customMatchingId``: a definition that matches completions to records by a value.

HubSpot's definitions spec (``ExternalObjectResolutionMappingRequest``): ``primaryObjectRule``
with ``eventPropertyName`` and ``targetObjectPropertyName``; the record of the event's object
whose target property equals the completion's event property is the completion's record, before
objectId, email and utk.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli.bootstrap import open_services
from core.errors import Rule, ValidationFailed
from core.hubspot import definition_to_hubspot, draft_from_hubspot
from core.ingestion import Mode
from core.models import Completion, CrmRecord, EventDefinition, Match, ObjectType
from core.services import Services
from core.trace import trace
from tests.core.conftest import assert_nothing_stored, body, only_violation, violations_of
from tests.sending import send_one

RULE = {
    "primaryObjectRule": {
        "eventPropertyName": "member_id",
        "targetObjectPropertyName": "crm_member",
    }
}


@pytest.fixture
def signed_in(services: Services) -> EventDefinition:
    return services.definitions.create(
        {
            "label": "Signed in",
            "name": "signed_in",
            "includeDefaultProperties": True,
            "propertyDefinitions": [{"name": "member_id", "label": "Member", "type": "string"}],
            "customMatchingId": RULE,
        },
        hubspot_body=True,
    )


@pytest.fixture
def member(services: Services) -> CrmRecord:
    return services.records.create(
        ObjectType.CONTACT, {"email": "mia@example.com", "crm_member": "M-42"}
    )


def _send(services: Services, request: dict[str, Any], mode: Mode = Mode.HUBSPOT) -> Completion:
    completion = send_one(services.ingestion, request, hubspot_body=True, mode=mode)
    assert completion is not None
    return completion


@pytest.mark.adapters("tiny")  # reopens the folder
def test_the_definition_keeps_it_in_storage_and_in_hubspots_shape(
    services: Services, signed_in: EventDefinition, db_path: Any
) -> None:
    assert signed_in.custom_matching_id is not None
    rule = signed_in.custom_matching_id.primary_object_rule
    assert (rule.event_property_name, rule.target_object_property_name) == (
        "member_id",
        "crm_member",
    )
    services.close()
    reopened = open_services(db_path)
    try:
        again = reopened.definitions.get("signed_in")
    finally:
        reopened.close()
    assert definition_to_hubspot(again)["customMatchingId"] == RULE
    # `cbe definitions export` writes that shape; `import` reads it back with the rule
    assert draft_from_hubspot(definition_to_hubspot(again))["customMatchingId"] == RULE
    # and a definition without one says nothing of it, as before
    plain = signed_in.model_copy(update={"custom_matching_id": None})
    assert "customMatchingId" not in definition_to_hubspot(plain)


def test_a_rule_must_name_a_property_of_the_event_and_both_fields(services: Services) -> None:
    create = {
        "label": "Logged in",
        "includeDefaultProperties": False,
        "propertyDefinitions": [{"name": "member_id", "label": "Member", "type": "string"}],
    }
    with pytest.raises(ValidationFailed) as unknown:
        services.definitions.create(
            {
                **create,
                "customMatchingId": {
                    "primaryObjectRule": {
                        "eventPropertyName": "hs_city",  # a default, but it has none
                        "targetObjectPropertyName": "crm_member",
                    }
                },
            }
        )
    assert violations_of(unknown) == [
        ("customMatchingId.primaryObjectRule.eventPropertyName", Rule.UNKNOWN_PROPERTY.value)
    ]
    with pytest.raises(ValidationFailed) as missing:
        services.definitions.create(
            {
                **create,
                "customMatchingId": {"primaryObjectRule": {"eventPropertyName": "member_id"}},
            }
        )
    assert only_violation(missing).rule is Rule.REQUIRED
    assert "targetObjectPropertyName" in only_violation(missing).field


def test_a_completion_is_matched_by_the_value_before_any_other_identity(
    services: Services, signed_in: EventDefinition, member: CrmRecord, contact: CrmRecord
) -> None:
    sent = body(signed_in, email=contact.email, properties={"member_id": "M-42"})
    completion = _send(services, sent)
    assert completion.object_id == member.id  # not the contact the email names
    assert completion.matched_by is Match.CUSTOM_MATCHING_ID

    shown = trace(services.db, completion.uuid).to_json()["completions"][0]
    assert shown["match"]["by"] == "customMatchingId"
    assert shown["match"]["sent"] == "M-42"
    assert "its crm_member equals the event's member_id 'M-42'" in shown["match"]["detail"]
    assert shown["timeline"]["objectId"] == member.id
    lines = trace(services.db, completion.uuid).lines()
    assert any("by customMatchingId" in line for line in lines), lines


def test_a_value_no_record_holds_leaves_it_to_the_other_identities(
    services: Services, signed_in: EventDefinition, member: CrmRecord, contact: CrmRecord
) -> None:
    sent = body(signed_in, email=contact.email, properties={"member_id": "M-404"})
    completion = _send(services, sent)
    assert (completion.object_id, completion.matched_by) == (contact.id, Match.EMAIL)
    # and a send without the event property is matched as usual
    plain = _send(services, body(signed_in, objectId=member.id, properties={}))
    assert (plain.object_id, plain.matched_by) == (member.id, Match.OBJECT_ID)


def test_the_value_alone_is_an_identity_kept_unassociated_when_it_matches_nobody(
    services: Services, signed_in: EventDefinition, member: CrmRecord
) -> None:
    completion = _send(services, body(signed_in, properties={"member_id": "M-404"}))
    assert (completion.object_id, completion.matched_by) == (None, Match.NONE)
    shown = trace(services.db, completion.uuid).to_json()["completions"][0]["match"]
    assert shown["by"] == "none"
    assert "No contact had crm_member 'M-404'" in shown["detail"]


def test_strict_refuses_a_value_that_matches_nobody(
    services: Services, signed_in: EventDefinition, member: CrmRecord
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        send_one(
            services.ingestion,
            body(signed_in, properties={"member_id": "M-404"}),
            hubspot_body=True,
            mode=Mode.STRICT,
        )
    assert violations_of(refused) == [("properties.member_id", Rule.UNKNOWN_OBJECT.value)]
    assert_nothing_stored(services)
    matched = _send(services, body(signed_in, properties={"member_id": "M-42"}), Mode.STRICT)
    assert matched.object_id == member.id


def test_a_batch_matches_each_input_by_its_value(
    services: Services, signed_in: EventDefinition, member: CrmRecord
) -> None:
    other = services.records.create(ObjectType.CONTACT, {"crm_member": "M-7"})
    services.records.create(ObjectType.CONTACT, {"crm_member": "M-7"})  # a later namesake
    services.ingestion.send_batch(
        {
            "inputs": [
                body(signed_in, properties={"member_id": v}, uuid=f"u-{v}")
                for v in ("M-42", "M-7", "M-42")
            ]
        },
        hubspot_body=True,
        mode=Mode.HUBSPOT,
    )
    matched = [services.db.completions.find(f"u-{v}")[0].object_id for v in ("M-42", "M-7")]
    assert matched == [member.id, other.id]  # the oldest record holding the value


def test_the_matching_property_cannot_be_deleted(
    services: Services, signed_in: EventDefinition
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.definitions.delete_property("signed_in", "member_id")
    assert only_violation(refused).rule is Rule.IMMUTABLE
    assert services.definitions.get("signed_in").custom_property("member_id") is not None


def test_a_plan_carries_it_and_refuses_to_change_it(
    services: Services, signed_in: EventDefinition, tmp_path: Any
) -> None:
    plan = json.loads(services.plans.export())
    assert plan["events"][0]["customMatchingId"] == RULE

    other = open_services(tmp_path / "other")
    try:
        other.plans.apply(plan)
        assert definition_to_hubspot(other.definitions.get("signed_in"))["customMatchingId"] == RULE
    finally:
        other.close()

    plan["events"][0]["customMatchingId"]["primaryObjectRule"]["targetObjectPropertyName"] = "x"
    with pytest.raises(ValidationFailed) as refused:
        services.plans.diff(plan)
    assert only_violation(refused).rule is Rule.IMMUTABLE
