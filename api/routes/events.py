"""HubSpot's events read API: completions with HubSpot's filters and cursor paging.

One router, served under ``/events/v3/events`` and the date-versioned paths of the same API
(``/events/event-occurrences/2026-03`` ...; see :mod:`api.versions`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Query, Request

from api.deps import services_of
from api.routes.paging import cursor_link
from core.errors import Rule, ValidationFailed, Violation
from core.hubspot import completion_to_hubspot
from core.models import ObjectType
from core.occurrences import MAX_LIMIT, CompletionQuery
from core.values import parse_datetime

router = APIRouter(tags=["events"])

PARAMETERS = (
    "objectType",
    "objectId",
    "eventType",
    "occurredAfter",
    "occurredBefore",
    "after",
    "before",
    "limit",
    "sort",
    "id",
    "properties",
)
"""The query parameters of HubSpot's events spec, besides ``objectProperty.{name}`` and
``property.{name}``; anything else is refused, never ignored."""

REPEATABLE = frozenset({"sort", "id", "properties"})
"""The spec's arrays; a second value of any other parameter would be ignored, so it is refused."""

OBJECT_PROPERTY = "objectProperty."
EVENT_PROPERTY = "property."
PLACEHOLDER = "{propname}"


def _refuse(
    field: str, message: str, rule: Rule = Rule.INVALID_VALUE, actual: Any = None
) -> NoReturn:
    raise ValidationFailed([Violation(field=field, rule=rule, message=message, actual=actual)])


def _check_parameters(request: Request) -> None:
    """A 400 naming every parameter HubSpot's events API does not have, every
    ``objectProperty.``/``property.`` without a property name, and every single-valued
    parameter given more than once."""
    problems = [
        problem
        for key in dict.fromkeys(request.query_params.keys())
        if (problem := _parameter_problem(key, request.query_params.getlist(key)))
    ]
    if problems:
        raise ValidationFailed(problems)


def _parameter_problem(key: str, values: list[str]) -> Violation | None:
    prefix = next((p for p in (OBJECT_PROPERTY, EVENT_PROPERTY) if key.startswith(p)), None)
    if prefix is not None:
        if key.removeprefix(prefix) not in ("", PLACEHOLDER):
            return None
        # HubSpot's Python SDK 12 sends its placeholder for object_property_propname and
        # property_propname: filtering on a property named "{propname}" would answer every
        # completion or none, a wrong answer either way.
        example = (
            "objectProperty.email=ann@example.com"
            if prefix == OBJECT_PROPERTY
            else "property.hs_city=portland"
        )
        return Violation(
            field=key,
            rule=Rule.UNKNOWN_PARAMETER,
            message=f"{key!r} names no property: send {prefix}NAME=VALUE, e.g. {example} "
            "(HubSpot's Python SDK sends its placeholder; use client.api_request).",
            actual=key,
        )
    if key not in PARAMETERS:
        return Violation(
            field=key,
            rule=Rule.UNKNOWN_PARAMETER,
            message=f"{key!r} is not a parameter of this API; it takes {', '.join(PARAMETERS)}, "
            "objectProperty.{name} and property.{name}.",
            actual=key,
        )
    if key not in REPEATABLE and len(values) > 1:
        return Violation(
            field=key,
            rule=Rule.INVALID_VALUE,
            message=f"{key} is given {len(values)} times; it takes one value.",
            actual=values,
        )
    return None


def _moment(field: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = parse_datetime(text)
    if moment is None:
        _refuse(
            field,
            f"{field} {text!r} is not ISO 8601 with Z or an offset, nor epoch milliseconds.",
            Rule.INVALID_DATETIME,
            text,
        )
    return moment


def _object_type(text: str | None) -> ObjectType | None:
    if text is None:
        return None
    try:
        return ObjectType.parse(text)
    except ValueError:
        _refuse(
            "objectType",
            f"Unknown objectType {text!r}: use contact, company, deal or ticket.",
            actual=text,
        )


def _check_event_type(known: list[str], event_type: str, portal_id: int) -> None:
    """``eventType`` is a name ``event-types`` lists: a fully qualified one for custom events."""
    if event_type in known:
        return
    qualified = f"pe{portal_id}_{event_type}"
    hint = (
        f"use its fully qualified name {qualified!r}"
        if qualified in known
        else "GET /events/v3/events/event-types lists them"
    )
    _refuse(
        "eventType",
        f"No event type {event_type!r}: eventType takes a name event-types lists ({hint}).",
        actual=event_type,
    )


def _newest_first(sort: list[str] | None) -> bool:
    """HubSpot's ``sort``: ``DESCENDING`` (the default, newest first) or ``ASCENDING``."""
    given = {s.upper() for s in sort or ()}
    if not given <= {"ASCENDING", "DESCENDING"} or len(given) > 1:
        _refuse(
            "sort",
            f"sort {', '.join(sort or ())!r} is not one of ASCENDING or DESCENDING.",
            actual=sort,
        )
    return given != {"ASCENDING"}


def _pairs(request: Request, prefix: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (key.removeprefix(prefix), value)
        for key, value in request.query_params.multi_items()
        if key.startswith(prefix)
    )


def _page_link(request: Request, name: str, cursor: str) -> str:
    base = str(request.url.remove_query_params(["after", "before"]))
    return cursor_link(base, name, cursor)


@router.get("")
@router.get("/", include_in_schema=False)  # HubSpot's Python SDK adds the trailing slash
def list_events(
    request: Request,
    object_type: Annotated[str | None, Query(alias="objectType")] = None,
    object_id: Annotated[str | None, Query(alias="objectId")] = None,
    event_type: Annotated[str | None, Query(alias="eventType")] = None,
    occurred_after: Annotated[str | None, Query(alias="occurredAfter")] = None,
    occurred_before: Annotated[str | None, Query(alias="occurredBefore")] = None,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    sort: Annotated[list[str] | None, Query()] = None,
    ids: Annotated[list[str] | None, Query(alias="id")] = None,
    properties: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """Completions of records, newest first (``sort=ASCENDING`` for oldest first), ``limit`` per
    page, ``paging.next.after`` and ``paging.prev.before`` to move on and back.

    ``objectId`` needs ``objectType``. ``objectProperty.{name}=value`` keeps the completions of
    the records (of ``objectType``, contacts when not given) whose property ``name`` is
    ``value``; ``property.{name}=value`` those with that event property value; ``properties``
    names the event properties to return. Any other parameter is a 400.
    """
    _check_parameters(request)
    services = services_of(request)
    kind = _object_type(object_type)
    if object_id is not None:
        if kind is None:
            _refuse(
                "objectType",
                "objectId needs objectType (contact, company, deal or ticket), as HubSpot's "
                "events API has it.",
                Rule.REQUIRED,
            )
        if not object_id.isdigit():
            _refuse("objectId", f"objectId {object_id!r} is not a record id.", actual=object_id)
    record_properties = _pairs(request, OBJECT_PROPERTY)
    record_ids = None
    if record_properties:
        kind = kind or ObjectType.CONTACT
        record_ids = frozenset(
            r.id for r in services.records.with_properties(kind, record_properties)
        )
    event_names = None
    if event_type is not None:
        known = services.occurrences.visible_event_types()
        _check_event_type(known, event_type, services.db.portal.portal_id)
        event_names = frozenset({event_type})
    query = CompletionQuery(
        object_type=kind,
        object_id=object_id,
        object_ids=record_ids,
        associated_only=True,
        event_names=event_names,
        occurred_after=_moment("occurredAfter", occurred_after),
        occurred_before=_moment("occurredBefore", occurred_before),
        properties=_pairs(request, EVENT_PROPERTY),
        ids=frozenset(ids) if ids else None,
        newest_first=_newest_first(sort),
        limit=limit,
        after=after,
        before=before,
    )
    page = services.occurrences.page(query)
    wanted = frozenset(properties) if properties else None
    results = []
    for completion in page.results:
        result = completion_to_hubspot(completion)
        if wanted is not None:
            result["properties"] = {k: v for k, v in result["properties"].items() if k in wanted}
        results.append(result)
    body: dict[str, Any] = {"results": results}
    paging: dict[str, Any] = {}
    if page.next_after:
        paging["next"] = {
            "after": page.next_after,
            "link": _page_link(request, "after", page.next_after),
        }
    if page.prev_before:
        paging["prev"] = {
            "before": page.prev_before,
            "link": _page_link(request, "before", page.prev_before),
        }
    if paging:
        body["paging"] = paging
    return body


@router.get("/event-types")
def event_types(request: Request) -> dict[str, Any]:
    """The event types completions can be listed for: this portal's custom events (fully
    qualified names), then HubSpot's own (``e_visited_page`` ...)."""
    return {"eventTypes": services_of(request).occurrences.visible_event_types()}
