"""Reading a remote portal's definitions as HubSpot answers them (core.remote, no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from core.models import ObjectType, PropertyType, TrackingMethod
from core.remote import JSON, RemoteError, definition_from_hubspot, remote_definitions

# HubSpot's definition object as its spec describes it (hubspot-events.md 1.4): the label under
# labels.singular, a null description, the hs_* defaults among the properties, options without
# displayOrder, and here the fully qualified name given as the name.
HUBSPOT_DEFINITION: JSON = {
    "id": "1234567",
    "name": "pe987654_viewed_car",
    "fullyQualifiedName": "pe987654_viewed_car",
    "labels": {"singular": "Viewed Car", "plural": None},
    "description": None,
    "primaryObject": "CONTACT",
    "objectTypeId": "6-1234567",
    "archived": False,
    "createdAt": "2024-05-01T12:00:00Z",
    "trackingType": "CUSTOM_SCRIPT",
    "associations": [],
    "properties": [
        {
            "name": "condition",
            "label": "Condition",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "event_properties",
            "description": "",
            "hubspotDefined": False,
            "options": [{"label": "New", "value": "new", "hidden": False}],
        },
        {
            "name": "hs_city",
            "label": "City",
            "type": "string",
            "fieldType": "text",
            "groupName": "event_properties",
            "description": "",
            "hubspotDefined": True,
            "options": [],
        },
    ],
}


def test_a_hubspot_definition_reads_without_the_portal_prefix_or_the_defaults() -> None:
    definition = definition_from_hubspot(HUBSPOT_DEFINITION)
    assert definition.name == "viewed_car"
    assert definition.fully_qualified_name == "pe987654_viewed_car"
    assert definition.label == "Viewed Car"
    assert definition.description == ""
    assert definition.primary_object is ObjectType.CONTACT
    assert definition.tracking_method is TrackingMethod.JAVASCRIPT
    assert definition.include_default_properties
    [condition] = definition.properties
    assert condition.type is PropertyType.ENUMERATION
    assert [(o.value, o.display_order) for o in condition.options] == [("new", 0)]


def test_an_internal_name_that_only_looks_prefixed_is_kept() -> None:
    body = HUBSPOT_DEFINITION | {"name": "pe2_launch", "fullyQualifiedName": "pe987654_pe2_launch"}
    assert definition_from_hubspot(body).name == "pe2_launch"


def test_a_property_type_cbe_does_not_know_is_named_in_the_error() -> None:
    body = HUBSPOT_DEFINITION | {
        "properties": [{"name": "is_new", "label": "New?", "type": "bool", "options": []}]
    }
    with pytest.raises(RemoteError, match=r"viewed_car\.is_new has type 'bool'"):
        definition_from_hubspot(body)


class _Pages:
    """A remote that answers scripted pages of definitions."""

    url = "https://remote.example"

    def __init__(self, pages: list[JSON]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    def definitions_page(self, after: str | None) -> JSON:
        self.asked.append(after)
        return self.pages.pop(0)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a pull does not write ({name})")


def _named(name: str) -> JSON:
    return HUBSPOT_DEFINITION | {"name": name, "fullyQualifiedName": f"pe1_{name}"}


def test_every_page_is_read_by_its_cursor() -> None:
    pages = _Pages(
        [
            {"results": [_named("a")], "paging": {"next": {"after": "MQ=="}}},
            {"results": [_named("b")], "paging": {"next": {"after": "Mg=="}}},
            {"results": [_named("c")]},
        ]
    )
    assert [d.name for d in remote_definitions(pages)] == ["a", "b", "c"]
    assert pages.asked == [None, "MQ==", "Mg=="]


def test_a_remote_that_repeats_its_cursor_is_an_error_not_a_loop() -> None:
    page = {"results": [_named("a")], "paging": {"next": {"after": "MQ=="}}}
    with pytest.raises(RemoteError, match="repeated the paging cursor 'MQ=='"):
        remote_definitions(_Pages([page, page, page]))
