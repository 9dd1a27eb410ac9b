"""The forwarding outbox of a database folder (core.outbox.OutboxRepository): ``outbox.jsonl``,
an append-only file of what was owed, sent, refused and owed again, one JSON line per unit of
work; its cost per send is one short append, whatever the database holds.

Lines (each a JSON object with one key):

- ``{"owe": [[id, body, refused], ...]}``: owed (``refused`` null), or refused at once;
- ``{"sent": [id, ...]}``: sent and forgotten (counted);
- ``{"refused": {id: answer}}``: kept with the remote's answer;
- ``{"requeue": [id, ...]}``: owed again;
- ``{"gone": [id, ...]}``: owed by a unit of work that never stored its completions (below);
- ``{"counted": n}``: the first line of a compacted file, how many were sent before;
- ``{"relay": [remote, last_error]}``: where the relay sends, and what went wrong last.

**With the completions, at commit.** A unit of work appends its line after ``cbe.json`` and
before the journal line of its completions, each fsynced, under the lock: a completion in the
journal is owed. A journal write the disk refuses cuts the outbox back (:meth:`undo`). A crash
between the two leaves owed entries whose completions were never stored (the request was not
answered, and a sender that sends it again makes a new completion, with a new id for a uuid-less
send): so entries this process did not write itself (read from the file: after a restart, or
from another process) are checked against the completions, under the lock, before they are
sent, and those never stored are dropped as ``gone``. Entries this process writes are known to
be stored once its commit returns.

**Compaction.** Once the file holds many more lines than entries, the relay's next read writes
it again with only the entries left (one atomic replace, outside any unit of work); other
processes see a new file and read it whole.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from core.outbox import OutboxCounts, OutboxEntry
from storage.atomic import (
    AtomicJSONStorage,
    CorruptFile,
    storage_error,
    write_all,
    write_atomically,
)
from storage.locking import DatabaseLock

OUTBOX_FILE = "outbox.jsonl"
_OLD_TABLE = "outbox"
"""Where the first version kept the outbox: a table in ``cbe.json`` (read once, on upgrade)."""
_OLD_COUNTER = "forwarded"
_COMPACT_AT = 2_000
"""Lines of the file, beyond twice the entries it holds, before it is written again."""

Stored = Callable[[Collection[str]], set[str]]
"""Which of these completion ids are stored (the completion store's answer)."""


def _line(record: Mapping[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


class TinyOutboxRepository:
    def __init__(
        self, folder: Path, lock: DatabaseLock, stored: Stored, main: AtomicJSONStorage
    ) -> None:
        self.path = folder / OUTBOX_FILE
        self._lock = lock
        self._stored = stored
        self._main = main
        self._entries: dict[str, OutboxEntry] = {}
        """Owed and refused, oldest first."""
        self._sent = 0
        self._relay: tuple[str | None, str | None] = (None, None)
        self._unverified: set[str] = set()
        """Entries read from the file, not written by this process: checked before sent."""
        self._lines = 0
        self._file: tuple[int, int] | None = None
        """(device, inode) of the file read; None: not read yet (or to read again)."""
        self._offset = 0
        """Bytes of the file read (or written) so far: up to the end of its last whole line."""
        self._pending: list[bytes] = []
        """Lines of the open unit of work, appended at its commit."""
        self._in_unit = False
        self._touched = False
        """The open unit changed the entries in memory (read again when it does not commit)."""
        self._undo_to: int | None = None
        """Where the unit's last commit began (for :meth:`undo`)."""
        self._upgraded = False

    # -- reading the file ---------------------------------------------------------------------

    def _reset(self) -> None:
        self._upgraded = False
        self._entries, self._sent, self._lines = {}, 0, 0
        self._relay = (None, None)
        self._unverified = set()
        self._file, self._offset = None, 0

    def _refresh(self) -> None:
        """Catch up with the file: lines appended by other processes, or a new file (compacted,
        cut back); the caller holds the lock or the reading lock."""
        if self._in_unit and self._touched:
            return  # the unit's own view; the unit holds the lock, no one else writes
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._file is not None or self._entries:
                self._reset()
            if not self._upgraded:
                self._upgraded = True
                self._upgrade()
            return
        if self._file != (st.st_dev, st.st_ino) or st.st_size < self._offset:
            self._reset()
            self._file = (st.st_dev, st.st_ino)
        if st.st_size == self._offset:
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read(st.st_size - self._offset)
        end = data.rfind(b"\n") + 1  # a last line without its end was never committed
        for raw in data[:end].splitlines():
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                raise CorruptFile(f"{self.path} has a damaged line: {error}") from error
            self._apply(record, verified=False)
        self._offset += end

    def _upgrade(self) -> None:
        """Owe what the first version kept in ``cbe.json``, written as this file once (the
        tables stay in ``cbe.json``, unread from then on); in memory only on a read-only copy."""
        data = self._main.read() or {}
        table = data.get(_OLD_TABLE) or {}
        counter = (data.get(_OLD_COUNTER) or {}).get("1") or {}
        if not table and not counter:
            return
        owed: list[list[Any]] = []
        for key in sorted(table, key=int):
            doc = table[key]
            body = doc.get("body")
            owed.append(
                [
                    str(doc["id"]),
                    dict(body) if isinstance(body, Mapping) else {},
                    doc.get("refused"),
                ]
            )
        lines = [_line({"counted": int(counter.get("sent") or 0)}), _line({"owe": owed})]
        if self._lock.refusal is None and not self._in_unit:
            with self._lock:
                if not self.path.exists():
                    write_atomically(self.path, lines)
            self._refresh()
            return
        for raw in lines:
            self._apply(orjson.loads(raw), verified=False)
        if self._in_unit:  # written first at the unit's commit
            self._pending[:0] = lines
            self._touched = True

    def _apply(self, record: Mapping[str, Any], *, verified: bool) -> None:
        self._lines += 1
        entries = self._entries
        if "owe" in record:
            for key, body, refused in record["owe"]:
                if key not in entries:
                    entries[key] = OutboxEntry(key, body, refused)
                    if not verified:
                        self._unverified.add(key)
        elif "sent" in record:
            for key in record["sent"]:
                if entries.pop(key, None) is not None:
                    self._sent += 1
                    self._unverified.discard(key)
        elif "refused" in record:
            for key, answer in record["refused"].items():
                if key in entries:
                    entries[key] = OutboxEntry(key, entries[key].body, answer)
        elif "requeue" in record:
            for key in record["requeue"]:
                if key in entries and entries[key].refused is not None:
                    entries[key] = OutboxEntry(key, entries[key].body, None)
        elif "gone" in record:
            for key in record["gone"]:
                entries.pop(key, None)
                self._unverified.discard(key)
        elif "counted" in record:
            self._sent = int(record["counted"])
        elif "relay" in record:
            remote, error = record["relay"]
            self._relay = (remote, error)

    # -- writing ------------------------------------------------------------------------------

    def _record(self, record: Mapping[str, Any]) -> None:
        """Apply ``record`` and append it: at the unit's commit, or now outside a unit (the
        caller holds the lock)."""
        self._refresh()
        self._apply(record, verified=True)
        self._lines -= 1  # counted when written
        if self._in_unit:
            self._pending.append(_line(record))
            self._touched = True
        else:
            self._append([_line(record)])

    def _append(self, lines: Sequence[bytes]) -> None:
        """Append ``lines`` durably, or raise having cut the file back (memory is read again)."""
        payload = b"".join(lines)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as error:
            self._reset()
            raise storage_error(error, self.path) from error
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            if start != self._offset:  # a torn line a crashed writer left: never committed
                os.ftruncate(fd, self._offset)
                start = os.lseek(fd, 0, os.SEEK_END)
            try:
                write_all(fd, payload)
                os.fsync(fd)
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                self._reset()
                raise storage_error(error, self.path) from error
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self._file = (st.st_dev, st.st_ino)
        self._offset = start + len(payload)
        self._lines += len(lines)

    def begin(self) -> None:
        """Hold what is written from now on until :meth:`commit` (the caller holds the lock)."""
        self._in_unit, self._touched, self._pending, self._undo_to = True, False, [], None

    def commit(self) -> None:
        """Append the unit's lines as one durable write (before its completions' journal
        line), or raise having kept none."""
        lines, self._pending = self._pending, []
        self._undo_to = None
        if not lines:
            return
        before = self._offset
        self._append(lines)
        self._undo_to = before
        self._touched = False

    def undo(self) -> None:
        """Cut off the unit's last commit (its completions' journal write failed); best effort:
        should that fail, the entries stay, and a reader drops them as never stored."""
        start, self._undo_to = self._undo_to, None
        if start is None:
            return
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, start)
                os.fsync(fd)
            finally:
                os.close(fd)
        self._reset()

    def rollback(self) -> None:
        """The unit ends: forget what it held and did not commit."""
        if self._touched:
            self._reset()
        self._in_unit, self._touched, self._pending, self._undo_to = False, False, [], None

    # -- before sending: drop what was never stored, compact ----------------------------------

    def _settle_unverified(self) -> None:
        if not self._unverified or self._lock.refusal is not None or self._in_unit:
            return
        with self._lock:  # no writer in the middle of a commit: what is not stored never was
            self._refresh()
            if not self._unverified:
                return
            wanted = set(self._unverified)
            stored = self._stored(wanted)
            gone = [key for key in self._entries if key in wanted and key not in stored]
            self._unverified.clear()
            if gone:
                self._record({"gone": gone})

    def _compact(self) -> None:
        if self._lines < 2 * len(self._entries) + _COMPACT_AT or self._in_unit:
            return
        if self._lock.refusal is not None:
            return
        with self._lock:
            self._refresh()
            if self._lines < 2 * len(self._entries) + _COMPACT_AT:
                return
            lines = [_line({"counted": self._sent}), _line({"relay": list(self._relay)})]
            entries = list(self._entries.values())
            for first in range(0, len(entries), 1000):
                chunk = entries[first : first + 1000]
                lines.append(_line({"owe": [[e.id, e.body, e.refused] for e in chunk]}))
            write_atomically(self.path, lines)
            st = os.stat(self.path)
            self._file, self._offset, self._lines = (st.st_dev, st.st_ino), st.st_size, len(lines)

    # -- the port -----------------------------------------------------------------------------

    def add(self, entries: Sequence[OutboxEntry]) -> None:
        with self._lock:
            self._refresh()
            fresh: dict[str, OutboxEntry] = {}
            for e in entries:
                if e.id not in self._entries:
                    fresh.setdefault(e.id, e)
            if fresh:
                self._record({"owe": [[e.id, e.body, e.refused] for e in fresh.values()]})

    def owed(self, limit: int) -> list[OutboxEntry]:
        self._settle_unverified()
        self._compact()
        with self._lock.reading():
            self._refresh()
            found: list[OutboxEntry] = []
            for entry in self._entries.values():
                if len(found) >= limit:
                    break
                if entry.refused is None:
                    found.append(entry)
            return found

    def settle(self, sent: Collection[str], refused: Mapping[str, str]) -> None:
        with self._lock:
            self._refresh()
            done = [key for key in sent if key in self._entries]
            if done:
                self._record({"sent": done})
            kept = {k: v for k, v in refused.items() if k in self._entries}
            if kept:
                self._record({"refused": kept})

    def refused(self) -> list[OutboxEntry]:
        with self._lock.reading():
            self._refresh()
            return [e for e in self._entries.values() if e.refused is not None]

    def requeue(self, ids: Collection[str] | None = None) -> int:
        wanted = None if ids is None else set(ids)
        with self._lock:
            self._refresh()
            again = [
                e.id
                for e in self._entries.values()
                if e.refused is not None and (wanted is None or e.id in wanted)
            ]
            if again:
                self._record({"requeue": again})
            return len(again)

    def counts(self) -> OutboxCounts:
        with self._lock.reading():
            self._refresh()
            refused = sum(1 for e in self._entries.values() if e.refused is not None)
            return OutboxCounts(len(self._entries) - refused, self._sent, refused, *self._relay)

    def note_relay(self, remote: str, last_error: str | None) -> None:
        with self._lock:
            self._refresh()
            if self._relay != (remote, last_error):
                self._record({"relay": [remote, last_error]})
