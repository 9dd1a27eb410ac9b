"""What ``cbe serve --forward`` owes a remote portal: the outbox port (core.forwarding sends it).

An entry is written by the ingestion in the same unit of work as its completion, so a completion
stored is a completion owed, across any crash."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.clock import format_utc
from core.models import Completion

JSON = dict[str, Any]


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


def outbox_entry(completion: Completion) -> OutboxEntry:
    """What is owed for a stored completion: its send body, the uuid cbe gave it included."""
    body: JSON = {
        "eventName": completion.event_name,
        "uuid": completion.uuid,
        "occurredAt": format_utc(completion.occurred_at),
        "properties": {k: v for k, v in completion.properties.items() if v is not None and v != ""},
    }
    object_id = completion.object_id or completion.unmatched_object_id
    if object_id:
        body["objectId"] = object_id
    if completion.email:
        body["email"] = completion.email
    if completion.utk:
        body["utk"] = completion.utk
    return OutboxEntry(completion.id, body)
