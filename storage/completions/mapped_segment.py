"""A segment as a store reads it: its documents and its index mapped into memory, the columns
few reads need (ids, uuids) read when first asked for."""

from __future__ import annotations

import contextlib
import functools
import logging
import mmap
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from core.errors import StorageUnavailable
from storage.atomic import CorruptFile, write_atomically
from storage.completions.index_file import (
    ChecksumMismatch,
    Index,
    read_index,
)
from storage.completions.parts import Part
from storage.completions.segment_file import (
    index_segment,
    segment_token,
)
from storage.completions.summaries import (
    PartSummary,
    read_summary,
    summarise_part,
    summary_path,
    write_summary,
)
from storage.manifest import (
    DamagedDatabase,
    Entry,
    entry_for,
)

_log = logging.getLogger("cbe.storage")


def _slices(
    positions: memoryview, keys: Sequence[str], starts: Sequence[int]
) -> dict[str, Sequence[int]]:
    """Each key's run of ``positions``, without copying."""
    ends = [*starts[1:], len(positions)]
    return {key: positions[a:b] for key, a, b in zip(keys, starts, ends, strict=True)}


def _mapped(path: Path) -> mmap.mmap:
    """``path`` mapped into memory, read-only: a store opens its indexes so, and the pages a
    read never touches (ids and uuids, most of an index) are never read from the file. Index
    files are only ever replaced, never changed in place, so a mapping stays what it was."""
    with path.open("rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # ValueError when empty


class Segment(Part):
    """An immutable TinyDB file of completions and its index."""

    def __init__(self, number: int, path: Path) -> None:
        super().__init__()
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
        self._writable = False

    def load(self, write_index: bool = True) -> Segment:
        """Map the segment and its index. An index that is missing, unreadable or of another
        version of the file (a crash between writing the two) is rebuilt from the segment and
        written when ``write_index``; one whose checksums fail is damage: rebuilt in memory
        only, and named in :attr:`damage`."""
        self._writable = write_index
        fd = os.open(self.path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            self.inode, self.size = st.st_ino, st.st_size
            self.token = segment_token(fd, st.st_size)
            try:
                index = read_index(_mapped(self.index_path))
                if index.header.get("token") != self.token:
                    raise ValueError("an index of another version of the segment")
                self._from_index(index)
            except ChecksumMismatch as error:
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

    def _from_index(self, index: Index) -> None:
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
    def explicit_uuids(self) -> dict[int, str]:
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
        except ChecksumMismatch as error:
            raise DamagedDatabase(
                f"{self.index_path} is damaged ({error}); run `cbe doctor --repair`."
            ) from error

    @functools.cached_property
    def ids(self) -> list[str]:
        """Read when first needed: counts and most reads never need them."""
        with self._checked():
            ids = self._index.ids()
        if len(ids) != self.count:
            raise CorruptFile(f"{self.index_path} names {len(ids)} ids for {self.count} entries")
        return ids

    def _rebuild_index(self, fd: int, write: bool = True) -> Index:
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

    @functools.cached_property
    def summary(self) -> PartSummary:
        """The summary of sent values and touches (see storage.completions.summaries), read
        from beside the segment; made from the documents (and written) when missing or of
        another version of the segment."""
        path = summary_path(self.path)
        found = read_summary(path, self.token)
        if found is not None:
            return found
        made = summarise_part((self.doc(p) for p in range(self.count)), self.occurred)
        if self._writable and self.token:
            write_summary(path, made, self.token)
        return made

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
