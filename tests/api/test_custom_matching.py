"""``customMatchingId`` over HubSpot's API: kept on the definition, applied on send, traced."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.services import Services

RULE = {
    "primaryObjectRule": {
        "eventPropertyName": "member_id",
        "targetObjectPropertyName": "crm_member",
    }
}


def test_a_definition_keeps_it_and_a_send_is_matched_by_it(
    http: TestClient, services: Services
) -> None:
    created = http.post(
        "/events/v3/event-definitions",
        json={
            "label": "Signed in",
            "name": "signed_in",
            "includeDefaultProperties": True,
            "propertyDefinitions": [{"name": "member_id", "label": "Member", "type": "string"}],
            "customMatchingId": RULE,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["customMatchingId"] == RULE
    event = created.json()["fullyQualifiedName"]
    assert http.get("/events/v3/event-definitions/signed_in").json()["customMatchingId"] == RULE
    listed = http.get("/events/v3/event-definitions").json()["results"]
    assert listed[0]["customMatchingId"] == RULE

    member = http.post(
        "/crm/v3/objects/contacts", json={"properties": {"crm_member": "M-42"}}
    ).json()
    sent = http.post(
        "/events/v3/send",
        json={"eventName": event, "uuid": "u-1", "properties": {"member_id": "M-42"}},
    )
    assert sent.status_code == 204, sent.text

    traced = http.get("/cbe/v1/trace/u-1").json()["completions"][0]
    assert traced["match"]["by"] == "customMatchingId"
    assert traced["timeline"]["objectId"] == member["id"]
    page = http.get(
        "/events/v3/events", params={"objectType": "contact", "objectId": member["id"]}
    ).json()
    assert [e["properties"]["member_id"] for e in page["results"]] == ["M-42"]


def test_a_rule_naming_no_property_of_the_event_is_a_400(http: TestClient) -> None:
    refused = http.post(
        "/events/v3/event-definitions",
        json={
            "label": "Signed in",
            "includeDefaultProperties": False,
            "propertyDefinitions": [],
            "customMatchingId": RULE,
        },
    )
    assert refused.status_code == 400
    assert (
        refused.json()["errors"][0]["in"] == "customMatchingId.primaryObjectRule.eventPropertyName"
    )
    assert refused.json()["errors"][0]["code"] == "UNKNOWN_PROPERTY"


def test_without_it_a_definition_says_nothing_of_it(http: TestClient) -> None:
    created = http.post(
        "/events/v3/event-definitions",
        json={"label": "Plain", "includeDefaultProperties": True, "propertyDefinitions": []},
    )
    assert "customMatchingId" not in created.json()
