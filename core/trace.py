"""A send's trace: "why didn't my event register?" (issue 15).

What happened to a send, found by its ``uuid`` (or, for a send without one, by the completion id
the collector answered, which is then its uuid, or by the id of a refused request): when it was
received and from which path, whether it was stored or refused (every rule), which record it
matched and how, or that it matched none, whether retries with the same uuid came (answered as
accepted, not stored again) and when the first arrived, what the JavaScript rules cut, and on
which record's timeline it is.

Everything comes from what is stored anyway: the completion (``matched_by`` and
``unmatched_object_id`` say how it was matched, its cuts what was cut) and the bounded
quarantine (refused requests and retries); a trace adds no file of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import Rule, Violation
from core.models import Completion, CrmRecord, Match, PrimaryObjectRule
from core.outbox import NOT_SENT
from core.ports import Database
from core.rejections import RejectedRequest
from core.rules import qualified_internal_name

_SOURCES = {"api": "the HTTP API", "js": "the JavaScript collector", "import": "cbe send"}


@dataclass(frozen=True)
class StoredSend:
    """A completion stored under the traced key, with what its trace says of it."""

    completion: Completion
    record: CrmRecord | None
    """The record whose timeline it is on now (None: on no record's timeline)."""
    matching: PrimaryObjectRule | None = None
    """The event's ``customMatchingId`` rule, when it has one."""

    @property
    def match(self) -> dict[str, Any]:
        """How the record was matched on arrival: ``by`` (objectId, email, utk, created,
        none, or unknown for a completion stored before traces), what was sent, and why."""
        c = self.completion
        by = c.matched_by
        sent = {
            Match.OBJECT_ID: c.object_id,
            Match.EMAIL: c.email,
            Match.UTK: c.utk,
            Match.CREATED: c.email,
        }
        kind = c.object_type.singular.lower()
        if by is None:
            return {
                "by": "unknown",
                "sent": None,
                "detail": "Stored before cbe kept how a record was matched.",
            }
        rule = self.matching
        if rule is not None and (
            by is Match.CUSTOM_MATCHING_ID
            or (by is Match.NONE and not (c.unmatched_object_id or c.email or c.utk))
        ):
            return self._custom_match(by, rule)
        if by is Match.NONE:
            value: str | None
            if c.unmatched_object_id:
                value, what = c.unmatched_object_id, f"objectId {c.unmatched_object_id!r}"
            elif c.email:
                value, what = c.email, f"email {c.email!r}"
            else:
                value, what = c.utk, f"utk {c.utk!r}"
            detail = (
                f"No {kind} had {what} when it arrived: accepted and kept unassociated, as "
                "HubSpot does (`cbe serve --strict` refuses it)."
            )
            if c.utk and not c.unmatched_object_id and not c.email:
                detail = (
                    f"No contact had utk {c.utk!r} when it arrived: kept as an anonymous "
                    "visitor's, joined to the contact once a contact with that utk is known."
                )
            return {"by": "none", "sent": value, "detail": detail}
        if by is Match.CREATED:
            return {
                "by": by.value,
                "sent": c.email,
                "detail": f"No contact had email {c.email!r}: the collector created one.",
            }
        return {
            "by": by.value,
            "sent": sent[by],
            "detail": f"Matched a {kind} by {by.value} {sent[by]!r}.",
        }

    def _custom_match(self, by: Match, rule: PrimaryObjectRule) -> dict[str, Any]:
        c = self.completion
        kind = c.object_type.singular.lower()
        value = c.properties.get(rule.event_property_name)
        target, prop = rule.target_object_property_name, rule.event_property_name
        if by is Match.NONE:
            detail = (
                f"No {kind} had {target} {value!r} (the event's {prop}, its customMatchingId) "
                "when it arrived: accepted and kept unassociated, as HubSpot does "
                "(`cbe serve --strict` refuses it)."
            )
            return {"by": "none", "sent": value, "detail": detail}
        detail = (
            f"Matched a {kind} by customMatchingId: its {target} equals the event's {prop} "
            f"{value!r}."
        )
        return {"by": by.value, "sent": value, "detail": detail}

    def to_json(self) -> dict[str, Any]:
        c = self.completion
        return {
            "id": c.id,
            "uuid": c.uuid,
            "eventName": c.event_name,
            "receivedAt": c.to_json()["receivedAt"],
            "occurredAt": c.to_json()["occurredAt"],
            "source": c.source.value,
            "match": self.match,
            "timeline": None
            if self.record is None
            else {
                "objectType": self.record.object_type.value,
                "objectId": self.record.id,
                "name": self.record.display_name,
            },
            "cuts": [cut.to_json() for cut in c.cuts],
            "unusable": {name: list(values) for name, values in c.unusable.items()},
            "completion": c.to_json(),
        }


@dataclass(frozen=True)
class KeptRequest:
    """A request in the quarantine that names the traced key: refused, or a retry."""

    request: RejectedRequest
    violations: list[Violation]
    """The violations of the inputs that carry the key."""

    @property
    def retry(self) -> bool:
        """Refused only because the uuid was already received: as HubSpot, it was answered as
        accepted and not stored again."""
        return all(v.rule is Rule.DUPLICATE_UUID for v in self.violations)

    def to_json(self) -> dict[str, Any]:
        r = self.request
        return {
            "rejectionId": r.id,
            "receivedAt": r.to_json()["receivedAt"],
            "source": r.source.value,
            "batch": r.batch,
            "violations": [
                {"message": v.message, "code": v.rule.value, "in": v.field} for v in self.violations
            ],
        }


@dataclass
class Trace:
    """What happened to the sends with one key."""

    key: str
    stored: list[StoredSend] = field(default_factory=list)
    refused: list[KeptRequest] = field(default_factory=list)
    retries: list[KeptRequest] = field(default_factory=list)
    forward_refusals: dict[str, str] = field(default_factory=dict)
    """The remote's answer, by completion id, when ``cbe serve --forward`` was refused."""

    @property
    def found(self) -> bool:
        return bool(self.stored or self.refused or self.retries)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "accepted": bool(self.stored),
            "completions": [s.to_json() for s in self.stored],
            "refused": [r.to_json() for r in self.refused],
            "retries": [r.to_json() for r in self.retries],
            "forwardingRefused": [
                {"id": key, "answer": answer} for key, answer in self.forward_refusals.items()
            ],
            "summary": self.lines(),
        }

    def lines(self) -> list[str]:
        """The trace for a person, one fact a line (not neutralised: the caller shows it)."""
        out: list[str] = []
        for s in self.stored:
            c = s.completion
            out.append(
                f"Accepted: {c.event_name} received {_time(c.to_json()['receivedAt'])} from "
                f"{_SOURCES.get(c.source.value, c.source.value)}, occurred "
                f"{_time(c.to_json()['occurredAt'])} (completion {c.id}"
                + (f", uuid {c.uuid!r})." if c.uuid != c.id else ").")
            )
            out.append("  Record: " + str(s.match["detail"]))
            if s.record is not None:
                out.append(
                    f"  Timeline: on {s.record.object_type.singular.lower()} {s.record.id} "
                    f"({s.record.display_name})."
                )
            else:
                out.append("  Timeline: on no record's timeline.")
            answer = self.forward_refusals.get(c.id)
            if answer is not None and answer.startswith(NOT_SENT):
                out.append(f"  Forwarding: {answer}")
            elif answer is not None:
                out.append(
                    f"  Forwarding: the remote refused it: {answer} "
                    "(kept; once the remote is fixed, POST /cbe/v1/forwarding/replay sends it)"
                )
            for cut in c.cuts:
                out.append(f"  Cut: {cut.property}: {cut.detail or cut.reason}")
            for name, values in c.unusable.items():
                out.append(f"  Unusable: {name} = {', '.join(values)} (not an option)")
            later = [r for r in self.retries if c.event_name in r.request.event_names]
            for r in later:
                out.append(
                    f"  Retry: received {_time(r.to_json()['receivedAt'])} with the same uuid; "
                    f"answered as accepted, not stored again (the first arrived "
                    f"{_time(c.to_json()['receivedAt'])})."
                )
        shown = {
            id(r)
            for s in self.stored
            for r in self.retries
            if s.completion.event_name in r.request.event_names
        }
        for r in self.retries:
            if id(r) not in shown:
                out.append(
                    f"Retry: received {_time(r.to_json()['receivedAt'])} with a uuid already "
                    "received; answered as accepted, not stored again."
                )
        for r in self.refused:
            out.append(
                f"Refused: received {_time(r.to_json()['receivedAt'])} from "
                f"{_SOURCES.get(r.request.source.value, r.request.source.value)}, nothing "
                f"stored (kept as rejected request {r.request.id}):"
            )
            out.extend(f"  {v.field or 'body'}: {v.message} [{v.rule.value}]" for v in r.violations)
        if not out:
            out.append(
                f"Nothing with uuid or id {self.key!r} was received (or its refusal has left "
                "the quarantine)."
            )
        return out


def _time(text: str) -> str:
    return text.replace("T", " ").replace("Z", " UTC")


def _inputs(request: RejectedRequest) -> list[tuple[str, object]]:
    """Each input of a kept request with the field prefix its violations carry."""
    body = request.body
    if request.batch and isinstance(body, Mapping) and isinstance(body.get("inputs"), list):
        return [(f"inputs[{i}]", b) for i, b in enumerate(body["inputs"])]
    return [("", body)]


def _naming(request: RejectedRequest, key: str) -> list[Violation] | None:
    """The violations of the inputs of ``request`` whose uuid is ``key`` (all of them when the
    request's id is ``key``); None when it does not name ``key``."""
    if request.id == key:
        return list(request.violations)
    prefixes = [p for p, b in _inputs(request) if isinstance(b, Mapping) and b.get("uuid") == key]
    if not prefixes:
        return None
    if request.batch:
        mine = [
            v
            for v in request.violations
            if any(v.field == p or v.field.startswith(p + ".") for p in prefixes)
        ]
        return mine or list(request.violations)  # a batch refused as a whole (its size)
    return list(request.violations)


def _matching(db: Database, completion: Completion) -> PrimaryObjectRule | None:
    """The ``customMatchingId`` rule of the completion's event, if it has one."""
    name = qualified_internal_name(db.portal.portal_id, completion.event_name)
    definition = None if name is None else db.definitions.get(name)
    if definition is None or definition.custom_matching_id is None:
        return None
    return definition.custom_matching_id.primary_object_rule


def trace(db: Database, key: str) -> Trace:
    """What happened to the sends whose uuid (or completion or rejected request id) is
    ``key``."""
    found = Trace(key)
    for completion in db.completions.find(key):
        record = None
        if completion.object_id is not None:
            record = db.records.get(completion.object_type, completion.object_id)
        found.stored.append(StoredSend(completion, record, _matching(db, completion)))
    if found.stored:
        ids = {s.completion.id for s in found.stored}
        found.forward_refusals = {e.id: e.refused or "" for e in db.outbox.refused() if e.id in ids}
    for request in reversed(db.rejections.list_all()):  # oldest first
        violations = _naming(request, key)
        if violations is None:
            continue
        kept = KeptRequest(request, violations)
        (found.retries if kept.retry else found.refused).append(kept)
    return found


__all__ = ["KeptRequest", "StoredSend", "Trace", "trace"]
