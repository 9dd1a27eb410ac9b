"""What a HubSpot client sees from cbe where HubSpot's spec or the seed article settles it
(docs/hubspot-fidelity.md lists each behaviour and its source), in process."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from core.models import CrmRecord, EventDefinition
from core.occurrences import CompletionQuery
from core.services import Services
from tests.conftest import PORTAL_ID

DEFINITIONS = "/events/v3/event-definitions"


def _errors(response: Any) -> set[tuple[str, str]]:
    return {(e["in"], e["code"]) for e in response.json()["errors"]}


class TestUrlValueLimit:
    """The seed article: URL and referrer values up to 1,024 characters, all others 256."""

    def test_only_url_and_referrer_properties_take_1024(
        self, http: TestClient, contact: CrmRecord
    ) -> None:
        names = ["surly_mood", "blinker", "purl", "page_url", "first_referrer"]
        created = http.post(
            DEFINITIONS,
            json={
                "label": "Moody",
                "includeDefaultProperties": True,
                "propertyDefinitions": [{"name": n, "label": n, "type": "string"} for n in names],
            },
        )
        assert created.status_code == 201, created.text
        event = created.json()["fullyQualifiedName"]
        too_long = http.post(
            "/events/v3/send",
            json={
                "eventName": event,
                "objectId": contact.id,
                "properties": dict.fromkeys(names, "x" * 300) | {"hs_page_url": "u" * 1024},
            },
        )
        assert too_long.status_code == 400
        errors = too_long.json()["errors"]
        assert {(e["in"], e["code"]) for e in errors} == {
            ("properties.surly_mood", "VALUE_TOO_LONG"),
            ("properties.blinker", "VALUE_TOO_LONG"),
            ("properties.purl", "VALUE_TOO_LONG"),
        }
        assert {e["context"]["limit"][0] for e in errors} == {"256"}
        fine = http.post(
            "/events/v3/send",
            json={
                "eventName": event,
                "objectId": contact.id,
                "properties": {
                    "page_url": "u" * 1024,
                    "first_referrer": "r" * 1024,
                    "hs_referrer": "r" * 1024,
                    "surly_mood": "m" * 256,
                },
            },
        )
        assert fine.status_code == 204, fine.text


def _stored(services: Services) -> int:
    return sum(1 for _ in services.occurrences.iterate(CompletionQuery()))


class TestFullyQualifiedEventName:
    """HubSpot's send spec: ``eventName`` is "The event's fully qualified name"."""

    def test_the_internal_name_alone_is_a_400_on_send_and_batch(
        self, http: TestClient, services: Services, viewed_car: EventDefinition, contact: CrmRecord
    ) -> None:
        body = {"eventName": "viewed_car", "objectId": contact.id, "properties": {}}
        one = http.post("/events/v3/send", json=body)
        assert one.status_code == 400
        assert _errors(one) == {("eventName", "UNKNOWN_EVENT")}
        assert f"send the fully qualified name pe{PORTAL_ID}_viewed_car" in one.text
        batch = http.post("/events/v3/send/batch", json={"inputs": [body]})
        assert batch.status_code == 400
        assert _errors(batch) == {("inputs[0].eventName", "UNKNOWN_EVENT")}
        other_portal = {**body, "eventName": "pe999_viewed_car"}
        assert http.post("/events/v3/send", json=other_portal).status_code == 400
        assert _stored(services) == 0
        fqn = {**body, "eventName": viewed_car.fully_qualified_name}
        assert http.post("/events/v3/send", json=fqn).status_code == 204
        assert _stored(services) == 1

    def test_the_collector_does_not_track_an_internal_name(
        self, http: TestClient, services: Services, viewed_car: EventDefinition
    ) -> None:
        answer = http.post(
            "/cbe/v1/collect",
            content='{"eventName": "viewed_car", "utk": "u1", "properties": {"make": "Kia"}}',
            headers={"Content-Type": "text/plain"},
        )
        assert answer.status_code == 200
        assert answer.json()["stored"] == []
        [refused] = answer.json()["rejected"]
        assert refused["code"] == "UNKNOWN_EVENT"
        assert f"pe{PORTAL_ID}_viewed_car" in refused["message"]
        gif = http.get("/__ptbe.gif", params={"n": "viewed_car", "u": "u1", "_make": "Kia"})
        assert gif.headers["content-type"] == "image/gif"
        assert _stored(services) == 0
        tracked = http.get("/__ptbe.gif", params={"n": viewed_car.fully_qualified_name, "u": "u1"})
        assert tracked.status_code == 200
        assert _stored(services) == 1

    def test_the_tracking_code_warns_of_a_name_that_is_not_fully_qualified(
        self, http: TestClient
    ) -> None:
        script = http.get("/tracking.js").text
        assert f"var PORTAL_ID = {PORTAL_ID};" in script
        assert 'String(event.name).indexOf("pe" + PORTAL_ID + "_") !== 0' in script
        assert "is not a fully qualified event name" in script


class TestSendBodyProperties:
    """HubSpot's send spec lists ``properties`` among the required fields of a send body."""

    def test_a_send_without_properties_is_a_400_and_empty_properties_are_fine(
        self, http: TestClient, services: Services, viewed_car: EventDefinition, contact: CrmRecord
    ) -> None:
        bare = {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id}
        one = http.post("/events/v3/send", json=bare)
        assert one.status_code == 400
        assert _errors(one) == {("properties", "REQUIRED")}
        batch = http.post("/events/v3/send/batch", json={"inputs": [bare]})
        assert _errors(batch) == {("inputs[0].properties", "REQUIRED")}
        null = http.post("/events/v3/send", json={**bare, "properties": None})
        assert _errors(null) == {("properties", "INVALID_TYPE")}
        assert _stored(services) == 0
        assert http.post("/events/v3/send", json={**bare, "properties": {}}).status_code == 204
        assert _stored(services) == 1
