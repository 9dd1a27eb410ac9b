"""The HTTP API's paths and shapes, in process (the SDK tests run the real server)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import MAX_BODY_BYTES, create_app
from core.models import CrmRecord, EventDefinition, ObjectType
from core.services import Services
from tests.api.conftest import TEST_HOSTS, TOKEN
from tests.conftest import PORTAL_ID

REQUIRED = {"propertyDefinitions": [], "includeDefaultProperties": True}
"""What HubSpot's spec requires of a definition besides its label."""


def _hubspot_error(body: dict[str, object], category: str) -> None:
    assert body["status"] == "error"
    assert body["category"] == category
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["correlationId"], str) and len(body["correlationId"]) == 36


class TestAuthAndErrors:
    def test_missing_token_is_401_in_hubspots_shape(self, services: Services) -> None:
        with TestClient(create_app(services, TOKEN, allowed_hosts=TEST_HOSTS)) as client:
            response = client.get("/events/v3/event-definitions")
        assert response.status_code == 401
        _hubspot_error(response.json(), "INVALID_AUTHENTICATION")

    def test_wrong_token_is_401(self, http: TestClient) -> None:
        response = http.get(
            "/events/v3/event-definitions", headers={"Authorization": "Bearer nope"}
        )
        assert response.status_code == 401

    def test_unknown_route_is_404_in_hubspots_shape(self, http: TestClient) -> None:
        response = http.get("/events/v4/everything")
        assert response.status_code == 404
        _hubspot_error(response.json(), "OBJECT_NOT_FOUND")
        assert response.json()["message"] == "No route for GET /events/v4/everything."

    def test_body_over_the_limit_is_413(self, http: TestClient) -> None:
        response = http.post(
            "/events/v3/send",
            content=b"{" + b" " * MAX_BODY_BYTES + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        _hubspot_error(response.json(), "VALIDATION_ERROR")

    def test_malformed_json_is_400(self, http: TestClient) -> None:
        response = http.post(
            "/events/v3/send", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        _hubspot_error(response.json(), "VALIDATION_ERROR")

    def test_unknown_event_definition_is_404(self, http: TestClient) -> None:
        response = http.get("/events/v3/event-definitions/nothing_here")
        assert response.status_code == 404
        _hubspot_error(response.json(), "OBJECT_NOT_FOUND")
        assert "nothing_here does not exist" in response.json()["message"]


class TestDefinitions:
    def test_create_get_update_delete(self, http: TestClient, services: Services) -> None:
        created = http.post(
            "/events/v3/event-definitions",
            json={
                "label": "Clicked Buy",
                "propertyDefinitions": [],
                "includeDefaultProperties": True,
                "primaryObject": "DEAL",
            },
        )
        assert created.status_code == 201
        body = created.json()
        assert body["name"] == "clicked_buy"
        assert body["fullyQualifiedName"] == f"pe{PORTAL_ID}_clicked_buy"
        assert body["primaryObject"] == "DEAL"

        by_fqn = http.get(f"/events/v3/event-definitions/pe{PORTAL_ID}_clicked_buy")
        by_name = http.get("/events/v3/event-definitions/clicked_buy")
        assert by_fqn.json() == by_name.json()

        patched = http.patch(
            "/events/v3/event-definitions/clicked_buy",
            json={"label": "Clicked buy button", "description": "Any buy button"},
        )
        assert patched.status_code == 201  # as HubSpot's spec answers a PATCH
        assert patched.json()["labels"]["singular"] == "Clicked buy button"
        assert patched.json()["name"] == "clicked_buy"

        deleted = http.delete("/events/v3/event-definitions/clicked_buy")
        assert deleted.status_code == 204
        assert http.get("/events/v3/event-definitions/clicked_buy").status_code == 404
        again = http.post(
            "/events/v3/event-definitions", json={"label": "x", "name": "clicked_buy", **REQUIRED}
        )
        assert again.status_code == 400
        assert again.json()["errors"][0]["code"] == "NAME_DELETED"

    def test_create_reports_every_violation(self, http: TestClient) -> None:
        response = http.post(
            "/events/v3/event-definitions",
            json={
                "label": "",
                "name": "9lives",
                "includeDefaultProperties": True,
                "propertyDefinitions": [
                    {"label": "Kind", "type": "enumeration", "options": []},
                    {"label": "City", "name": "hs_city", "type": "string"},
                ],
            },
        )
        assert response.status_code == 400
        codes = {(e["in"], e["code"]) for e in response.json()["errors"]}
        assert codes == {
            ("label", "REQUIRED"),
            ("name", "NAME_FORMAT"),
            ("propertyDefinitions[0].options", "OPTIONS_REQUIRED"),
            ("propertyDefinitions[1].name", "RESERVED_PROPERTY_NAME"),
        }

    def test_list_search_and_paging(self, http: TestClient) -> None:
        for label in ("Alpha one", "Beta two", "Alpha three"):
            http.post("/events/v3/event-definitions", json={"label": label, **REQUIRED})
        first = http.get("/events/v3/event-definitions", params={"limit": 2}).json()
        assert first["total"] == 3
        assert [d["name"] for d in first["results"]] == ["alpha_one", "beta_two"]
        assert first["results"][0]["properties"] == []  # required by HubSpot's schema
        cursor = first["paging"]["next"]["after"]
        second = http.get("/events/v3/event-definitions", params={"limit": 2, "after": cursor})
        assert [d["name"] for d in second.json()["results"]] == ["alpha_three"]
        assert "paging" not in second.json()
        found = http.get(
            "/events/v3/event-definitions",
            params={"searchString": "alpha", "includeProperties": "true"},
        ).json()
        assert [d["name"] for d in found["results"]] == ["alpha_one", "alpha_three"]
        assert len(found["results"][0]["properties"]) == 32

    def test_properties_create_update_delete(
        self, http: TestClient, viewed_car: EventDefinition
    ) -> None:
        base = f"/events/v3/event-definitions/{viewed_car.fully_qualified_name}/property"
        created = http.post(base, json={"label": "Colour", "type": "string"})
        assert created.status_code == 201
        assert created.json()["name"] == "colour"
        assert created.json()["fieldType"] == "text"
        updated = http.patch(
            f"{base}/condition",
            json={
                "options": [
                    {"label": "New", "value": "new", "displayOrder": 0, "hidden": False},
                    {"label": "Demo", "value": "demo", "displayOrder": 1, "hidden": False},
                ]
            },
        )
        assert updated.status_code == 201  # as HubSpot's spec answers a PATCH
        assert [o["value"] for o in updated.json()["options"]] == ["new", "demo"]
        assert http.delete(f"{base}/colour").status_code == 204
        missing = http.delete(f"{base}/colour")
        assert missing.status_code == 404


class TestSendAndRead:
    def test_send_is_204_and_listed(
        self, http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
    ) -> None:
        response = http.post(
            "/events/v3/send",
            json={
                "eventName": viewed_car.fully_qualified_name,
                "objectId": int(contact.id),
                "occurredAt": 1_790_000_000_000,
                "properties": {"make": "Volvo", "condition": "new;used"},
            },
        )
        assert response.status_code == 204
        assert response.content == b""
        listed = http.get("/events/v3/events", params={"objectType": "contact"}).json()
        assert listed["results"][0]["properties"] == {"make": "Volvo", "condition": "new;used"}
        assert listed["results"][0]["occurredAt"] == "2026-09-21T14:13:20.000Z"
        by_email = http.get(
            "/events/v3/events/", params={"objectProperty.email": contact.email or ""}
        ).json()
        assert len(by_email["results"]) == 1
        by_property = http.get("/events/v3/events", params={"property.condition": "USED"}).json()
        assert len(by_property["results"]) == 1
        none = http.get("/events/v3/events", params={"property.make": "Saab"}).json()
        assert none["results"] == []

    def test_batch_over_500_is_refused(
        self, http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
    ) -> None:
        body = {
            "eventName": viewed_car.fully_qualified_name,
            "objectId": contact.id,
            "properties": {},
        }
        response = http.post("/events/v3/send/batch", json={"inputs": [body] * 501})
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "BATCH_TOO_LARGE"
        ok = http.post("/events/v3/send/batch", json={"inputs": [body] * 500})
        assert ok.status_code == 204
        assert len(services_count(http)) == 500

    def test_bad_query_values_are_400(self, http: TestClient) -> None:
        assert http.get("/events/v3/events", params={"occurredAfter": "soon"}).status_code == 400
        assert http.get("/events/v3/events", params={"objectType": "lead"}).status_code == 400
        assert http.get("/events/v3/events", params={"limit": 5000}).status_code == 400
        assert http.get("/events/v3/events", params={"after": "garbage"}).status_code == 400


def services_count(http: TestClient) -> list[object]:
    found: list[object] = []
    after = None
    while True:
        params: dict[str, str | int] = {"limit": 1000}
        if after:
            params["after"] = after
        page = http.get("/events/v3/events", params=params).json()
        found += page["results"]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return found


class TestCrm:
    def test_contacts_create_search_update_archive(self, http: TestClient) -> None:
        created = http.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "Bo@Example.com"}}
        )
        assert created.status_code == 201
        contact_id = created.json()["id"]
        duplicate = http.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "bo@example.com"}}
        )
        assert duplicate.status_code == 409
        _hubspot_error(duplicate.json(), "CONFLICT")
        found = http.post(
            "/crm/v3/objects/contacts/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "email", "operator": "EQ", "value": "bo@example.com"}
                        ]
                    }
                ]
            },
        ).json()
        assert found["total"] == 1
        assert found["results"][0]["id"] == contact_id
        by_email = http.get(
            "/crm/v3/objects/contacts/bo@example.com", params={"idProperty": "email"}
        )
        assert by_email.json()["id"] == contact_id
        patched = http.patch(
            f"/crm/v3/objects/contacts/{contact_id}", json={"properties": {"firstname": "Bo"}}
        )
        assert patched.json()["properties"]["firstname"] == "Bo"
        assert http.delete(f"/crm/v3/objects/contacts/{contact_id}").status_code == 204
        listed = http.get("/crm/v3/objects/contacts").json()
        assert listed["results"] == []
        archived = http.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()
        assert [r["id"] for r in archived["results"]] == [contact_id]

    def test_create_with_association_and_paging(self, http: TestClient, services: Services) -> None:
        company = http.post(
            "/crm/v3/objects/companies", json={"properties": {"name": "Acme", "domain": "acme.io"}}
        ).json()
        for i in range(3):
            http.post(
                "/crm/v3/objects/contacts",
                json={
                    "properties": {"email": f"p{i}@acme.io"},
                    "associations": [
                        {
                            "to": {"id": company["id"]},
                            "types": [
                                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}
                            ],
                        }
                    ],
                },
            )
        linked = services.records.associated(ObjectType.COMPANY, company["id"])
        assert len(linked[ObjectType.CONTACT]) == 3
        page = http.get("/crm/v3/objects/contacts", params={"limit": 2}).json()
        assert len(page["results"]) == 2
        rest = http.get(
            "/crm/v3/objects/contacts",
            params={"limit": 2, "after": page["paging"]["next"]["after"]},
        ).json()
        assert len(rest["results"]) == 1
        assert "paging" not in rest

    def test_unknown_object_type_is_404(self, http: TestClient) -> None:
        response = http.post("/crm/v3/objects/leads", json={"properties": {}})
        assert response.status_code == 404


def test_a_number_beyond_64_bits_is_read_as_a_double_not_a_server_error(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    body = {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id}
    big = http.post(
        "/events/v3/send",
        content=f'{{"eventName": "{viewed_car.fully_qualified_name}", "objectId": "{contact.id}", '
        f'"properties": {{"year": {10**30}}}}}',
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 204, big.text
    [stored] = http.get("/events/v3/events").json()["results"]
    assert stored["properties"]["year"] == "1e+30"  # values are text in HubSpot's answer
    huge = http.post(
        "/events/v3/send",
        content=f'{{"eventName": "{body["eventName"]}", "objectId": "{contact.id}", '
        f'"properties": {{"year": {10**400}}}}}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 400 and huge.json()["errors"][0]["code"] in {
        "INVALID_NUMBER",
        "VALUE_TOO_LONG",
    }
