"""``/cbe/v1/rejections``: refused requests kept, listed, replayed and cleared over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.models import CrmRecord, EventDefinition


def test_refused_sends_are_listed_then_replayed_once_the_definition_is_fixed(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    body = {
        "eventName": viewed_car.fully_qualified_name,
        "objectId": contact.id,
        "properties": {"colour": "red"},
    }
    assert http.post("/events/v3/send", json=body).status_code == 400
    assert http.post("/events/v3/send/batch", json={"inputs": [body] * 2}).status_code == 400
    listed = http.get("/cbe/v1/rejections").json()
    assert listed["total"] == 2 and listed["bound"] == 1000
    batch, single = listed["results"]
    assert single["body"] == body and single["batch"] is False and single["source"] == "api"
    assert single["errors"][0]["code"] == "UNKNOWN_PROPERTY"
    assert batch["batch"] is True and batch["errors"][0]["in"] == "inputs[0].properties.colour"
    assert http.get("/cbe/v1/rejections", params={"event": "pe1_nothing"}).json()["total"] == 0
    assert http.get("/cbe/v1/rejections", params={"limit": 1}).json()["results"] == [batch]

    still = http.post("/cbe/v1/rejections/replay").json()
    assert still["passed"] == [] and len(still["failed"]) == 2

    added = http.post(
        "/events/v3/event-definitions/viewed_car/property",
        json={"label": "Colour", "type": "string"},
    )
    assert added.status_code == 201
    replayed = http.post("/cbe/v1/rejections/replay").json()
    assert (
        replayed["message"] == "2 requests now pass (3 completions stored); 0 still break a rule."
    )
    assert http.get("/cbe/v1/rejections").json()["total"] == 0
    assert len(http.get("/events/v3/events").json()["results"]) == 3


def test_clearing_forgets_every_kept_request(http: TestClient, viewed_car: EventDefinition) -> None:
    http.post("/events/v3/send", json={"eventName": viewed_car.fully_qualified_name})
    assert http.get("/cbe/v1/rejections").json()["total"] == 1
    assert http.delete("/cbe/v1/rejections").status_code == 204
    assert http.get("/cbe/v1/rejections").json()["total"] == 0
