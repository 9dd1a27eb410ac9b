"""The tables that grow with use (CRM records, associations, enrollments, tasks): a snapshot and
an append-only log, so that what one write costs does not grow with what is stored.

```
records/snapshot.json      {"log": 7, "tables": {"contacts": {"1": {...}}, ...}}
records/log-000007.jsonl   a line per committed unit: {"changes": [[table, key, doc]], "crc": N}
```

A change is a document put under its key (``null``: the key removed). The snapshot names the
log that continues it; reading is the snapshot, then the log's whole lines in order. Each table is
a mapping from key to document in the order keys were first written (TinyDB's document order).

**Writes** hold the folder's lock. What a unit of work writes is applied in memory at once (only
the thread in the unit reads meanwhile) and appended at its commit as one line, fsynced: one
``write`` whatever the size of the tables. A write the disk refuses is cut back, and the memory
put back when the unit rolls back. A process killed mid-append leaves a torn last line, never
acknowledged: readers leave it alone, the next writer (holding the lock) cuts it off.

**Folding**: once the log outgrows the snapshot (and a floor), the tables are written as a new
snapshot naming the next log (one atomic replace), and the old log is deleted. A crash between
the two leaves an old log that the snapshot no longer names: deleted at the next fold or open.
Folding costs a write of everything, once per as many bytes of changes: amortised, a write's
cost stays its own size.

**Other processes** see the changes: every read ``stat``s the snapshot and the log (once per
holding of the lock, for a writer) and takes in new whole lines, or everything again when the
snapshot was replaced or the log cut back.

Indexes kept as changes are applied (never rebuilt per write): the highest numeric key of each
table, and whatever an :class:`Index` listener keeps (contacts by email, associations by
record...), see :meth:`LoggedTables.listen`.
"""

from __future__ import annotations

import contextlib
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from core.errors import CbeError
from storage.atomic import CorruptFile, fsync_dir, storage_error, write_all, write_atomically
from storage.locking import DatabaseLock

TABLES_DIR = "records"
SNAPSHOT_FILE = "snapshot.json"
LOG_NAME = re.compile(r"log-(\d{6})\.jsonl")
FOLD_FLOOR = 4 * 1024 * 1024
"""A log shorter than this is never folded (a fold rewrites every table)."""

Doc = dict[str, Any]
Change = tuple[str, str, Doc | None]
Listener = Callable[[str, str, Doc | None, Doc | None], None]
"""Called with (table, key, old document or None, new document or None) for every change."""

_LINE_CRC = re.compile(rb',"crc":(\d+)\}$')


def log_name(number: int) -> str:
    return f"log-{number:06d}.jsonl"


def log_line(changes: Iterable[Change]) -> bytes:
    head = b'{"changes":' + orjson.dumps([list(c) for c in changes])
    return head + b',"crc":%d}\n' % zlib.crc32(head)


def parse_log_line(line: bytes) -> list[Change]:
    """The changes of a log line; ValueError when it is damaged."""
    match = _LINE_CRC.search(line)
    if match is None or zlib.crc32(line[: match.start()]) != int(match.group(1)):
        raise ValueError("its checksum does not match")
    try:
        changes = orjson.loads(line)["changes"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(str(error)) from error
    return [(str(t), str(k), d) for t, k, d in changes]


def write_snapshot(folder: Path, log: int, tables: Mapping[str, Mapping[str, Doc]]) -> None:
    """Write ``folder/snapshot.json`` at once (atomically): ``tables``, continued by log
    ``log``."""
    folder.mkdir(mode=0o700, exist_ok=True)
    write_atomically(folder / SNAPSHOT_FILE, orjson.dumps({"log": log, "tables": tables}))


class _Unit:
    def __init__(self) -> None:
        self.pending: list[tuple[str, str, Doc | None, Doc | None]] = []
        """(table, key, old, new) applied in memory, not yet in the log."""
        self.committed: list[tuple[str, str, Doc | None, Doc | None]] = []
        """What the last commit appended, for :meth:`LoggedTables.undo`."""
        self.appended_at: tuple[Path, int] | None = None
        """The log and its length before the last commit's line."""
        self.highest: dict[str, int] = {}
        """The highest keys when the unit began, or its last commit ended."""
        self.before_commit: dict[str, int] = {}


class LoggedTables:
    """The growing tables of one database folder (see the module docstring)."""

    def __init__(self, folder: Path, lock: DatabaseLock, read_only: bool = False) -> None:
        self.folder = folder
        self._lock = lock
        self._read_only = read_only
        self._tables: dict[str, dict[str, Doc]] = {}
        self._highest: dict[str, int] = {}
        self._listeners: list[Listener] = []
        self._resets: list[Callable[[], None]] = []
        self._snapshot_key: tuple[int, int] | None = None
        self._snapshot_size = 0
        self._log = 1
        self._log_key: tuple[int, int] | None = None
        self._offset = 0
        """Bytes of the log taken in (always at a line end)."""
        self._loaded = False
        self._checked_in: int | None = None
        self._unit: _Unit | None = None
        self.damage: list[str] = []
        """Whole log lines that are damaged (left out)."""
        self.generation = 0
        """Changes whenever anything in the tables does."""

    # -- listeners ---------------------------------------------------------------------------

    def listen(self, on_change: Listener, on_reset: Callable[[], None]) -> None:
        """Call ``on_change`` for every change from now on and ``on_reset`` whenever the
        tables are read again from the start (then a listener builds what it keeps from the
        tables, when first asked: reading 100,000 records indexes nothing)."""
        self._listeners.append(on_change)
        self._resets.append(on_reset)
        on_reset()

    # -- reading -----------------------------------------------------------------------------

    def table(self, name: str) -> Mapping[str, Doc]:
        """The documents of table ``name`` by key, in the order keys were first written (the
        caller holds the lock or ``lock.reading()``; never changed by the caller)."""
        self.refresh()
        return self._tables.get(name, {})

    def highest(self, name: str) -> int:
        """The highest numeric key table ``name`` ever held in this reading (0: none)."""
        self.refresh()
        return self._highest.get(name, 0)

    def refresh(self) -> None:
        """Take in what other processes wrote (a ``stat`` or two when nothing changed)."""
        if self._unit is not None:
            return  # the unit's thread holds the lock: nobody else writes
        epoch = self._lock.held_epoch()
        if epoch is not None and epoch == self._checked_in and self._loaded:
            return
        for _ in range(5):
            if self._catch_up():
                break
        self._checked_in = epoch

    def _catch_up(self) -> bool:
        """Read what changed; False when the snapshot was replaced meanwhile (read again)."""
        key = self._stat_key(self.folder / SNAPSHOT_FILE)
        if key != self._snapshot_key or not self._loaded:
            self._load_snapshot()
        path = self.folder / log_name(self._log)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            if self._offset:
                self._loaded = False  # cut back to nothing (an undone write): read again
                return False
            return self._stat_key(self.folder / SNAPSHOT_FILE) == self._snapshot_key
        with handle:
            st = os.fstat(handle.fileno())
            log_key = (st.st_dev, st.st_ino)
            replaced = self._log_key is not None and log_key != self._log_key
            if replaced or st.st_size < self._offset:
                self._loaded = False
                return False
            self._log_key = log_key
            if st.st_size > self._offset:
                handle.seek(self._offset)
                data = handle.read(st.st_size - self._offset)
                end = data.rfind(b"\n")
                if end >= 0:
                    self._take_lines(path, data[:end])
                    self._offset += end + 1
                if end + 1 < len(data) and self._lock.held_epoch() is not None:
                    self._cut_torn_tail(path)
        return self._stat_key(self.folder / SNAPSHOT_FILE) == self._snapshot_key

    @staticmethod
    def _stat_key(path: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _load_snapshot(self) -> None:
        path = self.folder / SNAPSHOT_FILE
        try:
            with path.open("rb") as handle:
                st = os.fstat(handle.fileno())
                raw = handle.read()
        except FileNotFoundError:
            data: Any = {"log": 1, "tables": {}}
            key, size = None, 0
        else:
            try:
                data = orjson.loads(raw)
                int(data["log"])
                if not isinstance(data["tables"], dict):
                    raise TypeError("no tables")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise CorruptFile(f"{path} is not a valid database file: {error}") from error
            key, size = (st.st_dev, st.st_ino), len(raw)
        for reset in self._resets:
            reset()
        self._tables = data["tables"]
        self._highest = {}
        self._snapshot_key, self._snapshot_size = key, size
        self._log, self._log_key, self._offset = int(data["log"]), None, 0
        self.damage = []
        self.generation += 1
        self._loaded = True
        for name, docs in self._tables.items():  # listeners index from the tables when asked
            numbers = [int(k) for k in docs if k.isdigit()]
            if numbers:
                self._highest[name] = max(numbers)

    def _take_lines(self, path: Path, data: bytes) -> None:
        for number, line in enumerate(data.split(b"\n"), 1):
            if not line:
                continue
            try:
                changes = parse_log_line(line)
            except ValueError as error:
                self.damage.append(
                    f"{path} has a damaged line ({len(line):,} bytes at or after line {number} "
                    f"of what was read: {error}); its changes are left out"
                )
                continue
            for name, key, doc in changes:
                self._apply(name, key, doc)

    def _cut_torn_tail(self, path: Path) -> None:
        """Cut off a line a killed writer left half-written (the caller holds the lock)."""
        with contextlib.suppress(OSError):
            os.truncate(path, self._offset)

    # -- changing ----------------------------------------------------------------------------

    def _apply(self, name: str, key: str, doc: Doc | None) -> Doc | None:
        table = self._tables.setdefault(name, {})
        old = table.get(key)
        if doc is None:
            table.pop(key, None)
        else:
            table[key] = doc
        self._note(name, key, old, doc)
        self.generation += 1
        return old

    def _note(self, name: str, key: str, old: Doc | None, doc: Doc | None) -> None:
        if doc is not None and key.isdigit():
            number = int(key)
            if number > self._highest.get(name, 0):
                self._highest[name] = number
        for listener in self._listeners:
            listener(name, key, old, doc)

    def put(self, name: str, key: str, doc: Doc | None) -> None:
        """Store ``doc`` under ``key`` in table ``name`` (None: remove the key); the caller
        holds the lock. Outside a unit of work it is written at once."""
        self.refresh()
        if self._unit is not None:
            old = self._apply(name, key, doc)
            self._unit.pending.append((name, key, old, doc))
            return
        self.begin()
        try:
            self.put(name, key, doc)
            self.commit()
        finally:
            self.rollback()
        self.fold_if_due()

    def begin(self) -> None:
        """Hold what is put from now on until :meth:`commit` (the caller holds the lock)."""
        self.refresh()
        self._unit = _Unit()
        self._unit.highest = dict(self._highest)

    def commit(self) -> None:
        """Append what the unit put as one line, fsynced. Raises StorageUnavailable with the
        log cut back (the unit still holds its changes, for :meth:`rollback`)."""
        unit = self._unit
        if unit is None:
            return
        unit.committed, unit.appended_at = [], None  # an earlier commit of the unit stands
        if not unit.pending:
            return
        last: dict[tuple[str, str], Doc | None] = {}
        for name, key, _, doc in unit.pending:
            last.pop((name, key), None)  # keep the order of the last change of each key
            last[(name, key)] = doc
        line = log_line((name, key, doc) for (name, key), doc in last.items())
        path = self.folder / log_name(self._log)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as error:
            raise storage_error(error, self.folder) from error
        try:
            size = os.fstat(fd).st_size
            if size != self._offset:  # a torn tail nobody cut (a reader took nothing of it)
                os.ftruncate(fd, self._offset)
            created = size == 0
            try:
                write_all(fd, line)
                os.fsync(fd)
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._offset)
                    os.fsync(fd)
                raise storage_error(error, self.folder) from error
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if created:
            try:
                fsync_dir(self.folder)
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.truncate(path, self._offset)
                raise storage_error(error, self.folder) from error
        unit.appended_at = (path, self._offset)
        unit.committed, unit.pending = unit.pending, []
        unit.before_commit, unit.highest = unit.highest, dict(self._highest)
        self._log_key = (st.st_dev, st.st_ino)
        self._offset += len(line)

    def undo(self) -> None:
        """Cut off the line the unit's last commit appended (a later step of that commit
        failed); its changes go back to pending, for :meth:`rollback`. Best effort."""
        unit = self._unit
        if unit is None or unit.appended_at is None:
            return
        path, offset = unit.appended_at
        unit.pending = unit.committed + unit.pending
        unit.committed, unit.appended_at = [], None
        unit.highest = unit.before_commit
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.ftruncate(fd, offset)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            return
        self._offset = offset

    def rollback(self) -> None:
        """Put back in memory what the unit holds and did not commit; the unit ends."""
        unit, self._unit = self._unit, None
        if unit is None:
            return
        for name, key, old, _ in reversed(unit.pending):
            self._apply(name, key, old)
        if unit.pending:
            self._highest = unit.highest
            self._checked_in = None

    # -- folding -----------------------------------------------------------------------------

    def fold_if_due(self) -> bool:
        """Fold the log into a new snapshot when it has outgrown it; the caller holds the lock
        and no unit is open. A fold that fails leaves the log as it was (and says so: False)."""
        if self._offset < max(FOLD_FLOOR, self._snapshot_size):
            return False
        try:
            self.fold()
        except (OSError, CbeError):
            return False
        return True

    def fold(self) -> None:
        """Write every table as a new snapshot continued by a new, empty log (the caller holds
        the lock), then delete the logs before it."""
        self.refresh()
        number = self._log + 1
        payload = orjson.dumps({"log": number, "tables": self._tables})
        self.folder.mkdir(mode=0o700, exist_ok=True)
        write_atomically(self.folder / SNAPSHOT_FILE, payload)
        st = os.stat(self.folder / SNAPSHOT_FILE)
        self._snapshot_key, self._snapshot_size = (st.st_dev, st.st_ino), len(payload)
        self._log, self._log_key, self._offset = number, None, 0
        self.remove_old_logs()

    def remove_old_logs(self) -> None:
        """Delete logs the snapshot no longer names (a fold that stopped before it did)."""
        for path in self.folder.glob("log-*.jsonl"):
            match = LOG_NAME.fullmatch(path.name)
            if match is not None and int(match.group(1)) < self._log:
                path.unlink(missing_ok=True)

    def tables(self) -> Iterator[tuple[str, Mapping[str, Doc]]]:
        self.refresh()
        yield from self._tables.items()

    def close(self) -> None:
        self._tables, self._loaded, self._checked_in = {}, False, None
        for reset in self._resets:
            reset()
