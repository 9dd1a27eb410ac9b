"""Completions at scale on TinyDB: a write-ahead journal folded into immutable TinyDB segments,
with indexes beside them.

```
completions/journal-000007.jsonl   the open journal: one line per acknowledged batch
completions/seg-000006.json        TinyDB files of up to SEGMENT_SIZE completions each,
completions/seg-000006.idx         each with its index: ids, times, events, records, offsets
```

**Writing.** A batch is appended to the journal as one line and made durable with ``fsync``
before it is acknowledged. Threads (and processes) that append at the same time share one
``fsync``: the first to sync covers every line already written (group commit). When the
journal holds SEGMENT_SIZE completions they are written, sorted by time, as a new TinyDB segment
(temporary file, fsync, rename, fsync folder) and a new journal starts. Each completion is
written twice in all (journal, segment), whatever the size of the store: the cost of a write does
not grow with what is stored.

**Reading.** A segment's index (written with it, rebuilt from it when missing) holds its ids,
times, events and records as compact arrays, and which positions belong to each event and to
each record, in time order. A record's timeline reads only that record's positions and the
byte ranges of those documents; counts come from the indexes without reading documents.

**Crashes.** A torn last journal line was never acknowledged and is cut off. A segment records
which journal it was folded from, so a journal left behind by a fold that died before removing
it is recognised and removed. A segment is written before its index, and both carry the same
random token: a missing index, or one of an earlier version of the file, is rebuilt from the
segment.

**Sharing.** Every write holds the database's lock; another process notices new journal lines
(the file grew), new segments (the folder listing) and rewritten files (a new inode).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import heapq
import itertools
import mmap
import os
import re
import threading
import time
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from core.clock import from_epoch_millis, to_epoch_millis
from core.errors import Conflict, Rule, Violation
from core.models import Completion, ObjectType
from core.ports import CompletionSelection, EventSummary, EventTally
from storage.atomic import CorruptFile, fsync_dir, write_atomically
from storage.locking import DatabaseLock

TABLE = "completions"
SEGMENT_TABLE = "segment"
SEGMENT_SIZE = 20_000
"""Completions per TinyDB segment; a fold writes one segment of this size."""

_JOURNAL = re.compile(r"journal-(\d{6})\.jsonl")
_SEGMENT = re.compile(r"seg-(\d{6})\.json")
_COARSE_CLOCK_NS = 100_000_000
"""How far a file time may lag the real time (a kernel tick, with a wide margin)."""
_TOKEN = re.compile(rb'"token":"([0-9a-f]+)"')
INDEX_VERSION = 2
_INDEX_MAGIC = b"CBEINDEX\n"

Key = tuple[int, str]
"""Sort key of a completion: (occurredAt in epoch milliseconds, id)."""


def _ms(text: str) -> int:
    return to_epoch_millis(datetime.fromisoformat(text))


def record_key(object_type: str | ObjectType, object_id: str | None) -> str:
    """``CONTACT:12``; the empty string for an anonymous visitor."""
    if object_id is None:
        return ""
    kind = object_type.value if isinstance(object_type, ObjectType) else object_type
    return f"{kind}:{object_id}"


class _Part:
    """Completions in time order with their columns and indexes (a segment or the journal)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.occurred: Sequence[int] = array("q")
        self.events: list[str] = []
        self.event_codes: dict[str, int] = {}
        self.event_of: Sequence[int] = array("I")
        self.records: list[str] = []
        self.record_codes: dict[str, int] = {}
        self.record_of: Sequence[int] = array("I")
        self.by_event: dict[str, Sequence[int]] = {}
        self.by_record: dict[str, Sequence[int]] = {}
        self.explicit_uuids: dict[int, str] = {}
        """position -> uuid, for completions whose sender chose the uuid."""
        self.anonymous: dict[int, str] = {}
        """position -> utk, for completions of visitors not yet known as contacts."""
        self.tagged: dict[int, str] | None = {}
        """position -> tag, for completions a test run sent; None when not known (an index
        written before tags were indexed): the documents say."""

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

    def doc(self, pos: int) -> dict[str, Any]:
        raise NotImplementedError

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


def _index_docs(
    docs: list[dict[str, Any]],
    part: _Part,
    ms: Iterable[int],
    ids: list[str] | None = None,
) -> None:
    """Fill a part's columns and indexes from documents already sorted by time (``ms``: their
    times in epoch milliseconds; ``ids``: their ids, when known). Every fold runs this over a
    segment's worth of documents, hence the names bound outside the loop."""
    by_event: dict[str, list[int]] = {}
    by_record: dict[str, list[int]] = {}
    event_of: array[int] = array("I")
    record_of: array[int] = array("I")
    part.occurred = array("q", ms)
    part.ids = [d["id"] for d in docs] if ids is None else ids
    event_codes, record_codes = part.event_codes, part.record_codes
    events, records = part.events, part.records
    explicit_uuids, anonymous = part.explicit_uuids, part.anonymous
    tagged = part.tagged = {}
    add_event, add_record = event_of.append, record_of.append
    for pos, (doc, id_) in enumerate(zip(docs, part.ids, strict=True)):
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
    part.event_of, part.record_of = event_of, record_of
    part.by_event = {k: array("I", v) for k, v in by_event.items()}
    part.by_record = {k: array("I", v) for k, v in by_record.items()}


class _MemoryPart(_Part):
    """Documents held in memory, indexed in time order (the journal's, as of one moment)."""

    def __init__(
        self,
        docs: Sequence[dict[str, Any]],
        ms: Sequence[int] | None = None,
        blobs: Sequence[bytes | None] | None = None,
    ) -> None:
        super().__init__()
        times = [_ms(d["occurredAt"]) for d in docs] if ms is None else ms
        keys = list(zip(times, [d["id"] for d in docs], strict=True))
        order = sorted(range(len(docs)), key=keys.__getitem__)
        self.docs = [docs[i] for i in order]
        self.blobs: list[bytes | None] = (
            [None] * len(docs) if blobs is None else [blobs[i] for i in order]
        )
        """Each document as JSON when known already (the journal wrote it so)."""
        _index_docs(self.docs, self, [times[i] for i in order], [keys[i][1] for i in order])

    def doc(self, pos: int) -> dict[str, Any]:
        return self.docs[pos]


class _Tail:
    """The open journal: completions acknowledged but not yet folded into a segment.

    Appending only adds to a list; the time-ordered view reads need is made when asked for
    and kept until the journal changes.
    """

    def __init__(self, number: int, path: Path) -> None:
        self.number = number
        self.path = path
        self.offset = 0
        """Bytes of the journal read so far (always at a line end)."""
        self.inode = 0
        self.docs: list[dict[str, Any]] = []
        self.ms: list[int] = []
        self.blobs: list[bytes | None] = []
        self._view: _MemoryPart | None = None

    @property
    def count(self) -> int:
        return len(self.docs)

    def add(
        self,
        docs: list[dict[str, Any]],
        ms: Iterable[int] | None = None,
        blobs: Iterable[bytes] | None = None,
    ) -> None:
        self.docs.extend(docs)
        self.ms.extend((_ms(d["occurredAt"]) for d in docs) if ms is None else ms)
        self.blobs.extend([None] * len(docs) if blobs is None else blobs)
        self._view = None

    def view(self) -> _MemoryPart:
        if self._view is None:
            self._view = _MemoryPart(self.docs, self.ms, self.blobs)
        return self._view

    def uuid_hashes(self) -> Iterable[int]:
        return _uuid_hashes(self.docs)

    def has_uuid(self, event: str, uuid: str) -> bool:
        return any(d["eventName"] == event and d.get("uuid") == uuid for d in self.docs)

    def read_new(self) -> bool:
        """Take in lines another process appended; True when anything changed.

        A journal replaced by a rewrite (a new inode) is read again from the start.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if st.st_ino != self.inode:
            self.offset, self.docs, self.ms, self.blobs, self._view = 0, [], [], [], None
            self.inode = st.st_ino
        if st.st_size <= self.offset:
            return False
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read(st.st_size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return False  # a line still being written (or torn): not acknowledged yet
        docs: list[dict[str, Any]] = []
        for line in data[: end + 1].split(b"\n"):
            if line:
                try:
                    docs.extend(orjson.loads(line)["docs"])
                except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                    raise CorruptFile(f"{self.path} has a damaged line: {error}") from error
        self.offset += end + 1
        self.add(docs)
        return True


def _slices(
    positions: memoryview, keys: Sequence[str], starts: Sequence[int]
) -> dict[str, Sequence[int]]:
    """Each key's run of ``positions``, without copying."""
    ends = [*starts[1:], len(positions)]
    return {key: positions[a:b] for key, a, b in zip(keys, starts, ends, strict=True)}


@functools.lru_cache(maxsize=1 << 15)
def uuid_hash(event: str, uuid: str) -> int:
    """A stable 64-bit hash of ``(event, uuid)``: kept in segment indexes, so that the set of
    taken uuids is built without reading them. Cached: a write checks its uuids, adds them to
    the set and later indexes them."""
    digest = hashlib.blake2b(f"{event}\n{uuid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _uuid_hashes(docs: Iterable[dict[str, Any]]) -> Iterator[int]:
    """Hashes of ``(event, uuid)`` of the completions whose sender chose the uuid."""
    for doc in docs:
        if doc.get("uuid") and doc["uuid"] != doc["id"]:
            yield uuid_hash(doc["eventName"], doc["uuid"])


class _UuidHashes:
    """The hashes of every taken ``(event, uuid)``.

    Kept as the keys of a dict of ``None``, not a set: a dict of ints is a container Python's
    cycle collector does not track, while a set of a million ints had each full collection walk
    it (a third of a batched write's time at a million completions).
    """

    def __init__(self, hashes: Iterable[int]) -> None:
        self.hashes: dict[int, None] = dict.fromkeys(hashes)
        """Test membership here (``in``): each write tests hundreds."""

    def update(self, hashes: Iterable[int]) -> None:
        self.hashes.update(dict.fromkeys(hashes))


class _Segment(_Part):
    """An immutable TinyDB file of completions and its index."""

    def __init__(self, number: int, path: Path) -> None:
        super().__init__()
        del self.ids, self.explicit_uuids  # read from the index when first needed
        self.number = number
        self.path = path
        self.index_path = path.with_suffix(".idx")
        self.journal = -1
        """The journal this segment was folded from."""
        self.offsets: Sequence[int] = array("q")
        self.lengths: Sequence[int] = array("I")
        self.inode = 0
        self._mapped: mmap.mmap | None = None

    def load(self) -> _Segment:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            self.inode = st.st_ino
            try:
                index = read_index(_mapped(self.index_path))
                if index.header.get("token") != _segment_token(fd, st.st_size):
                    raise ValueError("an index of another version of the segment")
                self._from_index(index)
            except (FileNotFoundError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
                self._from_index(self._rebuild_index(fd))
            # The documents, mapped: a slice costs no system call (reports read hundreds of
            # thousands in a row), and the mapping lives as long as this object, so a scan that
            # began before a rewrite replaced this segment reads on, from the file as it was.
            self._mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        return self

    def _from_index(self, index: _Index) -> None:
        header = index.header
        count = int(header["count"])
        self.journal = int(header["journal"])
        self.occurred = index.column("occurred", "q")
        self.event_of = index.column("eventOf", "I")
        self.record_of = index.column("recordOf", "I")
        self.offsets = index.column("offsets", "q")
        self.lengths = index.column("lengths", "I")
        if not len(self.occurred) == len(self.offsets) == len(self.lengths) == count:
            raise ValueError("columns of different lengths")
        self.events = header["events"]
        self.event_codes = {e: i for i, e in enumerate(self.events)}
        self.records = header["records"]
        self.record_codes = {r: i for i, r in enumerate(self.records)}
        self.by_event = _slices(index.column("byEvent", "I"), self.events, header["eventStarts"])
        self.by_record = _slices(
            index.column("byRecord", "I"), self.records, header["recordStarts"]
        )
        self.anonymous = {int(p): u for p, u in header["utks"].items()}
        tags = header.get("tags")  # absent from indexes written before tags were indexed
        self.tagged = None if tags is None else {int(p): t for p, t in tags.items()}
        self._index = index

    @functools.cached_property
    def explicit_uuids(self) -> dict[int, str]:  # type: ignore[override]
        """Read when first needed: only a uuid that might be taken already asks for them."""
        positions = self._index.column("uuidPositions", "I")
        return dict(zip(positions, self._index.strings("uuids"), strict=True))

    def uuid_hashes(self) -> Iterable[int]:
        return self._index.column("uuidHashes", "q")

    @functools.cached_property
    def ids(self) -> list[str]:  # type: ignore[override]
        """Read when first needed: counts and most reads never need them."""
        ids = self._index.ids()
        if len(ids) != self.count:
            raise CorruptFile(f"{self.index_path} names {len(ids)} ids for {self.count} entries")
        return ids

    def _rebuild_index(self, fd: int) -> _Index:
        """Index the TinyDB file itself (its index is missing, or is of an older version of
        the file: a crash between writing the two) and write the index."""
        raw = os.pread(fd, os.fstat(fd).st_size, 0)
        docs, about = read_segment(self.path, raw)
        journal, token = int(about.get("journal", -1)), str(about.get("token", ""))
        part = _MemoryPart(docs)
        # Offsets come from writing the same documents the same way.
        payload, offsets, lengths = segment_bytes(part.docs, journal, token)
        if payload != raw:
            raise CorruptFile(f"{self.path} is not a segment written by cbe")
        index = build_index(part, journal, token, offsets, lengths)
        write_atomically(self.index_path, index)
        return read_index(index)

    def doc(self, pos: int) -> dict[str, Any]:
        assert self._mapped is not None
        start = self.offsets[pos]
        doc: dict[str, Any] = orjson.loads(self._mapped[start : start + self.lengths[pos]])
        return doc


def segment_bytes(
    docs: list[dict[str, Any]],
    journal: int,
    token: str,
    blobs: Sequence[bytes | None] | None = None,
) -> tuple[bytes, list[int], list[int]]:
    """A TinyDB file of ``docs`` (document ids 1, 2, ...) and each document's byte range.

    A second table, ``segment``, at the end of the file, names the journal the documents were
    folded from and a token that the segment's index repeats: an index whose token differs
    belongs to another version of the file.
    """
    chunks = [b'{"' + TABLE.encode() + b'":{']
    size = len(chunks[0])
    offsets: list[int] = []
    lengths: list[int] = []
    for i, doc in enumerate(docs, 1):
        prefix = (b"," if i > 1 else b"") + b'"%d":' % i
        blob = (blobs[i - 1] if blobs is not None else None) or orjson.dumps(doc)
        offsets.append(size + len(prefix))
        lengths.append(len(blob))
        chunks.append(prefix)
        chunks.append(blob)
        size += len(prefix) + len(blob)
    about = orjson.dumps({"journal": journal, "token": token})
    chunks.append(b'},"' + SEGMENT_TABLE.encode() + b'":{"1":' + about + b"}}")
    return b"".join(chunks), offsets, lengths


def write_segment(path: Path, part: _MemoryPart, journal: int) -> None:
    """Write a segment of the documents of ``part``, then its index."""
    token = os.urandom(8).hex()
    payload, offsets, lengths = segment_bytes(part.docs, journal, token, part.blobs)
    index = build_index(part, journal, token, offsets, lengths)
    write_atomically(path, payload)
    write_atomically(path.with_suffix(".idx"), index)


def read_segment(
    path: Path, raw: bytes | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The documents of a segment file and what its ``segment`` table says about them."""
    try:
        data = orjson.loads(path.read_bytes() if raw is None else raw)
        docs = list(data.get(TABLE, {}).values())
        about = dict(data.get(SEGMENT_TABLE, {}).get("1", {}))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
        raise CorruptFile(f"{path} is not a valid database file: {error}") from error
    return docs, about


def _segment_token(fd: int, size: int) -> str | None:
    """The token at the end of a segment file, read without reading the file."""
    tail = os.pread(fd, 256, max(0, size - 256))
    match = _TOKEN.search(tail)
    return match.group(1).decode() if match else None


def build_index(
    part: _Part, journal: int, token: str, offsets: Sequence[int], lengths: Sequence[int]
) -> bytes:
    """A segment's index: a JSON header line, then its columns as machine arrays, so that
    opening a store reads them with a copy rather than parsing a million numbers."""
    event_positions: array[int] = array("I")
    event_starts = []
    for event in part.events:
        event_starts.append(len(event_positions))
        event_positions.extend(part.by_event[event])
    record_positions: array[int] = array("I")
    record_starts = []
    for record in part.records:
        record_starts.append(len(record_positions))
        record_positions.extend(part.by_record[record])
    columns = {
        "occurred": array("q", part.occurred).tobytes(),
        "eventOf": array("I", part.event_of).tobytes(),
        "recordOf": array("I", part.record_of).tobytes(),
        "offsets": array("q", offsets).tobytes(),
        "lengths": array("I", lengths).tobytes(),
        "byEvent": event_positions.tobytes(),
        "byRecord": record_positions.tobytes(),
        "ids": "\n".join(part.ids).encode(),
        "uuidPositions": array("I", part.explicit_uuids).tobytes(),
        "uuidHashes": array("q", part.uuid_hashes()).tobytes(),
        "uuids": "\n".join(part.explicit_uuids.values()).encode(),
    }
    body = bytearray()
    sections = {}
    for name, data in columns.items():
        sections[name] = [len(body), len(data)]
        body += data + b"\0" * (-len(data) % 8)  # each column 8-byte aligned
    header = orjson.dumps(
        {
            "version": INDEX_VERSION,
            "journal": journal,
            "token": token,
            "count": part.count,
            "events": part.events,
            "eventStarts": event_starts,
            "records": part.records,
            "recordStarts": record_starts,
            "utks": {str(p): u for p, u in part.anonymous.items()},
            "tags": {str(p): t for p, t in (part.tagged or {}).items()},
            "sections": sections,
        }
    )
    header += b" " * (-(len(_INDEX_MAGIC) + len(header) + 1) % 8)
    return _INDEX_MAGIC + header + b"\n" + bytes(body)


@dataclass
class _Index:
    header: dict[str, Any]
    body: memoryview

    def column(self, name: str, kind: Literal["I", "q"]) -> memoryview[int]:
        start, size = self.header["sections"][name]
        return self.body[start : start + size].cast(kind)

    def strings(self, name: str) -> list[str]:
        start, size = self.header["sections"][name]
        return bytes(self.body[start : start + size]).decode().split("\n") if size else []

    def ids(self) -> list[str]:
        return self.strings("ids")


FILES_PER_SEGMENT = 2
"""Open files a loaded segment keeps: its documents and its index, each mapped."""
SPARE_FILES = 512
"""Open files left for everything else (journals, sockets, the app's own)."""


def allow_open_files(needed: int) -> None:
    """Raise this process's limit of open files to ``needed`` (its soft limit, never past the
    hard one) when it is lower: macOS allows 256 by default, many Linux desktops 1,024, and a
    store of ten million completions maps 500 segments."""
    try:
        import resource
    except ImportError:  # Windows has no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    with contextlib.suppress(ValueError, OSError):  # then the system's limit is the limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _mapped(path: Path) -> mmap.mmap:
    """``path`` mapped into memory, read-only: a store opens its indexes so, and the pages a
    read never touches (ids and uuids, most of an index) are never read from the file. Index
    files are only ever replaced, never changed in place, so a mapping stays what it was."""
    with path.open("rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # ValueError when empty


def read_index(raw: bytes | mmap.mmap) -> _Index:
    """Parse an index written by :func:`build_index`; ValueError when it is not one."""
    if raw[: len(_INDEX_MAGIC)] != _INDEX_MAGIC:
        raise ValueError("not a segment index")
    end = raw.find(b"\n", len(_INDEX_MAGIC))
    if end < 0:
        raise ValueError("not a segment index")
    header = orjson.loads(raw[len(_INDEX_MAGIC) : end])
    if not isinstance(header, dict) or header.get("version") != INDEX_VERSION:
        raise ValueError("an index of another version")
    return _Index(header, memoryview(raw)[end + 1 :])


K = TypeVar("K")


def _merge(parts: Iterable[dict[K, EventSummary]]) -> dict[K, EventSummary]:
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


class CompletionStore:
    """The completion repository of one database folder."""

    def __init__(self, folder: Path, lock: DatabaseLock) -> None:
        self.folder = folder
        self._lock = lock
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
        self._segments: dict[int, _Segment] = {}
        self._tail: _Tail | None = None
        self._journal_fd: int | None = None
        self._journal_fd_number = -1
        self._sync_lock = threading.Lock()
        self._listed: tuple[int, int] | None = None
        """(modification time of the folder, when it was listed), both in nanoseconds."""
        self._synced: tuple[int, int] = (-1, 0)
        """(journal number, offset) known durable."""
        self._uuids: _UuidHashes | None = None
        self._summaries: tuple[object, dict[str, EventSummary]] | None = None
        self._record_summaries: tuple[object, dict[tuple[ObjectType, str], EventSummary]] | None = (
            None
        )

    # -- the files ---------------------------------------------------------------------------

    def _listing(self) -> tuple[list[int], list[int]]:
        names = os.listdir(self.folder)
        segments = sorted(int(m.group(1)) for n in names if (m := _SEGMENT.fullmatch(n)))
        journals = sorted(int(m.group(1)) for n in names if (m := _JOURNAL.fullmatch(n)))
        return segments, journals

    def _segment_path(self, number: int) -> Path:
        return self.folder / f"seg-{number:06d}.json"

    def _journal_path(self, number: int) -> Path:
        return self.folder / f"journal-{number:06d}.jsonl"

    @property
    def journal(self) -> Path:
        """The open journal's path."""
        with self._lock.reading():
            self._refresh()
            assert self._tail is not None
            return self._tail.path

    def _folder_unchanged(self) -> bool:
        """Whether no file was added, removed or replaced in the folder since the last listing.

        Every such change sets the folder's modification time, but the kernel stamps it from a
        coarse clock: two changes a few milliseconds apart may carry the same time. So the
        time is trusted only when the last listing was made well after it (as git does with
        its index), and otherwise the folder is listed again.
        """
        observed = time.time_ns()
        mtime = os.stat(self.folder).st_mtime_ns
        last = self._listed
        if last is not None and last[0] == mtime and last[1] - mtime > _COARSE_CLOCK_NS:
            return True
        self._listed = (mtime, observed)
        return False

    def _refresh(self) -> None:
        """Catch up with the folder: new or rewritten segments, the journal's new lines, a fold
        done by another process. The caller holds (at least) the thread lock."""
        if self._tail is not None and self._folder_unchanged():
            self._refresh_tail(self._tail.count, unknown=False)
            return
        segments, journals = self._listing()
        allow_open_files(FILES_PER_SEGMENT * len(segments) + SPARE_FILES)
        previous = self._tail
        seen = previous.count if previous is not None else 0
        unknown = False
        """Whether completions came or went that the uuid set cannot follow line by line."""
        for number in list(self._segments):
            if number not in segments:
                del self._segments[number]  # its mappings go with the last scan reading it
                unknown = True
        for number in segments:
            known = self._segments.get(number)
            path = self._segment_path(number)
            if known is not None:
                try:
                    if os.stat(path).st_ino == known.inode:
                        continue
                except FileNotFoundError:
                    continue
            segment = self._segments[number] = _Segment(number, path).load()
            # A fold of the journal this store had read, with nothing more: nothing new.
            folded_tail = previous is not None and segment.journal == previous.number
            if known is not None or not folded_tail or segment.count != seen:
                unknown = True
        folded = {s.journal for s in self._segments.values()}
        live = [j for j in journals if j not in folded]
        number = live[-1] if live else (max([*journals, *folded, 0]) + 1)
        if self._tail is None or self._tail.number != number:
            self._tail = _Tail(number, self._journal_path(number))
            seen = 0
        self._refresh_tail(seen, unknown)

    def _refresh_tail(self, seen: int, unknown: bool) -> None:
        tail = self._tail
        assert tail is not None
        inode = tail.inode
        tail.read_new()
        if tail.inode != inode and inode:
            unknown = True  # the journal was rewritten
        if unknown:
            self._uuids = None
        elif self._uuids is not None and tail.count > seen:
            self._uuids.update(_uuid_hashes(tail.docs[seen:]))

    def _parts(self) -> list[_Part]:
        assert self._tail is not None
        return [*(self._segments[n] for n in sorted(self._segments)), self._tail.view()]

    def _uuid_set(self) -> _UuidHashes:
        if self._uuids is None:
            assert self._tail is not None
            parts: list[Iterable[int]] = [s.uuid_hashes() for s in self._segments.values()]
            self._uuids = _UuidHashes(itertools.chain(*parts, self._tail.uuid_hashes()))
        return self._uuids

    def _version(self) -> object:
        assert self._tail is not None
        return (
            tuple((n, s.inode) for n, s in sorted(self._segments.items())),
            self._tail.number,
            self._tail.inode,
            self._tail.offset,
        )

    # -- writing ---------------------------------------------------------------------------

    def recover(self) -> int:
        """Tidy what a crashed writer left: journals already folded into a segment are
        removed, and a torn last line (never acknowledged) is cut off. Returns how many
        completions the open journal holds."""
        with self._lock:
            self._refresh()
            folded = {s.journal for s in self._segments.values()}
            _, journals = self._listing()
            for number in journals:
                if number in folded:
                    self._journal_path(number).unlink(missing_ok=True)
            fsync_dir(self.folder)
            self._refresh()
            assert self._tail is not None
            self._cut_torn_line(self._tail)
            return self._tail.count

    def _cut_torn_line(self, tail: _Tail) -> None:
        """A journal must end at a line end before anything is appended (the caller holds the
        lock, so bytes past the last line are what a killed writer left)."""
        with contextlib.suppress(FileNotFoundError):
            if os.stat(tail.path).st_size > tail.offset:
                with tail.path.open("r+b") as handle:
                    handle.truncate(tail.offset)
                    handle.flush()
                    os.fsync(handle.fileno())

    def append(self, completions: Sequence[Completion]) -> None:
        if not completions:
            return
        docs = [c.to_json() for c in completions]
        ms = [to_epoch_millis(c.occurred_at) for c in completions]
        blobs = [orjson.dumps(doc) for doc in docs]
        with self._lock:
            self._refresh()
            hashes = self._check_uuids(docs)
            tail = self._tail
            assert tail is not None
            self._cut_torn_line(tail)
            fd = self._open_journal(tail)
            line = b'{"docs":[' + b",".join(blobs) + b"]}\n"
            os.write(fd, line)
            tail.offset += len(line)
            tail.inode = os.fstat(fd).st_ino
            tail.add(docs, ms, blobs)
            self._uuid_set().update(hashes)
            position = (tail.number, tail.offset)
            if tail.count >= SEGMENT_SIZE:
                self._fold()
                return  # the segment is durable: so is the batch
        self._make_durable(*position)

    def _open_journal(self, tail: _Tail) -> int:
        if self._journal_fd is None or self._journal_fd_number != tail.number:
            if self._journal_fd is not None:
                os.close(self._journal_fd)
            created = not tail.path.exists()
            self._journal_fd = os.open(tail.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._journal_fd_number = tail.number
            if created:
                fsync_dir(self.folder)
        return self._journal_fd

    def _make_durable(self, number: int, offset: int) -> None:
        """Group commit: one fsync covers every line written so far by anyone."""
        with self._sync_lock:
            synced_number, synced_offset = self._synced
            if number < synced_number or (number == synced_number and offset <= synced_offset):
                return
            path = self._journal_path(number)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return  # folded meanwhile: the segment was written durably
            try:
                end = os.fstat(fd).st_size
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = (number, end)

    def _check_uuids(self, docs: list[dict[str, Any]]) -> list[int]:
        """Refuse ``docs`` if a uuid of theirs is taken or repeated; else the hashes of their
        uuids, for the set once they are written."""
        taken_hashes = self._uuid_set().hashes
        seen: set[tuple[str, str]] = set()
        taken: set[tuple[str, str]] = set()
        hashes: list[int] = []
        for doc in docs:
            uuid = doc["uuid"]
            if uuid == doc["id"]:
                continue  # a uuid the store made (the completion's id) is new by construction
            key = (doc["eventName"], uuid)
            hashed = uuid_hash(*key)
            if key in seen or (hashed in taken_hashes and self._has_uuid(*key)):
                taken.add(key)
            seen.add(key)
            if uuid:  # as _uuid_hashes counts them
                hashes.append(hashed)
        if taken:
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
                    for event, uuid in sorted(taken)
                ],
            )
        return hashes

    def _has_uuid(self, event: str, uuid: str) -> bool:
        assert self._tail is not None
        return self._tail.has_uuid(event, uuid) or any(
            segment.has_uuid(event, uuid) for segment in self._segments.values()
        )

    def _fold(self) -> None:
        """Write the journal's completions as a new TinyDB segment and start a new journal.

        Order matters for crashes: the segment (which names its journal), then its index, then
        the journal goes; the next write begins the next journal. At every point a reopening
        finds each completion exactly once: a journal that a segment names is skipped by
        readers and removed by :meth:`recover`."""
        tail = self._tail
        assert tail is not None
        number = max([*self._segments, 0]) + 1
        path = self._segment_path(number)
        write_segment(path, tail.view(), tail.number)
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        tail.path.unlink(missing_ok=True)
        fsync_dir(self.folder)
        self._refresh()

    def _rewrite(
        self,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        may_change: Callable[[_Part], bool] = lambda part: True,
    ) -> int:
        """Apply ``change`` to every stored document (None removes it); rewrites only the files
        with changes, and reads only the segments ``may_change`` says might have some. Returns
        how many documents changed. The caller holds the lock."""
        changed = 0
        for segment in list(self._segments.values()):
            if not may_change(segment):
                continue
            docs = [segment.doc(p) for p in range(segment.count)]
            kept, count = self._changed(docs, change)
            if not count:
                continue
            changed += count
            if not kept:
                segment.path.unlink()
                segment.index_path.unlink(missing_ok=True)
                continue
            write_segment(segment.path, _MemoryPart(kept), segment.journal)
        tail = self._tail
        assert tail is not None
        kept, count = self._changed(list(tail.docs), change)
        if count:
            changed += count
            lines = orjson.dumps({"docs": kept}) + b"\n" if kept else b""
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            write_atomically(tail.path, lines)
        if changed:
            self._uuids = None
            self._refresh()
        return changed

    @staticmethod
    def _changed(
        docs: list[dict[str, Any]], change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> tuple[list[dict[str, Any]], int]:
        kept: list[dict[str, Any]] = []
        count = 0
        for doc in docs:
            new = change(doc)
            if new is not doc:
                count += 1
            if new is not None:
                kept.append(new)
        return kept, count

    def delete_event(self, event_name: str) -> int:
        with self._lock:
            self._refresh()
            if not any(event_name in p.by_event for p in self._parts()):
                return 0
            return self._rewrite(lambda d: None if d["eventName"] == event_name else d)

    def delete_tagged(self, tag: str) -> int:
        with self._lock:
            self._refresh()
            return self._rewrite(
                lambda d: None if d.get("tag") == tag else d,
                lambda part: part.tagged is None or tag in part.tagged.values(),
            )

    def rename_events(self, names: Mapping[str, str]) -> int:
        renames = {old: new for old, new in names.items() if old != new}
        with self._lock:
            self._refresh()

            def has_some(part: _Part) -> bool:
                return any(old in part.by_event for old in renames)

            if not renames or not any(has_some(p) for p in self._parts()):
                return 0

            def rename(doc: dict[str, Any]) -> dict[str, Any]:
                new = renames.get(doc["eventName"])
                return doc if new is None else {**doc, "eventName": new}

            return self._rewrite(rename, has_some)

    def attach_visitor(self, utk: str, object_id: str) -> int:
        with self._lock:
            self._refresh()
            if not any(utk in p.anonymous.values() for p in self._parts()):
                return 0

            def attach(doc: dict[str, Any]) -> dict[str, Any]:
                if doc.get("objectId") is None and doc.get("utk") == utk:
                    return {**doc, "objectId": object_id}
                return doc

            return self._rewrite(attach)

    # -- reading ---------------------------------------------------------------------------

    def prepare_writes(self) -> None:
        with self._lock.reading():
            self._refresh()
            self._uuid_set()

    def existing_uuids(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        wanted = set(keys)
        if not wanted:
            return set()
        with self._lock.reading():
            self._refresh()
            taken = self._uuid_set().hashes
            return {k for k in wanted if uuid_hash(*k) in taken and self._has_uuid(*k)}

    def summaries(self) -> dict[str, EventSummary]:
        with self._lock.reading():
            self._refresh()
            version = self._version()
            if self._summaries is not None and self._summaries[0] == version:
                return dict(self._summaries[1])
            result = _merge(
                {
                    event: EventSummary(len(pos), from_epoch_millis(part.occurred[pos[-1]]))
                    for event, pos in part.by_event.items()
                }
                for part in self._parts()
            )
            self._summaries = (version, result)
            return dict(result)

    def record_summaries(self) -> dict[tuple[ObjectType, str], EventSummary]:
        with self._lock.reading():
            self._refresh()
            version = self._version()
            if self._record_summaries is not None and self._record_summaries[0] == version:
                return dict(self._record_summaries[1])
            merged: dict[str, tuple[int, int]] = {}
            for part in self._parts():
                for record, pos in part.by_record.items():
                    if not record:
                        continue
                    count, last = merged.get(record, (0, 0))
                    merged[record] = (count + len(pos), max(last, part.occurred[pos[-1]]))
            result = {}
            for record, (count, last) in merged.items():
                kind, _, object_id = record.partition(":")
                result[(ObjectType(kind), object_id)] = EventSummary(count, from_epoch_millis(last))
            self._record_summaries = (version, result)
            return dict(result)

    def tally(
        self, event_names: Collection[str], boundaries: Sequence[datetime]
    ) -> dict[str, EventTally]:
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        edges = [to_epoch_millis(b) for b in boundaries]
        series = {name: [0] * (len(edges) - 1) for name in event_names}
        records: dict[str, set[str]] = {name: set() for name in event_names}
        for part in parts:
            occurred = part.occurred
            for name in event_names:
                positions = part.by_event.get(name)
                if not positions or occurred[positions[-1]] < edges[0]:
                    continue
                # Positions are in time order: each edge is found by bisection.
                at = [bisect.bisect_left(positions, e, key=occurred.__getitem__) for e in edges]
                counts = series[name]
                for i in range(len(counts)):
                    counts[i] += at[i + 1] - at[i]
                codes = set(map(part.record_of.__getitem__, positions[at[0] : at[-1]]))
                records[name].update(part.records[c] for c in codes)
        return {name: EventTally(series[name], len(records[name] - {""})) for name in event_names}

    def scan(self, selection: CompletionSelection) -> Iterator[Completion]:
        for part, pos in self._scan(selection):
            yield part.completion(pos)

    def activity(self, selection: CompletionSelection) -> Iterator[tuple[str, int, str]]:
        """``(event, occurred ms, record key)`` of the selected completions, in order, without
        reading the documents: what counts need."""
        for part, pos in self._scan(selection):
            yield (
                part.events[part.event_of[pos]],
                part.occurred[pos],
                part.records[part.record_of[pos]],
            )

    def _scan(self, selection: CompletionSelection) -> Iterator[tuple[_Part, int]]:
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        low = to_epoch_millis(selection.occurred_after) if selection.occurred_after else None
        high = to_epoch_millis(selection.occurred_before) if selection.occurred_before else None
        start: Key | None = None
        if selection.start_after is not None:
            start = (to_epoch_millis(selection.start_after[0]), selection.start_after[1])
        streams = []
        for part in parts:
            if not part.count:
                continue
            if (low is not None and part.max_ms < low) or (
                high is not None and part.min_ms >= high
            ):
                continue
            positions = _candidates(part, selection)
            streams.append(_ordered(part, positions, low, high, start, selection.newest_first))
        if len(streams) == 1:
            for _key, part, pos in streams[0]:
                yield part, pos
            return
        for _key, part, pos in heapq.merge(
            *streams, key=lambda t: t[0], reverse=selection.newest_first
        ):
            yield part, pos

    def close(self) -> None:
        with self._lock.reading():
            self._segments.clear()
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            self._tail = None
            self._uuids = None


def _candidates(part: _Part, selection: CompletionSelection) -> Sequence[int]:
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


def _union(part: _Part, lists: list[Sequence[int]]) -> Sequence[int]:
    if not lists:
        return ()
    if len(lists) == 1:
        return lists[0]
    return sorted(set().union(*lists))  # positions are in time order within a part


class _MergeKey:
    """The sort key ``(occurred, id)`` of a position, comparing ids only when times tie, so
    that merging parts reads no part's ids unless two completions share a millisecond."""

    __slots__ = ("ms", "part", "pos")

    def __init__(self, ms: int, part: _Part, pos: int) -> None:
        self.ms, self.part, self.pos = ms, part, pos

    def _id(self) -> str:
        return self.part.ids[self.pos]

    def __lt__(self, other: _MergeKey) -> bool:
        return self.ms < other.ms or (self.ms == other.ms and self._id() < other._id())

    def __gt__(self, other: _MergeKey) -> bool:
        return self.ms > other.ms or (self.ms == other.ms and self._id() > other._id())


def _ordered(
    part: _Part,
    positions: Sequence[int],
    low: int | None,
    high: int | None,
    start: Key | None,
    newest_first: bool,
) -> Iterator[tuple[_MergeKey, _Part, int]]:
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


def write_segments(folder: Path, docs: Iterable[dict[str, Any]]) -> int:
    """Write ``docs`` as the segments of a store folder, replacing any there (a migration, under
    the lock). Segment ``n`` is marked as folded from journal ``n``, so the open journal is the
    next number. Returns how many segments were written."""
    ordered = _MemoryPart(list(docs)).docs
    count = 0
    for count, start in enumerate(range(0, len(ordered), SEGMENT_SIZE), 1):
        chunk = _MemoryPart(ordered[start : start + SEGMENT_SIZE])
        write_segment(folder / f"seg-{count:06d}.json", chunk, count)
    for name in os.listdir(folder):
        match = _SEGMENT.fullmatch(name.replace(".idx", ".json"))
        if match and int(match.group(1)) > count:
            (folder / name).unlink()
    fsync_dir(folder)
    return count
