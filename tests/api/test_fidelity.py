"""What a HubSpot client sees from cbe where HubSpot's spec or the seed article settles it
(docs/hubspot-fidelity.md lists each behaviour and its source), in process."""

from __future__ import annotations

from pathlib import Path
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
        assert _errors(null) == {("properties", "REQUIRED")}
        assert _stored(services) == 0
        assert http.post("/events/v3/send", json={**bare, "properties": {}}).status_code == 204
        assert _stored(services) == 1


REQUIRED = {"propertyDefinitions": [], "includeDefaultProperties": True}
"""What HubSpot's spec requires of a definition besides its label."""


class TestDefinitionBodies:
    """Events/Manage Event Definitions v3: ExternalBehavioralEventTypeDefinitionEgg requires
    label, propertyDefinitions and includeDefaultProperties; a property create label and type;
    an OptionInput label, value, displayOrder and hidden."""

    def test_a_create_without_the_required_fields_names_each(
        self, http: TestClient, services: Services
    ) -> None:
        response = http.post(
            DEFINITIONS,
            json={"name": "bare"},
        )
        assert response.status_code == 400
        assert _errors(response) == {
            ("label", "REQUIRED"),
            ("propertyDefinitions", "REQUIRED"),
            ("includeDefaultProperties", "REQUIRED"),
        }
        nested = http.post(
            DEFINITIONS,
            json={
                "label": "Nested",
                **REQUIRED,
                "propertyDefinitions": [
                    {"name": "kind", "type": "enumeration", "options": [{"label": "A"}]}
                ],
            },
        )
        assert _errors(nested) == {
            ("propertyDefinitions[0].label", "REQUIRED"),
            ("propertyDefinitions[0].options[0].value", "REQUIRED"),
            ("propertyDefinitions[0].options[0].displayOrder", "REQUIRED"),
            ("propertyDefinitions[0].options[0].hidden", "REQUIRED"),
        }
        assert services.definitions.search() == []
        ok = http.post(DEFINITIONS, json={"label": "Bare", **REQUIRED})
        assert ok.status_code == 201
        assert ok.json()["properties"][0]["hubspotDefined"] is True

    def test_a_property_and_its_options_follow_the_spec(
        self, http: TestClient, viewed_car: EventDefinition
    ) -> None:
        base = f"{DEFINITIONS}/{viewed_car.fully_qualified_name}/property"
        missing = http.post(base, json={"name": "colour"})
        assert _errors(missing) == {("label", "REQUIRED"), ("type", "REQUIRED")}
        half_option = http.patch(
            f"{base}/condition", json={"options": [{"label": "N", "value": "n"}]}
        )
        assert _errors(half_option) == {
            ("options[0].displayOrder", "REQUIRED"),
            ("options[0].hidden", "REQUIRED"),
        }
        assert http.post(base, json={"label": "Colour", "type": "string"}).status_code == 201


class TestDefinitionAnswers:
    def test_patch_of_a_definition_and_of_a_property_answers_201(
        self, http: TestClient, viewed_car: EventDefinition
    ) -> None:
        # Manage Event Definitions v3: both PATCH operations list 201 as their success.
        event = f"{DEFINITIONS}/{viewed_car.fully_qualified_name}"
        patched = http.patch(event, json={"description": "Seen"})
        assert patched.status_code == 201
        assert patched.json()["description"] == "Seen"
        prop = http.patch(f"{event}/property/make", json={"label": "Car make"})
        assert prop.status_code == 201
        assert prop.json()["label"] == "Car make"

    def test_lists_carry_properties_and_page_with_after_once(self, http: TestClient) -> None:
        for label in ("One", "Two", "Three", "Four", "Five"):
            assert http.post(DEFINITIONS, json={"label": label, **REQUIRED}).status_code == 201
        first = http.get(DEFINITIONS, params={"limit": 2}).json()
        assert [r["properties"] for r in first["results"]] == [[], []]
        second = http.get(first["paging"]["next"]["link"].replace("http://testserver", ""))
        assert [r["name"] for r in second.json()["results"]] == ["three", "four"]
        link = second.json()["paging"]["next"]["link"]
        assert link.count("after=") == 1
        assert "limit=2" in link
        third = http.get(link.replace("http://testserver", "")).json()
        assert [r["name"] for r in third["results"]] == ["five"]
        assert "paging" not in third
        full = http.get(DEFINITIONS, params={"includeProperties": "true", "limit": 1}).json()
        assert len(full["results"][0]["properties"]) == 32

    def test_sort_order_and_search_string(self, http: TestClient) -> None:
        for label, name in (("Alpha one", "first"), ("Beta", "alpha_two"), ("Gamma", "alpha")):
            http.post(DEFINITIONS, json={"label": label, "name": name, **REQUIRED})

        def names(params: dict[str, Any]) -> list[str]:
            return [r["name"] for r in http.get(DEFINITIONS, params=params).json()["results"]]

        assert names({}) == ["first", "alpha_two", "alpha"]
        assert names({"sortOrder": "ASC"}) == ["first", "alpha_two", "alpha"]
        assert names({"sortOrder": "DESC"}) == ["alpha", "alpha_two", "first"]
        assert names({"sortOrder": "desc", "limit": 1}) == ["alpha"]
        refused = http.get(DEFINITIONS, params={"sortOrder": "NEWEST"})
        assert refused.status_code == 400
        assert _errors(refused) == {("sortOrder", "INVALID_VALUE")}
        # a naive "contains" in the event's name (not its label), ignoring case
        assert names({"searchString": "alpha"}) == ["alpha_two", "alpha"]
        assert names({"searchString": "ALPHA_T"}) == ["alpha_two"]
        assert names({"searchString": "one"}) == []


def test_the_fidelity_table_is_linked_and_honest() -> None:
    """README's cbe serve section links the table; every row says how it is known, and every
    open row names the issue that will settle it."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    serve = readme.split("uv run cbe serve", 1)[1].split("\n## ", 1)[0]
    assert "(docs/hubspot-fidelity.md)" in serve
    table = (root / "docs" / "hubspot-fidelity.md").read_text(encoding="utf-8")
    rows = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| ---")]
    rows = [r for r in rows if not r.startswith(("| Endpoint", "| Client |"))]
    assert len(rows) > 30
    for row in rows:
        status = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert status.startswith(("confirmed", "decided", "**open**")), row
        if status.startswith("**open**"):
            assert "issue 15" in status, row


def test_the_openapi_document_requires_what_hubspots_specs_require(http: TestClient) -> None:
    schemas = http.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["SendRequest"]["required"] == ["eventName", "properties"]
    assert schemas["DefinitionDraft"]["required"] == [
        "label",
        "propertyDefinitions",
        "includeDefaultProperties",
    ]
    assert schemas["PropertyDraft"]["required"] == ["label", "type"]
    assert schemas["OptionDraft"]["required"] == ["label", "value", "displayOrder", "hidden"]
