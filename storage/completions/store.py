"""The completion repository of one database folder: it keeps up with the folder (new segments,
new journal lines), appends with group commit, folds the journal into segments, rewrites
and reads."""

from __future__ import annotations

import bisect
import contextlib
import functools
import heapq
import itertools
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from core.clock import from_epoch_millis, to_epoch_millis, utc_day_start
from core.errors import CbeError, StorageUnavailable
from core.models import Completion, ObjectType
from core.ports import (
    CompletionSelection,
    Conversion,
    EventCounts,
    EventSummary,
    EventTally,
)
from core.rules import uuids_taken
from storage.atomic import (
    CorruptFile,
    fsync_dir,
    replace_all,
    storage_error,
    write_all,
    write_atomically,
    write_beside,
)
from storage.completions import segment_file
from storage.completions.damage import damage_message, lost
from storage.completions.group_commit import GroupCommit, JournalHandle
from storage.completions.journal import JOURNAL_NAME, Tail, journal_line
from storage.completions.mapped_segment import Segment
from storage.completions.open_files import FILES_PER_SEGMENT, SPARE_FILES, allow_open_files
from storage.completions.parts import Key, Part
from storage.completions.query import candidates, merge_summaries, ordered
from storage.completions.reports import conversions, count_event
from storage.completions.rewrites import (
    Change,
    Prepared,
    PreparedJournal,
    PreparedManifest,
    prepare_journal,
    prepare_segment,
    rewrite_files,
    snapshot_journal,
)
from storage.completions.segment_file import (
    SEGMENT_NAME,
    write_segment,
)
from storage.completions.staged import Staged
from storage.completions.summaries import PartSummary, summary_path
from storage.completions.uuids import UuidHashes, docs_uuid_hashes, uuid_hash
from storage.locking import DatabaseLock
from storage.manifest import (
    DamagedDatabase,
    Entry,
    Manifest,
    manifest_bytes,
    read_manifest,
    write_manifest,
)

_log = logging.getLogger("cbe.storage")


_COARSE_CLOCK_NS = 100_000_000
"""How far a file time may lag the real time (a kernel tick, with a wide margin)."""


class CompletionStore:
    """The completion repository of one database folder."""

    def __init__(
        self,
        folder: Path,
        lock: DatabaseLock,
        manifest: Path | None = None,
        read_only: bool = False,
    ) -> None:
        self.folder = folder
        self._lock = lock
        self.manifest_path = manifest
        """The manifest of segments (see storage.manifest); None: none is kept."""
        self.read_only = read_only
        """Never write (a read-only copy): indexes are rebuilt in memory only."""
        if not read_only:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.chmod(0o700)  # mkdir's mode is filtered by the umask
        self._segments: dict[int, Segment] = {}
        self._broken: dict[int, str] = {}
        """Segments that cannot be read at all, with what is wrong."""
        self._layout: tuple[tuple[int, int], ...] = ()
        """(number, inode) of each segment, in order: made when the folder was listed, so that
        a write's checks cost nothing per segment (see :meth:`_refresh`)."""
        self._segment_damage: list[str] = []
        """What is wrong with each segment's index, in order (made with :attr:`_layout`)."""
        self._manifest_problems: list[str] = []
        self._verified: object = None
        self._tail: Tail | None = None
        self._journal_handle = JournalHandle(folder)
        self._commit = GroupCommit(self._journal_path)
        self._listed: tuple[int, int] | None = None
        """(modification time of the folder, when it was listed), both in nanoseconds."""
        self._fold_retry = 0
        """After a fold failed (a full disk), the journal's count at which to try again."""
        self._uuids: UuidHashes | None = None
        self._staged: Staged | None = None
        """What the open unit of work appended, when one is open (see :meth:`begin`)."""
        self.summarise_folds = False
        """Write each folded segment's summary as it is folded (a bulk load such as the demo,
        whose reports come next); else the first report that needs it makes it."""
        self._summaries: tuple[object, dict[str, EventSummary]] | None = None
        self._record_summaries: tuple[object, dict[tuple[ObjectType, str], EventSummary]] | None = (
            None
        )

    # -- the files ---------------------------------------------------------------------------

    def _listing(self) -> tuple[list[int], list[int]]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            if not self.read_only:
                raise
            names = []  # a read-only copy of a database that never stored a completion
        segments = sorted(int(m.group(1)) for n in names if (m := SEGMENT_NAME.fullmatch(n)))
        journals = sorted(int(m.group(1)) for n in names if (m := JOURNAL_NAME.fullmatch(n)))
        return segments, journals

    def _segment_path(self, number: int) -> Path:
        return self.folder / f"seg-{number:06d}.json"

    def _journal_path(self, number: int) -> Path:
        return self.folder / f"journal-{number:06d}.jsonl"

    @property
    def journal(self) -> Path:
        """The open journal's path."""
        with self._lock.reading():
            self._refresh()
            assert self._tail is not None
            return self._tail.path

    def _folder_unchanged(self) -> bool:
        """Whether no file was added, removed or replaced in the folder since the last listing.

        Every such change sets the folder's modification time, but the kernel stamps it from a
        coarse clock: two changes a few milliseconds apart may carry the same time. So the
        time is trusted only when the last listing was made well after it (as git does with
        its index), and otherwise the folder is listed again.
        """
        observed = time.time_ns()
        try:
            mtime = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return self.read_only
        last = self._listed
        if last is not None and last[0] == mtime and last[1] - mtime > _COARSE_CLOCK_NS:
            return True
        self._listed = (mtime, observed)
        return False

    def _refresh(self) -> None:
        """Catch up with the folder: new or rewritten segments, the journal's new lines, a fold
        done by another process. The caller holds (at least) the thread lock."""
        if self._tail is not None and self._folder_unchanged():
            self._refresh_tail(self._tail.count, unknown=False)
            return
        segments, journals = self._listing()
        allow_open_files(FILES_PER_SEGMENT * len(segments) + SPARE_FILES)
        previous = self._tail
        seen = previous.count if previous is not None else 0
        unknown = False
        """Whether completions came or went that the uuid set cannot follow line by line."""
        for number in list(self._segments):
            if number not in segments:
                del self._segments[number]  # its mappings go with the last scan reading it
                unknown = True
        for number in list(self._broken):
            if number not in segments:
                del self._broken[number]
        for number in segments:
            known = self._segments.get(number)
            path = self._segment_path(number)
            if known is not None:
                try:
                    if os.stat(path).st_ino == known.inode:
                        continue
                except FileNotFoundError:
                    continue
            try:
                segment = Segment(number, path).load(write_index=not self.read_only)
            except FileNotFoundError:
                continue  # removed since the listing (a rewrite in another process)
            except CorruptFile as error:
                # Left out of reads; named as damage (open refuses, or refuses writes).
                self._broken[number] = str(error)
                self._segments.pop(number, None)
                unknown = True
                continue
            self._broken.pop(number, None)
            self._segments[number] = segment
            # A fold of the journal this store had read, with nothing more: nothing new.
            folded_tail = previous is not None and segment.journal == previous.number
            if known is not None or not folded_tail or segment.count != seen:
                unknown = True
        ordered = sorted(self._segments.items())
        self._layout = tuple((n, s.inode) for n, s in ordered)
        self._segment_damage = [s.damage for _, s in ordered if s.damage]
        folded = {s.journal for s in self._segments.values()}
        live = [j for j in journals if j not in folded]
        number = live[-1] if live else (max([*journals, *folded, 0]) + 1)
        if self._tail is None or self._tail.number != number:
            self._tail = Tail(number, self._journal_path(number))
            seen = 0
        self._refresh_tail(seen, unknown)

    def _refresh_tail(self, seen: int, unknown: bool) -> None:
        tail = self._tail
        assert tail is not None
        inode, resets = tail.inode, tail.resets
        tail.read_new()
        if (tail.inode != inode and inode) or tail.resets != resets:
            unknown = True  # the journal was rewritten, or cut back
        if unknown:
            self._uuids = None
        elif self._uuids is not None and tail.count > seen:
            self._uuids.update(docs_uuid_hashes(tail.docs[seen:]))

    def _parts(self) -> list[Part]:
        assert self._tail is not None
        parts: list[Part] = [*(self._segments[n] for n in sorted(self._segments))]
        parts.append(self._tail.view())
        if self._staged is not None and self._staged.docs:
            parts.append(self._staged.view())
        return parts

    def _uuid_set(self) -> UuidHashes:
        if self._uuids is None:
            assert self._tail is not None
            parts: list[Iterable[int]] = [s.uuid_hashes() for s in self._segments.values()]
            staged = self._staged.hashes if self._staged is not None else []
            self._uuids = UuidHashes(itertools.chain(*parts, self._tail.uuid_hashes(), staged))
        return self._uuids

    def _version(self) -> object:
        assert self._tail is not None
        return (
            self._layout,
            self._tail.number,
            self._tail.inode,
            self._tail.resets,
            self._tail.offset,
            self._staged.changes if self._staged is not None else -1,
        )

    # -- damage ----------------------------------------------------------------------------

    @property
    def damage(self) -> list[str]:
        """What is wrong with the files, each naming its file; empty when nothing is known to
        be. Segments are checked against the manifest by :meth:`verify` (under the lock)."""
        with self._lock.reading():
            self._refresh()
            return self._damage()

    def _damage(self) -> list[str]:
        """:attr:`damage` as of the last :meth:`_refresh`."""
        assert self._tail is not None
        return [
            *self._manifest_problems,
            *self._broken.values(),
            *self._segment_damage,
            *self._tail.damage,
        ]

    def verify(self) -> list[str]:
        """Check the segments against the manifest (presence, version, counts, sizes: what
        needs no reading of documents) and return :attr:`damage`. Settles what a fold or
        rewrite killed half way announced, and writes the manifest of a store that has none
        yet (a database from before manifests). The caller holds the lock (or the store is
        read-only)."""
        self._refresh()
        if self.manifest_path is None:
            return self._damage()
        key = (self._layout, *self._broken)
        if key == self._verified:
            return self._damage()
        try:
            manifest = read_manifest(self.manifest_path)
        except DamagedDatabase as error:
            self._manifest_problems = [str(error)]
            return self._damage()
        if manifest is None:
            manifest = Manifest({n: s.entry() for n, s in self._segments.items()}, {})
            if not self.read_only:
                write_manifest(self.manifest_path, manifest)
        elif manifest.resolve(self._tokens()) and not self.read_only:
            # What stays pending was announced by a writer killed before its files were in
            # place: forgotten, and written down (what was done needs no write: it reads so).
            manifest.pending = {}
            write_manifest(self.manifest_path, manifest)
        self._manifest_problems = self._compare(manifest)
        self._verified = key
        return self._damage()

    def _compare(self, manifest: Manifest) -> list[str]:
        problems = []
        for number, segment in sorted(self._segments.items()):
            entry = manifest.segments.get(number)
            if manifest.accepts(number, segment.token) and entry is None:
                continue  # being written by a fold now
            if entry is None:
                problems.append(
                    f"{segment.path} is not in the manifest ({segment.count:,} completions "
                    "cbe did not write here)"
                )
            elif entry.token != segment.token:
                if not manifest.accepts(number, segment.token):
                    problems.append(f"{segment.path} is not the version the manifest lists")
            elif segment.count != entry.count:
                problems.append(
                    f"{segment.path} holds {segment.count:,} completions; the manifest lists "
                    f"{entry.count:,}"
                )
            elif segment.size != entry.size:
                problems.append(
                    f"{segment.path} is {segment.size:,} bytes; the manifest lists {entry.size:,}"
                )
        for number, entry in sorted(manifest.segments.items()):
            if number not in self._segments and number not in self._broken:
                problems.append(f"{self._segment_path(number)} is missing: {lost(entry, 'lost')}")
        return problems

    def _writable(self) -> None:
        """Refuse to write to a damaged store (the caller holds the lock)."""
        problems = self.verify()
        if problems:
            raise DamagedDatabase(damage_message(self.folder.parent, problems))

    def _tokens(self) -> dict[int, str | None]:
        """The token of each segment file there (None: one that cannot be read)."""
        tokens: dict[int, str | None] = {n: s.token for n, s in self._segments.items()}
        tokens.update(dict.fromkeys(self._broken))
        return tokens

    def _announcement(
        self,
        manifest_path: Path,
        entries: Mapping[int, Entry | None],
        tokens: Mapping[int, str | None],
    ) -> bytes:
        """The manifest announcing ``entries``, what was pending and is done (``tokens``: the
        segment files there) taken as done."""
        manifest = read_manifest(manifest_path) or Manifest({}, {})
        manifest.resolve(tokens)
        manifest.pending.update(entries)
        return manifest_bytes(manifest)

    def _announce(self, number: int, entry: Entry | None) -> None:
        """Tell the manifest a segment is about to be written (or removed)."""
        self._announce_all({number: entry})

    def _announce_all(
        self, entries: Mapping[int, Entry | None], made: PreparedManifest | None = None
    ) -> None:
        """Tell the manifest segments are about to be written (or removed), with the file
        ``made`` before the lock was taken when it says just that (the caller holds the lock)."""
        if self.manifest_path is None:
            return
        payload = self._announcement(self.manifest_path, entries, self._tokens())
        if made is not None and made.payload == payload and made.tmp.exists():
            replace_all([(made.tmp, self.manifest_path)], self.manifest_path.parent)
        else:
            write_atomically(self.manifest_path, payload)

    def _prepare_announcement(
        self, entries: Mapping[int, Entry | None], tokens: Mapping[int, str | None]
    ) -> PreparedManifest | None:
        """The manifest announcing ``entries``, written beside it without the lock; None when
        it cannot be (the manifest then is written under the lock)."""
        if self.manifest_path is None or self.read_only:
            return None
        try:
            payload = self._announcement(self.manifest_path, entries, tokens)
            return PreparedManifest(write_beside(self.manifest_path, payload), payload)
        except CbeError:
            return None

    # -- writing ---------------------------------------------------------------------------

    def recover(self) -> int:
        """Tidy what a crashed writer left: journals already folded into a segment are
        removed, and a torn last line (never acknowledged) is cut off. Returns how many
        completions the open journal holds."""
        with self._lock:
            self._refresh()
            folded = {s.journal for s in self._segments.values()}
            _, journals = self._listing()
            leftovers = [number for number in journals if number in folded]
            for number in leftovers:
                self._journal_path(number).unlink(missing_ok=True)
            if leftovers:  # the removals made durable; a tidy folder has nothing to sync (an
                fsync_dir(self.folder)  # fsync waits for the disk: the app's start, cbe serve's)
            self._refresh()
            assert self._tail is not None
            self._cut_torn_line(self._tail)
            self.verify()
            return self._tail.count

    def _cut_torn_line(self, tail: Tail) -> None:
        """A journal must end at a line end before anything is appended (the caller holds the
        lock, so bytes past the last line are what a killed writer, or a write the disk
        refused, left)."""
        try:
            if os.stat(tail.path).st_size > tail.offset:
                with tail.path.open("r+b") as handle:
                    handle.truncate(tail.offset)
                    handle.flush()
                    os.fsync(handle.fileno())
        except FileNotFoundError:
            pass
        except OSError as error:
            raise storage_error(error, tail.path) from error

    def append(self, completions: Sequence[Completion]) -> None:
        """Store ``completions`` durably, or raise :class:`StorageUnavailable` (a full disk:
        :class:`StorageFull`) having stored none of them. In a unit of work (:meth:`begin`)
        they are held until it commits."""
        if not completions:
            return
        docs = [c.to_json() for c in completions]
        ms = [to_epoch_millis(c.occurred_at) for c in completions]
        with self._lock:
            self._cut_unacknowledged()
            self._writable()
            hashes = self._check_uuids(docs)
            if self._staged is not None:
                self._staged.add(docs, ms, hashes)
                self._uuid_set().update(hashes)
                return
            durable = self._write(docs, ms, hashes)
        if durable is not None:
            durable()

    def _write(
        self, docs: list[dict[str, Any]], ms: list[int], hashes: list[int]
    ) -> Callable[[], None] | None:
        """Append ``docs`` to the journal as one line (the caller holds the lock, and has
        checked their uuids); returns the wait that makes the line durable (group commit, done
        once the lock is let go), None when a fold made it durable already."""
        tail = self._tail
        assert tail is not None
        blobs = [orjson.dumps(doc) for doc in docs]
        self._cut_torn_line(tail)
        fd = self._journal_handle.open(tail)
        line = journal_line(blobs)
        start = tail.offset
        try:
            write_all(fd, line)
        except OSError as error:
            # Nothing is acknowledged: cut what was written back to the last line end.
            # Should that fail too, the next append (or opening) cuts it: readers never
            # take a line without its newline.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
                os.fsync(fd)
            raise storage_error(error, tail.path) from error
        tail.offset += len(line)
        tail.inode = os.fstat(fd).st_ino
        tail.add(docs, ms, blobs)
        self._uuid_set().update(hashes)
        written = self._commit.appended(tail.number, start, tail.offset)
        position = (tail.number, tail.offset)
        if tail.count >= segment_file.SEGMENT_SIZE and tail.count >= self._fold_retry:
            try:
                self._fold()
            except StorageUnavailable:
                # The journal holds the batch; it is made durable below, and the fold is
                # tried again once the journal has grown by a tenth of a segment.
                self._fold_retry = tail.count + max(1, segment_file.SEGMENT_SIZE // 10)
                _log.warning("could not fold %s (the disk is full?)", tail.path, exc_info=True)
            else:
                self._fold_retry = 0
                return None  # the segment is durable: so is the batch
        return lambda: self._commit.make_durable(*position, written, self._cut_if_locked)

    # -- a unit of work --------------------------------------------------------------------

    def begin(self) -> None:
        """Hold what is appended from now on in memory, read with the rest, until
        :meth:`commit` writes it or :meth:`rollback` forgets it (the caller holds the lock)."""
        self._staged = Staged()

    def commit(self) -> None:
        """Write what was appended since :meth:`begin` (or the last commit) to the journal as
        one line, durably (the unit holds the lock through the fsync, as a use case did before
        units: writers in other threads and processes wait for it). Raises
        :class:`StorageUnavailable` having kept none of it; it is still held, for
        :meth:`rollback`."""
        staged = self._staged
        if staged is None or not staged.docs:
            return
        with self._lock:
            self._refresh()
            self._staged = Staged()  # in the journal from here on (a fold reads it there)
            try:
                durable = self._write(staged.docs, staged.ms, [])  # their uuids are in the set
            except BaseException:
                self._staged = staged
                raise
            if durable is not None:
                durable()

    def rollback(self) -> None:
        """Forget what was appended since :meth:`begin` (or the last commit); the unit ends."""
        staged, self._staged = self._staged, None
        if staged is not None and staged.docs:
            self._uuids = None  # it holds their uuids
            self._summaries = self._record_summaries = None

    def _cut_if_locked(self) -> None:
        """After a failed fsync: cut back at once when this thread holds the lock, else before
        the next append (the sync lock is held: waiting for the database lock could deadlock)."""
        if self._lock.held_epoch() is not None:
            self._cut_unacknowledged()

    def _cut_unacknowledged(self) -> None:
        """Cut the lines a failed fsync left unacknowledged, unless another writer appended
        since, and read the journal again. The caller holds the lock."""
        pending = self._commit.take_pending_cut()
        if pending is None:
            return
        number, keep, end = pending
        path = self._journal_path(number)
        # Replaced, not truncated: other processes may have read these lines, and see a new
        # file where they would miss a journal cut back and grown again.
        with contextlib.suppress(OSError, StorageUnavailable):  # else they stay, unacknowledged
            if keep < end == os.stat(path).st_size:
                with path.open("rb") as handle:
                    kept = handle.read(keep)
                self._journal_handle.close()
                write_atomically(path, kept)
        self._tail, self._uuids = None, None
        self._summaries = self._record_summaries = None
        self._listed = None

    def _check_uuids(self, docs: list[dict[str, Any]]) -> list[int]:
        """Refuse ``docs`` if a uuid of theirs is taken or repeated; else the hashes of their
        uuids, for the set once they are written."""
        taken_hashes = self._uuid_set().hashes
        seen: set[tuple[str, str]] = set()
        taken: set[tuple[str, str]] = set()
        hashes: list[int] = []
        for doc in docs:
            uuid = doc["uuid"]
            if uuid == doc["id"]:
                continue  # a uuid the store made (the completion's id) is new by construction
            key = (doc["eventName"], uuid)
            hashed = uuid_hash(*key)
            if key in seen or (hashed in taken_hashes and self._has_uuid(*key)):
                taken.add(key)
            seen.add(key)
            if uuid:  # as docs_uuid_hashes counts them
                hashes.append(hashed)
        if taken:
            raise uuids_taken(taken)
        return hashes

    def _has_uuid(self, event: str, uuid: str) -> bool:
        assert self._tail is not None
        return (
            self._tail.has_uuid(event, uuid)
            or any(segment.has_uuid(event, uuid) for segment in self._segments.values())
            or (self._staged is not None and self._staged.has_uuid(event, uuid))
        )

    def _fold(self) -> None:
        """Write the journal's completions as a new TinyDB segment and start a new journal.

        Order matters for crashes: the segment (which names its journal), then its index, then
        the journal goes; the next write begins the next journal. At every point a reopening
        finds each completion exactly once: a journal that a segment names is skipped by
        readers and removed by :meth:`recover`.

        A fold the disk refuses removes what it wrote (a segment naming the journal would hide
        it) and raises :class:`StorageUnavailable`; the journal stays as it was."""
        tail = self._tail
        assert tail is not None
        number = max([*self._segments, 0]) + 1
        path = self._segment_path(number)
        try:
            write_segment(
                path,
                tail.view(),
                tail.number,
                lambda e: self._announce(number, e),
                summarise=self.summarise_folds,
            )
        except BaseException:
            # The manifest's pending entry for this number is dropped by the next verify: its
            # segment is not there.
            with contextlib.suppress(OSError):
                path.with_suffix(".idx").unlink(missing_ok=True)
                summary_path(path).unlink(missing_ok=True)
                path.unlink(missing_ok=True)
                fsync_dir(self.folder)
            raise
        # The manifest's entry stays pending, as after a rewrite: the segment is there with the
        # token announced, so whoever reads the manifest next takes it as done. The journal's
        # removal needs no fsync of its own: should it not last, the segment names the journal,
        # which readers skip and opening removes (and the next journal's creation syncs it).
        self._journal_handle.close()
        tail.path.unlink(missing_ok=True)
        self._refresh()

    def _rewrite(
        self,
        change: Change,
        may_change: Callable[[Part], bool] = lambda part: True,
        prepared: Mapping[int, Prepared] | None = None,
        keeps_uuids: bool = False,
        journal: PreparedJournal | None = None,
        announcement: PreparedManifest | None = None,
    ) -> int:
        """Apply ``change`` to every stored document (None removes it); rewrites only the files
        with changes, and reads only the segments ``may_change`` says might have some (swapping
        in the files ``prepared`` for a segment when they still fit it, announced by the
        manifest's ``announcement`` when it is still what must be written). Returns how many
        documents changed. The caller holds the lock. ``keeps_uuids``: the change leaves every
        document's event and uuid as they were, so the set of taken uuids stays.

        A file the disk refuses to write raises :class:`StorageUnavailable`; the files rewritten
        before it keep their change, the others are as they were, and the store reads them
        again."""
        self._writable()
        try:
            changed = self._rewrite_files(
                change, may_change, prepared, keeps_uuids, journal, announcement
            )
        except StorageUnavailable:
            self._uuids = None
            self._listed = None
            self._summaries = self._record_summaries = None
            raise
        if self._staged is not None:  # what a unit appended changes as what is stored
            changed += self._staged.rewrite(change)
        return changed

    def _rewrite_files(
        self,
        change: Change,
        may_change: Callable[[Part], bool],
        prepared: Mapping[int, Prepared] | None,
        keeps_uuids: bool,
        journal: PreparedJournal | None = None,
        announcement: PreparedManifest | None = None,
    ) -> int:
        tail = self._tail
        assert tail is not None
        segments = list(self._segments.values())
        changed = rewrite_files(
            segments,
            tail,
            change,
            may_change,
            self._announce,
            self._journal_handle.close,
            prepared,
            journal,
            functools.partial(self._announce_all, made=announcement),
        )
        if changed:
            # The manifest is not settled: what it announced reads as done (Manifest.resolve).
            uuids, self._uuids = self._uuids, None
            self._refresh()
            if keeps_uuids:
                self._uuids = uuids  # loading them again takes long at a million
        return changed

    def _prepare(
        self, change: Change, may_change: Callable[[Part], bool]
    ) -> tuple[dict[int, Prepared], PreparedJournal | None, PreparedManifest | None]:
        """The new files of each segment ``change`` changes, of the open journal as it is now,
        and of the manifest announcing those segments, made without the write lock (a segment
        is immutable, and read from its mapping even once replaced; the journal only grows
        until a rewrite, and the manifest is only replaced: the swap checks them)."""
        with self._lock.reading():
            self._refresh()
            assert self._tail is not None
            segments = [s for s in self._segments.values() if may_change(s)]
            tail = snapshot_journal(self._tail) if may_change(self._tail.view()) else None
            tokens = self._tokens()
        prepared: dict[int, Prepared] = {}
        journal = announcement = None
        try:
            for segment in segments:
                made = prepare_segment(segment, change)
                if made is not None:
                    prepared[segment.number] = made
            if tail is not None:
                journal = prepare_journal(tail, change)
            if prepared:
                entries = {n: made.entry for n, made in prepared.items()}
                announcement = self._prepare_announcement(entries, tokens)
        except BaseException:
            for made in prepared.values():
                made.discard()
            if journal is not None:
                journal.discard()
            raise
        return prepared, journal, announcement

    def delete_event(self, event_name: str) -> int:
        with self._lock:
            self._refresh()
            if not any(event_name in p.by_event for p in self._parts()):
                return 0
            # Only the parts that hold the event are read and rewritten, not the whole store.
            return self._rewrite(
                lambda d: None if d["eventName"] == event_name else d,
                lambda part: event_name in part.by_event,
            )

    def delete_tagged(self, tag: str) -> int:
        with self._lock:
            self._refresh()
            return self._rewrite(
                lambda d: None if d.get("tag") == tag else d,
                lambda part: part.tagged is None or tag in part.tagged.values(),
            )

    def rename_events(self, names: Mapping[str, str]) -> int:
        renames = {old: new for old, new in names.items() if old != new}
        with self._lock:
            self._refresh()

            def has_some(part: Part) -> bool:
                return any(old in part.by_event for old in renames)

            if not renames or not any(has_some(p) for p in self._parts()):
                return 0

            def rename(doc: dict[str, Any]) -> dict[str, Any]:
                new = renames.get(doc["eventName"])
                return doc if new is None else {**doc, "eventName": new}

            return self._rewrite(rename, has_some)

    def attach_visitor(self, utk: str, object_id: str) -> int:
        """Only the parts that hold the visitor are read and rewritten. Their new files (the
        segments', and the open journal's as it is) are made before the write lock is taken;
        under it, what was made from a segment still as it was is renamed into place, the
        journal gets what was appended since, and anything else is rewritten there."""

        def attach(doc: dict[str, Any]) -> dict[str, Any]:
            if doc.get("objectId") is None and doc.get("utk") == utk:
                return {**doc, "objectId": object_id}
            return doc

        def holds(part: Part) -> bool:
            return utk in part.visitors

        prepared, journal, announcement = self._prepare(attach, holds)
        try:
            with self._lock:
                self._refresh()
                if not any(holds(p) for p in self._parts()):
                    return 0
                return self._rewrite(attach, holds, prepared, True, journal, announcement)
        finally:
            for made in prepared.values():
                made.discard()
            if journal is not None:
                journal.discard()
            if announcement is not None:
                announcement.discard()

    # -- reading ---------------------------------------------------------------------------

    def prepare_writes(self) -> None:
        with self._lock.reading():
            self._refresh()
            self._uuid_set()

    def existing_uuids(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        wanted = set(keys)
        if not wanted:
            return set()
        with self._lock.reading():
            self._refresh()
            taken = self._uuid_set().hashes
            return {k for k in wanted if uuid_hash(*k) in taken and self._has_uuid(*k)}

    def begin_existing_uuids(
        self, keys: Collection[tuple[str, str]]
    ) -> Callable[[], set[tuple[str, str]]]:
        found = self.existing_uuids(keys)  # read in this process: nothing to wait for
        return lambda: found

    def stored_ids(self, ids: Collection[str]) -> set[str]:
        """Which of ``ids`` are completions stored (the outbox's check after a crash): reads
        the ids of every part, not the documents."""
        wanted = set(ids)
        if not wanted:
            return set()
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        found: set[str] = set()
        for part in parts:
            found.update(wanted.intersection(part.ids))
        return found

    def find(self, key: str) -> list[Completion]:
        """The completions whose uuid, or id, is ``key`` (a uuid is unique per event, so one per
        event at most), oldest first: what a trace looks up. Reads the ids and uuids of every
        part, not the documents."""
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        found: list[Completion] = []
        for part in parts:
            positions = {p for p, uuid in part.explicit_uuids.items() if uuid == key}
            if key in part.ids:
                positions.update(p for p, id_ in enumerate(part.ids) if id_ == key)
            found.extend(part.completion(p) for p in sorted(positions))
        return sorted(found, key=lambda c: (c.received_at, c.id))

    def summaries(self) -> dict[str, EventSummary]:
        with self._lock.reading():
            self._refresh()
            version = self._version()
            if self._summaries is not None and self._summaries[0] == version:
                return dict(self._summaries[1])
            result = merge_summaries(
                {
                    event: EventSummary(len(pos), from_epoch_millis(part.occurred[pos[-1]]))
                    for event, pos in part.by_event.items()
                }
                for part in self._parts()
            )
            self._summaries = (version, result)
            return dict(result)

    def record_summaries(self) -> dict[tuple[ObjectType, str], EventSummary]:
        with self._lock.reading():
            self._refresh()
            version = self._version()
            if self._record_summaries is not None and self._record_summaries[0] == version:
                return dict(self._record_summaries[1])
            merged: dict[str, tuple[int, int]] = {}
            for part in self._parts():
                for record, pos in part.by_record.items():
                    if not record:
                        continue
                    count, last = merged.get(record, (0, 0))
                    merged[record] = (count + len(pos), max(last, part.occurred[pos[-1]]))
            result = {}
            for record, (count, last) in merged.items():
                kind, _, object_id = record.partition(":")
                result[(ObjectType(kind), object_id)] = EventSummary(count, from_epoch_millis(last))
            self._record_summaries = (version, result)
            return dict(result)

    def tally(
        self, event_names: Collection[str], boundaries: Sequence[datetime]
    ) -> dict[str, EventTally]:
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        edges = [to_epoch_millis(b) for b in boundaries]
        series = {name: [0] * (len(edges) - 1) for name in event_names}
        records: dict[str, set[str]] = {name: set() for name in event_names}
        for part in parts:
            occurred = part.occurred
            for name in event_names:
                positions = part.by_event.get(name)
                if not positions or occurred[positions[-1]] < edges[0]:
                    continue
                # Positions are in time order: each edge is found by bisection.
                at = [bisect.bisect_left(positions, e, key=occurred.__getitem__) for e in edges]
                counts = series[name]
                for i in range(len(counts)):
                    counts[i] += at[i + 1] - at[i]
                codes = set(map(part.record_of.__getitem__, positions[at[0] : at[-1]]))
                records[name].update(part.records[c] for c in codes)
        return {name: EventTally(series[name], len(records[name] - {""})) for name in event_names}

    def event_counts(
        self, event_name: str, occurred_after: datetime, occurred_before: datetime
    ) -> EventCounts | None:
        if occurred_after != utc_day_start(occurred_after) or occurred_before != utc_day_start(
            occurred_before
        ):
            return None  # summaries count whole UTC days
        low, high = to_epoch_millis(occurred_after), to_epoch_millis(occurred_before)
        with self._lock.reading():
            self._refresh()
            assert self._tail is not None
            segments = [self._segments[n] for n in sorted(self._segments)]
            journal = self._tail.summary()
            view: Part = self._tail.view()
        # A segment never changes (a rewrite makes a new one): its summary is read unlocked.
        parts: list[tuple[Part, Callable[[], PartSummary]]] = [
            (s, functools.partial(getattr, s, "summary")) for s in segments
        ]
        parts.append((view, lambda: journal))
        return count_event(parts, event_name, low, high)

    def conversions(
        self,
        event_name: str,
        occurred_after: datetime,
        occurred_before: datetime,
        touch_properties: Collection[str],
    ) -> list[Conversion] | None:
        if occurred_after != utc_day_start(occurred_after) or occurred_before != utc_day_start(
            occurred_before
        ):
            return None
        low, high = to_epoch_millis(occurred_after), to_epoch_millis(occurred_before)
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        return conversions(parts, event_name, low, high, touch_properties)

    def scan(self, selection: CompletionSelection) -> Iterator[Completion]:
        for part, pos in self._scan(selection):
            yield part.completion(pos)

    def _scan(self, selection: CompletionSelection) -> Iterator[tuple[Part, int]]:
        with self._lock.reading():
            self._refresh()
            parts = self._parts()
        low = to_epoch_millis(selection.occurred_after) if selection.occurred_after else None
        high = to_epoch_millis(selection.occurred_before) if selection.occurred_before else None
        start: Key | None = None
        if selection.start_after is not None:
            start = (to_epoch_millis(selection.start_after[0]), selection.start_after[1])
        streams = []
        for part in parts:
            if not part.count:
                continue
            if (low is not None and part.max_ms < low) or (
                high is not None and part.min_ms >= high
            ):
                continue
            positions = candidates(part, selection)
            streams.append(ordered(part, positions, low, high, start, selection.newest_first))
        if len(streams) == 1:
            for _key, part, pos in streams[0]:
                yield part, pos
            return
        for _key, part, pos in heapq.merge(
            *streams, key=lambda t: t[0], reverse=selection.newest_first
        ):
            yield part, pos

    def close(self) -> None:
        with self._lock.reading():
            self._segments.clear()
            self._journal_handle.close()
            self._tail = None
            self._uuids = None
