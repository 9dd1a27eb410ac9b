"""A record's timeline: its completions newest first, each with its properties for people."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from core.errors import NotFound
from core.ingestion import all_properties
from core.models import Completion, CrmRecord, EventDefinition, PropertyDefinition, PropertyType
from core.occurrences import CompletionQuery, OccurrenceService
from core.ports import Database
from core.values import value_text


@dataclass(frozen=True)
class PropertyRow:
    """One populated property of a completion as a person reads it."""

    name: str
    label: str
    value: str
    """Enumeration values shown by their labels; timestamps as stored (UTC)."""
    unusable: bool = False
    """An enumeration value that is not an option of the property."""
    truncated: bool = False
    """The JavaScript path cut this value to its limit."""


@dataclass(frozen=True)
class TimelineEntry:
    """One completion on a timeline."""

    completion: Completion
    event_label: str
    rows: list[PropertyRow]

    @property
    def occurred_at(self) -> datetime:
        return self.completion.occurred_at

    def summary(self, width: int = 3) -> str:
        """A short line of the first few custom properties (defaults if there are none)."""
        custom = [r for r in self.rows if not r.name.startswith("hs_")]
        chosen = (custom or self.rows)[:width]
        return ", ".join(f"{r.label}: {r.value}" for r in chosen)


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_after: str | None


def property_rows(completion: Completion, definition: EventDefinition | None) -> list[PropertyRow]:
    """Every populated property of a completion, custom ones first, with labels."""
    props: dict[str, PropertyDefinition] = (
        {p.name: p for p in all_properties(definition)} if definition else {}
    )
    truncated = {c.property for c in completion.cuts if c.reason == "VALUE_TOO_LONG"}
    order = {name: i for i, name in enumerate(props)}
    rows = []
    for name in sorted(completion.properties, key=lambda n: (order.get(n, len(order)), n)):
        raw = completion.properties[name]
        prop = props.get(name)
        bad = completion.unusable.get(name, [])
        rows.append(
            PropertyRow(
                name=name,
                label=prop.label if prop else name,
                value=display_value(raw, prop, bad),
                unusable=bool(bad),
                truncated=name in truncated,
            )
        )
    return rows


def display_value(
    raw: str | int | float, prop: PropertyDefinition | None, unusable: Iterable[str] = ()
) -> str:
    """A stored value as people read it: enumeration labels, unusable values marked."""
    if prop is None or prop.type is not PropertyType.ENUMERATION:
        return value_text(raw) or ""
    bad = set(unusable)
    shown = []
    for value in str(raw).split(";"):
        if value in bad:
            shown.append(f"{value} (not an option)")
        else:
            shown.append(prop.option_label(value) or value)
    return "; ".join(shown)


def month_label(moment: datetime) -> str:
    """The heading a timeline groups entries under, e.g. ``November 2026``."""
    return moment.strftime("%B %Y")


def group_by_month(entries: Iterable[TimelineEntry]) -> list[tuple[str, list[TimelineEntry]]]:
    """Consecutive entries grouped under their month, in the order given."""
    groups: list[tuple[str, list[TimelineEntry]]] = []
    for entry in entries:
        label = month_label(entry.occurred_at)
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(entry)
    return groups


class TimelineService:
    """Builds record timelines from completions and definitions."""

    def __init__(self, db: Database, occurrences: OccurrenceService) -> None:
        self._db = db
        self._occurrences = occurrences

    def page(
        self,
        record: CrmRecord,
        *,
        event_names: frozenset[str] | None = None,
        after: str | None = None,
        limit: int = 50,
        occurred_after: datetime | None = None,
        occurred_before: datetime | None = None,
    ) -> TimelinePage:
        """A page of the record's timeline, newest first."""
        query = CompletionQuery(
            object_type=record.object_type,
            object_id=record.id,
            event_names=event_names,
            occurred_after=occurred_after,
            occurred_before=occurred_before,
            limit=limit,
            after=after,
        )
        page = self._occurrences.page(query)
        return TimelinePage(self.entries(page.results), page.next_after)

    def entries(self, completions: Iterable[Completion]) -> list[TimelineEntry]:
        """Timeline entries for completions, with event and property labels resolved."""
        by_fqn = {d.fully_qualified_name: d for d in self._db.definitions.list_all()}
        found = []
        for completion in completions:
            definition = by_fqn.get(completion.event_name)
            label = definition.label if definition else completion.event_name
            found.append(TimelineEntry(completion, label, property_rows(completion, definition)))
        return found

    def definition_for(self, completion: Completion) -> EventDefinition:
        """The event definition a completion belongs to (to jump to it)."""
        for definition in self._db.definitions.list_all():
            if definition.fully_qualified_name == completion.event_name:
                return definition
        raise NotFound(f"Event {completion.event_name} no longer exists.")
