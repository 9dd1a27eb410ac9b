"""The quarantine of rejected requests: ``rejections.jsonl`` beside the main file.

One JSON line per rejected request, oldest first, appended and fsynced like the completions'
journal. The file may hold a quarter more than the bound; past that it is rewritten atomically
with the newest ``bound`` (so a flood of bad requests costs an append each, not a rewrite). The
bound itself is a setting in the main file.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path

import orjson
from tinydb.table import Document, Table

from core.rejections import DEFAULT_BOUND, RejectedRequest
from storage.atomic import AtomicJSONStorage, CorruptFile, fsync_dir, write_atomically
from storage.locking import DatabaseLock

REJECTIONS_FILE = "rejections.jsonl"
SETTINGS = "settings"
_BOUND_KEY = "rejectionsBound"


class RejectionStore:
    """Rejected requests of one database, oldest first on disk, newest first when listed."""

    def __init__(self, folder: Path, lock: DatabaseLock, main: AtomicJSONStorage) -> None:
        self.path = folder / REJECTIONS_FILE
        self._lock = lock
        self._main = main
        self._cache: tuple[tuple[int, int, int], list[RejectedRequest]] | None = None

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
            self._compact(self._read(), bound)

    def _settings(self) -> Table:
        # a fresh Table per use, as the main file's other tables (another process may write)
        return Table(self._main, SETTINGS, cache_size=0)

    # -- the requests ----------------------------------------------------------------------

    def add(self, requests: Sequence[RejectedRequest]) -> None:
        if not requests:
            return
        lines = b"".join(orjson.dumps(r.model_dump(mode="json")) + b"\n" for r in requests)
        with self._lock:
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _cut_torn_line(fd)
                os.write(fd, lines)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path.parent)
            kept = self._read()
            bound = self.bound
            if len(kept) > bound + max(16, bound // 4):
                self._compact(kept, bound)

    def list_all(self) -> list[RejectedRequest]:
        with self._lock.reading():
            kept = self._read()
        return kept[::-1][: self.bound]

    def remove(self, ids: Collection[str]) -> int:
        wanted = set(ids)
        if not wanted:
            return 0
        with self._lock:
            kept = self._read()
            left = [r for r in kept if r.id not in wanted]
            if len(left) != len(kept):
                self._write(left)
            return len(kept) - len(left)

    # -- the file --------------------------------------------------------------------------

    def _compact(self, kept: list[RejectedRequest], bound: int) -> None:
        if len(kept) > bound:
            self._write(kept[-bound:])

    def _write(self, requests: list[RejectedRequest]) -> None:
        write_atomically(
            self.path, b"".join(orjson.dumps(r.model_dump(mode="json")) + b"\n" for r in requests)
        )
        self._cache = None

    def _read(self) -> list[RejectedRequest]:
        """Every kept request, oldest first; a torn last line (a writer killed mid-append,
        never acknowledged) is skipped."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # past the last newline: a torn append
        requests: list[RejectedRequest] = []
        for number, line in enumerate(complete.splitlines(), 1):
            try:
                requests.append(RejectedRequest.model_validate(orjson.loads(line)))
            except (orjson.JSONDecodeError, ValueError) as error:
                raise CorruptFile(f"{self.path} line {number} is damaged: {error}") from error
        self._cache = (key, requests)
        return requests


def _cut_torn_line(fd: int) -> None:
    """Cut what a writer killed mid-append left after the last newline (never acknowledged)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
    end = tail.rfind(b"\n")
    os.ftruncate(fd, max(0, size - len(tail) + end + 1) if end >= 0 else 0)
