"""The inter-process lock of a database folder.

TinyDB is neither atomic nor safe for two processes; the TUI and ``cbe serve`` share a database,
so every read-modify-write holds this lock from the read to the durable write.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from core.errors import CbeError

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

    def __enter__(self) -> DatabaseLock:
        try:
            self._lock.acquire()
        except Timeout as error:
            raise DatabaseBusy(
                f"The database at {self.path.parent} stayed locked by another process for "
                f"{self._timeout:g} s; try again."
            ) from error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    @property
    def is_held(self) -> bool:
        return self._lock.is_locked
