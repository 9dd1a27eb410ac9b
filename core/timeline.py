"""A record's timeline: its completions newest first, each with its properties for people."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from pydantic import Field

from core.clock import Clock
from core.errors import NotFound
from core.ingestion import all_properties
from core.models import (
    CbeModel,
    Completion,
    CrmRecord,
    EventDefinition,
    PropertyDefinition,
    PropertyType,
)
from core.occurrences import CompletionQuery, OccurrenceService, decode_cursor
from core.ports import Database
from core.values import parse_datetime, value_text


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


class ActivityType(StrEnum):
    """The kinds of activity a timeline shows (HubSpot's "Filter activity")."""

    CUSTOM_BEHAVIORAL_EVENT = "CUSTOM_BEHAVIORAL_EVENT"
    WORKFLOW = "WORKFLOW"

    @property
    def label(self) -> str:
        return {
            ActivityType.CUSTOM_BEHAVIORAL_EVENT: "Custom behavioral events",
            ActivityType.WORKFLOW: "Workflow activity and tasks",
        }[self]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a timeline: a completion, or workflow activity (a step, a task)."""

    event_label: str
    """What happened: the event's label, or e.g. "Workflow Nurture: timed out"."""
    rows: list[PropertyRow]
    completion: Completion | None = None
    at: datetime | None = None
    """When, for entries that are not completions."""
    key_text: str = ""
    kind: ActivityType = ActivityType.CUSTOM_BEHAVIORAL_EVENT
    summary_text: str | None = None
    order: int = -1
    """Among entries of the same moment, which happened later (completions first)."""

    @property
    def key(self) -> str:
        """Unique on the timeline."""
        return self.completion.id if self.completion is not None else self.key_text

    @property
    def occurred_at(self) -> datetime:
        if self.completion is not None:
            return self.completion.occurred_at
        assert self.at is not None
        return self.at

    def summary(self, width: int = 3) -> str:
        """A short line of the first few custom properties (defaults if there are none)."""
        if self.summary_text is not None:
            return self.summary_text
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
    if completion.tag is not None:  # sent by a test run (X-Cbe-Tag): say which
        rows.append(PropertyRow(name="", label="Test run tag", value=completion.tag))
    return rows


def display_value(
    raw: str | int | float, prop: PropertyDefinition | None, unusable: Iterable[str] = ()
) -> str:
    """A stored value as people read it: enumeration labels, unusable values marked, a
    datetime (sent as epoch milliseconds or ISO 8601) written as the entries' times are."""
    if prop is not None and prop.type is PropertyType.DATETIME:
        moment = parse_datetime(raw)
        if moment is not None:
            return moment.strftime("%b %d, %Y %H:%M")
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


class Period(StrEnum):
    """The time range a timeline is narrowed to."""

    ALL = "ALL"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
    LAST_90_DAYS = "LAST_90_DAYS"
    CUSTOM = "CUSTOM"

    @property
    def label(self) -> str:
        return {
            Period.ALL: "All time",
            Period.LAST_7_DAYS: "Last 7 days",
            Period.LAST_30_DAYS: "Last 30 days",
            Period.LAST_90_DAYS: "Last 90 days",
            Period.CUSTOM: "Custom range",
        }[self]


_PERIOD_DAYS = {Period.LAST_7_DAYS: 7, Period.LAST_30_DAYS: 30, Period.LAST_90_DAYS: 90}


class TimelineFilter(CbeModel):
    """What a timeline shows; remembered per user.

    Events are filtered by the ones *hidden*, so that an event created later shows by default.
    ``start`` and ``end`` (a custom range) are whole days in UTC, both included.
    """

    activity_types: set[ActivityType] = Field(default_factory=lambda: set(ActivityType))
    hidden_events: set[str] = Field(default_factory=set)
    period: Period = Period.ALL
    start: date | None = None
    end: date | None = None
    search: str = ""

    def time_range(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(at or after, before) for this filter at ``now``."""
        if self.period in _PERIOD_DAYS:
            return now - timedelta(days=_PERIOD_DAYS[self.period]), None
        if self.period is Period.CUSTOM:
            after = datetime.combine(self.start, time(), tzinfo=UTC) if self.start else None
            before = (
                datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)
                if self.end
                else None
            )
            return after, before
        return None, None

    @property
    def is_default(self) -> bool:
        return self == TimelineFilter()

    def describe(self) -> str:
        """A short line saying what is filtered, e.g. "2 events hidden · Last 30 days"."""
        parts = []
        if ActivityType.CUSTOM_BEHAVIORAL_EVENT not in self.activity_types:
            parts.append("custom behavioral events hidden")
        elif self.hidden_events:
            count = len(self.hidden_events)
            parts.append(f"{count} event{'s' if count != 1 else ''} hidden")
        if self.period is Period.CUSTOM:
            start = self.start.isoformat() if self.start else "…"
            end = self.end.isoformat() if self.end else "…"
            parts.append(f"{start} to {end}")
        elif self.period is not Period.ALL:
            parts.append(self.period.label)
        if self.search:
            parts.append(f"containing {self.search!r}")
        return " · ".join(parts) or "All activity"


ActivitySource = Callable[[CrmRecord], list[TimelineEntry]]


def _entry_mentions(entry: TimelineEntry, needle: str) -> bool:
    texts = [entry.event_label, entry.summary(), *(r.value for r in entry.rows)]
    return any(needle in t.casefold() for t in texts)


class TimelineService:
    """Builds record timelines from completions and definitions."""

    def __init__(self, db: Database, occurrences: OccurrenceService, clock: Clock) -> None:
        self._db = db
        self._occurrences = occurrences
        self._clock = clock
        self.activity_sources: list[ActivitySource] = []
        """Other activity on a record's timeline (workflow steps and tasks register here)."""

    def page(
        self,
        record: CrmRecord,
        *,
        event_names: frozenset[str] | None = None,
        after: str | None = None,
        limit: int = 50,
        occurred_after: datetime | None = None,
        occurred_before: datetime | None = None,
        timeline_filter: TimelineFilter | None = None,
    ) -> TimelinePage:
        """A page of the record's timeline, newest first, narrowed by ``timeline_filter``.

        Workflow activity is woven into the pages of completions by time: each page carries
        the activity between its newest and oldest completion (the last page: all older).
        """
        timeline_filter = timeline_filter or TimelineFilter()
        now = self._clock.now()
        query = self.query(record, timeline_filter, now, limit=limit, after=after)
        entries: list[TimelineEntry] = []
        next_after = None
        if query is not None:
            if event_names is not None:
                allowed = (
                    event_names if query.event_names is None else query.event_names & event_names
                )
                query = replace(query, event_names=allowed)
            if occurred_after is not None or occurred_before is not None:
                query = replace(
                    query,
                    occurred_after=occurred_after or query.occurred_after,
                    occurred_before=occurred_before or query.occurred_before,
                )
            page = self._occurrences.page(query)
            entries, next_after = self.entries(page.results), page.next_after
        if ActivityType.WORKFLOW in timeline_filter.activity_types and event_names is None:
            top = decode_cursor(after)[0] if after else None
            bottom = entries[-1].occurred_at if next_after and entries else None
            start, end = timeline_filter.time_range(now)
            needle = timeline_filter.search.strip().casefold()
            for source in self.activity_sources:
                for item in source(record):
                    at = item.occurred_at
                    if (top is not None and at >= top) or (bottom is not None and at < bottom):
                        continue
                    if (start is not None and at < start) or (end is not None and at >= end):
                        continue
                    if needle and not _entry_mentions(item, needle):
                        continue
                    entries.append(item)
            entries.sort(key=lambda e: (e.occurred_at, e.order), reverse=True)
        return TimelinePage(entries, next_after)

    def query(
        self,
        record: CrmRecord,
        timeline_filter: TimelineFilter,
        now: datetime,
        *,
        limit: int = 50,
        after: str | None = None,
        newest_first: bool = True,
    ) -> CompletionQuery | None:
        """The completion query of a record's filtered timeline; None when nothing can show."""
        if ActivityType.CUSTOM_BEHAVIORAL_EVENT not in timeline_filter.activity_types:
            return None
        event_names = None
        if timeline_filter.hidden_events:
            event_names = frozenset(
                d.fully_qualified_name
                for d in self._db.definitions.list_all()
                if d.fully_qualified_name not in timeline_filter.hidden_events
            )
        start, end = timeline_filter.time_range(now)
        return CompletionQuery(
            object_type=record.object_type,
            object_id=record.id,
            event_names=event_names,
            occurred_after=start,
            occurred_before=end,
            text=timeline_filter.search.strip() or None,
            newest_first=newest_first,
            limit=limit,
            after=after,
        )

    def entries(self, completions: Iterable[Completion]) -> list[TimelineEntry]:
        """Timeline entries for completions, with event and property labels resolved."""
        by_fqn = {d.fully_qualified_name: d for d in self._db.definitions.list_all()}
        found = []
        for completion in completions:
            definition = by_fqn.get(completion.event_name)
            label = definition.label if definition else completion.event_name
            rows = property_rows(completion, definition)
            found.append(TimelineEntry(label, rows, completion=completion))
        return found

    def definition_for(self, completion: Completion | None) -> EventDefinition:
        """The event definition a completion belongs to (to jump to it)."""
        if completion is None:
            raise NotFound("This entry is workflow activity, not a completion of an event.")
        for definition in self._db.definitions.list_all():
            if definition.fully_qualified_name == completion.event_name:
                return definition
        raise NotFound(f"Event {completion.event_name} no longer exists.")
