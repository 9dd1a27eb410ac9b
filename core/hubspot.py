"""HubSpot's JSON shapes for cbe's models, both ways: what the API answers and what imports read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.clock import format_utc
from core.defaults import DEFAULT_PROPERTIES, DEFAULT_PROPERTY_NAMES
from core.errors import Rule, ValidationFailed, Violation
from core.models import (
    Completion,
    CrmRecord,
    EventDefinition,
    PropertyDefinition,
    TrackingMethod,
)
from core.values import value_text

JSON = dict[str, Any]


def property_to_hubspot(prop: PropertyDefinition, display_order: int = -1) -> JSON:
    """A property as HubSpot returns it inside an event definition."""
    return {
        "name": prop.name,
        "label": prop.label,
        "type": prop.type.value,
        "fieldType": prop.field_type,
        "groupName": "event_properties",
        "description": prop.description,
        "options": [
            {
                "label": o.label,
                "value": o.value,
                "displayOrder": o.display_order,
                "hidden": o.hidden,
                "description": o.description,
            }
            for o in prop.options
        ],
        "displayOrder": display_order,
        "hidden": False,
        "hubspotDefined": prop.hubspot_defined,
        "archived": False,
        "formField": False,
        "hasUniqueValue": False,
        "calculated": False,
        "externalOptions": False,
    }


def definition_to_hubspot(definition: EventDefinition, include_properties: bool = True) -> JSON:
    """An event definition in HubSpot's shape (``labels.singular``, ``fullyQualifiedName``, ...)."""
    body: JSON = {
        "id": definition.id,
        "name": definition.name,
        "fullyQualifiedName": definition.fully_qualified_name,
        "labels": {"singular": definition.label, "plural": None},
        "description": definition.description,
        "primaryObject": definition.primary_object.value,
        "primaryObjectId": definition.primary_object.object_type_id,
        "objectTypeId": f"6-{definition.id}",
        "archived": definition.archived,
        "createdAt": format_utc(definition.created_at),
        "updatedAt": format_utc(definition.updated_at),
        "trackingType": definition.tracking_method.tracking_type,
        "associations": [],
    }
    if definition.custom_matching_id is not None:
        body["customMatchingId"] = definition.custom_matching_id.to_json()
    if include_properties:
        custom = [property_to_hubspot(p, i) for i, p in enumerate(definition.properties)]
        defaults = (
            [property_to_hubspot(p) for p in DEFAULT_PROPERTIES]
            if definition.include_default_properties
            else []
        )
        body["properties"] = custom + defaults
    return body


def draft_from_hubspot(body: Mapping[str, Any], where: str = "") -> JSON:
    """Read an event definition in either HubSpot shape (create body or definition object) into
    a create body that :meth:`core.definitions.DefinitionService.create` accepts.

    HubSpot's definition objects name the label ``labels.singular`` and list the default
    properties among ``properties`` (``hubspotDefined``); both are handled.
    """
    if not isinstance(body, Mapping):
        raise ValidationFailed(
            [
                Violation(
                    field=where,
                    rule=Rule.INVALID_TYPE,
                    message="An event definition is a JSON object.",
                )
            ]
        )
    draft: JSON = {k: v for k, v in body.items() if k not in {"labels", "properties", "id"}}
    if "label" not in draft:
        labels = body.get("labels")
        if isinstance(labels, Mapping) and labels.get("singular"):
            draft["label"] = labels["singular"]
    if "propertyDefinitions" not in draft and isinstance(body.get("properties"), list):
        props = []
        has_defaults = False
        for prop in body["properties"]:
            if not isinstance(prop, Mapping):
                continue
            if prop.get("hubspotDefined") or prop.get("name") in DEFAULT_PROPERTY_NAMES:
                has_defaults = True
                continue
            props.append(
                {
                    k: prop[k]
                    for k in ("name", "label", "type", "description", "options")
                    if k in prop
                }
            )
        draft["propertyDefinitions"] = props
        draft.setdefault("includeDefaultProperties", has_defaults)
    if "trackingMethod" not in draft and "trackingType" in draft:
        tracking = draft.pop("trackingType")
        draft["trackingMethod"] = (
            TrackingMethod.JAVASCRIPT.value
            if tracking == "CUSTOM_SCRIPT"
            else TrackingMethod.API.value
        )
    return draft


def completion_to_hubspot(completion: Completion) -> JSON:
    """A completion as ``GET /events/v3/events`` lists it (properties as text)."""
    return {
        "id": completion.id,
        "eventType": completion.event_name,
        "objectType": completion.object_type.value,
        "objectId": completion.object_id or "",
        "occurredAt": format_utc(completion.occurred_at),
        "properties": {k: value_text(v) or "" for k, v in completion.properties.items()},
    }


def record_to_hubspot(record: CrmRecord) -> JSON:
    """A CRM record as ``/crm/v3/objects/...`` returns it."""
    properties: dict[str, str | None] = dict(record.properties)
    properties["hs_object_id"] = record.id
    properties["createdate"] = format_utc(record.created_at)
    properties["lastmodifieddate"] = format_utc(record.updated_at)
    return {
        "id": record.id,
        "properties": properties,
        "createdAt": format_utc(record.created_at),
        "updatedAt": format_utc(record.updated_at),
        "archived": record.archived,
    }
