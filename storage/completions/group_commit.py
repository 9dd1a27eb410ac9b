"""Appending to the journal with group commit: the open journal's descriptor, kept between
writes, and which lines are known durable, so that one fsync covers every line written so far
by anyone, and a failed fsync acknowledges nothing it may have lost."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from core.errors import StorageUnavailable
from storage.atomic import fsync_dir, storage_error
from storage.completions.journal import Tail


class JournalHandle:
    """The open journal's file descriptor for appending (the caller holds the lock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None
        self._number = -1
        self._inode = -1

    def open(self, tail: Tail) -> int:
        """The open journal for appending; opened again when it is another file than the one
        read (another process rewrote it: appending to the old file would lose the line)."""
        if self._fd is not None and (
            self._number != tail.number or (tail.inode and self._inode != tail.inode)
        ):
            self.close()
        if self._fd is None:
            try:
                created = not tail.path.exists()
                fd = os.open(tail.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._fd, self._number = fd, tail.number
                self._inode = os.fstat(fd).st_ino
                if created:
                    fsync_dir(self.folder)
            except OSError as error:
                raise storage_error(error, tail.path) from error
        return self._fd

    def close(self) -> None:
        """Close the descriptor (before the journal is folded, replaced or cut back)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class GroupCommit:
    """Which journal lines are known durable, and what a failed fsync left unacknowledged."""

    def __init__(self, journal_path: Callable[[int], Path]) -> None:
        self._journal_path = journal_path
        self._sync_lock = threading.Lock()
        self._synced: tuple[int, int] = (-1, 0)
        """(journal number, offset) known durable."""
        self._writes = 0
        """Lines this process appended, counted: each append's number says whether a failed
        fsync came after it (see ``_sync_failed``)."""
        self._unsynced: tuple[int, int, int] | None = None
        """(journal, start, end) of the last run of lines this process appended back to back,
        not known durable: what a failed fsync cuts back."""
        self._sync_failed: tuple[int, StorageUnavailable, tuple[int, int]] | None = None
        """(appends counted when an fsync failed, its error, what was durable then): every line
        appended up to then and not durable before it is not acknowledged."""
        self._pending_cut: tuple[int, int, int] | None = None
        """(journal, keep, end): lines a failed fsync left, to cut back to ``keep`` if the
        journal still ends at ``end``."""

    def appended(self, number: int, start: int, end: int) -> int:
        """Count a line this process appended to journal ``number`` from ``start`` to ``end``
        (the caller holds the lock); returns its count, for :meth:`make_durable`."""
        self._writes += 1
        written = self._writes
        run = self._unsynced
        if run is not None and run[0] == number and run[2] == start:
            self._unsynced = (number, run[1], end)
        else:
            self._unsynced = (number, start, end)
        return written

    def make_durable(
        self, number: int, offset: int, written: int, cut_now: Callable[[], None]
    ) -> None:
        """Group commit: one fsync covers every line written so far by anyone.

        ``written`` is the count of this process's appends when the line was written: a line
        written before an fsync failed, and not known durable before it, is not acknowledged
        (Linux may drop the pages a failed fsync could not write and report success next time).
        ``cut_now`` is called after an fsync failed (see :meth:`_after_failed_sync`).
        """
        with self._sync_lock:
            failed = self._sync_failed
            if failed is not None and written <= failed[0]:
                # Written before an fsync failed: only what was durable before it counts (a
                # later fsync may succeed without writing the pages the failed one lost).
                if (number, offset) <= failed[2]:
                    return
                raise failed[1]
            synced_number, synced_offset = self._synced
            if number < synced_number or (number == synced_number and offset <= synced_offset):
                return
            path = self._journal_path(number)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return  # folded meanwhile: the segment was written durably
            except OSError as error:
                raise storage_error(error, path) from error
            try:
                end = os.fstat(fd).st_size
                os.fsync(fd)
            except OSError as error:
                failure = storage_error(error, path)
                raise self._after_failed_sync(number, failure, cut_now) from error
            finally:
                os.close(fd)
            self._synced = (number, end)

    def _after_failed_sync(
        self, number: int, error: StorageUnavailable, cut_now: Callable[[], None]
    ) -> StorageUnavailable:
        """What is in the journal past the last durable line is unknown after a failed fsync:
        acknowledge none of it, and cut back the lines this process appended last (when
        nobody appended after them) and read the journal again: ``cut_now`` does so at once
        when this thread holds the lock, else it waits for the next append. Returns ``error``.
        The caller holds the sync lock (so ``cut_now`` must not wait for the database lock: a
        writer holding that may be waiting for the sync lock)."""
        self._sync_failed = (self._writes, error, self._synced)
        run = self._unsynced
        if run is not None and run[0] == number:
            synced_number, synced_offset = self._synced
            keep = max(run[1], synced_offset if synced_number == number else 0)
            self._pending_cut = (number, keep, run[2])
        self._unsynced = None
        cut_now()
        return error

    def take_pending_cut(self) -> tuple[int, int, int] | None:
        """(journal, keep, end): the lines a failed fsync left to cut back to ``keep`` if the
        journal still ends at ``end``, once (the caller holds the lock)."""
        pending, self._pending_cut = self._pending_cut, None
        return pending
