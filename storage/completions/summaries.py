"""Per-part summaries of sent values (``seg-000006.sum`` beside each segment): for each event,
UTC day and property, how many completions sent each value, with the values of it that were
unusable. What an event report counts, without reading a document.

A summary knows nothing of definitions: a value is kept as the JSON it was stored as (``"a"``,
``3``, ``3.0``, ``true`` stay apart) with its unusable values, and the report applies the
definition's rules to each distinct value once, weighted by its count. A summary file repeats
its segment's token: one of another version of the segment (or none: a database from before
summaries) is made again from the segment's documents when first needed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from core.errors import StorageUnavailable
from storage.atomic import write_atomically

_log = logging.getLogger("cbe.storage")

DAY_MS = 86_400_000
SUMMARY_VERSION = 1

ValueKey = tuple[str, tuple[str, ...]]
"""A sent value as JSON text, and which of its values were unusable."""

Summary = dict[str, dict[int, dict[str, dict[ValueKey, int]]]]
"""event -> UTC day (days since 1970-01-01) -> property -> value -> completions."""

_SCALARS = (str, int, float, bool)


Touches = dict[str, dict[str, tuple[int, int]]]
"""record key -> property -> the first and last position where the record sent a value of the
property that is not empty (true in Python: not ``""``, ``0`` or ``false``): where attribution's
touches are, by the properties they read."""


def summarise(docs: Iterable[dict[str, Any]], ms: Iterable[int]) -> Summary:
    """The summary of stored documents (``ms``: their occurredAt in epoch milliseconds)."""
    return summarise_part(docs, ms)[0]


def summarise_part(docs: Iterable[dict[str, Any]], ms: Iterable[int]) -> tuple[Summary, Touches]:
    """The summary of a part's documents, in position order, and where each record's touches
    are (see :data:`Touches`)."""
    typed: dict[str, dict[int, dict[str, dict[tuple[Any, ...], int]]]] = {}
    touches: dict[str, dict[str, list[int]]] = {}
    for pos, (doc, t) in enumerate(zip(docs, ms, strict=True)):
        props = doc.get("properties")
        if not props:
            continue
        object_id = doc.get("objectId")
        if object_id is not None:
            record = f"{doc['objectType']}:{object_id}"
            found = touches.get(record)
            if found is None:
                found = touches[record] = {}
            for name, raw in props.items():
                if raw:
                    where = found.get(name)
                    if where is None:
                        found[name] = [pos, pos]
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
    return summary, {
        record: {name: (a, b) for name, (a, b) in found.items()}
        for record, found in touches.items()
        if found
    }


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


def value_counts(
    summaries: Sequence[Summary], event: str, first_day: int, end_day: int
) -> dict[str, dict[ValueKey, int]]:
    """Per property, each value's completions of ``event`` on days ``[first_day, end_day)``."""
    result: dict[str, dict[ValueKey, int]] = {}
    for summary in summaries:
        for day, values in summary.get(event, {}).items():
            if not first_day <= day < end_day:
                continue
            for name, counts in values.items():
                target = result.get(name)
                if target is None:
                    result[name] = dict(counts)
                    continue
                for key, n in counts.items():
                    target[key] = target.get(key, 0) + n
    return result


def summary_bytes(summary: Summary, touches: Touches, token: str | None) -> bytes:
    events = {
        event: {
            str(day): {
                name: [[raw, list(bad), n] for (raw, bad), n in counts.items()]
                for name, counts in values.items()
            }
            for day, values in days.items()
        }
        for event, days in summary.items()
    }
    return orjson.dumps(
        {"version": SUMMARY_VERSION, "token": token, "events": events, "touches": touches}
    )


def read_summary(path: Path, token: str | None) -> tuple[Summary, Touches] | None:
    """The summary in ``path`` if it is of this version of the segment (``token``)."""
    try:
        data = orjson.loads(path.read_bytes())
        if data.get("version") != SUMMARY_VERSION or data.get("token") != token or not token:
            return None
        touches = {
            record: {name: (int(a), int(b)) for name, (a, b) in found.items()}
            for record, found in data["touches"].items()
        }
        return {
            event: {
                int(day): {
                    name: {(raw, tuple(bad)): n for raw, bad, n in entries}
                    for name, entries in values.items()
                }
                for day, values in days.items()
            }
            for event, days in data["events"].items()
        }, touches
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_summary(path: Path, summary: Summary, touches: Touches, token: str | None) -> None:
    """Write a summary; a disk that refuses only means it is made again next time."""
    try:
        write_atomically(path, summary_bytes(summary, touches, token))
    except StorageUnavailable:
        _log.warning("could not write %s; it is made again when next needed", path)


def summary_path(segment: Path) -> Path:
    return segment.with_suffix(".sum")
