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
import errno
import itertools
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson
from tinydb.storages import Storage

from core.errors import CbeError, StorageFull, StorageUnavailable
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


_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def storage_error(error: OSError, path: Path) -> StorageUnavailable:
    """The error to raise for a write to ``path`` (a file or a folder of a database) that the
    system refused: :class:`StorageFull` when the disk or the quota is full."""
    folder = path if path.is_dir() else path.parent
    if folder.name == "completions":
        folder = folder.parent  # name the database folder, not its inside
    reason = error.strerror or str(error)
    if error.errno in _FULL:
        return StorageFull(
            f"The disk holding the database at {folder} is full ({reason}): nothing of this "
            "request was stored. Free some space and send it again.",
            str(folder),
        )
    return StorageUnavailable(
        f"The database at {folder} could not be written ({reason}): nothing of this request "
        "was stored.",
        str(folder),
    )


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` at ``fd``: ``os.write`` may write fewer bytes than asked (a disk
    filling up does so just before it refuses). Raises OSError (ENOSPC when a write makes no
    progress); how much was written is then unknown to the caller, who cuts back."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def write_atomically(path: Path, payload: bytes | bytearray | Iterable[bytes]) -> None:
    """Replace ``path`` with ``payload`` (bytes, or chunks of them, written as they come): all
    of it or, after a crash, the old file untouched.

    The new file is readable by its owner only (0600), like every file of a cbe database.
    A write the system refuses (a full disk) leaves the old file and no temporary file, and
    raises :class:`StorageUnavailable` (:class:`StorageFull` when the disk is full).
    """
    tmp = write_beside(path, payload)
    try:
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise storage_error(error, path) from error
        raise
    try:
        fsync_dir(path.parent)
    except OSError as error:
        raise storage_error(error, path) from error


def write_beside(path: Path, payload: bytes | bytearray | Iterable[bytes], tag: str = "") -> Path:
    """Write ``payload`` (bytes, or chunks of them, written as they come) to a new temporary
    file beside ``path`` (durable, 0600) that :func:`write_atomically` or :func:`replace_all`
    moves over it; the latter for a file made before the lock is taken. Until then it is a
    temporary file, which opening a database removes (the caller checks that it is still there
    once it holds the lock). Its name begins ``.{path.name}.{tag}`` (another process that
    chose ``tag`` can find it, should this one be killed before saying its name)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{tag}", suffix=".tmp")
    except OSError as error:
        raise storage_error(error, path) from error
    try:
        with os.fdopen(fd, "wb") as out:  # a buffered file writes all it is given, or raises
            for chunk in [payload] if isinstance(payload, bytes | bytearray) else payload:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise storage_error(error, path) from error
        raise
    return Path(tmp)


def replace_all(files: Iterable[tuple[Path, Path]], folder: Path) -> None:
    """Move each temporary file (:func:`write_beside`) over its target, in order, then make the
    renames durable with one fsync of ``folder``: each target is its old or its new file."""
    try:
        for tmp, path in files:
            os.replace(tmp, path)
        fsync_dir(folder)
    except OSError as error:
        raise storage_error(error, folder) from error


_generations = itertools.count(1)


class _Snapshot:
    __slots__ = ("data", "generation", "handle", "key")

    def __init__(self, handle: IO[bytes], data: dict[str, Any] | None) -> None:
        st = os.fstat(handle.fileno())
        self.key = (st.st_dev, st.st_ino)
        self.generation = next(_generations)
        self.handle = handle
        self.data = data


class _Unit:
    """What an open unit of work wrote to a storage and has not committed."""

    def __init__(self) -> None:
        self.data: dict[str, Any] | None = None
        self.generation = 0
        self.replaced: _Snapshot | None = None
        """The file the unit's last commit replaced (open, so still readable), for undo."""

    def forget_replaced(self) -> None:
        if self.replaced is not None:
            self.replaced.handle.close()
            self.replaced = None


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
        self._unit: _Unit | None = None
        """Writes held for a unit of work, when one is open (see :meth:`begin`)."""

    def read(self) -> dict[str, Any] | None:
        unit = self._unit
        if unit is not None and unit.data is not None:
            return unit.data
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
        if self._unit is not None:  # held until the unit commits
            self._unit.data = data
            self._unit.generation = next(_generations)
            return
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        try:
            write_atomically(self.path, orjson.dumps(data))
            self._keep(_Snapshot(self.path.open("rb"), data))
        except BaseException:
            self.invalidate()
            raise

    def version(self) -> int:
        """A number that changes whenever the file does (0 while there is no file), and with
        each write a unit of work holds."""
        self.read()
        if self._unit is not None and self._unit.data is not None:
            return self._unit.generation
        return 0 if self._snapshot is None else self._snapshot.generation

    # -- a unit of work: writes held in memory, then one atomic replace or none ---------------

    def begin(self) -> None:
        """Hold writes from now on in memory (reads see them) until :meth:`commit` writes them
        to the file at once, or :meth:`rollback` forgets them. The caller holds the lock."""
        self._unit = _Unit()

    def commit(self) -> None:
        """Write what the unit holds as the new file (one atomic replace; nothing when it holds
        no write). Raises :class:`StorageUnavailable` with the file as it was; the unit still
        holds its writes, for :meth:`rollback`. The file replaced stays readable until the
        unit ends or commits again, for :meth:`undo`."""
        unit = self._unit
        if unit is None:
            return
        unit.forget_replaced()  # an earlier commit of the unit stands
        if unit.data is None:
            return
        before, self._snapshot = self._snapshot, None  # kept open: the file as it was
        try:
            self._write(unit.data)
        except BaseException:
            if before is not None:
                before.handle.close()  # its data was changed in place by the unit's writes
            raise
        unit.replaced = before
        unit.data = None

    def undo(self) -> None:
        """Put back the file as it was before the unit's last commit (a later step of that
        commit failed); best effort: should that write fail too, the commit stands."""
        unit = self._unit
        if unit is None or unit.replaced is None:
            return
        try:
            unit.replaced.handle.seek(0)
            write_atomically(self.path, unit.replaced.handle.read())
        except (OSError, CbeError):
            return
        finally:
            unit.forget_replaced()
            self.invalidate()

    def rollback(self) -> None:
        """Forget the writes the unit holds (and cached data they changed in place); the unit
        ends."""
        unit, self._unit = self._unit, None
        if unit is None:
            return
        unit.forget_replaced()
        if unit.data is not None:
            self.invalidate()

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
