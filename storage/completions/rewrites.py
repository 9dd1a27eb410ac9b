"""Rewrites: applying a change to stored documents (deleting, renaming, attaching a visitor),
rewriting only the files with changes.

A segment's new files can be made before the lock is taken (:func:`prepare_segment`: segments
are immutable, and a store reads an old one from its mapping); under the lock, a rewrite then
only checks that the segment is still the one they were made from and renames them into place
(:func:`swap_in`), or makes them again when it is not."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from storage.atomic import replace_all, storage_error, write_atomically, write_beside
from storage.completions.journal import Tail, journal_line
from storage.completions.mapped_segment import Segment
from storage.completions.parts import MemoryPart, Part
from storage.completions.segment_file import segment_files, write_segment
from storage.completions.summaries import summarise_part, summary_bytes, summary_path
from storage.manifest import Entry

Change = Callable[[dict[str, Any]], dict[str, Any] | None]
"""A document's new version: the same object when unchanged, None to remove it."""


def rewrite_files(
    segments: Iterable[Segment],
    tail: Tail,
    change: Change,
    may_change: Callable[[Part], bool],
    announce: Callable[[int, Entry | None], None],
    close_journal: Callable[[], None],
    prepared: Mapping[int, Prepared] | None = None,
    journal: PreparedJournal | None = None,
    announce_all: Callable[[dict[int, Entry | None]], None] | None = None,
) -> int:
    """Apply ``change`` to the documents of ``segments`` and of the journal, reading only the
    parts ``may_change`` says might have some, and rewrite the files with changes (a segment
    left empty is removed); ``announce`` tells the manifest first, and ``close_journal`` is
    called before the journal is replaced. A segment's files ``prepared`` by
    :func:`prepare_segment` from the same change are swapped in when they were made from that
    segment as it is, and a ``journal`` prepared from what the open journal still begins
    with (:func:`prepare_journal`): all of them at once, told to the manifest together
    (``announce_all``, else one ``announce`` each), then renamed with one fsync of the
    folder. Returns how many documents changed."""
    changed = 0
    swaps: list[Prepared] = []
    for segment in segments:
        if not may_change(segment):
            continue
        made = (prepared or {}).get(segment.number)
        if made is not None and made.made_from(segment):
            swaps.append(made)
            changed += made.changed
            continue
        docs = [segment.doc(p) for p in range(segment.count)]
        kept, count = _changed(docs, change)
        if not count:
            continue
        changed += count
        if not kept:
            announce(segment.number, None)
            segment.path.unlink()
            segment.index_path.unlink(missing_ok=True)
            summary_path(segment.path).unlink(missing_ok=True)
            continue
        # A document left as it was is written back as the bytes it was read from.
        unchanged = {id(doc): segment.blob(p) for p, doc in enumerate(docs)}
        part = MemoryPart(kept, blobs=[unchanged.get(id(doc)) for doc in kept])
        segment_announce = functools.partial(announce, segment.number)
        write_segment(segment.path, part, segment.journal, segment_announce)
    in_journal = may_change(tail.view())
    finishing = journal if in_journal and journal is not None and journal.made_from(tail) else None
    if swaps or finishing is not None:
        if swaps:
            entries = {made.segment.number: made.entry for made in swaps}
            if announce_all is not None:
                announce_all(entries)
            else:
                for number, entry in entries.items():
                    announce(number, entry)
        changed += swap_in(swaps, tail, finishing, change, close_journal)
    if in_journal and finishing is None:
        changed += _rewrite_journal(tail, change, close_journal)
    return changed


def _rewrite_journal(tail: Tail, change: Change, close_journal: Callable[[], None]) -> int:
    """Rewrite the open journal as one line, if ``change`` changes any of its documents; the
    store's view of it is updated rather than read again."""
    kept, ms, blobs, count = _changed_with(list(tail.docs), list(tail.ms), list(tail.blobs), change)
    if not count:
        return 0
    lines = journal_line([b or b"" for b in blobs]) if kept else b""
    close_journal()
    write_atomically(tail.path, lines)
    try:
        inode = os.stat(tail.path).st_ino
    except OSError:
        inode = 0  # read again from the file
    tail.replaced(kept, ms, blobs, len(lines), inode)
    return count


def _changed(docs: list[dict[str, Any]], change: Change) -> tuple[list[dict[str, Any]], int]:
    kept: list[dict[str, Any]] = []
    count = 0
    for doc in docs:
        new = change(doc)
        if new is not doc:
            count += 1
        if new is not None:
            kept.append(new)
    return kept, count


@dataclass
class Prepared:
    """A segment's rewrite made beside it before the lock was taken, not yet in place."""

    segment: Segment
    """The segment as it was read (its mapping keeps that file readable)."""
    changed: int
    entry: Entry | None
    """What the manifest will say of the new segment; None: it is left empty and goes."""
    files: list[tuple[Path, Path]] = field(default_factory=list)
    """(temporary file, the file it replaces): the segment, its index, its summary."""

    def made_from(self, segment: Segment) -> bool:
        """Whether ``segment`` is the one these files were made from, and they are all still
        there (opening a database removes temporary files it finds)."""
        return (
            segment.inode == self.segment.inode
            and segment.token == self.segment.token
            and all(tmp.exists() for tmp, _ in self.files)
        )

    def discard(self) -> None:
        """Remove the temporary files that were not swapped in."""
        for tmp, _ in self.files:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def prepare_segment(segment: Segment, change: Change) -> Prepared | None:
    """Apply ``change`` to a segment's documents and write its new files (segment, index, and
    summary when it has one) as temporary files beside it; None when nothing changes. Needs no
    lock: nothing is replaced until :func:`swap_in`."""
    docs = [segment.doc(p) for p in range(segment.count)]
    kept, count = _changed(docs, change)
    if not count:
        return None
    if not kept:
        return Prepared(segment, count, None)
    unchanged = {id(doc): segment.blob(p) for p, doc in enumerate(docs)}
    part = MemoryPart(kept, blobs=[unchanged.get(id(doc)) for doc in kept])
    payload, index, entry = segment_files(part, segment.journal)
    made = Prepared(segment, count, entry)
    try:
        made.files.append((write_beside(segment.path, payload), segment.path))
        made.files.append((write_beside(segment.index_path, index), segment.index_path))
        summary = summary_path(segment.path)
        if summary.exists():  # so that the next report need not make it again
            counted = summary_bytes(summarise_part(part.docs, part.occurred), entry.token)
            made.files.append((write_beside(summary, counted), summary))
    except BaseException:
        made.discard()
        raise
    return made


def swap_in(
    swaps: Iterable[Prepared],
    tail: Tail,
    journal: PreparedJournal | None,
    change: Change,
    close_journal: Callable[[], None],
) -> int:
    """Put prepared files in place (the caller holds the lock, has checked that each was made
    from the file it replaces, and has told the manifest): each segment, its index and summary
    are renamed over the old ones (or removed, for a segment left empty), and the journal,
    given what was appended to it since (:func:`prepare_journal`), over the open journal; one
    fsync of the folder makes them all durable. A crash in between leaves each file old or
    new; an index or summary of another version than its segment is made again when read.
    Returns how many of the journal's documents changed since it was prepared (plus its own)."""
    renames: list[tuple[Path, Path]] = []
    for made in swaps:
        segment = made.segment
        if made.entry is None:
            segment.path.unlink()
            segment.index_path.unlink(missing_ok=True)
            summary_path(segment.path).unlink(missing_ok=True)
            continue
        renames.extend(made.files)
    changed = 0
    after: tuple[list[dict[str, Any]], list[int], list[bytes | None], int] | None = None
    if journal is not None:
        changed, after = _journal_rest(tail, journal, change)
        close_journal()
        renames.append((journal.tmp, tail.path))
    replace_all(renames, tail.path.parent)
    for made in swaps:
        made.files = []
    if after is not None:
        try:
            inode = os.stat(tail.path).st_ino
        except OSError:
            inode = 0  # read again from the file
        tail.replaced(*after, inode)
    return changed


@dataclass
class PreparedManifest:
    """The manifest announcing the prepared segments, written beside it before the lock was
    taken: under the lock it is renamed into place only if it is, byte for byte, what would
    be written then (else the manifest is written there, as for any rewrite)."""

    tmp: Path
    payload: bytes

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


@dataclass
class PreparedJournal:
    """The open journal's first documents rewritten before the lock was taken (one line in a
    temporary file): under the lock, only what was appended since is changed and added."""

    number: int
    inode: int
    resets: int
    offset: int
    """Bytes of the journal it was made from."""
    count: int
    """Documents in them."""
    changed: int
    docs: list[dict[str, Any]]
    ms: list[int]
    blobs: list[bytes | None]
    tmp: Path
    size: int

    def made_from(self, tail: Tail) -> bool:
        """Whether ``tail`` still begins with what this was made from (nothing but appends
        since), and the temporary file is still there."""
        return (
            tail.number == self.number
            and tail.inode == self.inode
            and tail.resets == self.resets
            and tail.offset >= self.offset
            and tail.count >= self.count
            and self.tmp.exists()
        )

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class JournalSnapshot:
    """What a store has read of its open journal at one moment (taken under its thread lock:
    lines are appended to those lists by other threads)."""

    path: Path
    number: int
    inode: int
    resets: int
    offset: int
    docs: list[dict[str, Any]]
    ms: list[int]
    blobs: list[bytes | None]


def snapshot_journal(tail: Tail) -> JournalSnapshot:
    return JournalSnapshot(
        tail.path,
        tail.number,
        tail.inode,
        tail.resets,
        tail.offset,
        list(tail.docs),
        list(tail.ms),
        list(tail.blobs),
    )


def prepare_journal(journal: JournalSnapshot, change: Change) -> PreparedJournal | None:
    """Rewrite what the open journal held into a temporary file beside it; None when
    ``change`` changes none of it. Needs no lock (the documents are never changed in place)."""
    kept, kept_ms, kept_blobs, count = _changed_with(
        journal.docs, journal.ms, journal.blobs, change
    )
    if not count:
        return None
    lines = journal_line([b or b"" for b in kept_blobs]) if kept else b""
    tmp = write_beside(journal.path, lines)
    return PreparedJournal(
        journal.number,
        journal.inode,
        journal.resets,
        journal.offset,
        len(journal.docs),
        count,
        kept,
        kept_ms,
        kept_blobs,
        tmp,
        len(lines),
    )


def _journal_rest(
    tail: Tail, made: PreparedJournal, change: Change
) -> tuple[int, tuple[list[dict[str, Any]], list[int], list[bytes | None], int]]:
    """Add to a prepared journal what was appended since it was made (written and fsynced at
    the end of its temporary file). Returns how many documents changed, and the journal's
    documents, times, bytes and size as they will be once it is in place."""
    docs = tail.docs[made.count :]
    kept, ms, blobs, count = _changed_with(
        docs, tail.ms[made.count :], tail.blobs[made.count :], change
    )
    size = made.size
    if kept:
        line = journal_line([b or b"" for b in blobs])
        try:
            with made.tmp.open("ab") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as error:
            raise storage_error(error, tail.path) from error
        size += len(line)
    return made.changed + count, (made.docs + kept, made.ms + ms, made.blobs + blobs, size)


def _changed_with(
    docs: list[dict[str, Any]],
    ms: list[int],
    blobs: list[bytes | None],
    change: Change,
) -> tuple[list[dict[str, Any]], list[int], list[bytes | None], int]:
    """:func:`_changed`, keeping each kept document's time and bytes (made when unknown)."""
    kept: list[dict[str, Any]] = []
    kept_ms: list[int] = []
    kept_blobs: list[bytes | None] = []
    count = 0
    for doc, t, blob in zip(docs, ms, blobs, strict=True):
        new = change(doc)
        if new is not doc:
            count += 1
            blob = None
        if new is not None:
            kept.append(new)
            kept_ms.append(t)
            kept_blobs.append(blob or orjson.dumps(new))
    return kept, kept_ms, kept_blobs, count
