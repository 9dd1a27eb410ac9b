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

**A full disk.** A batch is acknowledged only once every byte of its line is written and
fsynced. A write the system refuses (a full disk, a short write, an I/O error) is cut back to
the line end before it and raises :class:`core.errors.StorageFull` (or ``StorageUnavailable``),
with the store in memory as it was; the next write starts at a clean line end. A failed
``fsync`` acknowledges nothing written before it. A fold that fails leaves the journal (already
durable) as it is, and is tried again later.

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
import logging
import mmap
import os
import re
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from core.clock import from_epoch_millis, to_epoch_millis
from core.errors import Conflict, Rule, StorageUnavailable, Violation
from core.models import Completion, ObjectType
from core.ports import CompletionSelection, EventSummary, EventTally
from storage.atomic import CorruptFile, fsync_dir, storage_error, write_all, write_atomically
from storage.locking import DatabaseLock
from storage.manifest import (
    MANIFEST_FILE,
    DamagedDatabase,
    Entry,
    Manifest,
    entry_for,
    read_manifest,
    write_manifest,
)

_log = logging.getLogger("cbe.storage")

TABLE = "completions"
SEGMENT_TABLE = "segment"
SEGMENT_SIZE = 20_000
"""Completions per TinyDB segment; a fold writes one segment of this size."""

_JOURNAL = re.compile(r"journal-(\d{6})\.jsonl")
_SEGMENT = re.compile(r"seg-(\d{6})\.json")
_COARSE_CLOCK_NS = 100_000_000
"""How far a file time may lag the real time (a kernel tick, with a wide margin)."""
_TOKEN = re.compile(rb'"token":"([0-9a-f]+)"')
INDEX_VERSION = 3
"""Version 3 adds a CRC-32 to each column (version 2 indexes are still read, unchecked)."""
_READABLE_INDEX_VERSIONS = (2, 3)
_INDEX_MAGIC = b"CBEINDEX\n"
_LINE_CRC = re.compile(rb',"crc":(\d+)\}$')


def journal_line(blobs: Sequence[bytes]) -> bytes:
    """One journal line holding a batch's documents (JSON), and a CRC-32 of what precedes it
    so that a damaged line is told from a good one. Lines without ``crc`` (written before it
    was added) are still read."""
    head = b'{"docs":[' + b",".join(blobs) + b"]"
    return head + b',"crc":%d}\n' % zlib.crc32(head)


def parse_journal_line(line: bytes) -> list[dict[str, Any]]:
    """The documents of a journal line; ValueError when it is damaged."""
    match = _LINE_CRC.search(line)
    if match is not None and zlib.crc32(line[: match.start()]) != int(match.group(1)):
        raise ValueError("its checksum does not match")
    try:
        docs = orjson.loads(line)["docs"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(str(error)) from error
    if not isinstance(docs, list):
        raise ValueError("no list of documents")
    return docs


class _ChecksumMismatch(ValueError):
    """An index whose bytes are not those written (bits flipped on disk)."""


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

    @functools.cached_property
    def visitors(self) -> frozenset[str]:
        """The tokens of the anonymous visitors with completions here (a part never changes:
        a rewrite makes a new one)."""
        return frozenset(self.anonymous.values())

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
        self.damage: list[str] = []
        """Lines that are whole (they end in a newline) but damaged: left out of reads."""
        self.lines = 0
        self.resets = 0
        """How many times the journal was read again from the start (replaced, or cut back
        below what was read: a write that failed)."""

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
        if st.st_ino != self.inode or st.st_size < self.offset:
            if self.inode or self.offset:
                self.resets += 1
            self.offset, self.docs, self.ms, self.blobs, self._view = 0, [], [], [], None
            self.damage, self.lines = [], 0
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
        for line in data[:end].split(b"\n"):
            self.lines += 1
            if not line:
                continue
            try:
                docs.extend(parse_journal_line(line))
            except ValueError as error:
                self.damage.append(
                    f"{self.path} has a damaged line (line {self.lines}, {len(line):,} bytes: "
                    f"{error}); its completions are left out"
                )
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
        self.size = 0
        self.token: str | None = None
        self.damage: str | None = None
        """What is wrong with the index on disk (its checksums do not match); the segment is
        then read through an index rebuilt in memory."""
        self._mapped: mmap.mmap | None = None

    def load(self, write_index: bool = True) -> _Segment:
        """Map the segment and its index. An index that is missing, unreadable or of another
        version of the file (a crash between writing the two) is rebuilt from the segment and
        written when ``write_index``; one whose checksums fail is damage: rebuilt in memory
        only, and named in :attr:`damage`."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            self.inode, self.size = st.st_ino, st.st_size
            self.token = _segment_token(fd, st.st_size)
            try:
                index = read_index(_mapped(self.index_path))
                if index.header.get("token") != self.token:
                    raise ValueError("an index of another version of the segment")
                self._from_index(index)
            except _ChecksumMismatch as error:
                self.damage = f"{self.index_path} is damaged ({error})"
                self._reset()
                self._from_index(self._rebuild_index(fd, write=False))
            except (FileNotFoundError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
                self._reset()
                self._from_index(self._rebuild_index(fd, write=write_index))
            # The documents, mapped: a slice costs no system call (reports read hundreds of
            # thousands in a row), and the mapping lives as long as this object, so a scan that
            # began before a rewrite replaced this segment reads on, from the file as it was.
            self._mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        return self

    def entry(self) -> Entry:
        """What the manifest says of this segment as it is now (reads the whole file)."""
        return entry_for(
            self.path.read_bytes(), self.token or "", self.count, self.min_ms, self.max_ms
        )

    def _reset(self) -> None:
        """Forget what a failed read of the index filled in."""
        self.event_codes, self.record_codes, self.anonymous = {}, {}, {}
        self.__dict__.pop("visitors", None)

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
        with self._checked():
            positions = self._index.column("uuidPositions", "I")
            return dict(zip(positions, self._index.strings("uuids"), strict=True))

    def uuid_hashes(self) -> Iterable[int]:
        with self._checked():
            return self._index.column("uuidHashes", "q")

    @contextlib.contextmanager
    def _checked(self) -> Iterator[None]:
        """Columns read when first needed: a failed checksum names the index."""
        try:
            yield
        except _ChecksumMismatch as error:
            raise DamagedDatabase(
                f"{self.index_path} is damaged ({error}); run `cbe doctor --repair`."
            ) from error

    @functools.cached_property
    def ids(self) -> list[str]:  # type: ignore[override]
        """Read when first needed: counts and most reads never need them."""
        with self._checked():
            ids = self._index.ids()
        if len(ids) != self.count:
            raise CorruptFile(f"{self.index_path} names {len(ids)} ids for {self.count} entries")
        return ids

    def _rebuild_index(self, fd: int, write: bool = True) -> _Index:
        """Index the TinyDB file itself (its index is missing, or is of an older version of
        the file: a crash between writing the two) and write the index (when ``write``)."""
        raw = os.pread(fd, os.fstat(fd).st_size, 0)
        _, index = index_segment(self.path, raw)
        if write:
            try:
                write_atomically(self.index_path, index)
            except StorageUnavailable:  # a full disk: read with the index made, write it next time
                _log.warning("could not write %s; it is rebuilt on the next open", self.index_path)
        return read_index(index)

    def blob(self, pos: int) -> bytes:
        """A document's JSON, as stored."""
        assert self._mapped is not None
        start = self.offsets[pos]
        return self._mapped[start : start + self.lengths[pos]]

    def doc(self, pos: int) -> dict[str, Any]:
        assert self._mapped is not None
        start = self.offsets[pos]
        try:
            doc: dict[str, Any] = orjson.loads(self._mapped[start : start + self.lengths[pos]])
        except orjson.JSONDecodeError as error:
            raise DamagedDatabase(
                f"{self.path} is damaged: its completion {pos + 1} (at byte {start:,}) is not "
                f"valid JSON ({error}); run `cbe doctor --repair`."
            ) from error
        return doc


@dataclass(frozen=True)
class SegmentContents:
    """What a segment file holds, read in full (``cbe doctor``)."""

    journal: int
    token: str
    count: int
    first: int
    last: int


def index_segment(path: Path, raw: bytes) -> tuple[SegmentContents, bytes]:
    """Read a whole segment file and make the index it should have (byte for byte what
    :func:`write_segment` wrote); CorruptFile when it is not a segment cbe wrote."""
    docs, about = read_segment(path, raw)
    try:
        journal, token = int(about.get("journal", -1)), str(about.get("token", ""))
        part = _MemoryPart(docs)
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFile(f"{path} holds a document that is not a completion: {error}") from error
    # Offsets come from writing the same documents the same way.
    payload, offsets, lengths = segment_bytes(part.docs, journal, token)
    if payload != raw:
        raise CorruptFile(f"{path} is not a segment written by cbe")
    index = build_index(part, journal, token, offsets, lengths)
    return SegmentContents(journal, token, part.count, part.min_ms, part.max_ms), index


@dataclass(frozen=True)
class Salvage:
    """The documents of a damaged segment that still read, found through its index."""

    docs: list[dict[str, Any]]
    lost: list[int]
    """occurredAt (epoch milliseconds) of each document that does not read."""
    journal: int


def salvage_segment(path: Path, tokens: Collection[str]) -> Salvage | None:
    """Read what can be read of a segment that does not parse as a whole, document by document
    at the offsets its index gives (the index must carry one of ``tokens`` and match its
    checksums); None when there is no such index."""
    try:
        index = read_index(path.with_suffix(".idx").read_bytes())
        if index.header.get("token") not in tokens:
            return None
        offsets = index.column("offsets", "q")
        lengths = index.column("lengths", "I")
        occurred = index.column("occurred", "q")
        journal = int(index.header["journal"])
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    raw = path.read_bytes()
    docs: list[dict[str, Any]] = []
    lost: list[int] = []
    for start, size, ms in zip(offsets, lengths, occurred, strict=True):
        try:
            doc = orjson.loads(raw[start : start + size])
            Completion.from_stored(doc)
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
            lost.append(ms)
            continue
        docs.append(doc)
    return Salvage(docs, lost, journal)


def write_salvaged(path: Path, salvage: Salvage) -> Entry:
    """Write the documents saved from a damaged segment as the segment (and its index)."""
    return write_segment(path, _MemoryPart(salvage.docs), salvage.journal)


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


def write_segment(
    path: Path,
    part: _MemoryPart,
    journal: int,
    announce: Callable[[Entry], None] | None = None,
) -> Entry:
    """Write a segment of the documents of ``part``, then its index; ``announce`` is told what
    the manifest will say about it before either is written. Returns that."""
    token = os.urandom(8).hex()
    payload, offsets, lengths = segment_bytes(part.docs, journal, token, part.blobs)
    index = build_index(part, journal, token, offsets, lengths)
    entry = entry_for(payload, token, part.count, part.min_ms, part.max_ms)
    if announce is not None:
        announce(entry)
    write_atomically(path, payload)
    write_atomically(path.with_suffix(".idx"), index)
    return entry


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
        sections[name] = [len(body), len(data), zlib.crc32(data)]
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

    def section(self, name: str) -> memoryview:
        """A column's bytes, checked against its CRC-32 (version 3): _ChecksumMismatch."""
        start, size, *crc = self.header["sections"][name]
        data = self.body[start : start + size]
        if len(data) != size:
            raise ValueError(f"the index ends inside its {name} column")  # torn: rebuilt
        if crc and zlib.crc32(data) != crc[0]:
            raise _ChecksumMismatch(f"its {name} column does not match its checksum")
        return data

    def column(self, name: str, kind: Literal["I", "q"]) -> memoryview[int]:
        return self.section(name).cast(kind)

    def strings(self, name: str) -> list[str]:
        data = self.section(name)
        return bytes(data).decode().split("\n") if len(data) else []

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
    if not isinstance(header, dict) or header.get("version") not in _READABLE_INDEX_VERSIONS:
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

    def __init__(
        self,
        folder: Path,
        lock: DatabaseLock,
        manifest: Path | None = None,
        read_only: bool = False,
    ) -> None:
        self.folder = folder
        self._lock = lock
        self.manifest_path = manifest
        """The manifest of segments (see storage.manifest); None: none is kept."""
        self.read_only = read_only
        """Never write (a read-only copy): indexes are rebuilt in memory only."""
        if not read_only:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.chmod(0o700)  # mkdir's mode is filtered by the umask
        self._segments: dict[int, _Segment] = {}
        self._broken: dict[int, str] = {}
        """Segments that cannot be read at all, with what is wrong."""
        self._manifest_problems: list[str] = []
        self._verified: object = None
        self._tail: _Tail | None = None
        self._journal_fd: int | None = None
        self._journal_fd_number = -1
        self._journal_fd_inode = -1
        self._sync_lock = threading.Lock()
        self._listed: tuple[int, int] | None = None
        """(modification time of the folder, when it was listed), both in nanoseconds."""
        self._synced: tuple[int, int] = (-1, 0)
        """(journal number, offset) known durable."""
        self._writes = 0
        """Lines this process appended, counted: each append's number says whether a failed
        fsync came after it (see ``_sync_failed``)."""
        self._unsynced: tuple[int, int, int] | None = None
        """(journal, start, end) of the last run of lines this process appended back to back,
        not known durable: what a failed fsync cuts back."""
        self._sync_failed: tuple[int, StorageUnavailable, tuple[int, int]] | None = None
        """(appends counted when an fsync failed, its error, what was durable then): every line
        appended up to then and not durable before it is not acknowledged."""
        self._pending_cut: tuple[int, int, int] | None = None
        """(journal, keep, end): lines a failed fsync left, to cut back to ``keep`` if the
        journal still ends at ``end``."""
        self._fold_retry = 0
        """After a fold failed (a full disk), the journal's count at which to try again."""
        self._uuids: _UuidHashes | None = None
        self._summaries: tuple[object, dict[str, EventSummary]] | None = None
        self._record_summaries: tuple[object, dict[tuple[ObjectType, str], EventSummary]] | None = (
            None
        )

    # -- the files ---------------------------------------------------------------------------

    def _listing(self) -> tuple[list[int], list[int]]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            if not self.read_only:
                raise
            names = []  # a read-only copy of a database that never stored a completion
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
        try:
            mtime = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return self.read_only
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
        for number in list(self._broken):
            if number not in segments:
                del self._broken[number]
        for number in segments:
            known = self._segments.get(number)
            path = self._segment_path(number)
            if known is not None:
                try:
                    if os.stat(path).st_ino == known.inode:
                        continue
                except FileNotFoundError:
                    continue
            try:
                segment = _Segment(number, path).load(write_index=not self.read_only)
            except FileNotFoundError:
                continue  # removed since the listing (a rewrite in another process)
            except CorruptFile as error:
                # Left out of reads; named as damage (open refuses, or refuses writes).
                self._broken[number] = str(error)
                self._segments.pop(number, None)
                unknown = True
                continue
            self._broken.pop(number, None)
            self._segments[number] = segment
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
        inode, resets = tail.inode, tail.resets
        tail.read_new()
        if (tail.inode != inode and inode) or tail.resets != resets:
            unknown = True  # the journal was rewritten, or cut back
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
            self._tail.resets,
            self._tail.offset,
        )

    # -- damage ----------------------------------------------------------------------------

    @property
    def damage(self) -> list[str]:
        """What is wrong with the files, each naming its file; empty when nothing is known to
        be. Segments are checked against the manifest by :meth:`verify` (under the lock)."""
        with self._lock.reading():
            self._refresh()
            assert self._tail is not None
            return [
                *self._manifest_problems,
                *self._broken.values(),
                *(s.damage for _, s in sorted(self._segments.items()) if s.damage),
                *self._tail.damage,
            ]

    def verify(self) -> list[str]:
        """Check the segments against the manifest (presence, version, counts, sizes: what
        needs no reading of documents) and return :attr:`damage`. Settles what a fold or
        rewrite killed half way announced, and writes the manifest of a store that has none
        yet (a database from before manifests). The caller holds the lock (or the store is
        read-only)."""
        self._refresh()
        if self.manifest_path is None:
            return self.damage
        key = (tuple((n, s.inode) for n, s in sorted(self._segments.items())), *self._broken)
        if key == self._verified:
            return self.damage
        try:
            manifest = read_manifest(self.manifest_path)
        except DamagedDatabase as error:
            self._manifest_problems = [str(error)]
            return self.damage
        if manifest is None:
            manifest = Manifest({n: s.entry() for n, s in self._segments.items()}, {})
            if not self.read_only:
                write_manifest(self.manifest_path, manifest)
        elif manifest.pending and not self.read_only:
            for number, entry in manifest.pending.items():
                segment = self._segments.get(number)
                if entry is None and segment is None:
                    manifest.segments.pop(number, None)  # its removal was done
                elif entry is not None and segment is not None and segment.token == entry.token:
                    manifest.segments[number] = entry  # it was written
            manifest.pending = {}
            write_manifest(self.manifest_path, manifest)
        self._manifest_problems = self._compare(manifest)
        self._verified = key
        return self.damage

    def _compare(self, manifest: Manifest) -> list[str]:
        problems = []
        for number, segment in sorted(self._segments.items()):
            entry = manifest.segments.get(number)
            if manifest.accepts(number, segment.token) and entry is None:
                continue  # being written by a fold now
            if entry is None:
                problems.append(
                    f"{segment.path} is not in the manifest ({segment.count:,} completions "
                    "cbe did not write here)"
                )
            elif entry.token != segment.token:
                if not manifest.accepts(number, segment.token):
                    problems.append(f"{segment.path} is not the version the manifest lists")
            elif segment.count != entry.count:
                problems.append(
                    f"{segment.path} holds {segment.count:,} completions; the manifest lists "
                    f"{entry.count:,}"
                )
            elif segment.size != entry.size:
                problems.append(
                    f"{segment.path} is {segment.size:,} bytes; the manifest lists {entry.size:,}"
                )
        for number, entry in sorted(manifest.segments.items()):
            if number not in self._segments and number not in self._broken:
                problems.append(f"{self._segment_path(number)} is missing: {lost(entry, 'lost')}")
        return problems

    def _writable(self) -> None:
        """Refuse to write to a damaged store (the caller holds the lock)."""
        problems = self.verify()
        if problems:
            raise DamagedDatabase(damage_message(self.folder.parent, problems))

    def _announce(self, number: int, entry: Entry | None) -> None:
        """Tell the manifest a segment is about to be written (or removed)."""
        if self.manifest_path is None:
            return
        manifest = read_manifest(self.manifest_path) or Manifest({}, {})
        manifest.pending[number] = entry
        write_manifest(self.manifest_path, manifest)

    def _settle(self) -> None:
        if self.manifest_path is None:
            return
        manifest = read_manifest(self.manifest_path) or Manifest({}, {})
        manifest.settle()
        write_manifest(self.manifest_path, manifest)

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
            self.verify()
            return self._tail.count

    def _cut_torn_line(self, tail: _Tail) -> None:
        """A journal must end at a line end before anything is appended (the caller holds the
        lock, so bytes past the last line are what a killed writer, or a write the disk
        refused, left)."""
        try:
            if os.stat(tail.path).st_size > tail.offset:
                with tail.path.open("r+b") as handle:
                    handle.truncate(tail.offset)
                    handle.flush()
                    os.fsync(handle.fileno())
        except FileNotFoundError:
            pass
        except OSError as error:
            raise storage_error(error, tail.path) from error

    def append(self, completions: Sequence[Completion]) -> None:
        """Store ``completions`` durably, or raise :class:`StorageUnavailable` (a full disk:
        :class:`StorageFull`) having stored none of them."""
        if not completions:
            return
        docs = [c.to_json() for c in completions]
        ms = [to_epoch_millis(c.occurred_at) for c in completions]
        blobs = [orjson.dumps(doc) for doc in docs]
        with self._lock:
            self._cut_unacknowledged()
            self._writable()
            hashes = self._check_uuids(docs)
            tail = self._tail
            assert tail is not None
            self._cut_torn_line(tail)
            fd = self._open_journal(tail)
            line = journal_line(blobs)
            start = tail.offset
            try:
                write_all(fd, line)
            except OSError as error:
                # Nothing is acknowledged: cut what was written back to the last line end.
                # Should that fail too, the next append (or opening) cuts it: readers never
                # take a line without its newline.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                raise storage_error(error, tail.path) from error
            tail.offset += len(line)
            tail.inode = os.fstat(fd).st_ino
            tail.add(docs, ms, blobs)
            self._uuid_set().update(hashes)
            self._writes += 1
            written = self._writes
            run = self._unsynced
            if run is not None and run[0] == tail.number and run[2] == start:
                self._unsynced = (tail.number, run[1], tail.offset)
            else:
                self._unsynced = (tail.number, start, tail.offset)
            position = (tail.number, tail.offset)
            if tail.count >= SEGMENT_SIZE and tail.count >= self._fold_retry:
                try:
                    self._fold()
                except StorageUnavailable:
                    # The journal holds the batch; it is made durable below, and the fold is
                    # tried again once the journal has grown by a tenth of a segment.
                    self._fold_retry = tail.count + max(1, SEGMENT_SIZE // 10)
                    _log.warning("could not fold %s (the disk is full?)", tail.path, exc_info=True)
                else:
                    self._fold_retry = 0
                    return  # the segment is durable: so is the batch
        self._make_durable(*position, written)

    def _open_journal(self, tail: _Tail) -> int:
        """The open journal for appending; opened again when it is another file than the one
        read (another process rewrote it: appending to the old file would lose the line)."""
        if self._journal_fd is not None and (
            self._journal_fd_number != tail.number
            or (tail.inode and self._journal_fd_inode != tail.inode)
        ):
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._journal_fd is None:
            try:
                created = not tail.path.exists()
                fd = os.open(tail.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._journal_fd, self._journal_fd_number = fd, tail.number
                self._journal_fd_inode = os.fstat(fd).st_ino
                if created:
                    fsync_dir(self.folder)
            except OSError as error:
                raise storage_error(error, tail.path) from error
        return self._journal_fd

    def _make_durable(self, number: int, offset: int, written: int) -> None:
        """Group commit: one fsync covers every line written so far by anyone.

        ``written`` is the count of this process's appends when the line was written: a line
        written before an fsync failed, and not known durable before it, is not acknowledged
        (Linux may drop the pages a failed fsync could not write and report success next time).
        """
        with self._sync_lock:
            failed = self._sync_failed
            if failed is not None and written <= failed[0]:
                # Written before an fsync failed: only what was durable before it counts (a
                # later fsync may succeed without writing the pages the failed one lost).
                if (number, offset) <= failed[2]:
                    return
                raise failed[1]
            synced_number, synced_offset = self._synced
            if number < synced_number or (number == synced_number and offset <= synced_offset):
                return
            path = self._journal_path(number)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return  # folded meanwhile: the segment was written durably
            except OSError as error:
                raise storage_error(error, path) from error
            try:
                end = os.fstat(fd).st_size
                os.fsync(fd)
            except OSError as error:
                raise self._after_failed_sync(number, storage_error(error, path)) from error
            finally:
                os.close(fd)
            self._synced = (number, end)

    def _after_failed_sync(self, number: int, error: StorageUnavailable) -> StorageUnavailable:
        """What is in the journal past the last durable line is unknown after a failed fsync:
        acknowledge none of it, and cut back the lines this process appended last (when
        nobody appended after them) and read the journal again: at once when this thread
        holds the lock, else before the next append. Returns ``error``. The caller holds the
        sync lock (so it must not wait for the database lock: a writer holding that may be
        waiting for the sync lock)."""
        self._sync_failed = (self._writes, error, self._synced)
        run = self._unsynced
        if run is not None and run[0] == number:
            synced_number, synced_offset = self._synced
            keep = max(run[1], synced_offset if synced_number == number else 0)
            self._pending_cut = (number, keep, run[2])
        self._unsynced = None
        if self._lock.held_epoch() is not None:
            self._cut_unacknowledged()
        return error

    def _cut_unacknowledged(self) -> None:
        """Cut the lines a failed fsync left unacknowledged, unless another writer appended
        since, and read the journal again. The caller holds the lock."""
        pending, self._pending_cut = self._pending_cut, None
        if pending is None:
            return
        number, keep, end = pending
        path = self._journal_path(number)
        # Replaced, not truncated: other processes may have read these lines, and see a new
        # file where they would miss a journal cut back and grown again.
        with contextlib.suppress(OSError, StorageUnavailable):  # else they stay, unacknowledged
            if keep < end == os.stat(path).st_size:
                with path.open("rb") as handle:
                    kept = handle.read(keep)
                if self._journal_fd is not None:
                    os.close(self._journal_fd)
                    self._journal_fd = None
                write_atomically(path, kept)
        self._tail, self._uuids = None, None
        self._summaries = self._record_summaries = None
        self._listed = None

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
        readers and removed by :meth:`recover`.

        A fold the disk refuses removes what it wrote (a segment naming the journal would hide
        it) and raises :class:`StorageUnavailable`; the journal stays as it was."""
        tail = self._tail
        assert tail is not None
        number = max([*self._segments, 0]) + 1
        path = self._segment_path(number)
        try:
            write_segment(path, tail.view(), tail.number, lambda e: self._announce(number, e))
        except BaseException:
            # The manifest's pending entry for this number is dropped by the next verify: its
            # segment is not there.
            with contextlib.suppress(OSError):
                path.with_suffix(".idx").unlink(missing_ok=True)
                path.unlink(missing_ok=True)
                fsync_dir(self.folder)
            raise
        self._settle()
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
        how many documents changed. The caller holds the lock.

        A file the disk refuses to write raises :class:`StorageUnavailable`; the files rewritten
        before it keep their change, the others are as they were, and the store reads them
        again."""
        self._writable()
        try:
            return self._rewrite_files(change, may_change)
        except StorageUnavailable:
            self._uuids = None
            self._listed = None
            self._summaries = self._record_summaries = None
            raise

    def _rewrite_files(
        self,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        may_change: Callable[[_Part], bool],
    ) -> int:
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
                self._announce(segment.number, None)
                segment.path.unlink()
                segment.index_path.unlink(missing_ok=True)
                continue
            # A document left as it was is written back as the bytes it was read from.
            unchanged = {id(doc): segment.blob(p) for p, doc in enumerate(docs)}
            part = _MemoryPart(kept, blobs=[unchanged.get(id(doc)) for doc in kept])
            announce = functools.partial(self._announce, segment.number)
            write_segment(segment.path, part, segment.journal, announce)
        tail = self._tail
        assert tail is not None
        kept, count = self._changed(list(tail.docs), change) if may_change(tail.view()) else ([], 0)
        if count:
            changed += count
            lines = journal_line([orjson.dumps(d) for d in kept]) if kept else b""
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            write_atomically(tail.path, lines)
        if changed:
            self._settle()
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
            if not any(utk in p.visitors for p in self._parts()):
                return 0

            def attach(doc: dict[str, Any]) -> dict[str, Any]:
                if doc.get("objectId") is None and doc.get("utk") == utk:
                    return {**doc, "objectId": object_id}
                return doc

            # Only the parts that hold the visitor are read and rewritten, not the whole store.
            return self._rewrite(attach, lambda part: utk in part.visitors)

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

    def find(self, key: str) -> list[Completion]:
        """The completions whose uuid, or id, is ``key`` (a uuid is unique per event, so one per
        event at most), oldest first: what a trace looks up. Reads the ids and uuids of every
        part, not the documents."""
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        found: list[Completion] = []
        for part in parts:
            positions = {p for p, uuid in part.explicit_uuids.items() if uuid == key}
            if key in part.ids:
                positions.update(p for p, id_ in enumerate(part.ids) if id_ == key)
            found.extend(part.completion(p) for p in sorted(positions))
        return sorted(found, key=lambda c: (c.received_at, c.id))

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
    entries: dict[int, Entry] = {}
    for count, start in enumerate(range(0, len(ordered), SEGMENT_SIZE), 1):
        chunk = _MemoryPart(ordered[start : start + SEGMENT_SIZE])
        entries[count] = write_segment(folder / f"seg-{count:06d}.json", chunk, count)
    for name in os.listdir(folder):
        match = _SEGMENT.fullmatch(name.replace(".idx", ".json"))
        if match and int(match.group(1)) > count:
            (folder / name).unlink()
    write_manifest(folder.parent / MANIFEST_FILE, Manifest(entries, {}))
    fsync_dir(folder)
    fsync_dir(folder.parent)
    return count


def lost(entry: Entry, what: str = "") -> str:
    """``20,000 completions from 2026-09-01 to 2026-09-14``: what a manifest entry held; with
    ``what``, a sentence: ``... are lost``."""
    if not entry.count:
        return f"no completion is {what}" if what else "no completions"
    first, last = (from_epoch_millis(ms).date().isoformat() for ms in (entry.first, entry.last))
    if entry.count == 1:
        return f"1 completion of {first}" + (f" is {what}" if what else "")
    return f"{entry.count:,} completions from {first} to {last}" + (f" are {what}" if what else "")


def damage_message(database: Path, problems: Sequence[str]) -> str:
    return (
        f"The database at {database} is damaged, so cbe will not write to it until "
        f"`cbe doctor --db {database} --repair` has run:\n"
        + "\n".join(f"  - {p}" for p in problems)
    )
