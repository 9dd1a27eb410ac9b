"""Reports from the parts' indexes and summaries, without reading documents: an event's
completions, records and sent values in a period; and attribution's conversions, each record's
first completion of an event in a period and its first and last touch up to it (reading only
the documents handed out and, where a part holds touches on both sides of a conversion, the few
documents before it)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Sequence

from core.ports import Conversion, EventCounts, ValueCounts
from storage.completions.parts import Part
from storage.completions.summaries import DAY_MS, PartSummary, ValueKey

Place = tuple[Part, int]
"""A completion: its part and position."""


def count_event(
    parts: Sequence[tuple[Part, Callable[[], PartSummary]]], event: str, low: int, high: int
) -> EventCounts:
    """The event's completions in ``[low, high)`` (epoch ms, UTC midnights), distinct records
    and sent values: a part wholly inside the period from its summary's totals, one across an
    edge (or the journal) by bisecting its index and adding its summary's days."""
    values: ValueCounts = {}
    records: set[str] = set()
    count = 0
    first_day, end_day = low // DAY_MS, high // DAY_MS
    for part, summary_of in parts:
        positions = part.by_event.get(event)
        if not positions or part.max_ms < low or part.min_ms >= high:
            continue
        summary = summary_of()
        total = summary.total(event) if low <= part.min_ms and part.max_ms < high else None
        if total is not None:
            count += len(positions)
            records.update(total.records)
            _add(values, total.values)
            continue
        occurred = part.occurred
        a = bisect.bisect_left(positions, low, key=occurred.__getitem__)
        b = bisect.bisect_left(positions, high, key=occurred.__getitem__)
        count += b - a
        codes = set(map(part.record_of.__getitem__, positions[a:b]))
        records.update(part.records[c] for c in codes)
        for day, counted in summary.values(event).items():
            if first_day <= day < end_day:
                _add(values, counted)
    records.discard("")
    return EventCounts(count, len(records), values)


def _add(into: ValueCounts, counted: dict[str, dict[ValueKey, int]]) -> None:
    for name, counts in counted.items():
        target = into.get(name)
        if target is None:
            into[name] = dict(counts)
            continue
        for key, n in counts.items():
            target[key] = target.get(key, 0) + n


def _before(a: Place, b: Place) -> bool:
    """Whether ``a`` sorts before ``b`` by ``(occurred, id)`` (ids read only on a tie)."""
    (pa, i), (pb, j) = a, b
    ma, mb = pa.occurred[i], pb.occurred[j]
    return ma < mb or (ma == mb and pa.ids[i] < pb.ids[j])


def first_completions(parts: Sequence[Part], event: str, low: int, high: int) -> dict[str, Place]:
    """Per record key: its first completion of ``event`` in ``[low, high)`` (epoch ms)."""
    firsts: dict[str, Place] = {}
    for part in parts:
        positions = part.by_event.get(event)
        if not positions or part.max_ms < low or part.min_ms >= high:
            continue
        occurred = part.occurred
        a = bisect.bisect_left(positions, low, key=occurred.__getitem__)
        b = bisect.bisect_left(positions, high, key=occurred.__getitem__)
        if a == b:
            continue
        window = list(positions[a:b])
        window.reverse()
        # Later positions are overwritten by earlier ones: each record's first, at C speed.
        earliest = dict(zip(map(part.record_of.__getitem__, window), window, strict=True))
        records = part.records
        for code, pos in earliest.items():
            record = records[code]
            if not record:
                continue  # an anonymous visitor
            known = firsts.get(record)
            if known is None or _before((part, pos), known):
                firsts[record] = (part, pos)
    return firsts


def _last_touch_up_to(part: Part, record: str, end: Place, names: Collection[str]) -> int | None:
    """The position of the record's last touch in ``part`` not after ``end``, reading the
    documents back from ``end``."""
    positions = part.by_record[record]
    i = bisect.bisect_right(positions, end[0].occurred[end[1]], key=part.occurred.__getitem__)
    while i > 0 and _before(end, (part, positions[i - 1])):
        i -= 1  # the same millisecond, a later id
    while i > 0:
        i -= 1
        props = part.doc(positions[i]).get("properties") or {}
        if any(props.get(n) for n in names):
            return positions[i]
    return None


def conversions(
    parts: Sequence[Part], event: str, low: int, high: int, names: Collection[str]
) -> list[Conversion]:
    """See :meth:`core.ports.CompletionRepository.conversions` (bounds in epoch ms)."""
    found: list[Conversion] = []
    for record, converted in first_completions(parts, event, low, high).items():
        first: Place | None = None
        last: Place | None = None
        at = converted[0].occurred[converted[1]]
        for part in parts:
            if not part.count or part.min_ms > at:
                continue  # every completion here comes after the conversion
            summary = part.summary
            where = [t for n in names if (t := summary.touches(n).get(record)) is not None]
            if not where:
                continue
            head = (part, min(a for a, _ in where))  # positions are in (occurred, id) order
            if _before(converted, head):
                continue  # every touch here comes after the conversion
            if first is None or _before(head, first):
                first = head
            tail: Place = (part, max(b for _, b in where))
            if _before(converted, tail):
                pos = _last_touch_up_to(part, record, converted, names)
                assert pos is not None  # head is one
                tail = (part, pos)
            if last is None or _before(last, tail):
                last = tail
        found.append(
            Conversion(
                first[0].completion(first[1]) if first else None,
                last[0].completion(last[1]) if last else None,
            )
        )
    return found
