"""``POST /cbe/v1/validate``: the synchronous verdict HubSpot's asynchronous API does not give."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.api.conftest import TEST_HOSTS, TOKEN


def test_a_valid_body_is_answered_with_the_completion_it_would_store(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    body = {
        "eventName": viewed_car.fully_qualified_name,
        "email": contact.email,
        "occurredAt": "2026-10-01T10:00:00+02:00",
        "properties": {"make": "Volvo", "condition": "used"},
    }
    response = http.post("/cbe/v1/validate", json=body)
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["valid"] is True and verdict["batch"] is False
    assert verdict["message"] == "Valid: the completion would be stored."
    [result] = verdict["results"]
    assert result["index"] == 0 and result["valid"] is True
    completion = result["completion"]
    assert completion["objectId"] == contact.id
    assert completion["occurredAt"] == "2026-10-01T08:00:00.000Z"
    assert completion["properties"] == {"make": "Volvo", "condition": "used"}
    assert http.get("/events/v3/events").json()["results"] == []  # nothing stored


def test_every_broken_rule_is_named_in_hubspots_error_form(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    response = http.post(
        "/cbe/v1/validate",
        json={
            "inputs": [
                {
                    "eventName": viewed_car.fully_qualified_name,
                    "objectId": contact.id,
                    "properties": {},
                },
                {
                    "eventName": viewed_car.fully_qualified_name,
                    "objectId": contact.id,
                    "properties": {"year": "soon", "make": "x" * 257},
                },
            ]
        },
    )
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["valid"] is False and verdict["batch"] is True
    assert verdict["message"].startswith("Invalid: 1 of 2 inputs break a rule")
    ok, bad = verdict["results"]
    assert ok["valid"] is True and "completion" in ok
    assert {(e["code"], e["in"]) for e in bad["errors"]} == {
        ("INVALID_NUMBER", "inputs[1].properties.year"),
        ("VALUE_TOO_LONG", "inputs[1].properties.make"),
    }
    too_long = next(e for e in bad["errors"] if e["code"] == "VALUE_TOO_LONG")
    assert too_long["context"]["limit"] == ["256"] and too_long["context"]["actual"] == ["257"]
    assert http.get("/events/v3/events").json()["results"] == []


def test_a_body_that_is_no_batch_is_a_whole_body_error(http: TestClient) -> None:
    verdict = http.post("/cbe/v1/validate", json={"inputs": 3}).json()
    assert verdict["valid"] is False and verdict["results"] == []
    assert [e["code"] for e in verdict["errors"]] == ["REQUIRED"]
    not_an_object = http.post("/cbe/v1/validate", json=[1, 2]).json()
    assert not_an_object["valid"] is False
    assert not_an_object["results"][0]["errors"][0]["code"] == "INVALID_TYPE"


def test_validate_needs_the_token_and_is_documented(services: Services) -> None:
    with TestClient(create_app(services, TOKEN, allowed_hosts=TEST_HOSTS)) as client:
        assert client.post("/cbe/v1/validate", json={}).status_code == 401
        assert "/cbe/v1/validate" in client.get("/openapi.json").json()["paths"]
