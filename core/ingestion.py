"""Ingestion: the one entry point through which completions arrive, in three modes.

As HubSpot (the HTTP API and ``cbe send`` by default): what HubSpot checks at once (unknown event
or property, limits, types, names, no identity) fails the request with every violation and stores
nothing; what HubSpot settles after accepting never fails it: an ``objectId``, ``email`` or
``utk`` that names no record keeps the completion unassociated (an anonymous visitor for a utk),
and a ``uuid`` already received is answered as accepted, stored once, and the retry kept in the
quarantine. Strict (``--strict``, ``/cbe/v1/validate``, replays): every violation fails the
request, an unknown record and a repeated uuid included. Lenient (JavaScript collector): values
are truncated to their limit, only the first 50 properties are kept, and what was cut is recorded
on the completion; only an input that cannot become a completion at all (unknown event, no
identity) is refused.

In every mode: ``eventName`` is the fully qualified name ``pe{portalId}_{name}`` (the internal
name alone names no event, as on HubSpot); names equal after lowercasing are one property (one
kept, the rest reported);
enumeration values that are not options are kept and flagged unusable; a ``uuid`` is stored once
per event; ``occurredAt`` defaults to the clock. Each completion says how its record was matched
(``matched_by``), for its trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import ValidationError, field_validator

from core.clock import Clock, to_utc, truncate_to_millis
from core.defaults import DEFAULT_PROPERTIES
from core.errors import (
    Conflict,
    Rule,
    ValidationFailed,
    Violation,
    fail_if,
    violations_from_pydantic,
)
from core.models import (
    CbeModel,
    Completion,
    CrmRecord,
    Cut,
    EventDefinition,
    Match,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    PropertyValue,
    Source,
)
from core.outbox import OutboxEntry, outbox_entry
from core.ports import Database, RecordRepository
from core.records import check_email, check_email_characters
from core.rejections import RejectedRequest
from core.rules import (
    MAX_NAME_LENGTH,
    MAX_PROPERTIES_PER_COMPLETION,
    check_batch_size,
    check_property_count,
    check_property_name_length,
    check_send_text,
    check_tag,
    check_value_length,
    fully_qualified_name,
    max_value_length,
    qualified_internal_name,
    resolve_case_duplicates,
    storable,
    uuid_taken,
)
from core.values import ParsedValue, parse_datetime, parse_value, value_text

IdFactory = Callable[[], str]
_log = logging.getLogger("cbe.ingestion")


CUTS_LISTED = 5
"""What the lenient path names of a many-fold cut; the rest is a count, so a request's cuts
stay a few hundred bytes however many properties it sends."""


def dropped_properties(names: Sequence[str]) -> Cut:
    """One cut for the properties the 50-property rule left out, naming the first few."""
    shown = ", ".join(repr(n[:MAX_NAME_LENGTH]) for n in names[:CUTS_LISTED])
    rest = len(names) - CUTS_LISTED
    more = f" and {rest} more" if rest > 0 else ""
    return Cut(
        property="properties",
        reason=Rule.TOO_MANY_PROPERTIES,
        detail=f"{len(names)} propert{'ies' if len(names) != 1 else 'y'} dropped ({shown}{more}): "
        f"only the first {MAX_PROPERTIES_PER_COMPLETION} are kept.",
    )


class Mode(StrEnum):
    """How strictly a request is held to the limits."""

    HUBSPOT = "hubspot"
    """What HubSpot refuses at once is refused; what it settles later is accepted."""
    STRICT = "strict"
    """Everything is refused at once, an unknown record and a repeated uuid included."""
    LENIENT = "lenient"
    """The JavaScript collector: cut to the limits, keep what can be kept."""


class SendRequest(CbeModel):
    """HubSpot's send body (``BehavioralEventHttpCompletionRequest``)."""

    event_name: str
    properties: dict[str, Any] = {}
    """Required by HubSpot's send spec (``hubspot_body``); cbe's own callers may leave it out."""
    object_id: str | None = None
    email: str | None = None
    utk: str | None = None
    occurred_at: str | int | float | bool | None = None
    """Epoch millis or ISO 8601; bool is listed so that true is refused, not read as 1 ms."""
    uuid: str | None = None

    @field_validator("properties", mode="before")
    @classmethod
    def _no_properties_is_empty(cls, value: object) -> object:
        return {} if value is None else value

    @field_validator("object_id", mode="before")
    @classmethod
    def _object_id_as_text(cls, value: object) -> object:
        # HubSpot's SDK sends objectId as a string, hand-written clients often as a number.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


def parse_send_body(raw: object, hubspot_body: bool = False) -> Send | list[Violation]:
    """Read a send body from JSON; malformed bodies give violations, never exceptions.

    ``hubspot_body``: the body came to HubSpot's API (or ``cbe send``), so it holds what HubSpot's
    send spec requires: ``eventName`` and ``properties`` (``{}`` when there are none)."""
    if type(raw) is dict:  # nearly every body: read at once if it is plain (read_plain_send)
        plain = read_plain_send(raw, hubspot_body)
        if plain is not None:
            return plain
    return read_send_body(raw, hubspot_body)


class PlainSend(NamedTuple):
    """A plain send body read at once (:func:`read_plain_send`): the fields of the
    :class:`SendRequest` pydantic would make of it, in its order, with the same values."""

    event_name: str
    properties: dict[str, Any]
    object_id: str | None
    email: str | None
    utk: str | None
    occurred_at: str | int | None
    uuid: str | None


Send = SendRequest | PlainSend
"""A send body read: judging reads either alike."""

_SEND_SLOTS: dict[str, int] = {
    field.alias or name: PlainSend._fields.index(name)
    for name, field in SendRequest.model_fields.items()
}
"""Each field of a send body by its JSON name (``eventName``), as its place in PlainSend."""
_EVENT_NAME, _PROPERTIES, _OBJECT_ID = 0, 1, 2
_MAYBE_INTEGER = frozenset({_OBJECT_ID, PlainSend._fields.index("occurred_at")})


def read_plain_send(raw: dict[str, Any], hubspot_body: bool = False) -> PlainSend | None:
    """A plain send body read as :func:`read_send_body` reads it, at a fraction of the cost;
    None when the body is not plain (that function then reads it, and says what is wrong).

    Plain: every key one of the body's JSON names; ``eventName`` text; ``email``, ``utk``,
    ``uuid`` text or null; ``objectId`` text, null or a 64-bit integer (made text, as the
    model's validator makes it); ``occurredAt`` text, null or a 64-bit integer; ``properties``
    (required of a HubSpot body) an object of text names whose values are text, numbers,
    booleans or null; every text storable (:func:`core.rules.check_text`). Such a body passes
    the text check and the model's validation unchanged: its fields are taken as they are
    (the properties copied, as pydantic copies them), without building a model (a test holds
    the two equal on generated bodies). Every input of a batch comes here.
    """
    values: list[Any] = [None] * len(PlainSend._fields)
    for key, value in raw.items():
        slot = _SEND_SLOTS.get(key)
        if slot is None:
            return None
        kind = type(value)
        if kind is str:
            if slot == _PROPERTIES:
                return None
            if not (value.isascii() and "\x00" not in value) and not storable(value):
                return None
        elif value is None:
            if slot in (_EVENT_NAME, _PROPERTIES):
                return None
        elif slot == _PROPERTIES:
            if kind is not dict or not _plain_properties(value):
                return None
            value = dict(value)
        elif kind is int and slot in _MAYBE_INTEGER and value.bit_length() < 64:
            if slot == _OBJECT_ID:
                value = str(value)
        else:
            return None
        values[slot] = value
    if values[_EVENT_NAME] is None:
        return None
    if values[_PROPERTIES] is None:
        if hubspot_body:
            return None
        values[_PROPERTIES] = {}
    return PlainSend._make(values)


def _plain_properties(properties: dict[Any, Any]) -> bool:
    """Whether every name is text and every value text, a number, a boolean or null, all
    text storable (as :func:`core.rules.check_send_text` reads them)."""
    for key, value in properties.items():
        if type(key) is not str:
            return False
        if not (key.isascii() and "\x00" not in key) and not storable(key):
            return False
        kind = type(value)
        if kind is str:
            if not (value.isascii() and "\x00" not in value) and not storable(value):
                return False
        elif value is not None and kind is not int and kind is not float and kind is not bool:
            return False
    return True


def read_send_body(raw: object, hubspot_body: bool = False) -> SendRequest | list[Violation]:
    """:func:`parse_send_body` for any body: its text checked, then pydantic's validation."""
    if not isinstance(raw, (dict, Mapping)):  # dict first: see check_send_text
        return [
            Violation(
                field="",
                rule=Rule.INVALID_TYPE,
                message=f"A send body is a JSON object, not {_json_type(raw)}.",
            )
        ]
    unreadable = check_send_text(raw)
    if unreadable:  # its other problems could not even be reported (nor its text stored)
        return unreadable
    missing = (
        [
            Violation(
                field="properties",
                rule=Rule.REQUIRED,
                message="properties is required (HubSpot's spec requires it; send {} for none).",
            )
        ]
        if hubspot_body and raw.get("properties") is None
        else []
    )
    try:
        request = SendRequest.model_validate(raw)
    except ValidationError as error:
        return [*violations_from_pydantic(error), *missing]
    return missing or request


def parse_batch_body(raw: object) -> list[object] | list[Violation]:
    """The ``inputs`` of a batch body ``{"inputs": [...]}``, or why they cannot be read."""
    inputs = raw.get("inputs") if isinstance(raw, Mapping) else None
    if not isinstance(inputs, list):
        return [
            Violation(
                field="inputs",
                rule=Rule.REQUIRED,
                message='A batch body is {"inputs": [...]} with one send body per input.',
            )
        ]
    return inputs


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


@dataclass
class Rejection:
    """An input the lenient path refused, with why."""

    index: int
    violations: list[Violation]
    reference: str | None = None
    """The id the quarantine keeps it under (a strict or HubSpot-mode refusal)."""


@dataclass
class IngestResult:
    """What a request stored."""

    stored: list[Completion] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[Rejection] = field(default_factory=list)
    """Inputs whose uuid was already received (as HubSpot): accepted, not stored again."""
    created_contacts: list[CrmRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """What ``POST /events/v3/send`` (or ``/send/batch``) would do with a body, decided
    without storing anything."""

    batch: bool
    inputs: int
    accepted: list[tuple[int, Completion]]
    """Each input that passes every rule, by index, as it would be stored."""
    rejected: list[Rejection]
    """Each input that breaks a rule, with every violation."""
    problems: list[Violation]
    """What is wrong with the body as a whole (not a batch, too many inputs)."""

    @property
    def valid(self) -> bool:
        return not self.rejected and not self.problems

    def summary(self) -> str:
        """One sentence: would the request be accepted, and if not, what breaks."""
        if self.problems:
            return "The batch cannot be read: " + "; ".join(p.message for p in self.problems)
        if not self.batch:
            if self.valid:
                return "Valid: the completion would be stored."
            count = len(self.rejected[0].violations)
            return f"Invalid: {count} broken rule{'s' * (count != 1)}; nothing would be stored."
        if self.valid:
            return f"Valid: all {self.inputs} inputs would be stored."
        return (
            f"Invalid: {len(self.rejected)} of {self.inputs} inputs break a rule; a batch is "
            "stored all or nothing, so nothing would be stored."
        )


@dataclass
class _Draft:
    """A completion before identity is settled (the lenient path may create a contact)."""

    completion: Completion
    create_contact_email: str | None = None


def all_properties(definition: EventDefinition) -> list[PropertyDefinition]:
    """The properties an event accepts: its custom ones, then the defaults unless turned off."""
    defaults = list(DEFAULT_PROPERTIES) if definition.include_default_properties else []
    return [*definition.properties, *defaults]


class _Accepted(NamedTuple):
    """A property an event accepts: its definition, its longest value, its options."""

    prop: PropertyDefinition
    limit: int
    options: frozenset[str] | None
    name: str
    """``prop.name``, kept here for the loop that reads it for every value."""
    simple: frozenset[str] | None
    """Option values that need no parsing: no ``;``, no surrounding space, not empty."""
    is_string: bool
    is_number: bool


def _accepted(prop: PropertyDefinition) -> _Accepted:
    options = frozenset(prop.option_values()) if prop.type is PropertyType.ENUMERATION else None
    simple = (
        None
        if options is None
        else frozenset(v for v in options if v and ";" not in v and v == v.strip())
    )
    return _Accepted(
        prop,
        max_value_length(prop.name),
        options,
        prop.name,
        simple,
        prop.type is PropertyType.STRING,
        prop.type is PropertyType.NUMBER,
    )


class _Refused(NamedTuple):
    """A refused request as the quarantine keeps it."""

    batch: bool
    body: object
    violations: list[Violation]
    tag: str | None


def _one(ids: Sequence[str]) -> str | None:
    """The id of a refused request kept as one (a batch kept whole, a single send)."""
    return ids[0] if len(ids) == 1 else None


def _tag_of(tags: Sequence[str | None] | None, index: int = 0) -> str | None:
    return tags[index] if tags else None


class _Lookups:
    """What one ingest call (which holds the database's lock) looks up again and again: a
    batch names the same contacts and events many times."""

    def __init__(self, records: RecordRepository) -> None:
        self._records = records
        self._found: dict[tuple[str | ObjectType, str], CrmRecord | None] = {}
        self._accepted: dict[str, dict[str, _Accepted]] = {}
        self._exact: dict[str, dict[str, _Accepted]] = {}
        self._by_property: dict[tuple[ObjectType, str], dict[str, CrmRecord]] = {}

    def accepted(self, definition: EventDefinition) -> dict[str, _Accepted]:
        """The properties an event accepts, by name, with what checking a value needs."""
        found = self._accepted.get(definition.name)
        if found is None:
            found = self._accepted[definition.name] = {
                p.name: _accepted(p) for p in all_properties(definition)
            }
        return found

    def exact(self, definition: EventDefinition) -> dict[str, _Accepted]:
        """The properties an event accepts under the very name they are sent by: those whose
        name is its own lowercase form and within the length limit (as senders write them)."""
        found = self._exact.get(definition.name)
        if found is None:
            found = self._exact[definition.name] = {
                name: accepted
                for name, accepted in self.accepted(definition).items()
                if name == name.lower() and len(name) <= MAX_NAME_LENGTH
            }
        return found

    def get(self, kind: ObjectType, record_id: str) -> CrmRecord | None:
        key = (kind, record_id)
        try:
            return self._found[key]
        except KeyError:
            found = self._found[key] = self._records.get(kind, record_id)
            return found

    def find_contact_by_email(self, email: str) -> CrmRecord | None:
        key = ("email", email.lower())
        if key not in self._found:
            self._found[key] = self._records.find_contact_by_email(email)
        return self._found[key]

    def find_contact_by_utk(self, utk: str) -> CrmRecord | None:
        key = ("utk", utk)
        if key not in self._found:
            self._found[key] = self._records.find_contact_by_utk(utk)
        return self._found[key]

    def find_by_property(self, kind: ObjectType, name: str, value: str) -> CrmRecord | None:
        """The live record of ``kind`` whose property ``name`` is ``value`` (the lowest id when
        several are): one pass over the records per ingest call and property, then lookups."""
        index = self._by_property.get((kind, name))
        if index is None:
            index = self._by_property[(kind, name)] = {}
            records = (r for r in self._records.list_records(kind) if not r.archived)
            for record in sorted(records, key=_record_order, reverse=True):
                held = value_text(record.properties.get(name))
                if held:
                    index[held] = record
        return index.get(value)


def _record_order(record: CrmRecord) -> tuple[int, str]:
    return (len(record.id), record.id)  # numeric ids in number order


def match_custom_id(
    request: Send, definition: EventDefinition, mode: Mode, records: _Lookups
) -> tuple[str | None, str | None, Match] | Violation | None:
    """HubSpot's ``customMatchingId``, which comes before objectId, email and utk: the record of
    the event's object whose ``targetObjectPropertyName`` equals the completion's
    ``eventPropertyName`` (compared as text, exactly).

    None when the definition has no rule or the send does not carry the event property (or
    carries it empty): the usual identities decide. When no record holds the value, the usual
    identities decide too if the send has any; otherwise the completion is kept unassociated as
    HubSpot settles it later, and strict mode refuses it.
    """
    matching = definition.custom_matching_id
    if matching is None:
        return None
    rule = matching.primary_object_rule
    wanted = rule.event_property_name.lower()
    sent = next(
        (v for k, v in request.properties.items() if k.lower() == wanted and v is not None), None
    )
    value = value_text(sent) if sent is not None else None
    if not value:
        return None
    kind = definition.primary_object
    record = records.find_by_property(kind, rule.target_object_property_name, value)
    if record is not None:
        return record.id, None, Match.CUSTOM_MATCHING_ID
    if request.object_id or request.email or request.utk:
        return None
    if mode is Mode.STRICT:
        return Violation(
            field=f"properties.{rule.event_property_name}",
            rule=Rule.UNKNOWN_OBJECT,
            message=f"No {kind.singular.lower()} has {rule.target_object_property_name} "
            f"{value!r} ({definition.fully_qualified_name} matches records by its "
            f"customMatchingId).",
            actual=value,
        )
    return None, None, Match.NONE


class Ingestor:
    """Turns send bodies into stored completions; the HTTP API, collector and CLI all use it."""

    def __init__(self, db: Database, clock: Clock, new_id: IdFactory) -> None:
        self._db = db
        self._clock = clock
        self._new_id = new_id
        self.listeners: list[Callable[[list[Completion]], None]] = []
        """Called with every stored batch, inside its transaction (workflows listen here)."""
        self.forwarding = False
        """Owe every stored completion to a remote portal (``cbe serve --forward``), in the
        unit of work that stores it (core.forwarding)."""
        self.forwarded: list[Callable[[], None]] = []
        """Told after a unit that owed completions has ended (the forwarder wakes up)."""

    def send_batch(
        self,
        body: object,
        source: Source = Source.API,
        tag: str | None = None,
        *,
        hubspot_body: bool = False,
        mode: Mode = Mode.STRICT,
    ) -> list[Completion]:
        """Ingest a batch body ``{"inputs": [...]}``: all of it or nothing (as HubSpot, the
        inputs whose uuid was already received are accepted and not stored again)."""
        inputs = parse_batch_body(body)
        if inputs and isinstance(inputs[0], Violation):
            violations = [v for v in inputs if isinstance(v, Violation)]
            ids = self._quarantine([_Refused(True, body, violations, tag)], source)
            raise ValidationFailed(violations, _one(ids))
        return self.ingest(
            inputs,
            mode,
            source,
            batch=True,
            tags=[tag] * len(inputs),
            hubspot_body=hubspot_body,
        ).stored

    def validate(self, body: object, *, hubspot_body: bool = False) -> Verdict:
        """Judge a send body, or a batch body ``{"inputs": [...]}``, by the strict rules (the
        uuids already stored included) and store nothing. Every input is judged on its own, so
        a batch's verdict says which inputs pass, though a batch is stored all or nothing."""
        batch = isinstance(body, Mapping) and "inputs" in body
        inputs: Sequence[object] = [body]
        if batch:
            parsed = parse_batch_body(body)
            problems = [v for v in parsed if isinstance(v, Violation)]
            if not problems:
                inputs = parsed
                problems = check_batch_size(len(inputs))
            if problems:
                return Verdict(True, 0, [], [], problems)
        request = _Request(inputs, Mode.STRICT, Source.API, batch, None, hubspot_body)
        with self._db.transaction():  # reads only: nothing to commit
            result = self._judge(request).result
        refused = {r.index for r in result.rejected}
        passed = [i for i in range(len(inputs)) if i not in refused]
        accepted = list(zip(passed, result.stored, strict=True))
        return Verdict(batch, len(inputs), accepted, result.rejected, [])

    def ingest(
        self,
        bodies: Sequence[object],
        mode: Mode,
        source: Source,
        *,
        batch: bool = False,
        all_or_nothing: bool = True,
        quarantine: bool = True,
        tags: Sequence[str | None] | None = None,
        hubspot_body: bool = False,
    ) -> IngestResult:
        """Validate and store ``bodies`` (raw JSON send bodies).

        Strict and HubSpot mode raise :class:`ValidationFailed` with every violation (fields
        prefixed ``inputs[i].`` when ``batch``) and store nothing. With ``all_or_nothing=False``
        (a file import, where each line is its own request) they instead reject each input with
        any violation and store the others. HubSpot mode lists the inputs whose uuid was
        already received in ``duplicates``, stores them not again, and keeps them in the
        quarantine. Lenient mode stores what it can and lists the rest
        as rejected.

        What strict mode refuses is kept in the quarantine (:mod:`core.rejections`) unless
        ``quarantine`` is False (a replay of what is kept there): in a unit of work of its own,
        after the request's unit has ended, so that a refusal (which stores nothing of the
        request) keeps it all the same.
        """
        keep = quarantine and mode is not Mode.LENIENT
        for tag in {t for t in tags or () if t is not None}:
            fail_if(check_tag(tag))
        request = _Request(bodies, mode, source, batch, tags, hubspot_body)
        if batch:
            size = check_batch_size(len(bodies))
            if size:
                refused = _Refused(True, {"inputs": list(bodies)}, size, _tag_of(tags))
                raise ValidationFailed(size, _one(self._quarantine([refused], source, keep)))
        refusal: list[Violation] = []
        conflict = False
        with self._db.transaction() as unit:
            judged = self._judge(request)
            if mode is not Mode.LENIENT and all_or_nothing and judged.violations:
                refusal = judged.violations
            else:
                try:
                    self._store(judged)
                except Conflict as error:  # the store found a uuid taken: nothing is stored
                    refusal, conflict = list(error.violations), True
                else:
                    unit.commit()
        if self.forwarding and judged.result.stored and not refusal:
            for wake in self.forwarded:
                wake()
        kept = self._quarantine(_to_keep(request, judged, refusal, conflict), source, keep)
        if refusal:
            raise ValidationFailed(refusal, None if conflict else _one(kept))
        if not all_or_nothing:  # each refused input kept on its own
            for rejection, reference in zip(judged.result.rejected, kept, strict=False):
                rejection.reference = reference
        return judged.result

    def replay(self, request: RejectedRequest) -> int:
        """Send a kept request again by the strict rules, without quarantining it again;
        returns how many completions it stored. A kept retry (its only violation a uuid
        already received, as HubSpot mode keeps them) is replayed as HubSpot would: a uuid
        still taken is a no-op that passes, so a retry never blocks the quarantine."""
        mode = Mode.HUBSPOT if request.is_retry else Mode.STRICT
        if request.batch:
            inputs = parse_batch_body(request.body)
            if inputs and isinstance(inputs[0], Violation):
                raise ValidationFailed([v for v in inputs if isinstance(v, Violation)])
            result = self.ingest(
                inputs,
                mode,
                request.source,
                batch=True,
                quarantine=False,
                tags=[request.tag] * len(inputs),
            )
        else:
            result = self.ingest(
                [request.body], mode, request.source, quarantine=False, tags=[request.tag]
            )
        return len(result.stored)

    def _quarantine(
        self, refused: Sequence[_Refused], source: Source, keep: bool = True
    ) -> list[str]:
        """Keep refused requests, each with its body, violations and test run's tag, in a unit
        of work of their own; their ids, in order (none when they could not be kept, or when
        not ``keep``)."""
        if not (keep and refused):
            return []
        now = truncate_to_millis(to_utc(self._clock.now()))
        kept = [
            RejectedRequest(
                id=self._new_id(),
                received_at=now,
                source=source,
                batch=batch,
                body=body,
                violations=violations,
                tag=tag,
            )
            for batch, body, violations, tag in refused
        ]
        try:
            with self._db.transaction() as unit:
                self._db.rejections.add(kept)
                unit.commit()
        except Exception:  # the answer to the sender matters more than the copy
            _log.exception("could not keep %d rejected request(s)", len(kept))
            return []
        return [k.id for k in kept]

    def _judge(self, request: _Request) -> _Judgement:
        """Decide what ``request`` stores and what it refuses, writing nothing (the caller
        holds the database's lock, so what is read stays true until it is stored)."""
        now = truncate_to_millis(to_utc(self._clock.now()))
        judged = _Judgement(now)
        mode, batch = request.mode, request.batch
        definitions: dict[str, EventDefinition | None] = {}
        seen_uuids: set[tuple[str, str]] = set()

        parsed: list[tuple[int, Send, EventDefinition | None]] = []
        for index, body in enumerate(request.bodies):
            send = parse_send_body(body, request.hubspot_body)
            if isinstance(send, list):
                judged.reject(index, send, batch)
            else:
                parsed.append((index, send, self._definition(definitions, send.event_name)))

        # The uuids are looked up while the inputs are validated (a store on a server answers
        # meanwhile); what was already received is judged once both are done, in order.
        existing = self._db.completions.begin_existing_uuids(
            {(d.fully_qualified_name, r.uuid) for _, r, d in parsed if r.uuid and d is not None}
        )

        lookups = _Lookups(self._db.records)
        prepared: list[tuple[int, _Draft | None, list[Violation]]] = []
        tags = request.tags
        for index, send, definition in parsed:
            draft, violations = self._prepare(
                send, definition, mode, request.source, now, lookups, tags[index] if tags else None
            )
            prepared.append((index, draft, violations))
        already = existing()

        for index, draft, violations in prepared:
            if draft is not None:
                key = (draft.completion.event_name, draft.completion.uuid)
                if key in already or key in seen_uuids:
                    repeated = uuid_taken(*key)
                    if mode is not Mode.HUBSPOT or violations:
                        violations.append(repeated)
                    else:  # HubSpot accepts the retry and keeps the first: a no-op
                        judged.result.duplicates.append(Rejection(index, [repeated]))
                        continue
                seen_uuids.add(key)
            if violations or draft is None:
                judged.reject(index, violations, batch)
            else:
                judged.drafts.append((index, draft))
        judged.result.stored = [d.completion for _, d in judged.drafts]
        return judged

    def _store(self, judged: _Judgement) -> None:
        """Store what was judged storable: contacts to create, then the completions; then
        tell the listeners. The caller's unit of work commits it."""
        self._settle_identities(judged.drafts, judged.result, judged.now)
        completions = [d.completion for _, d in judged.drafts]
        judged.result.stored = completions
        if not completions:
            return
        self._db.completions.append(completions)
        if self.forwarding:  # not a listener: a completion stored must be owed, or neither
            definitions: dict[str, EventDefinition | None] = {}
            self._db.outbox.add([self._owed(c, definitions) for c in completions])
        for listener in self.listeners:
            try:
                listener(completions)
            except Exception:  # the completions are stored; a listener catches up later
                _log.exception("a listener failed on %d new completion(s)", len(completions))

    def _owed(
        self, completion: Completion, definitions: dict[str, EventDefinition | None]
    ) -> OutboxEntry:
        """What is owed to the remote for ``completion``, with the identity it can match."""
        definition = self._definition(definitions, completion.event_name)
        record = (
            None
            if completion.object_id is None
            else self._db.records.get(completion.object_type, completion.object_id)
        )
        return outbox_entry(completion, definition, record)

    def _definition(
        self, cache: dict[str, EventDefinition | None], event_name: str
    ) -> EventDefinition | None:
        """The definition ``eventName`` names; only a fully qualified name names one."""
        if event_name not in cache:
            name = qualified_internal_name(self._db.portal.portal_id, event_name)
            cache[event_name] = None if name is None else self._db.definitions.get(name)
        return cache[event_name]

    def _unknown_event(self, event_name: str) -> Violation:
        message = f"Event with fully qualified name {event_name} does not exist."
        if self._db.definitions.get(event_name) is not None:  # its internal name alone
            fqn = fully_qualified_name(self._db.portal.portal_id, event_name)
            message += f" {event_name!r} is an internal name; send the fully qualified name {fqn}."
        return Violation(
            field="eventName", rule=Rule.UNKNOWN_EVENT, message=message, actual=event_name
        )

    def _prepare(
        self,
        request: Send,
        definition: EventDefinition | None,
        mode: Mode,
        source: Source,
        now: Any,
        lookups: _Lookups,
        tag: str | None = None,
    ) -> tuple[_Draft | None, list[Violation]]:
        if definition is None:
            return None, [self._unknown_event(request.event_name)]
        if definition.archived:
            return None, [
                Violation(
                    field="eventName",
                    rule=Rule.EVENT_ARCHIVED,
                    message=f"Event {definition.fully_qualified_name} is archived; "
                    "restore it to receive completions.",
                    actual=request.event_name,
                )
            ]
        violations: list[Violation] = []
        cuts: list[Cut] = []

        # An unknown identity makes the input unusable, but strict mode still reports every
        # other problem of the request in the same answer.
        identity = (
            None  # most events have no rule: no call
            if definition.custom_matching_id is None
            else match_custom_id(request, definition, mode, lookups)
        )
        if identity is None:
            identity = self._resolve_identity(request, definition, mode, lookups)
        if isinstance(identity, Violation):
            violations.append(identity)
            object_id, create_email, matched_by = None, None, Match.NONE
        else:
            object_id, create_email, matched_by = identity

        occurred_at = now
        if request.occurred_at is not None:
            parsed_at = parse_datetime(request.occurred_at)
            if parsed_at is None:
                bad = Violation(
                    field="occurredAt",
                    rule=Rule.INVALID_OCCURRED_AT,
                    message=(
                        f"occurredAt {request.occurred_at!r} is not a timestamp: send epoch "
                        "milliseconds or ISO 8601 (UTC unless it has Z or an offset)."
                    ),
                    actual=str(request.occurred_at),
                )
                if mode is not Mode.LENIENT:
                    violations.append(bad)
                else:
                    cuts.append(Cut(property="occurredAt", reason=bad.rule, detail=bad.message))
            else:
                occurred_at = parsed_at

        properties, unusable = self._properties(
            request, definition, mode, violations, cuts, lookups
        )
        if isinstance(identity, Violation):
            return None, violations
        completion_id = self._new_id()
        completion = Completion.trusted(
            id=completion_id,
            uuid=request.uuid or completion_id,
            event_name=definition.fully_qualified_name,
            object_type=definition.primary_object,
            object_id=object_id,
            utk=request.utk or None,
            email=request.email or None,
            occurred_at=occurred_at,
            received_at=now,
            source=source,
            properties=properties,
            unusable=unusable,
            cuts=cuts,
            tag=tag,
            matched_by=matched_by,
            unmatched_object_id=(
                request.object_id if matched_by is Match.NONE and request.object_id else None
            ),
        )
        return _Draft(completion, create_email), violations

    def _resolve_identity(
        self, request: Send, definition: EventDefinition, mode: Mode, records: _Lookups
    ) -> tuple[str | None, str | None, Match] | Violation:
        """objectId first, then email, then utk.

        Returns the object id, on the lenient path the email of a contact to create, and how
        the record was matched. As HubSpot, an identity that names no record is no violation:
        the completion is kept unassociated (HubSpot settles it after accepting the send).
        """
        kind = definition.primary_object
        later = mode is Mode.HUBSPOT
        if request.object_id:
            record = records.get(kind, request.object_id)
            if record is None or record.archived:
                if later:
                    return None, None, Match.NONE
                return Violation(
                    field="objectId",
                    rule=Rule.UNKNOWN_OBJECT,
                    message=f"No {kind.singular.lower()} with id {request.object_id} exists.",
                    actual=request.object_id,
                )
            return record.id, None, Match.OBJECT_ID
        if kind is not ObjectType.CONTACT:
            if request.email or request.utk:
                return Violation(
                    field="email" if request.email else "utk",
                    rule=Rule.IDENTITY_NOT_FOR_OBJECT,
                    message=(
                        f"email and utk identify contacts; {definition.fully_qualified_name} "
                        f"belongs to {kind.plural}, so send objectId."
                    ),
                )
            return Violation(
                field="objectId",
                rule=Rule.MISSING_IDENTITY,
                message=f"objectId is required: {definition.fully_qualified_name} "
                f"belongs to {kind.plural}.",
            )
        if request.email:
            # Strict and lenient alike: such an email never finds nor creates a contact.
            refused = check_email_characters(request.email, "email")
            if refused:
                return refused[0]
            contact = records.find_contact_by_email(request.email)
            if contact is not None and not contact.archived:
                return contact.id, None, Match.EMAIL
            if mode is not Mode.STRICT:
                # Decided before anything is stored: no contact is made for a non-address,
                # and a non-address is refused at once.
                invalid = check_email(request.email, "email")
                if invalid:
                    return invalid[0]
                if later:
                    return None, None, Match.NONE
                return None, request.email, Match.CREATED
            return Violation(
                field="email",
                rule=Rule.UNKNOWN_EMAIL,
                message=f"No contact with email {request.email!r} exists.",
                actual=request.email,
            )
        if request.utk:
            contact = records.find_contact_by_utk(request.utk)
            if contact is not None and not contact.archived:
                return contact.id, None, Match.UTK
            if mode is not Mode.STRICT:
                # an anonymous visitor, joined to a contact once identified
                return None, None, Match.NONE
            return Violation(
                field="utk",
                rule=Rule.UNKNOWN_UTK,
                message=f"No contact with utk {request.utk!r} exists.",
                actual=request.utk,
            )
        return Violation(
            field="objectId",
            rule=Rule.MISSING_IDENTITY,
            message="Say who completed the event: send objectId, email or utk.",
        )

    def _properties(
        self,
        request: Send,
        definition: EventDefinition,
        mode: Mode,
        violations: list[Violation],
        cuts: list[Cut],
        lookups: _Lookups,
    ) -> tuple[dict[str, PropertyValue], dict[str, list[str]]]:
        """The values to store and the unusable ones; what is wrong is added to
        ``violations`` (strict) or ``cuts`` (lenient). Plain properties, as nearly every
        sender sends, are taken at once."""
        plain = _plain_values(request.properties, lookups.exact(definition))
        if plain is not None:
            return plain, {}
        return self._read_properties(request, definition, mode, violations, cuts, lookups)

    def _read_properties(
        self,
        request: Send,
        definition: EventDefinition,
        mode: Mode,
        violations: list[Violation],
        cuts: list[Cut],
        lookups: _Lookups,
    ) -> tuple[dict[str, PropertyValue], dict[str, list[str]]]:
        """:meth:`_properties` for any properties: each name and value judged, every problem
        reported (strict) or cut (lenient)."""
        strict = mode is not Mode.LENIENT
        sent = request.properties
        if None in sent.values():  # a null value is as if the property was not sent
            sent = {k: v for k, v in sent.items() if v is not None}
        kept, dropped = resolve_case_duplicates(sent)
        for name in dropped[:CUTS_LISTED]:
            key = name.lower()
            cuts.append(
                Cut(
                    property=name,
                    reason=Rule.DUPLICATE_AFTER_LOWERCASE,
                    detail=f"{name!r} and {kept[key]!r} are the same after lowercasing; "
                    f"{kept[key]!r} was used.",
                )
            )
        if len(dropped) > CUTS_LISTED:
            more = len(dropped) - CUTS_LISTED
            cuts.append(
                Cut(
                    property="properties",
                    reason=Rule.DUPLICATE_AFTER_LOWERCASE,
                    detail=f"{more} more name{'s' * (more != 1)} equal to another after "
                    "lowercasing were set aside.",
                )
            )
        # Each kept name beside its lowercased form, which is how the event knows its properties.
        names: Iterable[tuple[str, str]] = kept.items()
        if strict:
            too_many = check_property_count(len(kept))
            violations.extend(too_many)
            if too_many:
                # The request fails on the count; the first 50 are checked, as the lenient
                # path keeps them, so 100,000 unknown names cannot make a 25 MB answer.
                names = list(kept.items())[:MAX_PROPERTIES_PER_COMPLETION]
        elif len(kept) > MAX_PROPERTIES_PER_COMPLETION:
            listed = list(kept.items())
            cuts.append(dropped_properties([n for _, n in listed[MAX_PROPERTIES_PER_COMPLETION:]]))
            names = listed[:MAX_PROPERTIES_PER_COMPLETION]

        known = lookups.accepted(definition)
        values: dict[str, PropertyValue] = {}
        unusable: dict[str, list[str]] = {}
        for lowered, name in names:
            raw = sent[name]
            accepted = known.get(lowered)
            if accepted is None or len(name) > MAX_NAME_LENGTH:
                where = f"properties.{name}"
                problem = check_property_name_length(name, where) or [
                    Violation(
                        field=where,
                        rule=Rule.UNKNOWN_PROPERTY,
                        message=(
                            f"{definition.fully_qualified_name} has no property named {name!r}."
                        ),
                        actual=name,
                    )
                ]
                self._refuse(strict, problem, violations, cuts, name)
                continue
            # The usual values need no parsing: text within its limit for a string property or
            # that is exactly an option, a whole number of sane size for a number property.
            # Each gives what parse_value would (a test holds the two paths equal).
            kind = type(raw)
            if kind is str:
                if len(raw) <= accepted.limit and (
                    accepted.is_string or (accepted.simple is not None and raw in accepted.simple)
                ):
                    values[accepted.name] = raw
                    continue
            elif kind is int and accepted.is_number and raw.bit_length() < 64:
                values[accepted.name] = raw  # a 64-bit integer: fewer than 256 digits too
                continue
            prop, limit, options = accepted.prop, accepted.limit, accepted.options
            text = value_text(raw)
            if text is not None and len(text) > limit:
                if strict:
                    violations.extend(check_value_length(prop.name, text, f"properties.{name}"))
                    continue
                cuts.append(
                    Cut(
                        property=prop.name,
                        reason=Rule.VALUE_TOO_LONG,
                        detail=f"Truncated to {limit} characters.",
                        original_length=len(text),
                    )
                )
                raw = text = text[:limit]
            if text is not None and prop.type is PropertyType.STRING:
                values[prop.name] = text  # what parse_value would give, without the call
                continue
            outcome = parse_value(prop, raw, f"properties.{name}", text, options)
            if isinstance(outcome, Violation):
                self._refuse(strict, [outcome], violations, cuts, name)
                continue
            assert isinstance(outcome, ParsedValue)
            values[prop.name] = outcome.value
            if outcome.unusable:
                unusable[prop.name] = list(outcome.unusable)
                cuts.append(
                    Cut(
                        property=prop.name,
                        reason=Rule.UNUSABLE_OPTION,
                        detail=(
                            f"{', '.join(repr(v) for v in outcome.unusable)} "
                            f"{'is' if len(outcome.unusable) == 1 else 'are'} not an option of "
                            f"{prop.name!r}; kept, but not usable in filters and reports."
                        ),
                    )
                )
        return values, unusable

    @staticmethod
    def _refuse(
        strict: bool,
        problem: list[Violation],
        violations: list[Violation],
        cuts: list[Cut],
        name: str,
    ) -> None:
        if strict:
            violations.extend(problem)
        else:
            cuts.extend(Cut(property=name, reason=v.rule, detail=v.message) for v in problem)

    def _settle_identities(
        self, drafts: list[tuple[int, _Draft]], result: IngestResult, now: Any
    ) -> None:
        """Create the contacts the lenient path met by email, one per address."""
        created: dict[str, CrmRecord] = {}
        for _, draft in drafts:
            email = draft.create_contact_email
            if email is None:
                continue
            key = email.lower()
            if key not in created:
                records = self._db.records
                properties = {"email": email}
                utk = draft.completion.utk
                holder = records.find_contact_by_utk(utk) if utk else None
                if utk and (holder is None or holder.archived):  # a token is one contact's
                    properties["hubspotutk"] = utk
                contact = CrmRecord(
                    object_type=ObjectType.CONTACT,
                    id=records.next_id(ObjectType.CONTACT),
                    properties=properties,
                    created_at=now,
                    updated_at=now,
                )
                records.insert(contact)
                created[key] = contact
                result.created_contacts.append(contact)
            draft.completion = draft.completion.model_copy(update={"object_id": created[key].id})


def _plain_values(
    sent: dict[str, Any], exact: dict[str, _Accepted]
) -> dict[str, PropertyValue] | None:
    """The values to store of properties that are all plain, in every mode what
    ``Ingestor._properties`` makes of them with nothing to report; None when one is not.

    Plain: at most 50, each sent under the name of a property the event accepts (``exact``:
    so no two are equal after lowercasing, and none is too long a name) with a value that
    needs no parsing (the loop's first test there: text within its limit for a string
    property or exactly a simple option, a 64-bit integer for a number property). A test
    holds the two paths equal on generated properties.
    """
    if len(sent) > MAX_PROPERTIES_PER_COMPLETION:
        return None
    values: dict[str, PropertyValue] = {}
    for name, raw in sent.items():
        accepted = exact.get(name)
        if accepted is None:
            return None
        kind = type(raw)
        if kind is str:
            if len(raw) > accepted.limit or not (
                accepted.is_string or (accepted.simple is not None and raw in accepted.simple)
            ):
                return None
        elif not (kind is int and accepted.is_number and raw.bit_length() < 64):
            return None
        values[name] = raw
    return values


@dataclass(frozen=True)
class _Request:
    """One call to :meth:`Ingestor.ingest`: the bodies and how they came."""

    bodies: Sequence[object]
    mode: Mode
    source: Source
    batch: bool
    tags: Sequence[str | None] | None
    hubspot_body: bool


@dataclass
class _Judgement:
    """What judging a request decided, before anything is stored."""

    now: Any
    result: IngestResult = field(default_factory=IngestResult)
    """Rejected inputs and retries; ``stored``: what would be stored, as it would be."""
    drafts: list[tuple[int, _Draft]] = field(default_factory=list)
    """The inputs to store, by index."""
    violations: list[Violation] = field(default_factory=list)
    """Every violation of every rejected input (prefixed ``inputs[i].`` in a batch)."""

    def reject(self, index: int, violations: list[Violation], batch: bool) -> None:
        shown = [v.prefixed(f"inputs[{index}]") for v in violations] if batch else violations
        self.violations.extend(shown)
        self.result.rejected.append(Rejection(index, shown))


def _to_keep(
    request: _Request, judged: _Judgement, refusal: Sequence[Violation], conflict: bool
) -> list[_Refused]:
    """What the quarantine keeps of a request (the one place that says so).

    Refused whole (``refusal``): a batch whole, another request body by body with its own
    violations (with a ``conflict``'s, when the store refused it). Else each rejected input on
    its own (an import, line by line), and the retries of a uuid already received (as HubSpot):
    a batch's as one request of those inputs, another request's body by body.
    """
    bodies, tags = request.bodies, request.tags
    if refusal:
        if request.batch:
            return [_Refused(True, {"inputs": list(bodies)}, list(refusal), _tag_of(tags))]
        refused = (
            [Rejection(index, list(refusal)) for index in range(len(bodies))]
            if conflict
            else judged.result.rejected
        )
        return [
            _Refused(False, bodies[r.index], r.violations, _tag_of(tags, r.index)) for r in refused
        ]
    kept = [
        _Refused(False, bodies[r.index], r.violations, _tag_of(tags, r.index))
        for r in judged.result.rejected
    ]
    retries = judged.result.duplicates
    if not retries:
        return kept
    if not request.batch:
        return kept + [
            _Refused(False, bodies[d.index], d.violations, _tag_of(tags, d.index)) for d in retries
        ]
    violations = [v.prefixed(f"inputs[{n}]") for n, d in enumerate(retries) for v in d.violations]
    inputs = [bodies[d.index] for d in retries]
    return [*kept, _Refused(True, {"inputs": inputs}, violations, _tag_of(tags, retries[0].index))]
