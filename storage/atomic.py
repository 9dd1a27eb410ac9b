"""A TinyDB storage that never leaves a half-written file and rereads only what changed.

TinyDB's ``JSONStorage`` rewrites its file in place: a crash mid-write leaves a corrupt file.
:class:`AtomicJSONStorage` writes the whole database to a temporary file in the same folder,
fsyncs it, moves it over the old one with ``os.replace`` and fsyncs the folder, so a reader (or
a process opening the file after a crash) sees either the old or the new file, never a mix.

Reads are cached and checked with one ``stat``: every write makes a new file (a new inode), and
the cache keeps the file it read open, so that its inode number cannot be reused by a later
file. A changed inode number therefore means another process wrote the file. Each content seen
gets a new generation number, never reused in the process: caches derived from a file compare
generations, not inode numbers (an inode number is reused once its file is closed).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import orjson
from tinydb.storages import Storage

from core.errors import CbeError
from storage.locking import DatabaseLock


class CorruptFile(CbeError):
    """A database file that is not valid JSON (not written by cbe's storage)."""


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (POSIX)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload``: all of it or, after a crash, the old file untouched.

    The new file is readable by its owner only (0600), like every file of a cbe database.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


_generations = itertools.count(1)


class _Snapshot:
    __slots__ = ("data", "generation", "handle", "key")

    def __init__(self, handle: IO[bytes], data: dict[str, Any] | None) -> None:
        st = os.fstat(handle.fileno())
        self.key = (st.st_dev, st.st_ino)
        self.generation = next(_generations)
        self.handle = handle
        self.data = data


class AtomicJSONStorage(Storage):
    """TinyDB storage: orjson, atomic durable writes, stat-checked read cache."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        create_dirs: bool = False,
        lock: DatabaseLock | None = None,
    ) -> None:
        self.path = Path(path)
        if create_dirs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._snapshot: _Snapshot | None = None
        self._lock = lock
        self._checked_in: int | None = None
        """The lock epoch in which the snapshot was last checked against the file."""

    def read(self) -> dict[str, Any] | None:
        epoch = self._lock.held_epoch() if self._lock is not None else None
        if epoch is not None and epoch == self._checked_in and self._snapshot is not None:
            return self._snapshot.data  # checked while this holding of the lock began
        data = self._read()
        self._checked_in = epoch
        return data

    def _read(self) -> dict[str, Any] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.invalidate()
            return None
        snap = self._snapshot
        if snap is not None and snap.key == (st.st_dev, st.st_ino):
            return snap.data
        return self._load()

    def _load(self) -> dict[str, Any] | None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self.invalidate()
            return None
        raw = handle.read()
        try:
            data = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError as error:
            handle.close()
            raise CorruptFile(f"{self.path} is not a valid database file: {error}") from error
        self._keep(_Snapshot(handle, data))
        return data

    def write(self, data: dict[str, Any]) -> None:
        try:
            write_atomically(self.path, orjson.dumps(data))
            self._keep(_Snapshot(self.path.open("rb"), data))
        except BaseException:
            self.invalidate()
            raise

    def version(self) -> int:
        """A number that changes whenever the file does (0 while there is no file)."""
        self.read()
        return 0 if self._snapshot is None else self._snapshot.generation

    def invalidate(self) -> None:
        """Forget the cached content (after a failed write, whose data may be half-changed)."""
        self._keep(None)

    def _keep(self, snapshot: _Snapshot | None) -> None:
        self._checked_in = None
        old, self._snapshot = self._snapshot, snapshot
        if old is not None:
            old.handle.close()

    def close(self) -> None:
        self.invalidate()
