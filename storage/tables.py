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
cost stays its own size. What the snapshot's index keeps is merged from the old index and the
changed documents (storage.table_snapshot), not made again from every one; a bulk load
(``cbe demo``, ``cbe copy``) folds once, at its end (:meth:`LoggedTables.folds_deferred`).
A fold in the background (TinyDatabase.background_folds) makes the new snapshot in a process
of its own (storage.fold_process) while writes go on, copies and applies the lines written
meanwhile before taking the lock, and holds it for the swap and the last few lines only.

**Other processes** see the changes: every read ``stat``s the snapshot and the log (once per
holding of the lock, for a writer) and takes in new whole lines, or everything again when the
snapshot was replaced or the log cut back.

**Reading without parsing everything** (storage.table_snapshot): a fold writes the snapshot
with an index beside it (``snapshot.idx``), so a process maps the snapshot and parses a document
when it is asked for; what the log changed since is kept apart (an overlay over the snapshot),
and :meth:`LoggedTables.table` is a view of both. The log stays short next to the snapshot (a
fold once it holds a sixteenth of it, copying unchanged documents as they are), so a process
that opens the folder reads it whole quickly: the Records list's first page, cold, parses its
rows, the log, and the index of one table.

Indexes kept as changes are applied (never rebuilt per write): the highest numeric key of each
table, and whatever an :class:`Index` listener keeps (contacts by email, associations by
record...), see :meth:`LoggedTables.listen`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import selectors
import subprocess
import sys
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.errors import CbeError
from storage.atomic import (
    CorruptFile,
    fsync_dir,
    storage_error,
    write_all,
    write_atomically,
    write_beside,
)
from storage.locking import DatabaseLock
from storage.table_snapshot import (
    INDEX_FILE,
    SNAPSHOT_FILE,
    Base,
    Columns,
    Document,
    Made,
    MappedBase,
    ParsedBase,
    Text,
    archived,
    id_order,
    join_text,
    merge_in_id_order,
    snapshot_files,
)

TABLES_DIR = "records"
LOG_NAME = re.compile(r"log-(\d{6})\.jsonl")
FOLD_FLOOR = 1024 * 1024
"""A log shorter than this is never folded (a fold rewrites every table)."""
FOLD_SHARE = 16
"""A log is folded once it holds this share of the snapshot's size (a process reads the log
whole when it opens the folder: it stays short next to the snapshot)."""
STAGE_ENOUGH = 64 * 1024
STAGE_ROUNDS = 8
"""A fold's swap is left about STAGE_ENOUGH bytes of the log (written while its snapshot was
made) to copy and apply under the lock, the rest done before it in up to STAGE_ROUNDS rounds
(LoggedTables.stage_fold)."""
FOLD_PROCESS = "storage.fold_process"
"""The module a fold made in a process of its own runs (:meth:`LoggedTables.build_fold`)."""
FOLD_DEADLINE = 60.0
FOLD_DEADLINE_PER_MB = 4.0
"""A fold's process not ended with its whole answer within FOLD_DEADLINE seconds, plus
FOLD_DEADLINE_PER_MB for each MB of the snapshot and log it folds (about 180 s at 100,000
contacts, whose fold takes 1.5 s of CPU and took 15 s by the clock at load 14), is taken for
hung (stopped, deadlocked, stuck on a dead mount): killed, its files deleted, and the fold
made in the thread (FoldProcessFailed). The database's close, which waits for a fold under
way, never waits longer for one."""
FOLD_KILL_WAIT = 5.0
"""Seconds a killed fold's process is waited for (one stuck in the kernel dies when its call
returns: it is then left to end alone)."""
FOLD_STALE = 3
"""The fold's process's exit status when the snapshot or log it was to fold were replaced or
cut back meanwhile (SnapshotReplaced): no fold is made, as in a thread."""
_CODE_ROOT = str(Path(__file__).resolve().parent.parent)
"""Where this code's packages are (the fold's process imports the same code)."""

_log = logging.getLogger("cbe.storage")


class SnapshotReplaced(ValueError):
    """The snapshot or log a fold started from are no longer those (another fold put its own in
    place, or a failed commit cut the log back): the fold is let go."""


class FoldProcessFailed(Exception):
    """The fold's process could not start, or ended without its whole answer (an ImportError,
    no usable interpreter, killed by the OOM killer, a crash), or had not by its deadline
    (FOLD_DEADLINE: then killed): the fold is made in the thread instead
    (:meth:`LoggedTables.build_fold`)."""


Doc = dict[str, Any]
Change = tuple[str, str, Doc | None]
Old = Callable[[], Doc | None]
"""The document a change replaced (None: none), made when asked (it may be in the snapshot)."""
Listener = Callable[[str, str, Old, Doc | None], None]
"""Called with (table, key, old document, new document or None) for every change."""

_CRC_MARK = b',"crc":'


def log_name(number: int) -> str:
    return f"log-{number:06d}.jsonl"


def log_line(changes: Iterable[Change]) -> bytes:
    head = b'{"changes":' + orjson.dumps([list(c) for c in changes])
    return head + b',"crc":%d}\n' % zlib.crc32(head)


def parse_log_line(line: bytes) -> list[Change]:
    """The changes of a log line; ValueError when it is damaged."""
    at = line.rfind(_CRC_MARK)
    digits = line[at + len(_CRC_MARK) : -1]
    if at < 0 or not line.endswith(b"}") or not digits.isdigit():
        raise ValueError("its checksum does not match")
    if zlib.crc32(line[:at]) != int(digits):
        raise ValueError("its checksum does not match")
    try:
        changes = orjson.loads(line)["changes"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(str(error)) from error
    return [(str(t), str(k), d) for t, k, d in changes]


def write_snapshot(folder: Path, log: int, tables: Mapping[str, Mapping[str, Doc]]) -> None:
    """Write ``folder/snapshot.json`` at once (atomically): ``tables``, continued by log
    ``log`` (without an index: the first fold writes one)."""
    folder.mkdir(mode=0o700, exist_ok=True)
    write_atomically(folder / SNAPSHOT_FILE, orjson.dumps({"log": log, "tables": tables}))


@dataclass
class Folding:
    """A fold made outside the lock (LoggedTables.start_fold, build_fold, finish_fold)."""

    log: int
    """The log the snapshot being made continues (the new one names the next)."""
    offset: int
    """The length of that log the new snapshot holds."""
    snapshot_key: tuple[int, int] | None
    base: Base
    tables: list[tuple[str, dict[str, Doc | None], dict[str, None]]]
    """Each table's name, changes and moved keys as of ``offset`` (see TableView)."""
    written: Path | None = None
    """The new snapshot, written beside the current one."""
    index: Path | None = None
    """Its index, written beside the current one."""
    opened: tuple[Base, tuple[int, int], int] | None = None
    """The new snapshot read through its new index, its identity and size: opened (its keys
    read) before the swap, which then holds the lock for none of that."""
    staged: Staged | None = None
    """The log written since ``offset`` as far as it was read before the swap, copied and
    applied over the new snapshot then (:meth:`LoggedTables.stage_fold`)."""
    close_replaced: bool = True
    """False: the swap leaves the snapshot it replaced in ``replaced``, for its caller to close
    (unmapping 73 MB at 100,000 contacts took 10 to 30 ms) once it has let go of the lock."""
    replaced: Base | None = None


@dataclass
class Staged:
    """What :meth:`LoggedTables.stage_fold` made without the lock: the log's lines written
    since a fold began (``data``), copied beside (``copy``, durable: the log the new snapshot
    names, once the lines written since are appended) and applied over the new snapshot
    (``views``, and the highest keys among them): the swap then holds the lock for the lines
    written after these only."""

    data: bytes
    copy: Path
    views: dict[str, TableView]
    highest: dict[str, int]


def _replay(data: bytes, view: Callable[[str], TableView], highest: dict[str, int]) -> None:
    """Apply the log's whole lines ``data`` to the views ``view`` gives, noting the highest
    numeric keys written (listeners have seen these changes already; damaged lines are left
    out, as when read)."""
    for line in data.split(b"\n"):
        with contextlib.suppress(ValueError):
            for name, key, doc in parse_log_line(line) if line else ():
                view(name).apply(key, doc)
                if doc is not None and key.isdigit():
                    highest[name] = max(highest.get(name, 0), int(key))


def _free(held: dict[str, Any]) -> None:
    """Empty ``held`` an entry at a time, and so each large mapping in it (a thread waiting for
    the interpreter gets it between any two)."""
    while held:
        _, value = held.popitem()
        if isinstance(value, dict) and len(value) > 64:
            _free(value)


def _append_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _documents(
    base: Base, name: str, changes: Mapping[str, Doc | None], moved: Mapping[str, None]
) -> Iterator[Document]:
    """Table ``name`` for a new snapshot: unchanged documents copied as they are."""
    keys = base.keys(name)
    cuts = sorted(at for at in (base.position(name, key) for key in changes) if at is not None)
    begun = 0
    for at in cuts:  # unchanged runs copied as they are (damage stays found where read)
        yield range(begun, at)
        key = keys[at]
        doc = changes[key]
        if doc is not None and key not in moved:
            yield key, orjson.dumps(doc), doc, at
        begun = at + 1
    yield range(begun, len(keys))
    for key in moved:
        doc = changes[key]
        assert doc is not None
        yield key, orjson.dumps(doc), doc, -1


class _Unit:
    def __init__(self) -> None:
        self.pending: list[tuple[str, str, Old, Doc | None]] = []
        """(table, key, old, new) applied in memory, not yet in the log."""
        self.committed: list[tuple[str, str, Old, Doc | None]] = []
        """What the last commit appended, for :meth:`LoggedTables.undo`."""
        self.appended_at: tuple[Path, int] | None = None
        """The log and its length before the last commit's line."""
        self.highest: dict[str, int] = {}
        """The highest keys when the unit began, or its last commit ended."""
        self.before_commit: dict[str, int] = {}


def _known(doc: Doc | None) -> Old:
    return lambda: doc


class TableView(Mapping[str, Doc]):
    """One table as it stands: the snapshot's documents with the changes since put over them,
    keys in the order they were first written (a key removed and written again goes last)."""

    def __init__(self, owner: LoggedTables, name: str, base: Base | None = None) -> None:
        self._owner = owner
        self._fixed = base
        """The snapshot it is over (None: its owner's, whichever that is now)."""
        self.name = name
        self.changes: dict[str, Doc | None] = {}
        """The documents changed since the snapshot (None: removed from it)."""
        self.moved: dict[str, None] = {}
        """Keys written since the snapshot that it did not hold (or that were removed and
        written again), in the order they were written: after the snapshot's keys."""
        self.size = 0
        self._archived: tuple[int, int] | None = None
        self._sorted_moved: tuple[int, list[str]] | None = None
        self._lookups: dict[str, dict[str, dict[str, None]]] | None = None
        """Of the changed documents: keys by value of each lookup column (made when asked)."""

    def reset(self, base: Base) -> None:
        self.changes, self.moved = {}, {}
        self.size = base.count(self.name)  # its keys read when first asked for
        self._archived = self._sorted_moved = None
        self._lookups = None

    def held(self) -> list[dict[str, Any]]:
        """What it holds of the changes since the snapshot (let go of by :meth:`reset`)."""
        return [self.changes, self.moved, self._lookups or {}]

    def take(self, staged: TableView) -> None:
        """Stand as ``staged`` does (a view made over the snapshot now in place)."""
        self.changes, self.moved, self.size = staged.changes, staged.moved, staged.size
        self._archived = self._sorted_moved = None
        self._lookups = staged._lookups  # over the same snapshot: still right

    @property
    def _base(self) -> Base:
        return self._owner._base if self._fixed is None else self._fixed

    def __getitem__(self, key: str) -> Doc:
        found: Doc | None = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def get(self, key: str, default: Any = None) -> Any:
        changes = self.changes
        doc = changes[key] if key in changes else self._base.get(self.name, key)
        return default if doc is None else doc

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self.changes:
            return self.changes[key] is not None
        return self._base.contains(self.name, key)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[str]:
        changes, moved = self.changes, self.moved
        if not changes:
            yield from self._base.keys(self.name)
            return
        for key in self._base.keys(self.name):
            if key in changes and (changes[key] is None or key in moved):
                continue
            yield key
        yield from moved

    def apply(self, key: str, doc: Doc | None) -> Old:
        """Put ``doc`` under ``key`` (None: remove it); returns what it replaced."""
        changes, moved = self.changes, self.moved
        if self._lookups is not None:
            self._note_lookups(key, changes.get(key), doc)
        if key in changes:
            old = _known(changes[key])
            present = changes[key] is not None
            in_base: bool | None = None
        else:
            in_base = present = self._base.contains(self.name, key)
            base, name = self._base, self.name
            old = (lambda: base.get(name, key)) if present else _known(None)
        if doc is None:
            moved.pop(key, None)
            if in_base is None:
                in_base = self._base.contains(self.name, key)
            if in_base:
                changes[key] = None
            else:
                changes.pop(key, None)
        else:
            if not present:
                moved[key] = None
            changes[key] = doc
        self.size += (doc is not None) - present
        self._archived = self._sorted_moved = None
        return old

    # -- what a list needs, without reading every document ------------------------------------

    def is_archived(self, key: str) -> bool:
        if key in self.changes:
            doc = self.changes[key]
            return doc is not None and archived(doc)
        return self._base.is_archived(self.name, key)

    def live_count(self) -> int:
        """How many documents are not archived."""
        generation = self._owner.generation
        if self._archived is None or self._archived[0] != generation:
            base, name = self._base, self.name
            count = base.archived_count(name)
            for key, doc in self.changes.items():  # each replaced what the snapshot held
                if base.contains(name, key):
                    count -= base.is_archived(name, key)
                if doc is not None:
                    count += archived(doc)
            self._archived = (generation, count)
        return self.size - self._archived[1]

    def ordered(self, live_only: bool = False) -> Iterator[str]:
        """The keys in id order (numeric ids in number order), archived ones left out when
        ``live_only``."""
        changes, moved, base, name = self.changes, self.moved, self._base, self.name
        generation = self._owner.generation
        if self._sorted_moved is None or self._sorted_moved[0] != generation:
            self._sorted_moved = (generation, sorted(moved, key=id_order))
        added = self._sorted_moved[1]
        if live_only:
            added = [k for k in added if not archived(changes[k] or {})]

        def from_base() -> Iterator[str]:
            keys = base.keys(name)
            order = base.id_positions(name)
            for at in range(len(keys)) if order is None else order:
                key = keys[at]
                if key in changes:
                    doc = changes[key]
                    if doc is None or key in moved or (live_only and archived(doc)):
                        continue
                elif live_only and base.archived_at(name, at):
                    continue
                yield key

        return merge_in_id_order(from_base(), added)

    def lookup(self, column: str, value: str) -> list[str]:
        """The keys whose column ``column`` (a lookup column the index keeps, see
        storage.table_snapshot) holds ``value``."""
        found = [k for k in self._base.lookup(self.name, column, value) if k not in self.changes]
        if self.changes:
            found.extend(self.lookups().get(column, {}).get(value, ()))
        return found

    def lookups(self) -> dict[str, dict[str, dict[str, None]]]:
        """Per lookup column, the changed documents' keys by value (made on first use, then
        kept as changes are applied)."""
        if self._lookups is None:
            self._lookups = {}
            for key, doc in self.changes.items():
                self._note_lookups(key, None, doc)
        return self._lookups

    def _note_lookups(self, key: str, old: Doc | None, new: Doc | None) -> None:
        assert self._lookups is not None
        for column, spec in self._owner.columns.get(self.name, {}).items():
            if not spec.lookup:
                continue
            held = self._lookups.setdefault(column, {})
            was = None if old is None else spec.make(old)
            now = None if new is None else spec.make(new)
            if was == now:
                continue
            if was:
                keys = held.get(was)
                if keys is not None:
                    keys.pop(key, None)
                    if not keys:
                        del held[was]
            if now:
                held.setdefault(now, {})[key] = None

    def text(self, column: str, whole: bool) -> tuple[Text, set[str]]:
        """A text column the index keeps (storage.table_snapshot): the keys in id order, their
        values as one text and where each starts, and the keys whose value may differ
        (changed since the snapshot): the snapshot's text as it is, unless ``whole`` (then
        the values of the changed documents are made, and none differ)."""
        base, name, changes = self._base, self.name, self.changes
        if not whole:
            return base.text(name, column), set(changes)
        make = self._owner.columns[name][column].make
        values = base.values(name, column)
        positions: dict[str, int] | None = None
        keys, found = [], []
        for key in self.ordered():
            if key in changes:
                doc = changes[key]
                assert doc is not None
                found.append(make(doc))
            else:
                if positions is None:
                    positions = {k: i for i, k in enumerate(base.keys(name))}
                found.append(values[positions[key]])
            keys.append(key)
        return (keys, *join_text(found)), set()


def _answered(
    child: subprocess.Popen[bytes], request: bytes, deadline: float, take: Callable[[bytes], None]
) -> bytes:
    """Send the fold's process ``request`` and pass each whole line of its answer to ``take``
    as it comes (the interpreter let go while none has), until it has ended; what it said on
    standard error (its end). TimeoutError: not ended by ``deadline`` (time.monotonic), hung:
    never waited for longer, whatever it is stuck in (a pipe it does not read, a read of a
    dead mount, SIGSTOP)."""
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    try:
        child.stdin.write(request)  # a few hundred bytes: the pipe's buffer holds them
        child.stdin.close()
    except BrokenPipeError:
        pass  # it ended already: its answer says why
    out, err = child.stdout.fileno(), child.stderr.fileno()
    pending, said = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(out, selectors.EVENT_READ)
        selector.register(err, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the fold's process did not end in time")
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fd)
                elif key.fd == err:
                    said += chunk
                    del said[:-500]
                else:
                    pending += chunk
                    end = pending.rfind(b"\n")
                    if end >= 0:
                        for line in bytes(pending[:end]).split(b"\n"):
                            take(line)
                        del pending[: end + 1]
    try:
        child.wait(max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired as error:  # its pipes closed, itself not ended
        raise TimeoutError("the fold's process did not end in time") from error
    return bytes(said)


def _ended(child: subprocess.Popen[bytes]) -> None:
    """The fold's process killed if it has not ended (hung, or its answer not understood),
    waited for at most FOLD_KILL_WAIT, and its pipes closed."""
    if child.returncode is None:
        with contextlib.suppress(OSError):
            child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(FOLD_KILL_WAIT)
    for pipe in (child.stdin, child.stdout, child.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


class LoggedTables:
    """The growing tables of one database folder (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        lock: DatabaseLock,
        read_only: bool = False,
        columns: Columns | None = None,
        columns_at: str | None = None,
    ) -> None:
        self.folder = folder
        self._lock = lock
        self._read_only = read_only
        self.columns: Columns = columns or {}
        """Per table, what the snapshot's index keeps of each document (by column name)."""
        self.columns_at = columns_at
        """Where ``columns`` are to be imported from (``module:name``): then a fold made
        outside the lock is made in a process of its own (:meth:`build_fold`); None: in the
        caller's thread."""
        self._base: Base = ParsedBase(1, {}, self.columns)
        self._views: dict[str, TableView] = {}
        self._highest: dict[str, int] = {}
        """The highest numeric keys written since the snapshot."""
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
        self._deferred = 0
        """How many :meth:`folds_deferred` scopes are open (then nothing folds)."""
        self._closed = False
        self._warned = False
        """Whether a fold's process failing was logged (once: each fold that follows tries
        a process again, and makes the fold in its thread if that fails too)."""
        self._dropped: list[dict[str, Any]] = []
        """The changes a fold's swap took off the views (in the new snapshot now), freed by
        :meth:`let_go`: freeing 15,000 documents at once took 70 ms."""
        self.when_written: Callable[[], object] = self.fold_if_due
        """Called after each committed write, holding the lock: folds if due, or (see
        TinyDatabase.background_folds) starts a fold in a thread."""

    # -- listeners ---------------------------------------------------------------------------

    def listen(self, on_change: Listener, on_reset: Callable[[], None]) -> None:
        """Call ``on_change`` for every change from now on and ``on_reset`` whenever the
        tables are read again from the start (then a listener builds what it keeps from the
        tables, when first asked: reading 100,000 records indexes nothing)."""
        self._listeners.append(on_change)
        self._resets.append(on_reset)
        on_reset()

    # -- reading -----------------------------------------------------------------------------

    def table(self, name: str) -> TableView:
        """The documents of table ``name`` by key, in the order keys were first written (the
        caller holds the lock or ``lock.reading()``; never changed by the caller)."""
        self.refresh()
        return self._view(name)

    def _view(self, name: str) -> TableView:
        view = self._views.get(name)
        if view is None:
            view = self._views[name] = TableView(self, name)
            view.reset(self._base)
        return view

    def highest(self, name: str) -> int:
        """The highest numeric key table ``name`` ever held in this reading (0: none)."""
        self.refresh()
        return max(self._base.highest(name), self._highest.get(name, 0))

    @property
    def mapped(self) -> bool:
        """Whether the snapshot is read through its index (else it was parsed whole)."""
        self.refresh()
        return isinstance(self._base, MappedBase)

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

    def _open_base(self) -> tuple[Base, tuple[int, int] | None, int]:
        """The snapshot (through its index when it has a good one), its identity and size."""
        path = self.folder / SNAPSHOT_FILE
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return ParsedBase(1, {}, self.columns), None, 0
        try:
            st = os.fstat(handle.fileno())
            key = (st.st_dev, st.st_ino)
            mapped = MappedBase.open(self.folder, handle, self.columns)
        except BaseException:
            handle.close()
            raise
        if mapped is not None:
            return mapped, key, st.st_size
        with handle:
            raw = handle.read()
        try:
            data = orjson.loads(raw)
            log = int(data["log"])
            if not isinstance(data["tables"], dict):
                raise TypeError("no tables")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise CorruptFile(f"{path} is not a valid database file: {error}") from error
        return ParsedBase(log, data["tables"], self.columns), key, len(raw)

    def _load_snapshot(self) -> None:
        base, key, size = self._open_base()
        for reset in self._resets:
            reset()
        self._base.close()
        self._base = base
        for view in self._views.values():
            view.reset(base)
        self._highest = {}
        self._snapshot_key, self._snapshot_size = key, size
        self._log, self._log_key, self._offset = base.log, None, 0
        self.damage = []
        self.generation += 1
        self._loaded = True

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

    def _apply(self, name: str, key: str, doc: Doc | None) -> Old:
        old = self._view(name).apply(key, doc)
        self._note(name, key, old, doc)
        self.generation += 1
        return old

    def _note(self, name: str, key: str, old: Old, doc: Doc | None) -> None:
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
        self.when_written()

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
            self._apply(name, key, old())
        if unit.pending:
            self._highest = unit.highest
            self._checked_in = None

    # -- folding -----------------------------------------------------------------------------

    def fold_due(self) -> bool:
        if self._deferred:
            return False
        return self._offset >= max(FOLD_FLOOR, self._snapshot_size // FOLD_SHARE)

    @contextlib.contextmanager
    def folds_deferred(self) -> Iterator[None]:
        """Fold nothing until the scope ends (a bulk load: one fold of everything at its end
        rather than one every sixteenth, each rewriting what the snapshot holds). The log
        grows meanwhile, every write still durable when committed; other processes fold as
        they would. The caller holds the lock when the scope ends (the fold due then)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1

    def fold_if_due(self) -> bool:
        """Fold the log into a new snapshot when it has outgrown it; the caller holds the lock
        and no unit is open. A fold that fails leaves the log as it was (and says so: False)."""
        if not self.fold_due():
            return False
        try:
            self.fold()
        except (OSError, CbeError):
            return False
        return True

    def index_if_missing(self) -> None:
        """Fold a snapshot without a usable index (written by an earlier cbe, or a fold that
        stopped before its index), so that the next process need not parse it whole; the
        caller holds the lock."""
        with contextlib.suppress(OSError, CbeError):  # damage is named where it is read
            self.refresh()
            if isinstance(self._base, ParsedBase) and self._snapshot_key is not None:
                self.fold()
            self.remove_old_logs()  # and any a swap killed half-way left (finish_fold)

    def fold(self) -> None:
        """Write every table as a new snapshot continued by a new, empty log (the caller holds
        the lock), then delete the logs before it.

        The snapshot first, then its index (each atomically); a crash between the two leaves a
        snapshot whose index names another: read whole, and indexed at the next open."""
        self.refresh()
        folding = self.start_fold()
        snapshot, index, _ = self._fold_files(folding)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        # A log numbered past the snapshot's is one a swap killed half-way left (finish_fold):
        # gone before the new snapshot names it (the rename's folder fsync makes both durable).
        (self.folder / log_name(folding.log + 1)).unlink(missing_ok=True)
        write_atomically(self.folder / SNAPSHOT_FILE, snapshot)
        self._folded(folding.log + 1, index, b"").close()
        self.let_go()

    def start_fold(self) -> Folding:
        """What a fold writes, as of now (the caller holds the lock, no unit open): the
        snapshot, the log's length and each table's changes since (copied). The new snapshot
        can then be made without the lock (:meth:`build_fold`) while writes go on, and put in
        place holding it again (:meth:`finish_fold`)."""
        self.refresh()
        return self._folding()

    def _folding(self) -> Folding:
        base = self._base
        names = [*base.names(), *(n for n in self._views if n not in base.names())]
        tables = [(n, dict(self._view(n).changes), dict(self._view(n).moved)) for n in names]
        return Folding(self._log, self._offset, self._snapshot_key, base, tables)

    def _fold_files(self, folding: Folding) -> tuple[bytearray, list[bytes], dict[str, Made]]:
        base = folding.base
        return snapshot_files(
            folding.log + 1,
            secrets.token_hex(8),
            (
                (name, _documents(base, name, changes, moved))
                for name, changes, moved in folding.tables
            ),
            base,
            self.columns,
        )

    def build_fold(self, folding: Folding) -> bool:
        """Write the new snapshot of ``folding`` beside the current one, without the lock
        (False: it could not be, e.g. a fold elsewhere closed the snapshot it reads). With
        ``columns_at`` it is made in a process of its own (:meth:`_made_apart`), which shares
        no interpreter with the writes beside it; else, or when that process fails
        (FoldProcessFailed: a warning logged the first time), in the caller's thread."""
        tag = secrets.token_hex(4) + "-"
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            apart = None
            if self.columns_at is not None:
                try:
                    apart = self._made_apart(folding, tag)
                except FoldProcessFailed as error:
                    self._unlink_tagged(tag)  # what it wrote before it ended
                    if not self._warned:
                        self._warned = True
                        _log.warning("a fold's process failed; folding in the thread: %s", error)
            if apart is None:
                snapshot, index, made = self._fold_files(folding)
                folding.written = write_beside(self.folder / SNAPSHOT_FILE, snapshot, tag)
                folding.index = write_beside(self.folder / INDEX_FILE, index, tag)
                del snapshot, index
            else:
                folding.written, folding.index, made = apart
            folding.opened = self._open_beside(folding.written, folding.index, made)
        except (OSError, ValueError, BufferError, CbeError):
            self._unlink_tagged(tag)  # what it wrote, said or not
            folding.written = folding.index = None
            return False
        return True

    def _unlink_tagged(self, tag: str) -> None:
        for name in (SNAPSHOT_FILE, INDEX_FILE):
            for path in self.folder.glob(f".{name}.{tag}*.tmp"):
                path.unlink(missing_ok=True)

    def as_folded_by_another(
        self, log: int, offset: int, snapshot_key: tuple[int, int] | None
    ) -> Folding:
        """The fold another process started (:meth:`start_fold` there: the snapshot, its log
        and the log's first ``offset`` bytes), read here from the files (storage.fold_process;
        no lock held, nothing written). ValueError: the files are no longer those."""
        self._load_snapshot()
        if self._snapshot_key != snapshot_key or self._log != log:
            raise SnapshotReplaced("the snapshot was replaced meanwhile")
        path = self.folder / log_name(log)
        if offset:
            with path.open("rb") as handle:
                data = handle.read(offset)
            if len(data) != offset or not data.endswith(b"\n"):
                raise SnapshotReplaced("the log was cut back meanwhile")
            self._take_lines(path, data[:-1])
        self._offset = offset
        return self._folding()

    def _made_apart(self, folding: Folding, tag: str) -> tuple[Path, Path, dict[str, Made]]:
        """The new snapshot and index of ``folding`` written beside by a process of its own
        (storage.fold_process, started here: its start-up is this thread's wait, not a
        write's), and what the fold made of each table's index (Made), sent back in pieces
        parsed one at a time (see PIECE). Killed, it leaves its files tagged ``tag``.
        FoldProcessFailed: it did not start, did not answer whole, or had not ended by its
        deadline (FOLD_DEADLINE; then killed); SnapshotReplaced: it found the files no longer
        those of ``folding``."""
        request = {
            "folder": str(self.folder),
            "log": folding.log,
            "offset": folding.offset,
            "snapshot": folding.snapshot_key,
            "columns": self.columns_at,
            "tag": tag,
        }
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_CODE_ROOT, path]))}
        made: dict[str, Made] = {}
        done: list[Any] = []

        def take(line: bytes) -> None:
            what = orjson.loads(line)
            if what[0] == "keys":
                made.setdefault(what[1], Made([], {})).keys.extend(what[2])
            elif what[0] == "sorted":
                values, at = made[what[1]].sorted.setdefault(what[2], ([], array("I")))
                values.extend(what[3])
                at.extend(what[4])
            elif what[0] == "done":
                done[:] = what

        limit = FOLD_DEADLINE + FOLD_DEADLINE_PER_MB * (self._snapshot_size + folding.offset) / 1e6
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", FOLD_PROCESS],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except (OSError, ValueError) as error:  # not started
            raise FoldProcessFailed(f"{type(error).__name__}: {error}") from error
        try:
            problem = _answered(child, orjson.dumps(request), time.monotonic() + limit, take)
        except TimeoutError as error:  # hung
            raise FoldProcessFailed(f"no whole answer within {limit:.0f} s: killed") from error
        except (OSError, ValueError, LookupError) as error:  # a line cut off or not JSON
            raise FoldProcessFailed(f"{type(error).__name__}: {error}") from error
        finally:
            _ended(child)
        if child.returncode == FOLD_STALE:
            raise SnapshotReplaced("the snapshot was replaced meanwhile")
        if child.returncode or len(done) != 3:
            said = problem[-500:].decode(errors="replace").strip()
            raise FoldProcessFailed(f"exit status {child.returncode}: {said}")
        return Path(done[1]), Path(done[2]), made

    def _open_beside(
        self, snapshot: Path, index: Path, made: Mapping[str, Made]
    ) -> tuple[Base, tuple[int, int], int] | None:
        """The snapshot and index written beside, opened as they will be once in place, with
        every table's keys (and their positions) and sorted lookup columns ready: the swap
        holds the lock for none of that, and the first write after it (a contact's email
        looked up) reads none of it either. Those the fold ``made`` are taken as they are,
        not parsed again from the index (a single parse of 100,000 keys or emails holds the
        interpreter for 10 to 30 ms, a write beside waiting for it)."""
        handle = snapshot.open("rb")
        try:
            st = os.fstat(handle.fileno())
            base = MappedBase.open(self.folder, handle, self.columns, index_path=index)
        except BaseException:
            handle.close()
            raise
        if base is None:
            handle.close()
            return None
        base.take_made(made)
        try:
            for name in base.names():
                base.contains(name, "")
                for column, spec in self.columns.get(name, {}).items():
                    if spec.lookup:
                        base.sorted_column(name, column)
        except BaseException:
            base.close()
            raise
        return base, (st.st_dev, st.st_ino), st.st_size

    def stage_fold(self, folding: Folding) -> None:
        """Without the lock, once :meth:`build_fold` is done: the log's whole lines written
        since the fold began, copied beside (durable) and applied over the new snapshot
        (Staged), so that the swap copies and applies only those written after them; again
        while writes go on, until fewer than STAGE_ENOUGH bytes came meanwhile (at most
        STAGE_ROUNDS times). Nothing staged when the disk refuses (the swap then does it all)."""
        if folding.opened is None:
            return
        base = folding.opened[0]
        path = self.folder / log_name(folding.log)

        def view(name: str) -> TableView:
            assert folding.staged is not None
            found = folding.staged.views.get(name)
            if found is None:
                found = folding.staged.views[name] = TableView(self, name, base)
                found.reset(base)
                found.lookups()  # kept as lines are applied (else made by the first write
                # after the swap that looks up an email: 700 changes noted, 3 to 8 ms)
            return found

        for _ in range(STAGE_ROUNDS):
            staged = folding.staged
            try:
                with path.open("rb") as log:
                    log.seek(folding.offset + (0 if staged is None else len(staged.data)))
                    data = log.read()
                data = data[: data.rfind(b"\n") + 1]  # a line being appended: left for later
                if not data:
                    return
                if staged is None:
                    copy = write_beside(self.folder / log_name(folding.log + 1), b"")
                    staged = folding.staged = Staged(b"", copy, {}, {})
                _append_durably(staged.copy, data)
            except (OSError, CbeError):
                if folding.staged is not None:
                    folding.staged.copy.unlink(missing_ok=True)
                    folding.staged = None
                return
            staged.data += data
            _replay(data, view, staged.highest)
            if len(data) < STAGE_ENOUGH:
                return

    def finish_fold(self, folding: Folding) -> bool:
        """Put the snapshot :meth:`build_fold` wrote in place (the caller holds the lock, no
        unit open): the log's lines written since :meth:`start_fold` are copied to the log
        the new snapshot names (written whole, atomically) before the snapshot is replaced.
        Killed before that replace, the old snapshot and its whole log stand (the copy is a
        log past the snapshot's, deleted at the next fold or open); after it, the new
        snapshot and the copy hold every line. False (nothing done): the snapshot or the log
        changed meanwhile (another fold, a log cut back), the tables were closed, or the disk
        refused. With ``folding.close_replaced`` False the replaced snapshot is left in
        ``folding.replaced``, for the caller to close once it has let go of the lock."""
        written, folding.written = folding.written, None
        index, folding.index = folding.index, None
        opened, folding.opened = folding.opened, None
        staged, folding.staged = folding.staged, None
        staged_copy = None if staged is None else staged.copy
        if written is None or index is None:
            if opened is not None:
                opened[0].close()
            if staged_copy is not None:
                staged_copy.unlink(missing_ok=True)
            return False
        placed = False
        try:
            if self._closed:
                return False
            self.refresh()
            if (
                self._base is not folding.base
                or self._snapshot_key != folding.snapshot_key
                or self._log != folding.log
                or self._offset < folding.offset
            ):
                return False
            tail = b""
            if self._offset > folding.offset:
                with (self.folder / log_name(folding.log)).open("rb") as log:
                    log.seek(folding.offset)
                    tail = log.read(self._offset - folding.offset)
            copy = self.folder / log_name(folding.log + 1)
            if staged is not None and tail.startswith(staged.data):  # the lines after them
                _append_durably(staged.copy, tail[len(staged.data) :])
                os.replace(staged.copy, copy)
                fsync_dir(self.folder)
            else:
                staged = None
                write_atomically(copy, tail)
            try:
                os.replace(written, self.folder / SNAPSHOT_FILE)
            except OSError as error:
                with contextlib.suppress(OSError):
                    copy.unlink()  # not named: it would only mislead a watcher
                raise storage_error(error, self.folder) from error
            placed = True
        except (OSError, CbeError):
            return False
        finally:
            written.unlink(missing_ok=True)  # gone once replaced
            if staged_copy is not None:
                staged_copy.unlink(missing_ok=True)  # gone once replaced
            if not placed:
                index.unlink(missing_ok=True)
                if opened is not None:
                    opened[0].close()
        try:
            # The index after its snapshot, one folder fsync for both: an index whose
            # snapshot did not stand names another, and is not used.
            os.replace(index, self.folder / INDEX_FILE)
        except OSError:
            index.unlink(missing_ok=True)  # without it: read whole until a fold
            if opened is not None:
                opened[0].close()
                opened = None
        try:
            fsync_dir(self.folder)
        except OSError as error:
            self._loaded = False  # it may stand or not after a crash: read again
            if opened is not None:
                opened[0].close()
            raise storage_error(error, self.folder) from error
        replaced = self._folded(folding.log + 1, None, tail, opened, staged)
        if folding.close_replaced:
            replaced.close()
            self.let_go()
        else:
            folding.replaced = replaced
        return True

    def let_go(self) -> None:
        """Free the changes the last swaps took off the views, one document at a time (a
        thread waiting for the interpreter gets it between any two); a swap made under the
        lock leaves them for its caller to free once it has let go of it (close_replaced)."""
        dropped, self._dropped = self._dropped, []
        for held in dropped:
            _free(held)

    def _folded(
        self,
        number: int,
        index: list[bytes] | None,
        tail: bytes,
        opened: tuple[Base, tuple[int, int], int] | None = None,
        staged: Staged | None = None,
    ) -> Base:
        """The snapshot continued by log ``number`` (holding ``tail``) stands: write its index
        (None: in place already) and read it (``opened``: read already, used when it is the
        one in place), keeping the changes since (``tail``) over it, then delete the old logs.
        With ``staged`` (the first lines of ``tail``, applied over ``opened`` already) only
        the rest are applied. Returns the snapshot read before, for the caller to close (no
        longer used)."""
        replaced: Base = ParsedBase(1, {}, self.columns)
        # From here on the log the new snapshot names is the one written to.
        self._log, self._log_key, self._offset = number, None, 0
        self._loaded = False  # read again (the same documents) unless opened below
        if index is not None:
            with contextlib.suppress(OSError, CbeError):  # without it: read whole until a fold
                write_atomically(self.folder / INDEX_FILE, index)
        with contextlib.suppress(OSError, CbeError):
            key: tuple[int, int] | None
            if opened is not None and opened[1] == self._stat_key(self.folder / SNAPSHOT_FILE):
                base, key, size = opened
            else:
                if opened is not None:
                    opened[0].close()
                base, key, size = self._open_base()
            if base.log == number:
                replaced, self._base = self._base, base
                for view in self._views.values():
                    self._dropped.extend(view.held())  # let go of later (let_go)
                    view.reset(base)  # the same documents: what listeners keep stays right
                self._highest = {}
                if staged is not None and opened is not None and base is opened[0]:
                    for name, made in staged.views.items():
                        self._view(name).take(made)
                    self._highest = dict(staged.highest)
                    tail_left = tail[len(staged.data) :]
                else:
                    tail_left = tail
                _replay(tail_left, self._view, self._highest)
                self._snapshot_key, self._snapshot_size = key, size
                if tail:
                    st = os.stat(self.folder / log_name(number))
                    self._log_key, self._offset = (st.st_dev, st.st_ino), len(tail)
                self._loaded = True
                self.generation += 1
            else:
                base.close()
        self.remove_old_logs()
        return replaced

    def verify(self) -> None:
        """Check every document of the snapshot against its checksum (CorruptFile)."""
        self.refresh()
        if isinstance(self._base, MappedBase):
            self._base.verify()

    def remove_old_logs(self) -> None:
        """Delete logs the snapshot does not name (the caller holds the lock): older ones a
        fold stopped before deleting, newer ones a swap killed before its snapshot stood
        (:meth:`finish_fold`)."""
        for path in self.folder.glob("log-*.jsonl"):
            match = LOG_NAME.fullmatch(path.name)
            if match is not None and int(match.group(1)) != self._log:
                path.unlink(missing_ok=True)

    def tables(self) -> Iterator[tuple[str, Mapping[str, Doc]]]:
        self.refresh()
        names = [*self._base.names(), *(n for n in self._views if n not in self._base.names())]
        for name in names:
            yield name, self._view(name)

    def close(self) -> None:
        self._closed = True  # a fold made outside the lock is let go (finish_fold)
        self._base.close()
        self._base = ParsedBase(1, {}, self.columns)
        self._views, self._loaded, self._checked_in = {}, False, None
        for reset in self._resets:
            reset()
