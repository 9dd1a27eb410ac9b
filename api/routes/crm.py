"""A minimal ``/crm/v3/objects``: enough for a client to create the records events belong to."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from api.deps import services_of
from api.routes.paging import next_link
from core.errors import NotFound, Rule, ValidationFailed, Violation, violations_from_pydantic
from core.hubspot import record_to_hubspot
from core.models import CrmRecord, ObjectType
from core.services import Services

router = APIRouter(prefix="/crm/v3/objects", tags=["crm objects"])

# Documented as HubSpot's plural names; singular names and object type ids work too.
ObjectTypeName = Annotated[
    str, Path(json_schema_extra={"enum": ["contacts", "companies", "deals", "tickets"]})
]

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


def _association_targets(services: Services, associations: Any) -> list[tuple[ObjectType, str]]:
    """Read and check every association before anything is written."""
    targets = []
    if associations is not None and not isinstance(associations, list):
        associations = [associations]
    for i, association in enumerate(associations or []):
        try:
            target_id = str(association["to"]["id"])
            type_ids = [int(t["associationTypeId"]) for t in association.get("types", [])]
            target = next(ASSOCIATION_TARGETS[t] for t in type_ids if t in ASSOCIATION_TARGETS)
        except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as error:
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
        if services.db.records.get(target, target_id) is None:
            raise ValidationFailed(
                [
                    Violation(
                        field=f"associations[{i}].to.id",
                        rule=Rule.UNKNOWN_OBJECT,
                        message=f"No {target.singular.lower()} with id {target_id} exists.",
                        actual=target_id,
                    )
                ]
            )
        targets.append((target, target_id))
    return targets


@router.post("/{object_type}", status_code=201)
def create_record(
    request: Request, object_type: ObjectTypeName, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    services = services_of(request)
    kind = _kind(object_type)
    properties = _properties(body)
    with services.db.transaction() as unit:
        targets = _association_targets(services, body.get("associations"))
        record = services.records.create(kind, {k: v for k, v in properties.items() if v})
        for target, target_id in targets:
            services.records.associate(kind, record.id, target, target_id)
        unit.commit()
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
    object_type: ObjectTypeName,
    record_id: str,
    id_property: Annotated[str | None, Query(alias="idProperty")] = None,
) -> dict[str, Any]:
    services = services_of(request)
    record = _find(services, _kind(object_type), record_id, id_property)
    return record_to_hubspot(record)


@router.get("/{object_type}")
def list_records(
    request: Request,
    object_type: ObjectTypeName,
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
    request: Request, object_type: ObjectTypeName, record_id: str, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    services = services_of(request)
    record = services.records.update(_kind(object_type), record_id, _properties(body))
    return record_to_hubspot(record)


@router.delete("/{object_type}/{record_id}", status_code=204)
def archive_record(request: Request, object_type: ObjectTypeName, record_id: str) -> Response:
    services_of(request).records.archive(_kind(object_type), record_id)
    return Response(status_code=204)


class SearchFilter(BaseModel):
    propertyName: str
    operator: Literal["EQ", "NEQ", "CONTAINS_TOKEN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"] = "EQ"
    value: str | int | float | bool | None = None


class FilterGroup(BaseModel):
    filters: list[SearchFilter] = []


class SearchBody(BaseModel):
    """HubSpot's search body; ``sorts`` and ``properties`` are accepted and ignored."""

    filterGroups: list[FilterGroup] = []
    query: str | None = None
    limit: int = Field(default=10, ge=1, le=200)
    after: str | int | None = None


def _matches(record: CrmRecord, flt: SearchFilter) -> bool:
    value = (
        record.id if flt.propertyName == "hs_object_id" else record.properties.get(flt.propertyName)
    )
    wanted = "" if flt.value is None else str(flt.value).lower()
    if flt.operator == "EQ":
        return value is not None and value.lower() == wanted
    if flt.operator == "NEQ":
        return value is None or value.lower() != wanted
    if flt.operator == "CONTAINS_TOKEN":
        return value is not None and wanted.strip("*") in value.lower()
    if flt.operator == "HAS_PROPERTY":
        return bool(value)
    return not value  # NOT_HAS_PROPERTY


@router.post("/{object_type}/search")
def search_records(
    request: Request, object_type: ObjectTypeName, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    """HubSpot's search: ``filterGroups`` (any group; all filters in a group), ``query``, paging."""
    services = services_of(request)
    kind = _kind(object_type)
    try:
        search = SearchBody.model_validate(body if isinstance(body, dict) else {})
    except ValidationError as error:
        raise ValidationFailed(violations_from_pydantic(error)) from error
    records = services.records.search(kind, search.query or None)
    if search.filterGroups:
        records = [
            r
            for r in records
            if any(all(_matches(r, f) for f in group.filters) for group in search.filterGroups)
        ]
    after = None if search.after is None else str(search.after)
    page = _page(request, records, search.limit, after)
    page["total"] = len(records)
    return page
