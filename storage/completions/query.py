"""Query planning over parts: which positions a selection can match, in time order, merged
across parts; and summaries merged across parts."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from core.models import ObjectType
from core.ports import CompletionSelection, EventSummary
from storage.completions.parts import Key, Part, record_key

K = TypeVar("K")


def merge_summaries(parts: Iterable[dict[K, EventSummary]]) -> dict[K, EventSummary]:
    merged: dict[K, EventSummary] = {}
    for part in parts:
        for key, summary in part.items():
            known = merged.get(key)
            if known is None:
                merged[key] = summary
            else:
                last = max(d for d in (known.last_occurred_at, summary.last_occurred_at) if d)
                merged[key] = EventSummary(known.count + summary.count, last)
    return merged


def candidates(part: Part, selection: CompletionSelection) -> Sequence[int]:
    """The positions (in time order) a selection can match in a part, from its indexes: the
    narrowest index there is (a test run's tag, a record, events), checked for the rest."""
    kinds = [selection.object_type] if selection.object_type else list(ObjectType)
    positions: Sequence[int]
    if selection.tag is not None and part.tagged is not None:
        tag, served = selection.tag, "tag"
        positions = sorted(p for p, t in part.tagged.items() if t == tag)
    elif selection.object_id is not None:
        served = "record"
        found = [part.by_record.get(record_key(k, selection.object_id), ()) for k in kinds]
        positions = _union(part, [f for f in found if f])
    elif selection.event_names is not None:
        served = "events"
        positions = _union(
            part, [part.by_event[e] for e in selection.event_names if e in part.by_event]
        )
    else:
        served, positions = "", range(part.count)
    checks: list[Callable[[int], bool]] = []
    if selection.event_names is not None and served != "events":
        wanted = {part.event_codes[e] for e in selection.event_names if e in part.event_codes}
        checks.append(lambda p: part.event_of[p] in wanted)
    if selection.object_id is not None and served != "record":
        keys = {record_key(kind, selection.object_id) for kind in kinds}
        records = {part.record_codes[r] for r in keys if r in part.record_codes}
        checks.append(lambda p: part.record_of[p] in records)
    if selection.object_type is not None and selection.object_id is None:
        prefix = selection.object_type.value + ":"
        codes = {i for i, r in enumerate(part.records) if r.startswith(prefix)}
        checks.append(lambda p: part.record_of[p] in codes)
    if checks:
        return [p for p in positions if all(check(p) for check in checks)]
    return positions


def _union(part: Part, lists: list[Sequence[int]]) -> Sequence[int]:
    if not lists:
        return ()
    if len(lists) == 1:
        return lists[0]
    return sorted(set().union(*lists))  # positions are in time order within a part


class _MergeKey:
    """The sort key ``(occurred, id)`` of a position, comparing ids only when times tie, so
    that merging parts reads no part's ids unless two completions share a millisecond."""

    __slots__ = ("ms", "part", "pos")

    def __init__(self, ms: int, part: Part, pos: int) -> None:
        self.ms, self.part, self.pos = ms, part, pos

    def _id(self) -> str:
        return self.part.ids[self.pos]

    def __lt__(self, other: _MergeKey) -> bool:
        return self.ms < other.ms or (self.ms == other.ms and self._id() < other._id())

    def __gt__(self, other: _MergeKey) -> bool:
        return self.ms > other.ms or (self.ms == other.ms and self._id() > other._id())


def ordered(
    part: Part,
    positions: Sequence[int],
    low: int | None,
    high: int | None,
    start: Key | None,
    newest_first: bool,
) -> Iterator[tuple[_MergeKey, Part, int]]:
    """Positions within the bounds, as (key, part, position), oldest or newest first."""
    occurred = part.occurred

    def ms_of(p: int) -> int:
        return occurred[p]

    begin, end = 0, len(positions)
    if low is not None:
        begin = bisect.bisect_left(positions, low, key=ms_of)
    if high is not None:
        end = bisect.bisect_left(positions, high, key=ms_of)
    if start is not None:
        # Bisect by time; only completions in the same millisecond as the cursor need ids.
        first = bisect.bisect_left(positions, start[0], lo=begin, hi=end, key=ms_of)
        last = bisect.bisect_right(positions, start[0], lo=first, hi=end, key=ms_of)
        ids = part.ids if first < last else []

        def id_of(p: int) -> str:
            return ids[p]

        if newest_first:
            end = bisect.bisect_left(positions, start[1], lo=first, hi=last, key=id_of)
        else:
            begin = bisect.bisect_right(positions, start[1], lo=first, hi=last, key=id_of)
    indexes = range(end - 1, begin - 1, -1) if newest_first else range(begin, end)
    for i in indexes:
        p = positions[i]
        yield _MergeKey(occurred[p], part, p), part, p
