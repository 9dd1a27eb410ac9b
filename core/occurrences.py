"""Listing completions: filters and cursor paging, as HubSpot's ``GET /events/v3/events``."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
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

HUBSPOT_EVENT_TYPES: tuple[str, ...] = (
    "e_call_ended",
    "e_clicked_whatsapp_message",
    "e_document_shared_v2",
    "e_form_completion_v2",
    "e_form_submission",
    "e_form_submission_v2",
    "e_form_view",
    "e_v2_contact_replied_sequence_email",
    "e_visited_page",
)
"""HubSpot's own event types (``e_{name}``), which ``event-types`` lists beside the custom ones.

HubSpot's guide says the list is exhaustive, whether or not an account can receive them, but
publishes no list: these are the names integrations read from real accounts (see
docs/hubspot-fidelity.md). cbe stores no completions of them, so a filter on one lists none.
"""


@dataclass(frozen=True)
class CompletionQuery:
    """Which completions to list and in which order.

    ``occurred_after`` is inclusive, ``occurred_before`` exclusive. ``properties`` are
    ``(name, value)`` pairs that must all match a usable value (ignoring case). ``after`` is the
    cursor from the previous page's ``next_after``.
    """

    object_type: ObjectType | None = None
    object_id: str | None = None
    object_ids: frozenset[str] | None = None
    """Only completions of these records (of ``object_type``): those a record property matched."""
    associated_only: bool = False
    """Leave out completions that belong to no record (an anonymous visitor, an unknown email)."""
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
    before: str | None = None
    """The cursor of a page's ``prev_before``: the page just before it (not with ``after``)."""


@dataclass(frozen=True)
class CompletionPage:
    """One page of completions, the cursor of the next page (None on the last) and of the
    previous one (None on the first)."""

    results: list[Completion]
    next_after: str | None
    prev_before: str | None = None


def encode_cursor(completion: Completion) -> str:
    """An opaque cursor that points just past ``completion`` in sort order."""
    raw = json.dumps([to_epoch_millis(completion.occurred_at), completion.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[datetime, str]:
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
                    field=field,
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
        start = decode_cursor(query.after) if query.after else None
        return sum(1 for _ in self._iterate(query, None, start))

    def page(self, query: CompletionQuery) -> CompletionPage:
        """A page of completions matching ``query``, newest first unless asked otherwise.

        With ``before``, the page that ends just before that cursor (read backwards, handed
        out in the query's order); its ``next_after`` leads back to where it came from.
        """
        limit = max(1, min(query.limit, MAX_LIMIT))
        if query.before is not None:
            if query.after is not None:
                raise ValidationFailed(
                    [
                        Violation(
                            field="before",
                            rule=Rule.INVALID_VALUE,
                            message="Send after or before, not both: each names a page.",
                        )
                    ]
                )
            backwards = replace(query, newest_first=not query.newest_first, after=None)
            end = decode_cursor(query.before, "before")
            found = list(self._iterate(backwards, limit + 1, end))
            page = found[:limit][::-1]
            prev_before = encode_cursor(page[0]) if len(found) > limit else None
            next_after = encode_cursor(page[-1]) if page else None
            return CompletionPage(page, next_after, prev_before)
        start = decode_cursor(query.after) if query.after else None
        found = list(self._iterate(query, limit + 1, start))
        next_after = encode_cursor(found[limit - 1]) if len(found) > limit else None
        prev_before = encode_cursor(found[0]) if query.after and found else None
        return CompletionPage(found[:limit], next_after, prev_before)

    def iterate(self, query: CompletionQuery) -> Iterator[Completion]:
        """Every completion matching ``query`` (ignoring its limit), in order."""
        return self._iterate(query, None, decode_cursor(query.after) if query.after else None)

    def _iterate(
        self, query: CompletionQuery, limit: int | None, start: tuple[datetime, str] | None
    ) -> Iterator[Completion]:
        if query.object_ids is not None and not query.object_ids:
            return  # a record property that no record has
        object_id = query.object_id
        if object_id is None and query.object_ids is not None and len(query.object_ids) == 1:
            (object_id,) = query.object_ids  # one record: the store's index serves it
        selection = CompletionSelection(
            object_type=query.object_type,
            object_id=object_id,
            event_names=query.event_names,
            occurred_after=query.occurred_after,
            occurred_before=query.occurred_before,
            tag=query.tag,
            newest_first=query.newest_first,
            start_after=start,
        )
        definitions = self._by_fqn() if query.properties or query.text else {}
        needle = query.text.casefold() if query.text else None
        taken = 0
        for completion in self._db.completions.scan(selection):
            if query.ids is not None and completion.id not in query.ids:
                continue
            if query.associated_only and completion.object_id is None:
                continue
            if query.object_ids is not None and completion.object_id not in query.object_ids:
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

    def visible_event_types(self) -> list[str]:
        """What HubSpot's ``event-types`` lists: the custom events, then HubSpot's own."""
        return self.event_types() + list(HUBSPOT_EVENT_TYPES)
