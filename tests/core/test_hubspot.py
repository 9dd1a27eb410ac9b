"""HubSpot's JSON shapes: definitions out, definitions back in, completions and records out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.defaults import DEFAULT_PROPERTIES
from core.errors import Rule, ValidationFailed
from core.hubspot import (
    completion_to_hubspot,
    definition_to_hubspot,
    draft_from_hubspot,
    record_to_hubspot,
)
from core.models import CrmRecord, EventDefinition, ObjectType, PropertyType, TrackingMethod
from core.services import Services
from tests.conftest import PORTAL_ID
from tests.core.conftest import body
from tests.sending import send_one

# HubSpot's CarSpot create body (hubspot-events.md, 1.2).
CREATE_BODY: dict[str, Any] = {
    "label": "Viewed Car",
    "name": "viewed_car",
    "description": "Fires when a visitor views a car listing",
    "primaryObject": "CONTACT",
    "includeDefaultProperties": True,
    "propertyDefinitions": [
        {
            "name": "condition",
            "label": "Condition",
            "type": "enumeration",
            "options": [{"label": "New", "value": "new"}, {"label": "Used", "value": "used"}],
        },
        {"name": "year", "label": "Year", "type": "number"},
        {"name": "make", "label": "Make", "type": "string"},
    ],
}

# A definition object as HubSpot returns it (hubspot-events.md, 1.4).
DEFINITION_OBJECT: dict[str, Any] = {
    "id": "1234567",
    "name": "viewed_car",
    "fullyQualifiedName": "pe987654_viewed_car",
    "labels": {"singular": "Viewed Car", "plural": None},
    "description": "Fires when a visitor views a car listing",
    "primaryObject": "CONTACT",
    "objectTypeId": "6-1234567",
    "archived": False,
    "createdAt": "2024-05-01T12:00:00Z",
    "trackingType": "MANUAL",
    "associations": [],
    "properties": [
        {
            "name": "condition",
            "label": "Condition",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "...",
            "description": "",
            "hubspotDefined": False,
            "options": [{"label": "New", "value": "new", "displayOrder": 0, "hidden": False}],
        },
        {
            "name": "hs_city",
            "label": "City",
            "type": "string",
            "fieldType": "text",
            "groupName": "...",
            "description": "",
            "hubspotDefined": True,
            "options": [],
        },
    ],
}


@pytest.fixture
def fresh(tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    """A second, empty portal to import into."""
    other = open_services(tmp_path / "other", clock=clock, portal_id=PORTAL_ID)
    yield other
    other.close()


# -- definitions out -----------------------------------------------------------------------


def test_definition_to_hubspot_shape(viewed_car: EventDefinition) -> None:
    shape = definition_to_hubspot(viewed_car)
    assert shape["id"] == viewed_car.id
    assert shape["name"] == "viewed_car"
    assert shape["fullyQualifiedName"] == f"pe{PORTAL_ID}_viewed_car"
    assert shape["labels"] == {"singular": "Viewed Car", "plural": None}
    assert "label" not in shape
    assert shape["description"] == "Fires when a visitor views a car listing"
    assert (shape["primaryObject"], shape["primaryObjectId"]) == ("CONTACT", "0-1")
    assert shape["archived"] is False
    assert shape["createdAt"] == "2026-11-01T12:00:00.000Z"
    assert shape["trackingType"] == "MANUAL"
    assert shape["associations"] == []

    props = shape["properties"]
    custom = [p for p in props if not p["hubspotDefined"]]
    defaults = [p for p in props if p["hubspotDefined"]]
    assert [p["name"] for p in custom] == [
        "condition",
        "year",
        "make",
        "listed_at",
        "listing_url",
    ]
    assert len(defaults) == 32
    assert [p["name"] for p in defaults] == [p.name for p in DEFAULT_PROPERTIES]
    condition = custom[0]
    assert (condition["type"], condition["fieldType"]) == ("enumeration", "select")
    assert condition["options"] == [
        {"label": "New", "value": "new", "displayOrder": 0, "hidden": False, "description": ""},
        {"label": "Used", "value": "used", "displayOrder": 1, "hidden": False, "description": ""},
    ]
    assert [p["fieldType"] for p in custom[1:]] == ["number", "text", "date", "text"]
    for prop in props:
        assert {"name", "label", "type", "fieldType", "groupName", "description", "options"} <= (
            prop.keys()
        )


def test_definition_to_hubspot_without_defaults_or_properties(services: Services) -> None:
    bare = services.definitions.create(
        {
            "label": "Bare",
            "includeDefaultProperties": False,
            "primaryObject": "DEAL",
            "trackingMethod": "JAVASCRIPT",
        }
    )
    shape = definition_to_hubspot(bare)
    assert shape["properties"] == []
    assert (shape["primaryObject"], shape["primaryObjectId"]) == ("DEAL", "0-3")
    assert shape["trackingType"] == "CUSTOM_SCRIPT"
    assert "properties" not in definition_to_hubspot(bare, include_properties=False)


# -- definitions in ------------------------------------------------------------------------


def test_draft_from_the_create_body_is_accepted_by_create(fresh: Services) -> None:
    draft = draft_from_hubspot(CREATE_BODY)
    created = fresh.definitions.create(draft)
    assert (created.name, created.label) == ("viewed_car", "Viewed Car")
    assert created.description == "Fires when a visitor views a car listing"
    assert created.include_default_properties is True
    assert [(p.name, p.type) for p in created.properties] == [
        ("condition", PropertyType.ENUMERATION),
        ("year", PropertyType.NUMBER),
        ("make", PropertyType.STRING),
    ]
    condition = created.custom_property("condition")
    assert condition is not None
    assert [(o.value, o.display_order) for o in condition.options] == [("new", 0), ("used", 1)]


def test_draft_from_the_definition_object_skips_default_properties(fresh: Services) -> None:
    draft = draft_from_hubspot(DEFINITION_OBJECT)
    assert draft["label"] == "Viewed Car"
    assert [p["name"] for p in draft["propertyDefinitions"]] == ["condition"]
    assert draft["includeDefaultProperties"] is True
    assert draft["trackingMethod"] == "API"
    created = fresh.definitions.create(draft)
    assert created.name == "viewed_car"
    assert created.fully_qualified_name == f"pe{PORTAL_ID}_viewed_car"
    assert created.label == "Viewed Car"
    assert [p.name for p in created.properties] == ["condition"]
    assert created.include_default_properties is True


def test_a_definition_object_without_defaults_keeps_them_off(fresh: Services) -> None:
    shape = {
        **DEFINITION_OBJECT,
        "properties": [p for p in DEFINITION_OBJECT["properties"] if not p["hubspotDefined"]],
        "trackingType": "CUSTOM_SCRIPT",
    }
    draft = draft_from_hubspot(shape)
    assert draft["includeDefaultProperties"] is False
    created = fresh.definitions.create(draft)
    assert created.include_default_properties is False
    assert created.tracking_method is TrackingMethod.JAVASCRIPT


def test_an_exported_definition_recreates_the_same_event(
    viewed_car: EventDefinition, fresh: Services
) -> None:
    created = fresh.definitions.create(draft_from_hubspot(definition_to_hubspot(viewed_car)))
    assert created.name == viewed_car.name
    assert created.label == viewed_car.label
    assert created.description == viewed_car.description
    assert created.primary_object is viewed_car.primary_object
    assert created.include_default_properties is True
    assert created.tracking_method is viewed_car.tracking_method
    assert created.properties == viewed_car.properties


def test_an_invalid_imported_definition_reports_hubspot_fields(fresh: Services) -> None:
    shape = {**DEFINITION_OBJECT, "name": "Viewed-Car"}
    with pytest.raises(ValidationFailed) as error:
        fresh.definitions.create(draft_from_hubspot(shape))
    assert [(v.field, v.rule) for v in error.value.violations] == [("name", Rule.NAME_FORMAT)]


@pytest.mark.parametrize("raw", [[], "x", None], ids=["array", "string", "null"])
def test_draft_from_hubspot_refuses_what_is_not_an_object(raw: Any) -> None:
    with pytest.raises(ValidationFailed) as error:
        draft_from_hubspot(raw, where="definitions[2]")
    (violation,) = error.value.violations
    assert (violation.field, violation.rule) == ("definitions[2]", Rule.INVALID_TYPE)


# -- completions and records out -----------------------------------------------------------


def test_completion_to_hubspot_gives_text_properties(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    completion = send_one(
        services.ingestion,
        body(
            viewed_car,
            objectId=contact.id,
            occurredAt=1704164645000,
            properties={"year": 2020, "make": "Ford", "hs_screen_width": 1.5},
        ),
    )
    assert completion is not None
    assert completion_to_hubspot(completion) == {
        "id": completion.id,
        "eventType": f"pe{PORTAL_ID}_viewed_car",
        "objectType": "CONTACT",
        "objectId": contact.id,
        "occurredAt": "2024-01-02T03:04:05.000Z",
        "properties": {"year": "2020", "make": "Ford", "hs_screen_width": "1.5"},
    }


def test_record_to_hubspot(contact: CrmRecord) -> None:
    shape = record_to_hubspot(contact)
    assert shape["id"] == contact.id
    assert shape["properties"]["email"] == "ann@example.com"
    assert shape["properties"]["hs_object_id"] == contact.id
    assert shape["properties"]["createdate"] == "2026-11-01T12:00:00.000Z"
    assert shape["archived"] is False
    assert contact.object_type is ObjectType.CONTACT
