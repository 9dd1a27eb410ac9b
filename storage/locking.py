"""The locks of a database folder.

TinyDB is neither atomic nor safe for two processes; the TUI and ``cbe serve`` share a database,
so every read-modify-write holds the folder's file lock from the read to the durable write.

Within one process, threads (the server's request threads, the TUI's workers) also share the
cached file contents, which TinyDB changes in place while it writes. A re-entrant thread lock
is taken before the file lock by writers, and alone by readers (:meth:`DatabaseLock.reading`),
so no thread reads a half-changed cache.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from core.errors import CbeError, WritesRefused

__all__ = ["LOCK_FILE", "DatabaseBusy", "DatabaseLock", "WritesRefused"]

LOCK_FILE = ".lock"


class DatabaseBusy(CbeError):
    """Another process held the database for longer than we were willing to wait."""


class DatabaseLock:
    """A re-entrant lock shared by all processes using one database folder."""

    def __init__(self, folder: Path, timeout: float = 30.0) -> None:
        self.path = folder / LOCK_FILE
        self._timeout = timeout
        # Polling at 2 ms keeps hand-overs between busy writers short (the default is 50 ms).
        self._lock = FileLock(self.path, timeout=timeout, mode=0o600, poll_interval=0.002)
        self._threads = threading.RLock()
        self._depth = 0
        self._owner: int | None = None
        self.refusal: str | None = None
        """Why writes are refused, when they are: taking the lock then raises WritesRefused
        (without creating the lock file, which a read-only folder cannot hold)."""
        self.epoch = 0
        """Counts the times this process took the lock: what was checked against the files
        during one holding stays true until it ends (no other process can write)."""

    def __enter__(self) -> DatabaseLock:
        if self.refusal is not None:
            raise WritesRefused(self.refusal)
        if not self._threads.acquire(timeout=self._timeout):
            raise DatabaseBusy(
                f"The database at {self.path.parent} stayed busy in this process for "
                f"{self._timeout:g} s; try again."
            )
        if self._depth:  # this thread holds the file lock already (it holds the thread lock)
            self._depth += 1
            return self
        try:
            self._lock.acquire()
        except BaseException as error:
            self._threads.release()
            if isinstance(error, Timeout):
                raise DatabaseBusy(
                    f"The database at {self.path.parent} stayed locked by another process for "
                    f"{self._timeout:g} s; try again."
                ) from error
            raise
        if self._depth == 0:
            self._owner = threading.get_ident()
            self.epoch += 1
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth:  # an inner holding: the outermost one releases the file lock
            self._threads.release()
            return
        self._owner = None
        self.epoch += 1
        try:
            self._lock.release()
        finally:
            self._threads.release()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Keep other threads of this process from writing while the caller reads caches."""
        with self._threads:
            yield

    def held_epoch(self) -> int | None:
        """The current epoch when the calling thread holds the lock, else None."""
        return self.epoch if self._owner == threading.get_ident() else None
