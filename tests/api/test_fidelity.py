"""What a HubSpot client sees from cbe where HubSpot's spec or the seed article settles it
(docs/hubspot-fidelity.md lists each behaviour and its source), in process."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from core.models import CrmRecord

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
