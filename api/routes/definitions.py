"""``/events/v3/event-definitions``: create, list, get, update and delete events and properties.

``{eventName}`` may be the internal name or the fully qualified name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from api.deps import services_of
from api.routes.paging import decode_offset, encode_offset, next_link
from core.hubspot import definition_to_hubspot, property_to_hubspot

# served under each prefix of api.versions.DEFINITIONS
router = APIRouter(tags=["event definitions"])

JSONBody = Annotated[dict[str, Any], Body()]


@router.post("", status_code=201)
def create_definition(request: Request, body: JSONBody) -> dict[str, Any]:
    """Create an event definition (HubSpot's create body)."""
    definition = services_of(request).definitions.create(body, hubspot_body=True)
    return definition_to_hubspot(definition)


@router.get("")
def list_definitions(
    request: Request,
    search_string: Annotated[str | None, Query(alias="searchString")] = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    include_properties: Annotated[bool, Query(alias="includeProperties")] = False,
    sort_order: Annotated[str | None, Query(alias="sortOrder")] = None,
) -> dict[str, Any]:
    """List definitions, oldest first (``sortOrder=DESC``: newest first); ``searchString``
    matches the name (a substring). Each result carries ``properties``, as HubSpot's schema
    requires: empty unless ``includeProperties=true``."""
    found = services_of(request).definitions.search_as_hubspot(search_string, sort_order)
    start = decode_offset(after)
    page = found[start : start + limit]
    results = [definition_to_hubspot(d, include_properties) for d in page]
    if not include_properties:
        for result in results:
            result["properties"] = []
    body: dict[str, Any] = {"total": len(found), "results": results}
    if start + limit < len(found):
        cursor = encode_offset(start + limit)
        base = str(request.url.remove_query_params("after"))  # the next page's only
        body["paging"] = {"next": {"after": cursor, "link": next_link(base, cursor)}}
    return body


@router.get("/{event_name}")
def get_definition(request: Request, event_name: str) -> dict[str, Any]:
    return definition_to_hubspot(services_of(request).definitions.get(event_name))


@router.patch("/{event_name}", status_code=201)
def update_definition(request: Request, event_name: str, body: JSONBody) -> dict[str, Any]:
    """Change the label or description; the name and object never change. 201, as HubSpot's
    spec answers a PATCH here."""
    label = body.get("label")
    description = body.get("description")
    definition = services_of(request).definitions.update(
        event_name,
        label=label if isinstance(label, str) else None,
        description=description if isinstance(description, str) else None,
    )
    return definition_to_hubspot(definition)


@router.delete("/{event_name}", status_code=204)
def delete_definition(request: Request, event_name: str) -> Response:
    """Delete the event and all its completions; the name is never used again."""
    services_of(request).definitions.delete(event_name)
    return Response(status_code=204)


@router.post("/{event_name}/property", status_code=201)
def create_property(request: Request, event_name: str, body: JSONBody) -> dict[str, Any]:
    prop = services_of(request).definitions.add_property(event_name, body, hubspot_body=True)
    return property_to_hubspot(prop)


@router.patch("/{event_name}/property/{property_name}", status_code=201)
def update_property(
    request: Request, event_name: str, property_name: str, body: JSONBody
) -> dict[str, Any]:
    prop = services_of(request).definitions.update_property(
        event_name, property_name, body, hubspot_body=True
    )
    return property_to_hubspot(prop)


@router.delete("/{event_name}/property/{property_name}", status_code=204)
def delete_property(request: Request, event_name: str, property_name: str) -> Response:
    services_of(request).definitions.delete_property(event_name, property_name)
    return Response(status_code=204)
