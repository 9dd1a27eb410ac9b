"""Telling when a database folder changed (core.ports.StoreWatcher), by the stat of its files.

Every write to the folder either appends to a file (the completions' journal, the records' log,
the outbox, the quarantine) or replaces one atomically (``cbe.json``, ``portal.json``, a
segment, the records' snapshot), which gives it a new inode and the folder a new modification
time. So a change shows in a handful of ``stat`` calls: the files' inode, size and time, and
for the folders that hold a journal, their listing and the newest journal's size. They are
looked at every :data:`INTERVAL` seconds; nothing is read or parsed.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.ports import Topic

INTERVAL = 0.1
"""Seconds between two looks at the files."""

_COARSE_CLOCK_NS = 100_000_000
"""How far a folder's modification time may lag the real time (see
storage.completions.store: two changes a few milliseconds apart may carry the same time)."""

Signature = tuple[int, int, int] | None
"""A file's inode, size and modification time (ns), or None when it does not exist."""


def _stat(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Appended:
    """A folder of files appended to, the newest (by ``pattern``'s number) the one written."""

    pattern: re.Pattern[str]
    topics: frozenset[Topic]


class _Listing:
    """A folder's file names, listed again only when it may have changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mtime: int | None = None
        self.listed_at = 0
        self.names: tuple[str, ...] = ()

    def current(self) -> tuple[str, ...]:
        observed = time.time_ns()
        try:
            mtime = os.stat(self.folder).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            self.mtime, self.names = None, ()
            return self.names
        # The time is trusted only when the last listing was made well after it.
        if mtime != self.mtime or self.listed_at - mtime <= _COARSE_CLOCK_NS:
            try:
                self.names = tuple(sorted(os.listdir(self.folder)))
            except FileNotFoundError:
                self.names = ()
            self.mtime, self.listed_at = mtime, observed
        return self.names


class FolderWatcher:
    """A :class:`core.ports.StoreWatcher` of a database folder."""

    def __init__(
        self,
        files: Mapping[Path, frozenset[Topic]],
        appended: Mapping[Path, Appended],
        *,
        interval: float = INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files = dict(files)
        self._appended = dict(appended)
        self._listings = {folder: _Listing(folder) for folder in appended}
        self._interval = interval
        self._monotonic = monotonic
        self._closed = threading.Event()
        self._seen = self._signatures()

    def _signatures(self) -> dict[Path, object]:
        found: dict[Path, object] = {path: _stat(path) for path in self._files}
        for folder, what in self._appended.items():
            names = self._listings[folder].current()
            numbered = [n for n in names if what.pattern.fullmatch(n)]
            newest = max(numbered, key=lambda n: int(what.pattern.fullmatch(n)[1]), default=None)  # type: ignore[index]
            found[folder] = (names, None if newest is None else _stat(folder / newest))
        return found

    def _changed(self) -> frozenset[Topic]:
        now = self._signatures()
        topics: set[Topic] = set()
        for path, signature in now.items():
            if self._seen.get(path) != signature:
                topics |= self._files[path] if path in self._files else self._appended[path].topics
        self._seen = now
        return frozenset(topics)

    def wait(self, timeout: float) -> frozenset[Topic]:
        deadline = self._monotonic() + timeout
        while not self._closed.is_set():
            changed = self._changed()
            left = deadline - self._monotonic()
            if changed or left <= 0:
                return changed
            self._closed.wait(min(self._interval, left))
        return frozenset()

    def close(self) -> None:
        self._closed.set()
