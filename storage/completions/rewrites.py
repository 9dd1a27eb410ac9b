"""Rewrites: applying a change to stored documents (deleting, renaming, attaching a visitor),
rewriting only the files with changes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from storage.atomic import write_atomically
from storage.completions.journal import Tail, journal_line
from storage.completions.mapped_segment import Segment
from storage.completions.parts import MemoryPart, Part
from storage.completions.segment_file import write_segment
from storage.completions.summaries import summary_path
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
) -> int:
    """Apply ``change`` to the documents of ``segments`` and of the journal, reading only the
    parts ``may_change`` says might have some, and rewrite the files with changes (a segment
    left empty is removed); ``announce`` tells the manifest first, and ``close_journal`` is
    called before the journal is replaced. Returns how many documents changed."""
    changed = 0
    for segment in segments:
        if not may_change(segment):
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
    kept, count = _changed(list(tail.docs), change) if may_change(tail.view()) else ([], 0)
    if count:
        changed += count
        lines = journal_line([orjson.dumps(d) for d in kept]) if kept else b""
        close_journal()
        write_atomically(tail.path, lines)
    return changed


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
