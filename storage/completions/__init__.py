"""Completions at scale on TinyDB: a write-ahead journal folded into immutable TinyDB segments,
with indexes beside them.

```
completions/journal-000007.jsonl   the open journal: one line per acknowledged batch
completions/seg-000006.json        TinyDB files of up to SEGMENT_SIZE completions each,
completions/seg-000006.idx         each with its index: ids, times, events, records, offsets
completions/seg-000006.sum         and its summary: sent values per event, day and property,
                                   and where each record's touches are (made when first needed)
```

**Writing.** A batch is appended to the journal as one line and made durable with ``fsync``
before it is acknowledged. Threads (and processes) that append at the same time share one
``fsync``: the first to sync covers every line already written (group commit). When the
journal holds SEGMENT_SIZE completions they are written, sorted by time, as a new TinyDB segment
(temporary file, fsync, rename, fsync folder) and a new journal starts. Each completion is
written twice in all (journal, segment), whatever the size of the store: the cost of a write does
not grow with what is stored.

**In a unit of work** (core.ports), appended completions are held in memory (``staged``) and
read with the rest by this process, then written as one journal line when the unit commits,
durably before the commit returns; a unit that ends without a commit forgets them.

**Reading.** A segment's index (written with it, rebuilt from it when missing) holds its ids,
times, events and records as compact arrays, and which positions belong to each event and to
each record, in time order. A record's timeline reads only that record's positions and the
byte ranges of those documents; counts come from the indexes without reading documents. The
event report and attribution come from the summaries (``summaries``, ``reports``): counts of
each sent value and the positions of each record's first and last touch, per segment.

**Crashes.** A torn last journal line was never acknowledged and is cut off. A segment records
which journal it was folded from, so a journal left behind by a fold that died before removing
it is recognised and removed. A segment is written before its index, and both carry the same
random token: a missing index, or one of an earlier version of the file, is rebuilt from the
segment.

**A full disk.** A batch is acknowledged only once every byte of its line is written and
fsynced. A write the system refuses (a full disk, a short write, an I/O error) is cut back to
the line end before it and raises :class:`core.errors.StorageFull` (or ``StorageUnavailable``),
with the store in memory as it was; the next write starts at a clean line end. A failed
``fsync`` acknowledges nothing written before it. A fold that fails leaves the journal (already
durable) as it is, and is tried again later.

**Sharing.** Every write holds the database's lock; another process notices new journal lines
(the file grew), new segments (the folder listing) and rewritten files (a new inode).

**Rooms.** ``segment_file`` and ``index_file`` write and read the two files of a segment,
``journal`` the journal's lines, ``group_commit`` appending them, ``staged`` what a unit of
work holds until it commits; ``rewrites`` changes
stored documents; ``parts`` holds completions in time order with their indexes,
``mapped_segment`` a segment as read from its files, ``uuids`` the set of taken uuids;
``summaries`` the summary files, ``reports`` the event report's counts and attribution's
conversions from indexes and summaries;
``query`` plans reads over parts; ``open_files`` raises the open-file limit; ``damage`` words
what is lost; ``store`` is the repository that keeps up with the folder, writes and reads.
Patch module constants (``SEGMENT_SIZE``) where they live, in ``segment_file``.
"""

from storage.completions.damage import damage_message, lost
from storage.completions.index_file import INDEX_VERSION, read_index
from storage.completions.journal import journal_line, parse_journal_line
from storage.completions.segment_file import (
    Salvage,
    SegmentContents,
    index_segment,
    read_segment,
    salvage_segment,
    write_salvaged,
    write_segments,
)
from storage.completions.store import CompletionStore

__all__ = [
    "INDEX_VERSION",
    "CompletionStore",
    "Salvage",
    "SegmentContents",
    "damage_message",
    "index_segment",
    "journal_line",
    "lost",
    "parse_journal_line",
    "read_index",
    "read_segment",
    "salvage_segment",
    "write_salvaged",
    "write_segments",
]
