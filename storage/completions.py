"""Completions on TinyDB, one file per month of ``occurredAt``.

A write touches only the months it adds to, so its cost follows the size of a month, not of the
whole history. A batch that spans several months is first appended to a journal (one fsynced
line) and only then written to its month files; if the process dies in between, the next writer
or opener finds the journal and finishes the job, so a batch is stored whole or not at all.

Each month file is parsed once per change: its completions are kept sorted by
``(occurredAt, id)`` together with the uuids and a per-event summary, and reused until another
write replaces the file.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from tinydb import Query
from tinydb.table import Table

from core.errors import Conflict, Rule, Violation
from core.models import Completion, ObjectType
from core.ports import CompletionSelection, EventSummary
from storage.atomic import AtomicJSONStorage, fsync_dir
from storage.locking import DatabaseLock

TABLE = "completions"
JOURNAL = "journal.jsonl"
_MONTH_FILE = re.compile(r"(\d{4}-\d{2})\.json")

SortKey = tuple[datetime, str]


def month_of(moment: datetime) -> str:
    """The partition a moment belongs to: ``YYYY-MM`` of its UTC date."""
    return f"{moment.year:04d}-{moment.month:02d}"


def _sort_key(completion: Completion) -> SortKey:
    return (completion.occurred_at, completion.id)


@dataclass(frozen=True)
class _View:
    """What was derived from one content of a month file; replaced whole, never changed."""

    items: list[Completion] = field(default_factory=list)
    keys: list[SortKey] = field(default_factory=list)
    uuids: frozenset[tuple[str, str]] = frozenset()
    summary: dict[str, EventSummary] = field(default_factory=dict)
    records: dict[tuple[ObjectType, str], EventSummary] = field(default_factory=dict)


class _Partition:
    """One month file and what was derived from its current content."""

    def __init__(self, path: Path) -> None:
        self.storage = AtomicJSONStorage(path)
        self._version: object = object()
        self.view = _View()

    def table(self) -> Table:
        # A fresh Table per write: TinyDB caches the next document id per Table object,
        # which another process may have used since.
        return Table(self.storage, TABLE, cache_size=0)

    def refresh(self) -> _View:
        """The view of the file as it is now (the caller holds the thread lock)."""
        version = self.storage.version()
        if version == self._version:
            return self.view
        raw = self.storage.read() or {}
        docs = raw.get(TABLE, {})
        items = sorted((Completion.model_validate(doc) for doc in docs.values()), key=_sort_key)
        summary: dict[str, EventSummary] = {}
        records: dict[tuple[ObjectType, str], EventSummary] = {}
        for c in items:  # oldest first: the last one seen is the latest
            known = summary.get(c.event_name)
            summary[c.event_name] = EventSummary(known.count + 1 if known else 1, c.occurred_at)
            if c.object_id is not None:
                key = (c.object_type, c.object_id)
                seen = records.get(key)
                records[key] = EventSummary(seen.count + 1 if seen else 1, c.occurred_at)
        self.view = _View(
            items=items,
            keys=[_sort_key(c) for c in items],
            uuids=frozenset((c.event_name, c.uuid) for c in items),
            summary=summary,
            records=records,
        )
        self._version = version
        return self.view

    def close(self) -> None:
        self.storage.close()


class CompletionStore:
    """The completion repository of one database folder."""

    def __init__(self, folder: Path, lock: DatabaseLock) -> None:
        self.folder = folder
        self._lock = lock
        self._partitions: dict[str, _Partition] = {}
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask

    @property
    def journal(self) -> Path:
        return self.folder / JOURNAL

    # -- writing ---------------------------------------------------------------------------

    def append(self, completions: Sequence[Completion]) -> None:
        if not completions:
            return
        with self._lock:
            self.recover()
            keys = [(c.event_name, c.uuid) for c in completions]
            taken = self.existing_uuids(keys)
            repeated = {k for k, n in Counter(keys).items() if n > 1}
            if taken or repeated:
                raise Conflict(
                    "Completions with these uuids were already received.",
                    [
                        Violation(
                            field="uuid",
                            rule=Rule.DUPLICATE_UUID,
                            message=f"A completion of {event} with uuid {uuid!r} was already "
                            "received; the first is kept.",
                            actual=uuid,
                        )
                        for event, uuid in sorted(taken | repeated)
                    ],
                )
            groups: dict[str, list[dict[str, Any]]] = {}
            for c in completions:
                groups.setdefault(month_of(c.occurred_at), []).append(c.to_json())
            journaled = len(groups) > 1
            if journaled:
                self._write_journal(groups)
            for month, docs in sorted(groups.items()):
                self._partition(month).table().insert_multiple(docs)
            if journaled:
                self._clear_journal()

    def _write_journal(self, groups: dict[str, list[dict[str, Any]]]) -> None:
        line = orjson.dumps({"groups": groups}) + b"\n"
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.folder)

    def _clear_journal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.journal.unlink()
        fsync_dir(self.folder)

    def recover(self) -> int:
        """Finish a journaled batch that a dead process left half-written; returns how many
        completions were restored. A torn last line was never acknowledged and is dropped."""
        with self._lock:
            try:
                raw = self.journal.read_bytes()
            except FileNotFoundError:
                return 0
            restored = 0
            for line in raw.split(b"\n"):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                for month, docs in sorted(record.get("groups", {}).items()):
                    partition = self._partition(month)
                    present = {c.id for c in partition.refresh().items}
                    missing = [d for d in docs if d.get("id") not in present]
                    if missing:
                        partition.table().insert_multiple(missing)
                        restored += len(missing)
            self._clear_journal()
            return restored

    def delete_event(self, event_name: str) -> int:
        with self._lock:
            removed = 0
            for partition, view in self._all_partitions():
                summary = view.summary.get(event_name)
                if summary is None:
                    continue
                partition.table().remove(Query().eventName == event_name)
                removed += summary.count
            return removed

    def attach_visitor(self, utk: str, object_id: str) -> int:
        with self._lock:
            moved = 0
            for partition, view in self._all_partitions():
                count = sum(1 for c in view.items if c.object_id is None and c.utk == utk)
                if count:
                    item = Query()
                    partition.table().update(
                        {"objectId": object_id},
                        (item.utk == utk) & (item.objectId == None),  # noqa: E711
                    )
                    moved += count
            return moved

    # -- reading ---------------------------------------------------------------------------

    def existing_uuids(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        wanted = set(keys)
        if not wanted:
            return set()
        found: set[tuple[str, str]] = set()
        for view in self._views():
            found |= wanted & view.uuids
        return found

    def summaries(self) -> dict[str, EventSummary]:
        return _merge(view.summary for view in self._views())

    def record_summaries(self) -> dict[tuple[ObjectType, str], EventSummary]:
        return _merge(view.records for view in self._views())

    def _views(self) -> Iterator[_View]:
        """Each month's view, taking the thread lock one month at a time, so that a long read
        (every month of a large store) lets other threads in between months."""
        for month in self._months():
            with self._lock.reading():
                view = self._partition(month).refresh()
            yield view

    def scan(self, selection: CompletionSelection) -> Iterator[Completion]:
        months = self._months()
        low = selection.occurred_after
        high = selection.occurred_before
        start = selection.start_after
        if start is not None:
            if selection.newest_first:
                high = start[0] if high is None else min(high, start[0])
            else:
                low = start[0] if low is None else max(low, start[0])
        if low is not None:
            months = [m for m in months if m >= month_of(low)]
        if high is not None:
            months = [m for m in months if m <= month_of(high)]
        if selection.newest_first:
            months.reverse()
        keep = _matcher(selection)
        for month in months:
            with self._lock.reading():
                view = self._partition(month).refresh()
            yield from filter(keep, _ordered(view, selection))

    # -- partitions ------------------------------------------------------------------------

    def _months(self) -> list[str]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted(m.group(1) for n in names if (m := _MONTH_FILE.fullmatch(n)))

    def _partition(self, month: str) -> _Partition:
        partition = self._partitions.get(month)
        if partition is None:
            partition = _Partition(self.folder / f"{month}.json")
            self._partitions[month] = partition
        return partition

    def _all_partitions(self) -> Iterator[tuple[_Partition, _View]]:
        """Every month and its current view; the caller holds (at least) the thread lock."""
        for month in self._months():
            partition = self._partition(month)
            yield partition, partition.refresh()

    def close(self) -> None:
        with self._lock.reading():
            for partition in self._partitions.values():
                partition.close()
            self._partitions.clear()


K = TypeVar("K")


def _merge(parts: Iterable[dict[K, EventSummary]]) -> dict[K, EventSummary]:
    """Add up per-month summaries (months come oldest first)."""
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


def _ordered(view: _View, selection: CompletionSelection) -> Iterator[Completion]:
    items, keys = view.items, view.keys
    start = selection.start_after
    if selection.newest_first:
        end = bisect.bisect_left(keys, start) if start is not None else len(items)
        for i in range(end - 1, -1, -1):
            yield items[i]
    else:
        begin = bisect.bisect_right(keys, start) if start is not None else 0
        for i in range(begin, len(items)):
            yield items[i]


def _matcher(selection: CompletionSelection) -> Callable[[Completion], bool]:
    def keep(c: Completion) -> bool:
        if selection.object_type is not None and c.object_type is not selection.object_type:
            return False
        if selection.object_id is not None and c.object_id != selection.object_id:
            return False
        if selection.event_names is not None and c.event_name not in selection.event_names:
            return False
        if selection.occurred_after is not None and c.occurred_at < selection.occurred_after:
            return False
        return selection.occurred_before is None or c.occurred_at < selection.occurred_before

    return keep
