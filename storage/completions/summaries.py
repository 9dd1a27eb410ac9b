"""Per-part summaries of sent values (``seg-000006.sum`` beside each segment): for each event,
UTC day and property, how many completions sent each value, with the values of it that were
unusable. What an event report counts, without reading a document.

A summary knows nothing of definitions: a value is kept as the JSON it was stored as (``"a"``,
``3``, ``3.0``, ``true`` stay apart) with its unusable values, and the report applies the
definition's rules to each distinct value once, weighted by its count. A summary file repeats
its segment's token: one of another version of the segment (or none: a database from before
summaries) is made again from the segment's documents when first needed.

A fold does not write the summary: counting every property of 20,000 documents costs about a
seventh of what writing them costs, and batched ingest must stay as fast. The first report that
needs a segment's summary makes it (reading the segment once, about a quarter of a second) and
writes it beside the segment for every later one; the open journal is counted live.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.errors import StorageUnavailable
from storage.atomic import write_atomically

_log = logging.getLogger("cbe.storage")

DAY_MS = 86_400_000
SUMMARY_VERSION = 3

ValueKey = tuple[str, tuple[str, ...]]
"""A sent value as JSON text, and which of its values were unusable."""

Summary = dict[str, dict[int, dict[str, dict[ValueKey, int]]]]
"""event -> UTC day (days since 1970-01-01) -> property -> value -> completions."""

_SCALARS = (str, int, float, bool)


Touches = dict[str, dict[str, tuple[int, int]]]
"""property -> record key -> the first and last position where the record sent a value of the
property that is not empty (true in Python: not ``""``, ``0`` or ``false``): where attribution's
touches are, by the properties they read."""


def summarise(docs: Iterable[dict[str, Any]], ms: Iterable[int]) -> Summary:
    """The summary of stored documents (``ms``: their occurredAt in epoch milliseconds)."""
    return summarise_part(docs, ms).summary


def summarise_part(docs: Iterable[dict[str, Any]], ms: Iterable[int]) -> MemorySummary:
    """The summary of a part's documents, in position order: sent values, where each record's
    touches are (see :data:`Touches`), and which records completed each event."""
    typed: dict[str, dict[int, dict[str, dict[tuple[Any, ...], int]]]] = {}
    touches: dict[str, dict[str, list[int]]] = {}
    records: dict[str, set[str]] = {}
    for pos, (doc, t) in enumerate(zip(docs, ms, strict=True)):
        object_id = doc.get("objectId")
        record = "" if object_id is None else f"{doc['objectType']}:{object_id}"
        completed = records.get(doc["eventName"])
        if completed is None:
            completed = records[doc["eventName"]] = set()
        completed.add(record)
        props = doc.get("properties")
        if not props:
            continue
        if record:
            for name, raw in props.items():
                if raw:
                    found = touches.get(name)
                    if found is None:
                        found = touches[name] = {}
                    where = found.get(record)
                    if where is None:
                        found[record] = [pos, pos]
                    else:
                        where[1] = pos
        days = typed.get(doc["eventName"])
        if days is None:
            days = typed[doc["eventName"]] = {}
        day = t // DAY_MS
        values = days.get(day)
        if values is None:
            values = days[day] = {}
        unusable = doc.get("unusable")
        for name, raw in props.items():
            if raw is None:
                continue
            bad = unusable.get(name) if unusable else None
            cls = raw.__class__
            # The class keeps 1, 1.0 and true apart (equal, and equally hashed, in Python).
            key = (
                (cls, raw, tuple(bad) if bad else ())
                if cls in _SCALARS
                else (
                    None,
                    orjson.dumps(raw),
                    tuple(bad) if bad else (),
                )
            )
            counts = values.get(name)
            if counts is None:
                counts = values[name] = {}
            counts[key] = counts.get(key, 0) + 1
    texts: dict[tuple[Any, Any], str] = {}

    def text(cls: Any, raw: Any) -> str:
        found = texts.get((cls, raw))
        if found is None:
            found = texts[(cls, raw)] = raw.decode() if cls is None else orjson.dumps(raw).decode()
        return found

    summary = {
        event: {
            day: {
                name: {(text(cls, raw), bad): n for (cls, raw, bad), n in counts.items()}
                for name, counts in values.items()
            }
            for day, values in days.items()
        }
        for event, days in typed.items()
    }
    return MemorySummary(
        summary,
        {
            name: {record: (a, b) for record, (a, b) in found.items()}
            for name, found in touches.items()
        },
        {event: sorted(found - {""}) for event, found in records.items()},
    )


def merge(into: Summary, other: Summary) -> None:
    """Add ``other``'s counts to ``into``."""
    for event, days in other.items():
        mine = into.setdefault(event, {})
        for day, values in days.items():
            props = mine.setdefault(day, {})
            for name, counts in values.items():
                target = props.setdefault(name, {})
                for key, n in counts.items():
                    target[key] = target.get(key, 0) + n


class PartSummary(abc.ABC):
    """What a part's summary answers: one event's counts, one property's touches."""

    @abc.abstractmethod
    def values(self, event: str) -> dict[int, dict[str, dict[ValueKey, int]]]:
        """Per UTC day, per property, how many of the event's completions sent each value."""

    @abc.abstractmethod
    def touches(self, name: str) -> dict[str, tuple[int, int]]:
        """Per record key, the first and last position where the property is not empty."""

    def total(self, event: str) -> EventTotal | None:
        """The event's counts over every day of the part, and which records completed it; None
        when not kept (the caller counts by day)."""
        return None


@dataclass(frozen=True)
class EventTotal:
    values: dict[str, dict[ValueKey, int]]
    records: list[str]
    """Record keys (anonymous visitors aside)."""


class MemorySummary(PartSummary):
    """A summary made from documents."""

    def __init__(
        self,
        summary: Summary,
        touches: Touches | None = None,
        records: dict[str, list[str]] | None = None,
    ) -> None:
        self.summary, self.all_touches = summary, touches or {}
        self.records = records or {}

    def values(self, event: str) -> dict[int, dict[str, dict[ValueKey, int]]]:
        return self.summary.get(event, {})

    def touches(self, name: str) -> dict[str, tuple[int, int]]:
        return self.all_touches.get(name, {})


class StoredSummary(PartSummary):
    """A summary file: a JSON header line naming each chunk's byte range, then one JSON chunk
    per event (its counts) and per property (its touches), each parsed when first asked for:
    a report reads one event's counts of each segment, an attribution one or two properties'
    touches."""

    def __init__(self, raw: bytes, chunks: dict[str, list[int]]) -> None:
        self._raw, self._chunks = raw, chunks
        self._values: dict[str, dict[int, dict[str, dict[ValueKey, int]]]] = {}
        self._touches: dict[str, dict[str, tuple[int, int]]] = {}

    def _chunk(self, key: str) -> Any:
        where = self._chunks.get(key)
        if where is None:
            return None
        start, length = where
        return orjson.loads(self._raw[start : start + length])

    def values(self, event: str) -> dict[int, dict[str, dict[ValueKey, int]]]:
        found = self._values.get(event)
        if found is None:
            days = self._chunk("e:" + event) or {}
            found = self._values[event] = {
                int(day): {
                    name: {(raw, tuple(bad)): n for raw, bad, n in entries}
                    for name, entries in values.items()
                }
                for day, values in days.items()
            }
        return found

    def total(self, event: str) -> EventTotal | None:
        found = self._chunk("a:" + event)
        if found is None:
            return None
        values = {
            name: {(raw, tuple(bad)): n for raw, bad, n in entries}
            for name, entries in found["values"].items()
        }
        return EventTotal(values, found["records"])

    def touches(self, name: str) -> dict[str, tuple[int, int]]:
        found = self._touches.get(name)
        if found is None:
            records = self._chunk("t:" + name) or {}
            found = self._touches[name] = {r: (int(a), int(b)) for r, (a, b) in records.items()}
        return found


def summary_bytes(summary: MemorySummary, token: str | None) -> bytes:
    chunks: list[bytes] = []
    where: dict[str, list[int]] = {}
    size = 0

    def add(key: str, value: object) -> None:
        nonlocal size
        data = orjson.dumps(value)
        where[key] = [size, len(data)]
        chunks.append(data)
        size += len(data)

    def entries(counts: dict[ValueKey, int]) -> list[list[Any]]:
        return [[raw, list(bad), n] for (raw, bad), n in counts.items()]

    for event, days in summary.summary.items():
        add(
            "e:" + event,
            {
                str(day): {name: entries(counts) for name, counts in values.items()}
                for day, values in days.items()
            },
        )
        total: Summary = {}
        for values in days.values():
            merge(total, {event: {0: values}})
        every_day = total[event][0]
        add(
            "a:" + event,
            {
                "values": {name: entries(counts) for name, counts in every_day.items()},
                "records": summary.records.get(event, []),
            },
        )
    for event in summary.records:
        if event not in summary.summary:  # completions without properties
            add("a:" + event, {"values": {}, "records": summary.records[event]})
    for name, records in summary.all_touches.items():
        add("t:" + name, {r: list(ab) for r, ab in records.items()})
    header = orjson.dumps({"version": SUMMARY_VERSION, "token": token, "chunks": where})
    return header + b"\n" + b"".join(chunks)


def read_summary(path: Path, token: str | None) -> StoredSummary | None:
    """The summary in ``path`` if it is of this version of the segment (``token``); its
    chunks are parsed when first asked for."""
    try:
        raw = path.read_bytes()
        end = raw.index(b"\n")
        header = orjson.loads(raw[:end])
        if header.get("version") != SUMMARY_VERSION or header.get("token") != token or not token:
            return None
        chunks = {str(k): [int(a) + end + 1, int(n)] for k, (a, n) in header["chunks"].items()}
        return StoredSummary(raw, chunks)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_summary(path: Path, summary: MemorySummary, token: str | None) -> None:
    """Write a summary; a disk that refuses only means it is made again next time."""
    try:
        write_atomically(path, summary_bytes(summary, token))
    except StorageUnavailable:
        _log.warning("could not write %s; it is made again when next needed", path)


def summary_path(segment: Path) -> Path:
    return segment.with_suffix(".sum")
