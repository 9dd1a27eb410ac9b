"""Listing completions: filters and cursor paging, as HubSpot's ``GET /events/v3/events``."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from core.clock import from_epoch_millis, to_epoch_millis
from core.errors import Rule, ValidationFailed, Violation, fail_if
from core.ingestion import all_properties
from core.models import Completion, EventDefinition, ObjectType, PropertyDefinition
from core.ports import CompletionSelection, Database
from core.rules import check_tag
from core.values import usable_values, value_text

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class CompletionQuery:
    """Which completions to list and in which order.

    ``occurred_after`` is inclusive, ``occurred_before`` exclusive. ``properties`` are
    ``(name, value)`` pairs that must all match a usable value (ignoring case). ``after`` is the
    cursor from the previous page's ``next_after``.
    """

    object_type: ObjectType | None = None
    object_id: str | None = None
    event_names: frozenset[str] | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
    properties: tuple[tuple[str, str], ...] = ()
    ids: frozenset[str] | None = None
    text: str | None = None
    """Case-insensitive text that some property value (or its option label) must contain."""
    tag: str | None = None
    """Only completions a test run sent with this tag."""
    newest_first: bool = True
    limit: int = DEFAULT_LIMIT
    after: str | None = None


@dataclass(frozen=True)
class CompletionPage:
    """One page of completions and the cursor of the next page (None on the last)."""

    results: list[Completion]
    next_after: str | None


def encode_cursor(completion: Completion) -> str:
    """An opaque cursor that points just past ``completion`` in sort order."""
    raw = json.dumps([to_epoch_millis(completion.occurred_at), completion.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The sort key a cursor points past; :class:`ValidationFailed` for a foreign cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        millis, completion_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(millis, int) or not isinstance(completion_id, str):
            raise ValueError(cursor)
        return from_epoch_millis(millis), completion_id
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as error:
        raise ValidationFailed(
            [
                Violation(
                    field="after",
                    rule=Rule.INVALID_VALUE,
                    message=f"{cursor!r} is not a paging cursor from a previous page.",
                    actual=cursor,
                )
            ]
        ) from error


def property_matches(
    completion: Completion, prop: PropertyDefinition | None, name: str, wanted: str
) -> bool:
    """Does ``completion`` have ``wanted`` as a usable value of property ``name``?"""
    if prop is None:
        raw = completion.properties.get(name)
        values = [] if raw is None else [value_text(raw) or ""]
    else:
        values = usable_values(completion, prop)
    needle = wanted.casefold()
    return any(v.casefold() == needle for v in values)


def text_matches(completion: Completion, definition: EventDefinition | None, needle: str) -> bool:
    """Does any property value of ``completion`` (or an option label) contain ``needle``?

    ``needle`` is already casefolded.
    """
    props = {p.name: p for p in all_properties(definition)} if definition else {}
    for name, raw in completion.properties.items():
        text = value_text(raw) or ""
        if needle in text.casefold():
            return True
        prop = props.get(name)
        if prop is not None and prop.options:
            for value in text.split(";"):
                label = prop.option_label(value)
                if label and needle in label.casefold():
                    return True
    return False


class OccurrenceService:
    """Reads completions back: lists, pages and event types."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def delete_tagged(self, tag: str) -> int:
        """Remove what a test run sent with ``tag`` (and nothing else); how many went."""
        fail_if(check_tag(tag))  # an empty tag would not do: it has a rule of its own
        return self._db.completions.delete_tagged(tag)

    def count(self, query: CompletionQuery) -> int:
        """How many completions match ``query`` (its limit and cursor aside)."""
        return sum(1 for _ in self._iterate(query, None))

    def page(self, query: CompletionQuery) -> CompletionPage:
        """A page of completions matching ``query``, newest first unless asked otherwise."""
        limit = max(1, min(query.limit, MAX_LIMIT))
        found = list(self._iterate(query, limit + 1))
        next_after = encode_cursor(found[limit - 1]) if len(found) > limit else None
        return CompletionPage(found[:limit], next_after)

    def iterate(self, query: CompletionQuery) -> Iterator[Completion]:
        """Every completion matching ``query`` (ignoring its limit), in order."""
        return self._iterate(query, None)

    def _iterate(self, query: CompletionQuery, limit: int | None) -> Iterator[Completion]:
        selection = CompletionSelection(
            object_type=query.object_type,
            object_id=query.object_id,
            event_names=query.event_names,
            occurred_after=query.occurred_after,
            occurred_before=query.occurred_before,
            tag=query.tag,
            newest_first=query.newest_first,
            start_after=decode_cursor(query.after) if query.after else None,
        )
        definitions = self._by_fqn() if query.properties or query.text else {}
        needle = query.text.casefold() if query.text else None
        taken = 0
        for completion in self._db.completions.scan(selection):
            if query.ids is not None and completion.id not in query.ids:
                continue
            if query.tag is not None and completion.tag != query.tag:
                continue
            if query.properties and not self._properties_match(
                completion, definitions.get(completion.event_name), query.properties
            ):
                continue
            if needle and not text_matches(
                completion, definitions.get(completion.event_name), needle
            ):
                continue
            yield completion
            taken += 1
            if limit is not None and taken >= limit:
                return

    @staticmethod
    def _properties_match(
        completion: Completion,
        definition: EventDefinition | None,
        wanted: tuple[tuple[str, str], ...],
    ) -> bool:
        props = {p.name: p for p in all_properties(definition)} if definition else {}
        return all(
            property_matches(completion, props.get(name), name, value) for name, value in wanted
        )

    def _by_fqn(self) -> dict[str, EventDefinition]:
        return {d.fully_qualified_name: d for d in self._db.definitions.list_all()}

    def event_types(self) -> list[str]:
        """Fully qualified names of the events completions can be listed for."""
        return sorted(d.fully_qualified_name for d in self._db.definitions.list_all())
