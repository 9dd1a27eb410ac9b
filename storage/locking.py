"""The locks of a database folder.

TinyDB is neither atomic nor safe for two processes; the TUI and ``cbe serve`` share a database,
so every read-modify-write holds the folder's file lock from the read to the durable write.

Within one process, threads (the server's request threads, the TUI's workers) also share the
cached file contents, which TinyDB changes in place while it writes. A re-entrant thread lock
is taken before the file lock by writers, and alone by readers (:meth:`DatabaseLock.reading`),
so no thread reads a half-changed cache.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from core.errors import CbeError, WritesRefused

__all__ = ["LOCK_FILE", "DatabaseBusy", "DatabaseLock", "WritesRefused"]

LOCK_FILE = ".lock"

POLL_INTERVAL = 0.002
"""How long (seconds) to wait between tries while another process holds the lock: short, so
that hand-overs between busy writers are short."""


class DatabaseBusy(CbeError):
    """Another process held the database for longer than we were willing to wait."""


class DatabaseLock:
    """A re-entrant lock shared by all processes using one database folder."""

    def __init__(self, folder: Path, timeout: float = 30.0) -> None:
        self.path = folder / LOCK_FILE
        self._timeout = timeout
        self._fd: int | None = None
        """The lock file, opened once and kept (``flock`` on it is the lock between processes:
        the kernel lets go of it when the process ends, killed or not)."""
        self._opened_by = 0
        """The process that opened :attr:`_fd`: a child made by ``fork`` shares its parent's
        open file, and so its ``flock``, and opens its own."""
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
            self._acquire()
        except BaseException:
            self._threads.release()
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
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _acquire(self) -> None:
        """Take the lock between processes (the caller holds the thread lock), waiting up to the
        timeout; DatabaseBusy when another process held it all that time."""
        deadline: float | None = None
        while True:
            fd = self._file()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._timeout
                elif now >= deadline:
                    raise DatabaseBusy(
                        f"The database at {self.path.parent} stayed locked by another process "
                        f"for {self._timeout:g} s; try again."
                    ) from None
                time.sleep(POLL_INTERVAL)
                continue
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                return
            # The file was removed (or replaced) since it was opened: another process locks
            # the one at the path now.
            self._close()

    def _file(self) -> int:
        pid = os.getpid()
        if self._fd is not None and self._opened_by != pid:
            self._fd = None  # the parent's (a fork): left open, for the parent
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._opened_by = pid
        return self._fd

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and self._opened_by == os.getpid():
            self._close()

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # lets go of its flock

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Keep other threads of this process from writing while the caller reads caches."""
        with self._threads:
            yield

    def held_epoch(self) -> int | None:
        """The current epoch when the calling thread holds the lock, else None."""
        return self.epoch if self._owner == threading.get_ident() else None
