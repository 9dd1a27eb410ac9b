"""The quarantine of rejected requests: ``rejections.jsonl`` beside the main file.

One JSON line per rejected request, oldest first, appended and fsynced like the completions'
journal. The file is bounded by a count (a setting in the main file) and by its size in bytes
(:data:`MAX_BYTES`); it may hold a quarter more than either bound, and past that it is rewritten
atomically with the newest requests that fit both (so a flood of bad requests costs an append
each, not a rewrite).

A request is kept as it came: a body orjson cannot write (an integer over 64 bits, a lone
surrogate such as ``"\\ud800"``) is written by the standard library instead, escaped to ASCII,
on a line that begins with a space (still JSON), and read back by it, so nothing is rounded or
dropped.

The file is never read whole: listing reads lines from the end, newest first, until the bound;
removing and compacting copy lines from file to file.

An append the disk refuses is cut back to the line end before it and raises
:class:`core.errors.StorageFull` (or ``StorageUnavailable``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import IO

import orjson
from tinydb.table import Document, Table

from core.rejections import DEFAULT_BOUND, QuarantineRoom, RejectedRequest
from storage.atomic import (
    AtomicJSONStorage,
    CorruptFile,
    fsync_dir,
    storage_error,
    write_all,
    write_atomically,
)
from storage.locking import DatabaseLock

REJECTIONS_FILE = "rejections.jsonl"
SETTINGS = "settings"
_BOUND_KEY = "rejectionsBound"
MAX_BYTES = 16 * 1024 * 1024
"""The quarantine's size on disk, at most (16 MiB, two full request bodies): compaction keeps
the newest requests that fit."""
_CHUNK = 1 << 20
"""Bytes read at a time, scanning the file from its end."""


def encode(request: RejectedRequest) -> bytes:
    """One line of the file for ``request``."""
    doc = request.model_dump(mode="json")
    try:
        return orjson.dumps(doc) + b"\n"
    except orjson.JSONEncodeError:  # an integer over 64 bits, a lone surrogate
        text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
        return b" " + text.encode("ascii") + b"\n"


def decode(line: bytes) -> RejectedRequest:
    """A request from one line (without its newline); ValueError when it is not one."""
    data = json.loads(line) if line[:1] == b" " else orjson.loads(line)
    return RejectedRequest.model_validate(data)


class RejectionStore:
    """Rejected requests of one database, oldest first on disk, newest first when listed."""

    def __init__(
        self,
        folder: Path,
        lock: DatabaseLock,
        main: AtomicJSONStorage,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.path = folder / REJECTIONS_FILE
        self.max_bytes = max_bytes
        self._lock = lock
        self._main = main
        self._count: tuple[tuple[int, int], int] | None = None
        """((inode, size), lines) of the file as last counted."""

    # -- the bound -------------------------------------------------------------------------

    @property
    def bound(self) -> int:
        with self._lock.reading():
            settings = self._settings().get(doc_id=1)
        value = settings.get(_BOUND_KEY) if isinstance(settings, dict) else None
        return value if isinstance(value, int) and value > 0 else DEFAULT_BOUND

    def set_bound(self, bound: int) -> None:
        with self._lock:
            table = self._settings()
            current = table.get(doc_id=1)
            settings = dict(current) if isinstance(current, dict) else {}
            table.upsert(Document({**settings, _BOUND_KEY: bound}, doc_id=1))
            self._compact(bound)

    def _settings(self) -> Table:
        # a fresh Table per use, as the main file's other tables (another process may write)
        return Table(self._main, SETTINGS, cache_size=0)

    # -- the requests ----------------------------------------------------------------------

    def add(self, requests: Sequence[RejectedRequest]) -> None:
        """Keep ``requests``; raises :class:`StorageUnavailable` having kept none of them."""
        if not requests:
            return
        lines = b"".join(encode(r) for r in requests)
        with self._lock:
            created = not self.path.exists()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as error:
                raise storage_error(error, self.path) from error
            try:
                start = _cut_torn_line(fd, self.path)
                before = (os.fstat(fd).st_ino, start)
                try:
                    write_all(fd, lines)
                    os.fsync(fd)
                    if created:
                        fsync_dir(self.path.parent)
                except OSError as error:
                    with contextlib.suppress(OSError):  # else the next append cuts it
                        os.ftruncate(fd, start)
                        os.fsync(fd)
                    raise storage_error(error, self.path) from error
                after = (before[0], start + len(lines))
            finally:
                os.close(fd)
            known = self._count
            if known is not None and known[0] == before:
                self._count = (after, known[1] + len(requests))
            count = self._lines()
            bound = self.bound
            if (
                count > bound + max(16, bound // 4)
                or after[1] > self.max_bytes + self.max_bytes // 4
            ):
                self._compact(bound)

    def list_all(self) -> list[RejectedRequest]:
        bound = self.bound
        with self._lock.reading(), self._open() as handle:
            if handle is None:
                return []
            found: list[RejectedRequest] = []
            room = QuarantineRoom(bound)  # what the next compaction keeps, no more
            for start, line in _backwards(handle, _last_line_end(handle.fileno())):
                request = self._decode(handle, start, line)
                admitted = room.admit(request)
                if admitted is None:
                    break
                if admitted:
                    found.append(request)
        return found

    def remove(self, ids: Collection[str]) -> int:
        wanted = set(ids)
        if not wanted:
            return 0
        with self._lock, self._open() as handle:
            if handle is None:
                return 0
            end = _last_line_end(handle.fileno())
            gone = sum(
                self._decode(handle, start, line).id in wanted
                for start, line in _forwards(handle, 0, end)
            )
            if gone:
                kept = (
                    line + b"\n"
                    for start, line in _forwards(handle, 0, end)
                    if self._decode(handle, start, line).id not in wanted
                )
                write_atomically(self.path, kept)
                self._count = None
            return gone

    # -- the file --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(self) -> Iterator[IO[bytes] | None]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            yield None
            return
        with handle:
            yield handle

    def _lines(self) -> int:
        """How many requests the file holds (counted once, then followed append by append)."""
        with self._open() as handle:
            if handle is None:
                return 0
            st = os.fstat(handle.fileno())
            key = (st.st_ino, st.st_size)
            if self._count is not None and self._count[0] == key:
                return self._count[1]
            count = 0
            while chunk := handle.read(_CHUNK):
                count += chunk.count(b"\n")
            self._count = (key, count)
            return count

    def _compact(self, bound: int) -> None:
        """Keep the newest requests that :class:`QuarantineRoom` admits (at most ``bound`` and
        ``max_bytes``, retries in a quarter of that). The caller holds the lock."""
        room = QuarantineRoom(bound, self.max_bytes)
        with self._open() as handle:
            if handle is None:
                return
            end = _last_line_end(handle.fileno())
            kept: list[bytes] = []
            dropped = False
            for start, line in _backwards(handle, end):
                admitted = room.admit(self._decode(handle, start, line), len(line) + 1)
                if admitted is None:
                    dropped = True
                    break
                if admitted:
                    kept.append(line)
                else:
                    dropped = True
            if not dropped and end == os.fstat(handle.fileno()).st_size:
                return
            write_atomically(self.path, (line + b"\n" for line in reversed(kept)))
            self._count = None

    def _decode(self, handle: IO[bytes], start: int, line: bytes) -> RejectedRequest:
        try:
            return decode(line)
        except ValueError as error:  # orjson's and json's decode errors are ValueErrors
            number = _line_number(handle, start)
            raise CorruptFile(f"{self.path} line {number} is damaged: {error}") from error


def _last_line_end(fd: int) -> int:
    """Where the file's last complete line ends (0 when it has none): past it is what a writer
    killed mid-append left. Reads back from the end a chunk at a time, as far as it takes."""
    size = os.fstat(fd).st_size
    position = size
    while position > 0:
        start = max(0, position - _CHUNK)
        block = os.pread(fd, position - start, start)
        found = block.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


def _cut_torn_line(fd: int, path: Path) -> int:
    """Cut what a writer killed mid-append left after the last newline (never acknowledged),
    however long; returns the file's size after."""
    size = os.fstat(fd).st_size
    end = _last_line_end(fd)
    if end != size:
        try:
            os.ftruncate(fd, end)
        except OSError as error:
            raise storage_error(error, path) from error
    return end


def _backwards(handle: IO[bytes], end: int) -> Iterator[tuple[int, bytes]]:
    """The lines before ``end`` (a line end), last first, each with where it starts, without
    its newline; empty lines are skipped. Reads a chunk at a time."""
    fd = handle.fileno()
    buffer, position = b"", end
    while True:
        cut = buffer.rfind(b"\n", 0, len(buffer) - 1) if buffer else -1
        if cut >= 0:
            line, buffer = buffer[cut + 1 : -1], buffer[: cut + 1]
            if line:
                yield position + cut + 1, line
            continue
        if position == 0:
            if len(buffer) > 1:
                yield 0, buffer[:-1]
            return
        start = max(0, position - _CHUNK)
        buffer = os.pread(fd, position - start, start) + buffer
        position = start


def _forwards(handle: IO[bytes], start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """The lines between ``start`` and ``end`` (line ends), first first, each with where it
    starts, without its newline; empty lines are skipped."""
    handle.seek(start)
    position = start
    while position < end:
        line = handle.readline(end - position)
        if not line:
            return
        if len(line) > 1:
            yield position, line[:-1]
        position += len(line)


def _copy(handle: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    position = start
    while position < end:
        chunk = os.pread(handle.fileno(), min(_CHUNK, end - position), position)
        if not chunk:
            return
        yield chunk
        position += len(chunk)


def _line_number(handle: IO[bytes], start: int) -> int:
    return sum(chunk.count(b"\n") for chunk in _copy(handle, 0, start)) + 1
