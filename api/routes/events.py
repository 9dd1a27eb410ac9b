"""``GET /events/v3/events``: completions with HubSpot's filters and cursor paging."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import services_of
from api.routes.paging import next_link
from core.errors import NotFound, Rule, ValidationFailed, Violation
from core.hubspot import completion_to_hubspot
from core.models import ObjectType
from core.occurrences import MAX_LIMIT, CompletionQuery
from core.rules import internal_name_from
from core.values import parse_datetime

router = APIRouter(prefix="/events/v3/events", tags=["events"])


def _moment(field: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = parse_datetime(text)
    if moment is None:
        raise ValidationFailed(
            [
                Violation(
                    field=field,
                    rule=Rule.INVALID_DATETIME,
                    message=f"{field} {text!r} is not ISO 8601 with Z or an offset, "
                    "nor epoch milliseconds.",
                    actual=text,
                )
            ]
        )
    return moment


def _object_type(text: str | None) -> ObjectType | None:
    if text is None:
        return None
    try:
        return ObjectType.parse(text)
    except ValueError as error:
        raise ValidationFailed(
            [
                Violation(
                    field="objectType",
                    rule=Rule.INVALID_VALUE,
                    message=f"Unknown objectType {text!r}: use contact, company, deal or ticket.",
                    actual=text,
                )
            ]
        ) from error


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
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    sort: Annotated[list[str] | None, Query()] = None,
    ids: Annotated[list[str] | None, Query(alias="id")] = None,
) -> dict[str, Any]:
    """Completions newest first (``sort=ASCENDING`` for oldest first), ``limit`` per page.

    Also ``objectProperty.email=...`` (with ``objectType=contact``) and ``property.{name}=...``.
    """
    services = services_of(request)
    kind = _object_type(object_type)
    params = request.query_params
    email = params.get("objectProperty.email")
    if email is not None:
        if kind not in (None, ObjectType.CONTACT):
            raise ValidationFailed(
                [
                    Violation(
                        field="objectProperty.email",
                        rule=Rule.IDENTITY_NOT_FOR_OBJECT,
                        message="objectProperty.email identifies contacts; use objectType=contact.",
                    )
                ]
            )
        kind = ObjectType.CONTACT
        try:
            object_id = services.records.find_contact(email).id
        except NotFound:
            return {"results": []}
    properties = tuple(
        (key.removeprefix("property."), value)
        for key, value in params.multi_items()
        if key.startswith("property.")
    )
    event_names = None
    if event_type:
        portal_id = services.db.portal.portal_id
        event_names = frozenset({f"pe{portal_id}_{internal_name_from(portal_id, event_type)}"})
    newest_first = not any("ASC" in s.upper() for s in sort or ())
    query = CompletionQuery(
        object_type=kind,
        object_id=object_id,
        event_names=event_names,
        occurred_after=_moment("occurredAfter", occurred_after),
        occurred_before=_moment("occurredBefore", occurred_before),
        properties=properties,
        ids=frozenset(ids) if ids else None,
        newest_first=newest_first,
        limit=limit,
        after=after,
    )
    page = services.occurrences.page(query)
    body: dict[str, Any] = {"results": [completion_to_hubspot(c) for c in page.results]}
    if page.next_after:
        base = str(request.url.remove_query_params("after"))
        body["paging"] = {
            "next": {"after": page.next_after, "link": next_link(base, page.next_after)}
        }
    return body


@router.get("/event-types")
def event_types(request: Request) -> dict[str, Any]:
    """The fully qualified names completions can be listed for."""
    return {"eventTypes": services_of(request).occurrences.event_types()}
