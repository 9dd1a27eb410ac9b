"""Completions in time order with their columns and indexes: what every part of the store
(a segment, the journal) answers reads with, and the in-memory part made from documents."""

from __future__ import annotations

import abc
import functools
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from core.clock import to_epoch_millis
from core.models import Completion, ObjectType
from storage.completions.summaries import PartSummary, summarise_part
from storage.completions.uuids import uuid_hash

Key = tuple[int, str]
"""Sort key of a completion: (occurredAt in epoch milliseconds, id)."""


def epoch_ms(text: str) -> int:
    return to_epoch_millis(datetime.fromisoformat(text))


def record_key(object_type: str | ObjectType, object_id: str | None) -> str:
    """``CONTACT:12``; the empty string for an anonymous visitor."""
    if object_id is None:
        return ""
    kind = object_type.value if isinstance(object_type, ObjectType) else object_type
    return f"{kind}:{object_id}"


class Part(abc.ABC):
    """Completions in time order with their columns and indexes (a segment or the journal).

    ``ids`` and ``explicit_uuids`` are properties: a segment reads them from its index only
    when first asked for, a part in memory has them from the start."""

    def __init__(self) -> None:
        self.occurred: Sequence[int] = array("q")
        self.events: list[str] = []
        self.event_codes: dict[str, int] = {}
        self.event_of: Sequence[int] = array("I")
        self.records: list[str] = []
        self.record_codes: dict[str, int] = {}
        self.record_of: Sequence[int] = array("I")
        self.by_event: dict[str, Sequence[int]] = {}
        self.by_record: dict[str, Sequence[int]] = {}
        self.anonymous: dict[int, str] = {}
        """position -> utk, for completions of visitors not yet known as contacts."""
        self.tagged: dict[int, str] | None = {}
        """position -> tag, for completions a test run sent; None when not known (an index
        written before tags were indexed): the documents say."""

    @property
    @abc.abstractmethod
    def ids(self) -> list[str]:
        """Each completion's id, by position."""

    @property
    @abc.abstractmethod
    def explicit_uuids(self) -> dict[int, str]:
        """position -> uuid, for completions whose sender chose the uuid."""

    @property
    def count(self) -> int:
        return len(self.occurred)

    @property
    def min_ms(self) -> int:
        return self.occurred[0] if self.occurred else 0

    @property
    def max_ms(self) -> int:
        return self.occurred[-1] if self.occurred else 0

    def key(self, pos: int) -> Key:
        return (self.occurred[pos], self.ids[pos])

    @functools.cached_property
    def visitors(self) -> frozenset[str]:
        """The tokens of the anonymous visitors with completions here (a part never changes:
        a rewrite makes a new one)."""
        return frozenset(self.anonymous.values())

    @abc.abstractmethod
    def doc(self, pos: int) -> dict[str, Any]:
        """The document at ``pos``."""

    @property
    @abc.abstractmethod
    def summary(self) -> PartSummary:
        """Sent values per event, day and property, and where each record's touches are
        (storage.completions.summaries)."""

    def completion(self, pos: int) -> Completion:
        return Completion.from_stored(self.doc(pos))

    def uuid_hashes(self) -> Iterable[int]:
        return (
            uuid_hash(self.events[self.event_of[pos]], uuid)
            for pos, uuid in self.explicit_uuids.items()
        )

    def has_uuid(self, event: str, uuid: str) -> bool:
        positions = self.by_event.get(event, ())
        return any(self.explicit_uuids.get(p) == uuid for p in positions) or any(
            self.ids[p] == uuid for p in positions
        )


class MemoryPart(Part):
    """Documents held in memory, indexed in time order (the journal's, as of one moment)."""

    def __init__(
        self,
        docs: Sequence[dict[str, Any]],
        ms: Sequence[int] | None = None,
        blobs: Sequence[bytes | None] | None = None,
    ) -> None:
        super().__init__()
        times = [epoch_ms(d["occurredAt"]) for d in docs] if ms is None else ms
        keys = list(zip(times, [d["id"] for d in docs], strict=True))
        order = sorted(range(len(docs)), key=keys.__getitem__)
        self.docs = [docs[i] for i in order]
        self.blobs: list[bytes | None] = (
            [None] * len(docs) if blobs is None else [blobs[i] for i in order]
        )
        """Each document as JSON when known already (the journal wrote it so)."""
        self._ids: list[str] = []
        self._explicit_uuids: dict[int, str] = {}
        self._index(self.docs, [times[i] for i in order], [keys[i][1] for i in order])

    @property
    def ids(self) -> list[str]:
        return self._ids

    @property
    def explicit_uuids(self) -> dict[int, str]:
        return self._explicit_uuids

    def _index(self, docs: list[dict[str, Any]], ms: Iterable[int], ids: list[str]) -> None:
        """Fill the columns and indexes from documents already sorted by time (``ms``: their
        times in epoch milliseconds; ``ids``: their ids). Every fold runs this over a
        segment's worth of documents, hence the names bound outside the loop."""
        by_event: dict[str, list[int]] = {}
        by_record: dict[str, list[int]] = {}
        event_of: array[int] = array("I")
        record_of: array[int] = array("I")
        self.occurred = array("q", ms)
        self._ids = ids
        event_codes, record_codes = self.event_codes, self.record_codes
        events, records = self.events, self.records
        explicit_uuids, anonymous = self._explicit_uuids, self.anonymous
        tagged = self.tagged = {}
        add_event, add_record = event_of.append, record_of.append
        for pos, (doc, id_) in enumerate(zip(docs, self._ids, strict=True)):
            event = doc["eventName"]
            object_id = doc.get("objectId")
            record = "" if object_id is None else f"{doc['objectType']}:{object_id}"
            code = event_codes.get(event)
            if code is None:
                code = event_codes[event] = len(events)
                events.append(event)
                by_event[event] = []
            add_event(code)
            by_event[event].append(pos)
            rcode = record_codes.get(record)
            if rcode is None:
                rcode = record_codes[record] = len(records)
                records.append(record)
                by_record[record] = []
            add_record(rcode)
            by_record[record].append(pos)
            uuid = doc.get("uuid")
            if uuid and uuid != id_:
                explicit_uuids[pos] = uuid
            if not record and doc.get("utk"):
                anonymous[pos] = doc["utk"]
            if doc.get("tag"):
                tagged[pos] = doc["tag"]
        self.event_of, self.record_of = event_of, record_of
        self.by_event = {k: array("I", v) for k, v in by_event.items()}
        self.by_record = {k: array("I", v) for k, v in by_record.items()}

    def doc(self, pos: int) -> dict[str, Any]:
        return self.docs[pos]

    @functools.cached_property
    def summary(self) -> PartSummary:
        """The summary of sent values and touches (see storage.completions.summaries)."""
        return summarise_part(self.docs, self.occurred)
