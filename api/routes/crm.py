"""A minimal ``/crm/v3/objects``: enough for a client to create the records events belong to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from api.deps import services_of
from api.routes.paging import next_link
from core.errors import NotFound, Rule, ValidationFailed, Violation
from core.hubspot import record_to_hubspot
from core.models import CrmRecord, ObjectType
from core.services import Services

router = APIRouter(prefix="/crm/v3/objects", tags=["crm objects"])

# HubSpot's default association type ids and the object each one points to.
ASSOCIATION_TARGETS = {
    1: ObjectType.COMPANY,  # contact -> company (primary)
    279: ObjectType.COMPANY,  # contact -> company
    2: ObjectType.CONTACT,  # company -> contact
    280: ObjectType.CONTACT,  # company -> contact
    3: ObjectType.CONTACT,  # deal -> contact
    4: ObjectType.DEAL,  # contact -> deal
    5: ObjectType.COMPANY,  # deal -> company (primary)
    341: ObjectType.COMPANY,  # deal -> company
    6: ObjectType.DEAL,  # company -> deal
    15: ObjectType.TICKET,  # contact -> ticket
    16: ObjectType.CONTACT,  # ticket -> contact
    25: ObjectType.TICKET,  # company -> ticket
    26: ObjectType.COMPANY,  # ticket -> company (primary)
    339: ObjectType.COMPANY,  # ticket -> company
    27: ObjectType.TICKET,  # deal -> ticket
    28: ObjectType.DEAL,  # ticket -> deal
}


def _kind(object_type: str) -> ObjectType:
    try:
        return ObjectType.parse(object_type)
    except ValueError as error:
        raise NotFound(
            f"Unknown object type {object_type!r}: cbe serves contacts, companies, deals "
            "and tickets."
        ) from error


def _properties(body: Any) -> dict[str, str]:
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict):
        raise ValidationFailed(
            [
                Violation(
                    field="properties",
                    rule=Rule.REQUIRED,
                    message='The body needs "properties": an object of property names to values.',
                )
            ]
        )
    return {str(k): "" if v is None else str(v) for k, v in props.items()}


def _associate(services: Services, record: CrmRecord, associations: Any) -> None:
    for i, association in enumerate(associations or []):
        try:
            target_id = str(association["to"]["id"])
            type_ids = [int(t["associationTypeId"]) for t in association.get("types", [])]
            target = next(ASSOCIATION_TARGETS[t] for t in type_ids if t in ASSOCIATION_TARGETS)
        except (KeyError, TypeError, ValueError, StopIteration) as error:
            raise ValidationFailed(
                [
                    Violation(
                        field=f"associations[{i}]",
                        rule=Rule.INVALID_VALUE,
                        message="An association is {'to': {'id': ...}, 'types': "
                        "[{'associationCategory': 'HUBSPOT_DEFINED', 'associationTypeId': N}]} "
                        "with one of HubSpot's default type ids.",
                    )
                ]
            ) from error
        services.records.associate(record.object_type, record.id, target, target_id)


@router.post("/{object_type}", status_code=201)
def create_record(
    request: Request, object_type: str, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    services = services_of(request)
    kind = _kind(object_type)
    properties = _properties(body)
    with services.db.transaction():
        record = services.records.create(kind, {k: v for k, v in properties.items() if v})
        _associate(services, record, body.get("associations"))
    return record_to_hubspot(record)


def _find(
    services: Services, kind: ObjectType, record_id: str, id_property: str | None
) -> CrmRecord:
    if id_property and id_property != "hs_object_id":
        if kind is ObjectType.CONTACT and id_property == "email":
            return services.records.find_contact(record_id)
        raise ValidationFailed(
            [
                Violation(
                    field="idProperty",
                    rule=Rule.INVALID_VALUE,
                    message="cbe looks records up by id, and contacts also by email.",
                    actual=id_property,
                )
            ]
        )
    return services.records.get(kind, record_id)


@router.get("/{object_type}/{record_id}")
def get_record(
    request: Request,
    object_type: str,
    record_id: str,
    id_property: Annotated[str | None, Query(alias="idProperty")] = None,
) -> dict[str, Any]:
    services = services_of(request)
    record = _find(services, _kind(object_type), record_id, id_property)
    return record_to_hubspot(record)


@router.get("/{object_type}")
def list_records(
    request: Request,
    object_type: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    after: str | None = None,
    archived: bool = False,
) -> dict[str, Any]:
    services = services_of(request)
    records = [
        r
        for r in services.records.search(_kind(object_type), include_archived=archived)
        if r.archived == archived
    ]
    return _page(request, records, limit, after)


def _page(
    request: Request, records: list[CrmRecord], limit: int, after: str | None
) -> dict[str, Any]:
    start = int(after) if after and after.isdigit() else 0
    chosen = [r for r in records if int(r.id) > start][:limit]
    body: dict[str, Any] = {"results": [record_to_hubspot(r) for r in chosen]}
    remaining = [r for r in records if int(r.id) > start]
    if len(remaining) > limit:
        cursor = chosen[-1].id
        base = str(request.url.remove_query_params("after"))
        body["paging"] = {"next": {"after": cursor, "link": next_link(base, cursor)}}
    return body


@router.patch("/{object_type}/{record_id}")
def update_record(
    request: Request, object_type: str, record_id: str, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    services = services_of(request)
    record = services.records.update(_kind(object_type), record_id, _properties(body))
    return record_to_hubspot(record)


@router.delete("/{object_type}/{record_id}", status_code=204)
def archive_record(request: Request, object_type: str, record_id: str) -> Response:
    services_of(request).records.archive(_kind(object_type), record_id)
    return Response(status_code=204)


_OPERATORS = {"EQ", "NEQ", "CONTAINS_TOKEN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"}


def _matches(record: CrmRecord, flt: dict[str, Any]) -> bool:
    name = str(flt.get("propertyName", ""))
    operator = str(flt.get("operator", "EQ"))
    value = record.properties.get(name)
    if name == "hs_object_id":
        value = record.id
    wanted = str(flt.get("value", ""))
    if operator == "EQ":
        return value is not None and value.lower() == wanted.lower()
    if operator == "NEQ":
        return value is None or value.lower() != wanted.lower()
    if operator == "CONTAINS_TOKEN":
        return value is not None and wanted.strip("*").lower() in value.lower()
    if operator == "HAS_PROPERTY":
        return bool(value)
    return not value  # NOT_HAS_PROPERTY


@router.post("/{object_type}/search")
def search_records(
    request: Request, object_type: str, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    """HubSpot's search: ``filterGroups`` (any group; all filters in a group), ``query``, paging."""
    services = services_of(request)
    body = body if isinstance(body, dict) else {}
    groups = body.get("filterGroups") or []
    for g, group in enumerate(groups):
        for f, flt in enumerate(group.get("filters", []) if isinstance(group, dict) else []):
            if not isinstance(flt, dict) or flt.get("operator", "EQ") not in _OPERATORS:
                raise ValidationFailed(
                    [
                        Violation(
                            field=f"filterGroups[{g}].filters[{f}].operator",
                            rule=Rule.INVALID_VALUE,
                            message=f"cbe's search supports the operators {sorted(_OPERATORS)}.",
                        )
                    ]
                )
    records = services.records.search(_kind(object_type), body.get("query") or None)
    if groups:
        records = [
            r
            for r in records
            if any(all(_matches(r, f) for f in group.get("filters", [])) for group in groups)
        ]
    limit = max(1, min(int(body.get("limit") or 10), 200))
    after = body.get("after")
    page = _page(request, records, limit, str(after) if after is not None else None)
    page["total"] = len(records)
    return page
