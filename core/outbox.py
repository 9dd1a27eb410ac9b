"""What ``cbe serve --forward`` owes a remote portal: the outbox port (core.forwarding sends it).

An entry is written by the ingestion in the same unit of work as its completion, so a completion
stored is a completion owed, across any crash.

What an adapter keeps: the entries (owed, or refused with an answer; an entry may arrive
refused already: :func:`remote_identity`), oldest first, each id once; how many were sent; the
relay's remote and last error (:meth:`OutboxRepository.note_relay`). Everything is written in
the unit of work that writes it, with the completions it owes: an entry whose completion was
not stored must never be sent (a uuid-less send that a sender retries gets a new id, so both
would reach the remote). A database with transactions keeps a table in the same transaction;
the embedded store (storage.outbox) keeps an append-only file and checks, after a crash, that
each entry's completion was stored. The cost of owing a completion must not grow with what is
stored or owed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.clock import format_utc
from core.models import Completion, CrmRecord, EventDefinition, ObjectType
from core.values import value_text

JSON = dict[str, Any]


NOT_SENT = "Not sent: "
"""How a refusal made here (no identity a remote can match) begins; the remote's own answers
begin with their HTTP status."""


@dataclass(frozen=True)
class OutboxEntry:
    """One completion owed to the remote: ``id`` is the completion's, ``body`` the send body
    with the local fully qualified name (the remote's prefix is put on when it is sent)."""

    id: str
    body: JSON
    refused: str | None = None
    """The remote's answer when it refused the completion; None while it is owed."""


@dataclass(frozen=True)
class OutboxCounts:
    owed: int
    sent: int
    refused: int
    remote: str | None = None
    """The remote the relay sends to (the last ``cbe serve --forward`` to run)."""
    last_error: str | None = None
    """What went wrong last: the remote unreachable, busy or refusing; None: nothing yet."""


class OutboxRepository(Protocol):
    """What is owed to a remote portal, oldest first; written in the completions' unit of work."""

    def add(self, entries: Sequence[OutboxEntry]) -> None:
        """Owe ``entries`` (an id already in the outbox is owed once)."""
        ...

    def owed(self, limit: int) -> list[OutboxEntry]:
        """Up to ``limit`` entries owed (not refused), oldest first."""
        ...

    def settle(self, sent: Collection[str], refused: Mapping[str, str]) -> None:
        """Forget the entries ``sent`` (counting them) and keep ``refused`` ones with the
        remote's answer."""
        ...

    def refused(self) -> list[OutboxEntry]:
        """The entries the remote refused, oldest first."""
        ...

    def requeue(self, ids: Collection[str] | None = None) -> int:
        """Owe refused entries again (all when ``ids`` is None); returns how many."""
        ...

    def counts(self) -> OutboxCounts: ...

    def note_relay(self, remote: str, last_error: str | None) -> None:
        """Keep where the relay sends and what went wrong last, for other processes (the app)
        to show; called when either changes."""
        ...


def remote_identity(
    completion: Completion, definition: EventDefinition | None, record: CrmRecord | None
) -> JSON | str:
    """How a remote portal can tell whose completion this is: the send body's identity fields
    (``email``, ``utk``; none when the event's ``customMatchingId`` property, which travels in
    ``properties``, names the record), or, when nothing but this database's record id is
    known, why it cannot be sent.

    A local ``objectId`` is never sent: record ids are this database's own, and in another
    portal they name another record or none (HubSpot would keep the completion on a stranger,
    or on no one, and answer 204 all the same)."""
    identity: JSON = {}
    if completion.object_type is ObjectType.CONTACT:
        email = (record.email if record is not None else None) or completion.email
        utk = completion.utk or (record.utk if record is not None else None)
        if email:
            identity["email"] = email
        if utk:
            identity["utk"] = utk
    matching = definition.custom_matching_id if definition is not None else None
    if matching is not None:
        wanted = matching.primary_object_rule.event_property_name.lower()
        if any(k.lower() == wanted and value_text(v) for k, v in completion.properties.items()):
            return identity  # the remote matches the property first, then email and utk
    if identity:
        return identity
    kind = completion.object_type
    local_id = completion.object_id or completion.unmatched_object_id
    named = f"{kind.singular.lower()} {local_id}" if local_id else f"this {kind.singular.lower()}"
    if kind is ObjectType.CONTACT:
        return (
            f"{NOT_SENT}the remote cannot tell which contact this is. {named.capitalize()} has "
            "no email and no utk here, and a record id of this database means nothing in "
            "another portal."
        )
    if matching is None:
        how = (
            f"give the event a customMatchingId (a property of the completion matched to a "
            f"{kind.singular.lower()} property such as a domain or a number)"
        )
    else:
        how = f"send {matching.primary_object_rule.event_property_name} with each completion"
    return (
        f"{NOT_SENT}the remote cannot tell which {kind.singular.lower()} this is. "
        f"{named.capitalize()} is this database's id, which means nothing in another portal; "
        f"{kind.plural.lower()} are matched across portals only by the event's "
        f"customMatchingId: {how}."
    )


def outbox_entry(
    completion: Completion,
    definition: EventDefinition | None = None,
    record: CrmRecord | None = None,
) -> OutboxEntry:
    """What is owed for a stored completion: its send body, the uuid cbe gave it included, with
    the identity a remote portal can match (:func:`remote_identity`); refused at once, with the
    reason, when there is none."""
    body: JSON = {
        "eventName": completion.event_name,
        "uuid": completion.uuid,
        "occurredAt": format_utc(completion.occurred_at),
        "properties": {k: v for k, v in completion.properties.items() if v is not None and v != ""},
    }
    identity = remote_identity(completion, definition, record)
    if isinstance(identity, str):
        return OutboxEntry(completion.id, body, identity)
    return OutboxEntry(completion.id, body | identity)
