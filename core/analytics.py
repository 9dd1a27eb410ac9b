"""Reports on custom behavioral events: analyze (counts over time), the event report (a
breakdown per property) and attribution (first and last touch).

Every aggregation here is plain Python over completions, so it is tested against answers worked
out by hand on small fixed data. Only usable values count: enumeration values that are not
options are counted apart, never mixed into a breakdown.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from core.filters import PropertyFilter, matches_all
from core.ingestion import all_properties
from core.models import Completion, EventDefinition, ObjectType, PropertyDefinition, PropertyType
from core.occurrences import CompletionQuery, OccurrenceService
from core.ports import Conversion, Database, ValueCounts
from core.values import value_text

Record = tuple[ObjectType, str]


class Frequency(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class RangePreset(StrEnum):
    """HubSpot's date ranges; rolling ones ("last 7 days") exclude today."""

    TODAY = "TODAY"
    YESTERDAY = "YESTERDAY"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
    LAST_90_DAYS = "LAST_90_DAYS"
    THIS_MONTH = "THIS_MONTH"
    LAST_MONTH = "LAST_MONTH"
    CUSTOM = "CUSTOM"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    @property
    def after(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def describe(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def resolve_range(
    preset: RangePreset, now: datetime, start: date | None = None, end: date | None = None
) -> DateRange:
    """The days a preset covers at ``now`` (UTC). Rolling ranges end yesterday, as HubSpot's."""
    today = now.astimezone(UTC).date()
    if preset is RangePreset.TODAY:
        return DateRange(today, today)
    if preset is RangePreset.YESTERDAY:
        return DateRange(today - timedelta(days=1), today - timedelta(days=1))
    if preset in (RangePreset.LAST_7_DAYS, RangePreset.LAST_30_DAYS, RangePreset.LAST_90_DAYS):
        days = int(preset.value.split("_")[1])
        return DateRange(today - timedelta(days=days), today - timedelta(days=1))
    if preset is RangePreset.THIS_MONTH:
        return DateRange(today.replace(day=1), today)
    if preset is RangePreset.LAST_MONTH:
        last_day = today.replace(day=1) - timedelta(days=1)
        return DateRange(last_day.replace(day=1), last_day)
    if start is None or end is None:
        raise ValueError("a custom range needs a start and an end date")
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    return DateRange(start, end)


def bucket_of(day: date, frequency: Frequency) -> date:
    """The first day of the bucket ``day`` falls in; weeks start on Sunday, as HubSpot's."""
    if frequency is Frequency.DAILY:
        return day
    if frequency is Frequency.WEEKLY:
        return day - timedelta(days=(day.weekday() + 1) % 7)
    return day.replace(day=1)


def buckets(period: DateRange, frequency: Frequency) -> list[date]:
    """Every bucket the range touches, in order."""
    found: list[date] = []
    day = period.start
    while day <= period.end:
        first = bucket_of(day, frequency)
        if not found or found[-1] != first:
            found.append(first)
        day += timedelta(days=1)
    return found


@dataclass(frozen=True)
class EventRow:
    definition: EventDefinition
    completions: int
    unique_records: int


def bucket_end(bucket: date, frequency: Frequency) -> date:
    """The last day of the bucket starting on ``bucket``."""
    if frequency is Frequency.DAILY:
        return bucket
    if frequency is Frequency.WEEKLY:
        return bucket + timedelta(days=6)
    following = (bucket.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def partial_buckets(period: DateRange, frequency: Frequency, starts: Sequence[date]) -> set[int]:
    """Which buckets the range covers only in part (its first and last week or month): their
    counts are of fewer days, so a chart must not draw them as a drop."""
    return {
        i
        for i, bucket in enumerate(starts)
        if bucket < period.start or bucket_end(bucket, frequency) > period.end
    }


def count_ticks(top: int, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 to at least ``top`` for a chart of counts, at most ``most``+1."""
    step = 1
    while top / step > most:
        for factor in (2, 2.5, 2):  # 1, 2, 5, 10, 20, 50, ...
            step = int(step * factor)
            if top / step <= most:
                break
    last = -(-max(top, 1) // step) * step
    return list(range(0, last + 1, step))


@dataclass(frozen=True)
class Analysis:
    """The analyze screen's numbers: a row per event and a series per event."""

    period: DateRange
    frequency: Frequency
    buckets: list[date]
    rows: list[EventRow]
    series: dict[str, list[int]]
    """Completions per bucket, by the event's fully qualified name."""


def analyze(
    completions: Iterable[Completion],
    definitions: Sequence[EventDefinition],
    period: DateRange,
    frequency: Frequency,
) -> Analysis:
    """Count completions and unique records per event in ``period``, and per bucket."""
    slots = buckets(period, frequency)
    index = {b: i for i, b in enumerate(slots)}
    counts: Counter[str] = Counter()
    records: dict[str, set[Record]] = defaultdict(set)
    series = {d.fully_qualified_name: [0] * len(slots) for d in definitions}
    after, before = period.after, period.before
    for c in completions:
        if not after <= c.occurred_at < before or c.event_name not in series:
            continue
        counts[c.event_name] += 1
        if c.object_id is not None:
            records[c.event_name].add((c.object_type, c.object_id))
        series[c.event_name][index[bucket_of(c.occurred_at.date(), frequency)]] += 1
    rows = [
        EventRow(d, counts[d.fully_qualified_name], len(records[d.fully_qualified_name]))
        for d in definitions
    ]
    return Analysis(period, frequency, slots, rows, series)


@dataclass(frozen=True)
class BreakdownRow:
    label: str
    count: int
    share: float
    """Of the completions that have a usable value for the property."""


@dataclass(frozen=True)
class PropertyBreakdown:
    prop: PropertyDefinition
    rows: list[BreakdownRow]
    known: int
    """Completions with a usable value."""
    unknown: int
    """Completions without a value."""
    unusable: int
    """Completions with enumeration values that are not options (counted apart)."""


@dataclass(frozen=True)
class EventReport:
    definition: EventDefinition
    period: DateRange
    filters: list[PropertyFilter]
    completions: int
    unique_records: int
    properties: list[PropertyBreakdown] = field(default_factory=list)

    @property
    def per_record(self) -> float:
        return self.completions / self.unique_records if self.unique_records else 0.0


TOP_VALUES = 10
NUMBER_BINS = 5


def event_report(
    completions: Iterable[Completion],
    definition: EventDefinition,
    period: DateRange,
    filters: Sequence[PropertyFilter] = (),
) -> EventReport:
    """Completions, unique records and a breakdown of every property's values."""
    props = {p.name: p for p in all_properties(definition)}
    name, after, before = definition.fully_qualified_name, period.after, period.before
    tallies = {prop: _Tally() for prop in props}
    enumerations = {n for n, p in props.items() if p.type is PropertyType.ENUMERATION}
    # One pass that keeps no completion: a report may cover hundreds of thousands, and holding
    # them had Python's cycle collector walk them again and again (half of a report's time).
    count = 0
    unique: set[tuple[str, str]] = set()
    for c in completions:
        if c.event_name != name or not after <= c.occurred_at < before:
            continue
        if filters and not matches_all(c, props, filters):
            continue
        count += 1
        if c.object_id is not None:
            unique.add((c.object_type.value, c.object_id))
        _tally(c, tallies, enumerations)
    return _report(definition, period, filters, count, len(unique), tallies)


def event_report_from_counts(
    definition: EventDefinition,
    period: DateRange,
    completions: int,
    unique_records: int,
    counts: ValueCounts,
) -> EventReport:
    """What :func:`event_report` gives without filters, from what a store counted: the
    event's completions and distinct records in ``period``, and its sent values (see
    :data:`core.ports.ValueCounts`). The same numbers, without reading a completion."""
    props = {p.name: p for p in all_properties(definition)}
    tallies = {prop: _Tally() for prop in props}
    enumerations = {n for n, p in props.items() if p.type is PropertyType.ENUMERATION}
    _tally_counts(counts, tallies, enumerations)
    return _report(definition, period, (), completions, unique_records, tallies)


def _report(
    definition: EventDefinition,
    period: DateRange,
    filters: Sequence[PropertyFilter],
    count: int,
    unique: int,
    tallies: dict[str, _Tally],
) -> EventReport:
    props = {p.name: p for p in all_properties(definition)}
    breakdowns = [
        _breakdown(prop, tallies[n], count)
        for n, prop in props.items()
        if tallies[n].present or not prop.hubspot_defined  # HubSpot's defaults when sent
    ]
    return EventReport(definition, period, list(filters), count, unique, breakdowns)


class _Tally:
    """What one pass over the completions gathers of one property's values."""

    __slots__ = ("firsts", "known", "options", "present", "unusable")

    def __init__(self) -> None:
        self.present = self.unusable = self.known = 0
        self.options: Counter[str] = Counter()
        self.firsts: Counter[str] = Counter()  # the one value of a string, number or datetime


def _tally(c: Completion, tallies: dict[str, _Tally], enumerations: set[str]) -> None:
    """Count a completion's values: what :func:`core.values.usable_values` gives for each, from
    the values it holds (an event has dozens of properties, most of them unsent)."""
    unusable = c.unusable
    for name, raw in c.properties.items():
        tally = tallies.get(name)
        if tally is None or raw is None:
            continue
        tally.present += 1
        bad = unusable.get(name) if unusable else None
        if bad:
            tally.unusable += 1
        if name not in enumerations:
            tally.firsts[value_text(raw) or ""] += 1
            continue
        text = str(raw)
        if not bad and ";" not in text:
            if text:
                tally.options[text] += 1
                tally.known += 1
            continue
        usable = [v for v in text.split(";") if v and v not in (bad or ())]
        if usable:
            tally.options.update(usable)
            tally.known += 1


def _tally_counts(counts: ValueCounts, tallies: dict[str, _Tally], enumerations: set[str]) -> None:
    """What :func:`_tally` gathers from each completion, from values counted by a store: each
    distinct value (with the values of it that were unusable) is looked at once, weighted by
    how many completions sent it."""
    for name, values in counts.items():
        tally = tallies.get(name)
        if tally is None:
            continue
        enumeration = name in enumerations
        for (stored, bad), n in values.items():
            raw = json.loads(stored)
            if raw is None:
                continue
            tally.present += n
            if bad:
                tally.unusable += n
            if not enumeration:
                tally.firsts[value_text(raw) or ""] += n
                continue
            text = str(raw)
            if not bad and ";" not in text:
                if text:
                    tally.options[text] += n
                    tally.known += n
                continue
            usable = [v for v in text.split(";") if v and v not in bad]
            if usable:
                for v in usable:
                    tally.options[v] += n
                tally.known += n


def _breakdown(prop: PropertyDefinition, tally: _Tally, total: int) -> PropertyBreakdown:
    """The rows of one property's breakdown from what the pass gathered."""
    enumeration = prop.type is PropertyType.ENUMERATION
    options, firsts = tally.options, tally.firsts
    unknown, unusable = total - tally.present, tally.unusable
    known = tally.known if enumeration else firsts.total()
    if enumeration:
        order = {o.value: o.display_order for o in prop.options}
        labelled = sorted(options.items(), key=lambda kv: (-kv[1], order.get(kv[0], 0), kv[0]))
        rows = [_row(prop.option_label(v) or v, n, known) for v, n in labelled]
    elif prop.type is PropertyType.NUMBER:
        numbers: Counter[float] = Counter()
        for v, n in firsts.items():
            numbers[float(v)] += n
        rows = _number_rows(numbers, known)
    elif prop.type is PropertyType.DATETIME:
        months: Counter[str] = Counter()
        for v, n in firsts.items():
            months[v[:7]] += n
        rows = [_row(m, n, known) for m, n in sorted(months.items())]
    else:
        top = sorted(firsts.items(), key=lambda kv: (-kv[1], kv[0]))
        rows = [_row(v, n, known) for v, n in top[:TOP_VALUES]]
        rest = sum(n for _, n in top[TOP_VALUES:])
        if rest:
            rows.append(_row(f"({len(top) - TOP_VALUES} other values)", rest, known))
    return PropertyBreakdown(prop, rows, known, unknown, unusable)


def _row(label: str, count: int, total: int) -> BreakdownRow:
    return BreakdownRow(label, count, count / total if total else 0.0)


def _nice(x: float) -> float:
    """A round step near ``x`` (1, 2 or 5 times a power of ten)."""
    if x <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    for factor in (1, 2, 5, 10):
        if x <= factor * power:
            return float(factor * power)
    return float(10 * power)


def _number_rows(numbers: Counter[float], total: int) -> list[BreakdownRow]:
    """Numbers (each with how many times it was sent) in up to five ranges of round width, each
    saying which side its bounds belong to: ``0 to under 100``, ``100 to under 200`` (100 is in
    the second)."""
    if not numbers:
        return []
    low, high = min(numbers), max(numbers)
    if low == high:
        return [_row(_fmt(low), numbers.total(), total)]
    width = _nice((high - low) / NUMBER_BINS)
    start = math.floor(low / width) * width
    counts: Counter[int] = Counter()
    for number, n in numbers.items():
        counts[min(int((number - start) // width), 10**6)] += n
    rows = []
    for i in range(max(counts) + 1):
        if counts[i]:
            a, b = start + i * width, start + (i + 1) * width
            rows.append(_row(f"{_fmt(a)} to under {_fmt(b)}", counts[i], total))
    return rows


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


class Dimension(StrEnum):
    """What attribution groups touches by."""

    TOUCHPOINT_SOURCE = "TOUCHPOINT_SOURCE"
    UTM = "UTM"
    REFERRER = "REFERRER"

    @property
    def label(self) -> str:
        return {
            Dimension.TOUCHPOINT_SOURCE: "Touchpoint source",
            Dimension.UTM: "UTM source / campaign",
            Dimension.REFERRER: "Referrer",
        }[self]

    @property
    def properties(self) -> tuple[str, ...]:
        """The properties a touch of this dimension reads: a completion is a touch when one of
        them has a value that is not empty (what :meth:`value_of` asks)."""
        return {
            Dimension.TOUCHPOINT_SOURCE: ("hs_touchpoint_source",),
            Dimension.UTM: ("hs_utm_source", "hs_utm_campaign"),
            Dimension.REFERRER: ("hs_referrer",),
        }[self]

    def value_of(self, completion: Completion) -> str | None:
        """The touch this completion carries for the dimension, if any."""
        p = completion.properties
        if self is Dimension.TOUCHPOINT_SOURCE:
            value = p.get("hs_touchpoint_source")
            return str(value) if value else None
        if self is Dimension.UTM:
            source, campaign = p.get("hs_utm_source"), p.get("hs_utm_campaign")
            if not source and not campaign:
                return None
            return f"{source or '(none)'} / {campaign or '(none)'}"
        referrer = p.get("hs_referrer")
        if not referrer:
            return None
        host = urlsplit(str(referrer)).hostname
        return host.removeprefix("www.") if host else str(referrer)[:60]


@dataclass(frozen=True)
class AttributionRow:
    value: str
    first_touch: int
    first_share: float
    last_touch: int
    last_share: float


@dataclass(frozen=True)
class Attribution:
    definition: EventDefinition
    period: DateRange
    dimension: Dimension
    converted: int
    """Records that completed the event in the period."""
    rows: list[AttributionRow]
    no_touch: int
    """Converted records with no touch of this dimension before converting."""


def attribution(
    completions: Iterable[Completion],
    definition: EventDefinition,
    period: DateRange,
    dimension: Dimension,
    filters: Sequence[PropertyFilter] = (),
) -> Attribution:
    """For each record that completed the event in ``period``: its first and last touch (the
    earliest and latest completion of any event, up to its first completion of this event in
    the period, that carries the dimension). Completions must come oldest first.

    With ``filters`` (an event report's), only completions of the event that match them all
    convert, as the report counts them.
    """
    props = {p.name: p for p in all_properties(definition)}
    touches: dict[Record, list[str]] = defaultdict(list)
    converted: dict[Record, bool] = {}
    first: dict[Record, str] = {}
    last: dict[Record, str] = {}
    for c in completions:
        if c.object_id is None or c.occurred_at >= period.before:
            continue
        key = (c.object_type, c.object_id)
        if converted.get(key):
            continue
        value = dimension.value_of(c)
        if value is not None:
            touches[key].append(value)
        if (
            c.event_name == definition.fully_qualified_name
            and c.occurred_at >= period.after
            and (not filters or matches_all(c, props, filters))
        ):
            converted[key] = True
            if touches[key]:
                first[key], last[key] = touches[key][0], touches[key][-1]
    total = sum(1 for v in converted.values() if v)
    return _attribution(definition, period, dimension, total, [*first.values()], [*last.values()])


def attribution_from_conversions(
    definition: EventDefinition,
    period: DateRange,
    dimension: Dimension,
    conversions: Sequence[Conversion],
) -> Attribution:
    """What :func:`attribution` gives without filters, from each converted record's first and
    last touch as a store found them (:meth:`core.ports.CompletionRepository.conversions`,
    asked with :attr:`Dimension.properties`)."""
    first: list[str] = []
    last: list[str] = []
    for conversion in conversions:
        if conversion.first_touch is None or conversion.last_touch is None:
            continue
        touched = dimension.value_of(conversion.first_touch)
        latest = dimension.value_of(conversion.last_touch)
        if touched is not None and latest is not None:
            first.append(touched)
            last.append(latest)
    return _attribution(definition, period, dimension, len(conversions), first, last)


def _attribution(
    definition: EventDefinition,
    period: DateRange,
    dimension: Dimension,
    total: int,
    first: list[str],
    last: list[str],
) -> Attribution:
    """Rows from each touched record's first and last touch (``total`` records converted)."""
    firsts, lasts = Counter(first), Counter(last)
    values = sorted(set(firsts) | set(lasts), key=lambda v: (-firsts[v], -lasts[v], v))
    rows = [
        AttributionRow(
            v,
            firsts[v],
            firsts[v] / total if total else 0.0,
            lasts[v],
            lasts[v] / total if total else 0.0,
        )
        for v in values
    ]
    return Attribution(definition, period, dimension, total, rows, total - len(first))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def csv_cell(value: object) -> object:
    """One CSV cell that a spreadsheet will never run as a formula.

    Text starting with ``= + - @``, a tab or a carriage return gets a leading ``'``, as OWASP
    advises: values and option labels arrive from the public collector. Numbers cbe computed
    (``int``, ``float``) stay numbers, and so does text that is nothing but a decimal number
    (``-3``, ``-0.25``: a number property's value): no formula is only digits, and a
    spreadsheet should still sum them.
    """
    if value is None:
        return ""
    formula_like = isinstance(value, str) and value.startswith(_FORMULA_START)
    if formula_like and not _PLAIN_NUMBER.fullmatch(str(value)):
        return f"'{value}"
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A report table as CSV text (RFC 4180, \\r\\n line endings as csv writes them).

    The one CSV writer of cbe (``cbe report --csv`` and the app's export): every cell, header
    included, passes :func:`csv_cell`.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(v) for v in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def csv_share(share: float) -> str:
    """A share as a CSV cell: a fraction a spreadsheet reads as a number."""
    return f"{share:.4f}"


Table = tuple[list[str], list[list[object]]]
"""A report table: its header and rows, the same columns in ``cbe report`` and the app."""

NOT_AN_OPTION = "(not an option)"
"""The event report's row for completions whose enumeration values are not options."""


def analysis_table(analysis: Analysis) -> Table:
    """The analyze table: one row per event."""
    header = ["Event", "Internal name", "Completions", "Unique records"]
    rows: list[list[object]] = [
        [r.definition.label, r.definition.name, r.completions, r.unique_records]
        for r in analysis.rows
    ]
    return header, rows


def event_report_table(report: EventReport, share: Callable[[float], str] = csv_share) -> Table:
    """The event report's breakdowns as one table: a row per property value, then a
    ``(not an option)`` row for the completions counted apart (no share: they are not in the
    shares' total)."""
    header = ["Property", "Internal name", "Value", "Completions", "Share"]
    rows: list[list[object]] = []
    for breakdown in report.properties:
        prop = breakdown.prop
        rows.extend(
            [prop.label, prop.name, r.label, r.count, share(r.share)] for r in breakdown.rows
        )
        if breakdown.unusable:
            rows.append([prop.label, prop.name, NOT_AN_OPTION, breakdown.unusable, ""])
    return header, rows


def attribution_table(result: Attribution, share: Callable[[float], str] = csv_share) -> Table:
    """The attribution table: a row per value of the dimension, first and last touch."""
    header = [
        result.dimension.label,
        "First touch",
        "First touch share",
        "Last touch",
        "Last touch share",
    ]
    rows: list[list[object]] = [
        [r.value, r.first_touch, share(r.first_share), r.last_touch, share(r.last_share)]
        for r in result.rows
    ]
    return header, rows


class ReportService:
    """Reads the completions a report needs and aggregates them."""

    def __init__(self, db: Database, occurrences: OccurrenceService) -> None:
        self._db = db
        self._occurrences = occurrences

    def _in(
        self, period: DateRange, event_names: frozenset[str] | None = None
    ) -> Iterable[Completion]:
        query = CompletionQuery(
            event_names=event_names,
            occurred_after=period.after,
            occurred_before=period.before,
            newest_first=False,
        )
        return self._occurrences.iterate(query)

    def analyze(self, period: DateRange, frequency: Frequency) -> Analysis:
        """What :func:`analyze` computes, counted by the store from its indexes."""
        definitions = [d for d in self._db.definitions.list_all() if not d.archived]
        slots = buckets(period, frequency)
        # The first bucket may begin before the range (a week, a month): count from its start.
        starts = [datetime.combine(day, time(), tzinfo=UTC) for day in slots[1:]]
        edges = [period.after, *starts, period.before]
        names = [d.fully_qualified_name for d in definitions]
        tallies = self._db.completions.tally(names, edges)
        rows = [
            EventRow(d, sum(tallies[n].series), tallies[n].records)
            for d, n in zip(definitions, names, strict=True)
        ]
        series = {n: tallies[n].series for n in names}
        return Analysis(period, frequency, slots, rows, series)

    def event_report(
        self, definition: EventDefinition, period: DateRange, filters: Sequence[PropertyFilter] = ()
    ) -> EventReport:
        name = definition.fully_qualified_name
        if not filters:
            # Counted by the store (its summaries of sent values and its indexes).
            counts = self._db.completions.event_counts(name, period.after, period.before)
            if counts is not None:
                return event_report_from_counts(
                    definition, period, counts.completions, counts.records, counts.values
                )
        return event_report(self._in(period, frozenset({name})), definition, period, filters)

    def attribution(
        self,
        definition: EventDefinition,
        period: DateRange,
        dimension: Dimension,
        filters: Sequence[PropertyFilter] = (),
    ) -> Attribution:
        if not filters:
            # From the store's indexes and its summaries of where each record's touches are.
            found = self._db.completions.conversions(
                definition.fully_qualified_name, period.after, period.before, dimension.properties
            )
            if found is not None:
                return attribution_from_conversions(definition, period, dimension, found)
        # touches before the period count too: read from the beginning up to its end
        query = CompletionQuery(occurred_before=period.before, newest_first=False)
        return attribution(self._occurrences.iterate(query), definition, period, dimension, filters)
