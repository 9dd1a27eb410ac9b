"""The domain's models, named and shaped after HubSpot's JSON.

Python attributes are snake_case; the JSON form (``model_dump()`` and what is stored) uses
HubSpot's camelCase names, e.g. ``fully_qualified_name`` <-> ``fullyQualifiedName``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel

from core.clock import format_utc, to_utc, truncate_to_millis


def _utc_millis(value: datetime) -> datetime:
    return truncate_to_millis(to_utc(value))


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_utc_millis),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
"""A timezone-aware moment kept in UTC to the millisecond; JSON form ``...T03:04:05.000Z``."""

PropertyValue = str | int | float
"""A stored property value: text for strings, enumerations and datetimes; a number for numbers."""


class CbeModel(BaseModel):
    """Base of every domain model: HubSpot's camelCase in JSON, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready form, as stored and as HubSpot names the fields."""
        return self.model_dump(mode="json")

    @classmethod
    def from_valid(cls, values: dict[str, Any], fields_set: set[str]) -> Self:
        """An instance holding ``values`` (every field, in the fields' order, each already in
        its validated form) as they are: nothing validated, nothing copied. ``fields_set``:
        the fields that were given (``model_fields_set``).

        Made as unpickling makes a model (pydantic's ``__setstate__``: a bare instance given
        its values, the names set, no extras, no private attributes), without the state's
        dict and the method's look-ups: every stored and every read completion is built here
        (:meth:`Completion.trusted`).
        """
        model = cls.__new__(cls)
        _set = object.__setattr__
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", fields_set)
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model


class ObjectType(StrEnum):
    """The CRM objects an event can be associated with."""

    CONTACT = "CONTACT"
    COMPANY = "COMPANY"
    DEAL = "DEAL"
    TICKET = "TICKET"

    @property
    def plural(self) -> str:
        """HubSpot's path segment: ``contacts``, ``companies``, ``deals``, ``tickets``."""
        return _PLURALS[self]

    @property
    def object_type_id(self) -> str:
        """HubSpot's object type id, e.g. ``0-1`` for contacts."""
        return _OBJECT_TYPE_IDS[self]

    @property
    def label(self) -> str:
        """The plural label users see: Contacts, Companies, Deals, Tickets."""
        return self.plural.capitalize()

    @property
    def singular(self) -> str:
        """The singular label: Contact, Company, Deal, Ticket."""
        return self.value.capitalize()

    @classmethod
    def parse(cls, text: str) -> ObjectType:
        """Accept ``CONTACT``, ``contact``, ``contacts`` or ``0-1`` (and so on for the others)."""
        key = text.strip().lower()
        for member in cls:
            if key in (member.value.lower(), member.plural, member.object_type_id):
                return member
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown object type {text!r}; expected one of {allowed}")


_PLURALS = {
    ObjectType.CONTACT: "contacts",
    ObjectType.COMPANY: "companies",
    ObjectType.DEAL: "deals",
    ObjectType.TICKET: "tickets",
}
_OBJECT_TYPE_IDS = {
    ObjectType.CONTACT: "0-1",
    ObjectType.COMPANY: "0-2",
    ObjectType.DEAL: "0-3",
    ObjectType.TICKET: "0-5",
}


class PropertyType(StrEnum):
    """The field types of event properties (the wizard's four choices)."""

    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    ENUMERATION = "enumeration"

    @property
    def field_type(self) -> str:
        """HubSpot's ``fieldType`` for this type."""
        return _FIELD_TYPES[self]

    @property
    def label(self) -> str:
        """The wizard's name for the type."""
        return _TYPE_LABELS[self]


_FIELD_TYPES = {
    PropertyType.STRING: "text",
    PropertyType.NUMBER: "number",
    PropertyType.DATETIME: "date",
    PropertyType.ENUMERATION: "select",
}
_TYPE_LABELS = {
    PropertyType.STRING: "String",
    PropertyType.NUMBER: "Number",
    PropertyType.DATETIME: "Timestamp",
    PropertyType.ENUMERATION: "Enumeration",
}


class TrackingMethod(StrEnum):
    """How completions of an event are sent: the wizard's last step."""

    JAVASCRIPT = "JAVASCRIPT"
    """A JavaScript snippet that becomes part of the tracking code (HubSpot: CUSTOM_SCRIPT)."""
    API = "API"
    """Sent by a developer through the HTTP API (HubSpot: MANUAL)."""

    @property
    def tracking_type(self) -> str:
        """HubSpot's ``trackingType`` for the method."""
        return "CUSTOM_SCRIPT" if self is TrackingMethod.JAVASCRIPT else "MANUAL"

    @property
    def label(self) -> str:
        return "JavaScript snippet" if self is TrackingMethod.JAVASCRIPT else "API"


class Source(StrEnum):
    """Where a completion came from; decides strict or lenient ingestion."""

    API = "api"
    JS = "js"
    IMPORT = "import"


class Match(StrEnum):
    """How a completion was matched to its record when it arrived (its trace says so)."""

    OBJECT_ID = "objectId"
    CUSTOM_MATCHING_ID = "customMatchingId"
    """The definition's ``customMatchingId``: a record property equal to an event property."""
    EMAIL = "email"
    UTK = "utk"
    CREATED = "created"
    """The JavaScript path met an unknown email and created the contact."""
    NONE = "none"
    """No record: an unknown objectId or email (kept unassociated), or an anonymous visitor."""


class Portal(CbeModel):
    """The local account a database belongs to."""

    portal_id: int
    access_token: str = Field(repr=False)
    created_at: UtcDatetime

    @classmethod
    def new(cls, created_at: datetime, portal_id: int | None = None) -> Portal:
        """A new portal: ``portal_id``, or a random eight-digit one, and a new access token."""
        return cls(
            portal_id=portal_id
            if portal_id is not None
            else 10_000_000 + secrets.randbelow(90_000_000),
            access_token=f"cbe-{secrets.token_urlsafe(32)}",
            created_at=created_at,
        )


class EnumerationOption(CbeModel):
    """One choice of an enumeration property: the label people see, the value code sends."""

    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""


class PropertyDefinition(CbeModel):
    """A property of an event definition, custom or one of HubSpot's ``hs_*`` defaults."""

    name: str
    label: str
    type: PropertyType
    description: str = ""
    options: list[EnumerationOption] = Field(default_factory=list)
    hubspot_defined: bool = False

    @property
    def field_type(self) -> str:
        return self.type.field_type

    def option_values(self) -> set[str]:
        """The values an enumeration accepts."""
        return {option.value for option in self.options}

    def option_label(self, value: str) -> str | None:
        """The label shown for an enumeration value, or None when the value is not an option."""
        for option in self.options:
            if option.value == value:
                return option.label
        return None


class PrimaryObjectRule(CbeModel):
    """How HubSpot matches a completion to its record by a value (``customMatchingId``): the
    record of the event's object whose ``target_object_property_name`` equals the completion's
    ``event_property_name``."""

    event_property_name: str
    target_object_property_name: str


class CustomMatchingId(CbeModel):
    """HubSpot's ``customMatchingId`` of an event definition (definitions spec,
    ``ExternalObjectResolutionMappingRequest``)."""

    primary_object_rule: PrimaryObjectRule


class EventDefinition(CbeModel):
    """A custom behavioral event as the wizard creates it."""

    id: str
    name: str
    label: str
    fully_qualified_name: str
    description: str = ""
    primary_object: ObjectType = ObjectType.CONTACT
    properties: list[PropertyDefinition] = Field(default_factory=list)
    """The custom properties only; the defaults come from :mod:`core.defaults`."""
    include_default_properties: bool = True
    tracking_method: TrackingMethod = TrackingMethod.API
    snippet: str | None = None
    """The JavaScript the user kept in the wizard (JavaScript tracking only)."""
    archived: bool = False
    custom_matching_id: CustomMatchingId | None = None
    """Match completions to records by a value before objectId, email and utk."""
    created_at: UtcDatetime
    updated_at: UtcDatetime

    def custom_property(self, name: str) -> PropertyDefinition | None:
        """The custom property called ``name``, if any."""
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None


class Cut(CbeModel):
    """Something the lenient (JavaScript) path changed or left out of a completion."""

    property: str
    reason: str
    """A rule code from :class:`core.violations.Rule`, e.g. ``VALUE_TOO_LONG``."""
    detail: str = ""
    original_length: int | None = None

    @classmethod
    def from_stored(cls, doc: dict[str, Any]) -> Cut:
        """A cut read back from its stored form, without validating it again (reports read
        hundreds of thousands of completions; a test holds it equal to ``model_validate``)."""
        return cls.model_construct(
            **{_CUT_FIELDS[k]: v for k, v in doc.items() if k in _CUT_FIELDS}
        )


_CUT_FIELDS = {
    "property": "property",
    "reason": "reason",
    "detail": "detail",
    "originalLength": "original_length",
}


class Completion(CbeModel):
    """One time a record did an event (HubSpot also says "occurrence").

    Frozen: completions are append-only, and stores hand out shared instances.
    """

    model_config = ConfigDict(**CbeModel.model_config, frozen=True)

    id: str
    uuid: str
    """HubSpot's ``uuid``: the sender's idempotency key, unique per event."""
    event_name: str
    """The event's fully qualified name."""
    object_type: ObjectType
    object_id: str | None
    """None for an anonymous visitor known only by ``utk`` (JavaScript path)."""
    utk: str | None = None
    email: str | None = None
    occurred_at: UtcDatetime
    received_at: UtcDatetime
    source: Source
    properties: dict[str, PropertyValue] = Field(default_factory=dict)
    unusable: dict[str, list[str]] = Field(default_factory=dict)
    """Enumeration values that are not options: kept, but out of filters and reports."""
    cuts: list[Cut] = Field(default_factory=list)
    """What was truncated, dropped or ignored on the way in."""
    tag: str | None = None
    """The test run that sent it (``X-Cbe-Tag``), so that a run can list and delete its own."""
    matched_by: Match | None = None
    """How the record was found on arrival; None in documents stored before traces."""
    unmatched_object_id: str | None = None
    """The ``objectId`` sent when it named no record (the completion is kept unassociated)."""

    @classmethod
    def trusted(
        cls,
        *,
        id: str,
        uuid: str,
        event_name: str,
        object_type: ObjectType,
        object_id: str | None,
        utk: str | None,
        email: str | None,
        occurred_at: datetime,
        received_at: datetime,
        source: Source,
        properties: dict[str, PropertyValue],
        unusable: dict[str, list[str]],
        cuts: list[Cut],
        tag: str | None = None,
        matched_by: Match | None = None,
        unmatched_object_id: str | None = None,
    ) -> Completion:
        """A completion from values already in their validated form (UTC datetimes to the
        millisecond, enum members, fresh containers), without validating them again: the
        ingestion's hot path, which has checked every value itself. A test holds the result
        equal to the validated construction.

        Built by :meth:`CbeModel.from_valid`, as unpickling builds a model. Every stored and
        every read completion is made here: 4.4 us each by pydantic's ``__setstate__``, 7.0 us
        by ``model_copy(update=...)`` of a blank completion (best of 20, the 2-CPU machine,
        2026-12-02); ``model_construct`` is slower still (it looks up every field's aliases and
        default). ``from_valid`` sets the four attributes itself, without the state's dict.
        """
        values = {
            "id": id,
            "uuid": uuid,
            "event_name": event_name,
            "object_type": object_type,
            "object_id": object_id,
            "utk": utk,
            "email": email,
            "occurred_at": occurred_at,
            "received_at": received_at,
            "source": source,
            "properties": properties,
            "unusable": unusable,
            "cuts": cuts,
            "tag": tag,
            "matched_by": matched_by,
            "unmatched_object_id": unmatched_object_id,
        }
        return cls.from_valid(values, set(values))

    @classmethod
    def from_stored(cls, doc: dict[str, Any]) -> Completion:
        """A completion read back from its stored form (:meth:`to_json`), without validating
        it again: cbe validated it when it arrived. Reports read hundreds of thousands; a test
        holds the result equal to ``model_validate``."""
        return cls.trusted(
            id=doc["id"],
            uuid=doc["uuid"],
            event_name=doc["eventName"],
            object_type=_OBJECT_TYPES[doc["objectType"]],
            object_id=doc.get("objectId"),
            utk=doc.get("utk"),
            email=doc.get("email"),
            occurred_at=datetime.fromisoformat(doc["occurredAt"]),
            received_at=datetime.fromisoformat(doc["receivedAt"]),
            source=_SOURCES[doc["source"]],
            properties=doc.get("properties") or {},
            unusable=doc.get("unusable") or {},
            cuts=[Cut.from_stored(cut) for cut in doc.get("cuts") or ()],
            tag=doc.get("tag"),
            matched_by=_MATCHES.get(doc.get("matchedBy")),
            unmatched_object_id=doc.get("unmatchedObjectId"),
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form; built by hand because every write goes through it (a test holds it
        equal to pydantic's ``model_dump(mode="json")``, about five times slower)."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "eventName": self.event_name,
            "objectType": _TEXT[self.object_type],
            "objectId": self.object_id,
            "utk": self.utk,
            "email": self.email,
            "occurredAt": format_utc(self.occurred_at),
            "receivedAt": format_utc(self.received_at),
            "source": _TEXT[self.source],
            "properties": dict(self.properties),
            # nearly always empty: no comprehension then (a fifth of the time of this method)
            "unusable": (
                {name: list(values) for name, values in self.unusable.items()}
                if self.unusable
                else {}
            ),
            "cuts": [cut.model_dump(mode="json") for cut in self.cuts] if self.cuts else [],
            "tag": self.tag,
            "matchedBy": None if self.matched_by is None else self.matched_by.value,
            "unmatchedObjectId": self.unmatched_object_id,
        }


class CrmRecord(CbeModel):
    """A CRM object (contact, company, deal or ticket) in HubSpot's shape."""

    object_type: ObjectType
    id: str
    properties: dict[str, str] = Field(default_factory=dict)
    created_at: UtcDatetime
    updated_at: UtcDatetime
    archived: bool = False

    @property
    def email(self) -> str | None:
        return self.properties.get("email") or None

    @property
    def utk(self) -> str | None:
        return self.properties.get("hubspotutk") or None

    @property
    def display_name(self) -> str:
        """What a person calls the record: a contact's name or email, a company's name, ..."""
        p = self.properties
        if self.object_type is ObjectType.CONTACT:
            full = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x)
            return full or p.get("email") or f"Contact {self.id}"
        key = {
            ObjectType.COMPANY: "name",
            ObjectType.DEAL: "dealname",
            ObjectType.TICKET: "subject",
        }[self.object_type]
        return p.get(key) or f"{self.object_type.singular} {self.id}"


class Association(CbeModel):
    """A link between two CRM records, e.g. a contact and their company."""

    from_type: ObjectType
    from_id: str
    to_type: ObjectType
    to_id: str


_TEXT: dict[StrEnum, str] = {member: member.value for member in (*ObjectType, *Source)}
"""Each member's text, looked up rather than read through ``.value`` (a descriptor call), for
:meth:`Completion.to_json`, which every write goes through."""
_OBJECT_TYPES = {member.value: member for member in ObjectType}
_SOURCES = {member.value: member for member in Source}
_MATCHES: dict[Any, Match] = {member.value: member for member in Match}
"""Members by their text, for :meth:`Completion.from_stored`, which every read goes through
(calling the enumeration costs several times a lookup)."""
