"""A remote portal: HubSpot itself, or another ``cbe serve``, reached only through HubSpot's public
definitions API (``/events/v3/event-definitions``).

The port (:class:`RemotePortal`) speaks HubSpot's JSON; the adapter that carries it over HTTP
lives in ``storage``. Here are the use cases on top of it: pull a remote portal's definitions as
a plan, and diff and apply a plan against it (:class:`RemoteTarget` is a
:class:`core.plan.PlanTarget`, so the diff, the safety of each change and the steps of an apply
are the very ones a local plan uses).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from core.defaults import DEFAULT_PROPERTY_NAMES
from core.definitions import DefinitionDraft, OptionDraft, PropertyDraft
from core.errors import CbeError
from core.models import (
    CustomMatchingId,
    EnumerationOption,
    EventDefinition,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    TrackingMethod,
)
from core.plan import CompletionTest, PlanEvent, PlanProperty, export_plan

JSON = dict[str, Any]

HUBSPOT_URL = "https://api.hubapi.com"
TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"


class RemoteError(CbeError):
    """The remote portal refused a request or could not be reached. The message names the
    request (method and path) and the remote's answer, never the token."""


class RemoteUnreachable(RemoteError):
    """No answer: the remote is down, the address is wrong, or the connection broke."""


class RemoteRefused(RemoteError):
    """The remote answered with an error (HubSpot's error shape: ``status`` and ``category``)."""

    def __init__(self, message: str, status: int, category: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.category = category


Waiting = Callable[[float, str], None]
"""Told when a request waits out a rate limit: how many seconds, and why."""


class RemotePortal(Protocol):
    """HubSpot's definitions API of one portal; ``name`` is an event's internal name."""

    url: str
    """The remote's base URL (``https://api.hubapi.com``), for messages."""

    def definitions_page(self, after: str | None) -> JSON:
        """One page of ``GET /events/v3/event-definitions`` with properties:
        ``{"results": [...], "paging": {"next": {"after": ...}}}``."""
        ...

    def create_definition(self, body: JSON) -> JSON: ...

    def update_definition(self, name: str, body: JSON) -> JSON: ...

    def delete_definition(self, name: str) -> None: ...

    def create_property(self, name: str, body: JSON) -> JSON: ...

    def update_property(self, name: str, prop: str, body: JSON) -> JSON: ...

    def delete_property(self, name: str, prop: str) -> None: ...


# -- reading HubSpot's definition objects ---------------------------------------------------------

_PORTAL_PREFIX = re.compile(r"^pe\d+_")


def remote_definitions(portal: RemotePortal) -> list[EventDefinition]:
    """Every definition of the remote portal: all pages, with properties and options."""
    found: list[EventDefinition] = []
    after: str | None = None
    seen: set[str] = set()
    while True:
        page = portal.definitions_page(after)
        results = page.get("results")
        if not isinstance(results, list):
            raise RemoteError(f"{portal.url} answered a definitions page without results.")
        found += [definition_from_hubspot(body) for body in results]
        following = (page.get("paging") or {}).get("next") or {}
        after = following.get("after") if isinstance(following, Mapping) else None
        if not after:
            return found
        if after in seen:  # a remote that hands the same cursor twice would never end
            raise RemoteError(f"{portal.url} repeated the paging cursor {after!r}.")
        seen.add(after)


def definition_from_hubspot(body: Mapping[str, Any]) -> EventDefinition:
    """A definition object as HubSpot answers it, read into cbe's model: the name without the
    portal prefix, the ``hs_*`` defaults left out of the custom properties."""
    if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
        raise RemoteError(f"The remote answered a definition without a name: {body!r:.200}")
    name: str = body["name"]
    qualified = str(body.get("fullyQualifiedName") or name)
    if name == qualified and _PORTAL_PREFIX.match(name):  # a remote that answers the full name
        name = _PORTAL_PREFIX.sub("", name, count=1)
    labels = body.get("labels")
    label = labels.get("singular") if isinstance(labels, Mapping) else None
    custom: list[PropertyDefinition] = []
    has_defaults = False
    for prop in body.get("properties") or []:
        if not isinstance(prop, Mapping):
            continue
        if prop.get("hubspotDefined") or prop.get("name") in DEFAULT_PROPERTY_NAMES:
            has_defaults = True
            continue
        custom.append(_property_from_hubspot(name, prop))
    try:
        primary = ObjectType.parse(str(body.get("primaryObject") or "CONTACT"))
    except ValueError as error:
        raise RemoteError(f"{name}: {error}") from error
    tracking = (
        TrackingMethod.JAVASCRIPT
        if body.get("trackingType") == "CUSTOM_SCRIPT"
        else TrackingMethod.API
    )
    return EventDefinition(
        id=str(body.get("id") or name),
        name=name,
        label=str(label or body.get("label") or name),
        fully_qualified_name=qualified,
        description=str(body.get("description") or ""),
        primary_object=primary,
        properties=custom,
        include_default_properties=has_defaults,
        tracking_method=tracking,
        archived=bool(body.get("archived")),
        created_at=_when(body.get("createdAt")),
        updated_at=_when(body.get("updatedAt") or body.get("createdAt")),
        custom_matching_id=_custom_matching_id(name, body.get("customMatchingId")),
    )


def _custom_matching_id(event: str, raw: object) -> CustomMatchingId | None:
    if not raw:
        return None
    try:
        return CustomMatchingId.model_validate(raw)
    except ValueError as error:
        raise RemoteError(
            f"{event}: the remote's customMatchingId is not readable: {error}"
        ) from error


def _property_from_hubspot(event: str, prop: Mapping[str, Any]) -> PropertyDefinition:
    name = str(prop.get("name") or "")
    try:
        kind = PropertyType(str(prop.get("type")))
    except ValueError:
        allowed = ", ".join(t.value for t in PropertyType)
        raise RemoteError(
            f"{event}.{name} has type {prop.get('type')!r}; cbe knows {allowed}."
        ) from None
    options = [
        EnumerationOption(
            label=str(o.get("label") or ""),
            value=str(o.get("value") or ""),
            display_order=o["displayOrder"] if isinstance(o.get("displayOrder"), int) else i,
            hidden=bool(o.get("hidden")),
            description=str(o.get("description") or ""),
        )
        for i, o in enumerate(prop.get("options") or [])
        if isinstance(o, Mapping)
    ]
    return PropertyDefinition(
        name=name,
        label=str(prop.get("label") or name),
        type=kind,
        description=str(prop.get("description") or ""),
        options=options,
    )


def _when(text: object) -> datetime:
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime(1970, 1, 1, tzinfo=UTC)


# -- the use cases --------------------------------------------------------------------------------


def pull_plan(portal: RemotePortal) -> str:
    """The remote portal's definitions as a plan file (names without the portal prefix)."""
    return export_plan(remote_definitions(portal))


def _option_body(option: OptionDraft, index: int) -> JSON:
    return {
        "label": option.label,
        "value": option.value,
        "displayOrder": index if option.display_order is None else option.display_order,
        "hidden": option.hidden,
        "description": option.description,
    }


def _property_body(draft: PropertyDraft) -> JSON:
    body: JSON = {
        "name": draft.name,
        "label": draft.label,
        "type": draft.type.value,
        "description": draft.description,
    }
    if draft.options:
        body["options"] = [_option_body(o, i) for i, o in enumerate(draft.options)]
    return body


class RemoteTarget:
    """A remote portal as the target of a plan. HubSpot's API sets neither tracking nor archiving
    and counts no completions for us, so the diff leaves those out and breaking changes say so."""

    sets_tracking = False

    def __init__(self, portal: RemotePortal) -> None:
        self.portal = portal

    def definitions(self) -> list[EventDefinition]:
        return remote_definitions(self.portal)

    def deleted_names(self) -> set[str]:
        return set()  # HubSpot does not list them; the remote refuses a reused name itself

    def count(self, definition: EventDefinition, test: CompletionTest) -> int | None:
        return None

    def create(self, draft: DefinitionDraft, archived: bool) -> None:
        body: JSON = {
            "label": draft.label,
            "name": draft.name,
            "description": draft.description,
            "primaryObject": draft.primary_object.value,
            "includeDefaultProperties": draft.include_default_properties,
            "propertyDefinitions": [_property_body(p) for p in draft.property_definitions],
        }
        if draft.custom_matching_id is not None:
            body["customMatchingId"] = draft.custom_matching_id.to_json()
        self.portal.create_definition(body)

    def update(self, name: str, event: PlanEvent) -> None:
        self.portal.update_definition(
            name, {"label": event.label, "description": event.description}
        )

    def delete(self, name: str) -> None:
        self.portal.delete_definition(name)

    def add_property(self, name: str, draft: PropertyDraft) -> None:
        self.portal.create_property(name, _property_body(draft))

    def update_property(self, name: str, prop: PlanProperty) -> None:
        body: JSON = {"label": prop.label, "description": prop.description}
        if prop.options or prop.type == PropertyType.ENUMERATION.value:
            body["options"] = [_option_body(o, i) for i, o in enumerate(prop.options)]
        self.portal.update_property(name, prop.name, body)

    def delete_property(self, name: str, prop: str) -> None:
        self.portal.delete_property(name, prop)


class RemoteOpener(Protocol):
    """Reaches a remote portal (the composition root's ``open_remote``), for the interfaces."""

    def __call__(self, url: str, token: str, *, on_wait: Waiting | None = None) -> RemotePortal: ...
