"""The segment file (``seg-000006.json``): an immutable TinyDB file of up to SEGMENT_SIZE
completions, naming the journal it was folded from and a token its index repeats."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.models import Completion
from storage.atomic import CorruptFile, fsync_dir, replace_all, write_beside
from storage.completions.index_file import (
    build_index,
    read_index,
)
from storage.completions.parts import MemoryPart
from storage.completions.summaries import summarise_part, summary_path, write_summary
from storage.manifest import (
    MANIFEST_FILE,
    Entry,
    Manifest,
    entry_for,
    write_manifest,
)

TABLE = "completions"
SEGMENT_TABLE = "segment"
SEGMENT_SIZE = 20_000
"""Completions per TinyDB segment; a fold writes one segment of this size."""

JOURNAL_NAME = re.compile(r"journal-(\d{6})\.jsonl")
SEGMENT_NAME = re.compile(r"seg-(\d{6})\.json")


_TOKEN = re.compile(rb'"token":"([0-9a-f]+)"')


@dataclass(frozen=True)
class SegmentContents:
    """What a segment file holds, read in full (``cbe doctor``)."""

    journal: int
    token: str
    count: int
    first: int
    last: int


def index_segment(path: Path, raw: bytes) -> tuple[SegmentContents, bytes]:
    """Read a whole segment file and make the index it should have (byte for byte what
    :func:`write_segment` wrote); CorruptFile when it is not a segment cbe wrote."""
    docs, about = read_segment(path, raw)
    try:
        journal, token = int(about.get("journal", -1)), str(about.get("token", ""))
        part = MemoryPart(docs)
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFile(f"{path} holds a document that is not a completion: {error}") from error
    # Offsets come from writing the same documents the same way.
    payload, offsets, lengths = segment_bytes(part.docs, journal, token)
    if payload != raw:
        raise CorruptFile(f"{path} is not a segment written by cbe")
    index = build_index(part, journal, token, offsets, lengths)
    return SegmentContents(journal, token, part.count, part.min_ms, part.max_ms), index


@dataclass(frozen=True)
class Salvage:
    """The documents of a damaged segment that still read, found through its index."""

    docs: list[dict[str, Any]]
    lost: list[int]
    """occurredAt (epoch milliseconds) of each document that does not read."""
    journal: int


def salvage_segment(path: Path, tokens: Collection[str]) -> Salvage | None:
    """Read what can be read of a segment that does not parse as a whole, document by document
    at the offsets its index gives (the index must carry one of ``tokens`` and match its
    checksums); None when there is no such index."""
    try:
        index = read_index(path.with_suffix(".idx").read_bytes())
        if index.header.get("token") not in tokens:
            return None
        offsets = index.column("offsets", "q")
        lengths = index.column("lengths", "I")
        occurred = index.column("occurred", "q")
        journal = int(index.header["journal"])
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    raw = path.read_bytes()
    docs: list[dict[str, Any]] = []
    lost: list[int] = []
    for start, size, ms in zip(offsets, lengths, occurred, strict=True):
        try:
            doc = orjson.loads(raw[start : start + size])
            Completion.from_stored(doc)
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
            lost.append(ms)
            continue
        docs.append(doc)
    return Salvage(docs, lost, journal)


def write_salvaged(path: Path, salvage: Salvage) -> Entry:
    """Write the documents saved from a damaged segment as the segment (and its index)."""
    return write_segment(path, MemoryPart(salvage.docs), salvage.journal)


def segment_bytes(
    docs: list[dict[str, Any]],
    journal: int,
    token: str,
    blobs: Sequence[bytes | None] | None = None,
) -> tuple[bytes, list[int], list[int]]:
    """A TinyDB file of ``docs`` (document ids 1, 2, ...) and each document's byte range.

    A second table, ``segment``, at the end of the file, names the journal the documents were
    folded from and a token that the segment's index repeats: an index whose token differs
    belongs to another version of the file.
    """
    count = len(docs)
    if blobs is None:
        blobs = [None] * count
    made = [blob or orjson.dumps(doc) for blob, doc in zip(blobs, docs, strict=True)]
    head = b'{"' + TABLE.encode() + b'":{'
    # Each document is '"<its id>":<its JSON>', after a comma but for the first.
    prefixes = [b'"1":', *[b',"%d":' % i for i in range(2, count + 1)]] if count else []
    lengths = list(map(len, made))
    # A document starts after the head, the prefixes up to its own and the documents before it.
    prefixed = itertools.accumulate(map(len, prefixes), initial=len(head))
    next(prefixed)  # the head alone
    before = itertools.accumulate(lengths, initial=0)  # one more than there are documents
    offsets = [a + b for a, b in zip(prefixed, itertools.islice(before, count), strict=True)]
    chunks: list[bytes] = [b""] * (2 * count)
    chunks[0::2] = prefixes
    chunks[1::2] = made
    about = orjson.dumps({"journal": journal, "token": token})
    tail = b'},"' + SEGMENT_TABLE.encode() + b'":{"1":' + about + b"}}"
    return b"".join([head, *chunks, tail]), offsets, lengths


def segment_files(part: MemoryPart, journal: int) -> tuple[bytes, bytes, Entry]:
    """A new segment of the documents of ``part`` (with a new token): the segment file, its
    index and what the manifest says of it."""
    token = os.urandom(8).hex()
    payload, offsets, lengths = segment_bytes(part.docs, journal, token, part.blobs)
    index = build_index(part, journal, token, offsets, lengths)
    return payload, index, entry_for(payload, token, part.count, part.min_ms, part.max_ms)


def write_segment(
    path: Path,
    part: MemoryPart,
    journal: int,
    announce: Callable[[Entry], None] | None = None,
    summarise: bool = False,
) -> Entry:
    """Write a segment of the documents of ``part``, then its index (and, with ``summarise``,
    its summary: see storage.completions.summaries); ``announce`` is told what the manifest
    will say about it before either is written. Returns that."""
    payload, index, entry = segment_files(part, journal)
    token = entry.token
    if announce is not None:
        announce(entry)
    # Both files written and fsynced beside their names, then renamed (the segment first) with
    # one fsync of the folder: a crash between the renames leaves a segment whose index is of
    # another version, or missing, which opening rebuilds.
    index_path = path.with_suffix(".idx")
    segment_tmp = write_beside(path, payload)
    try:
        index_tmp = write_beside(index_path, index)
    except BaseException:
        segment_tmp.unlink(missing_ok=True)
        raise
    try:
        replace_all([(segment_tmp, path), (index_tmp, index_path)], path.parent)
    except BaseException:
        segment_tmp.unlink(missing_ok=True)
        index_tmp.unlink(missing_ok=True)
        raise
    if summarise:
        write_summary(summary_path(path), summarise_part(part.docs, part.occurred), token)
    return entry


def read_segment(
    path: Path, raw: bytes | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The documents of a segment file and what its ``segment`` table says about them."""
    try:
        data = orjson.loads(path.read_bytes() if raw is None else raw)
        docs = list(data.get(TABLE, {}).values())
        about = dict(data.get(SEGMENT_TABLE, {}).get("1", {}))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
        raise CorruptFile(f"{path} is not a valid database file: {error}") from error
    return docs, about


def segment_token(fd: int, size: int) -> str | None:
    """The token at the end of a segment file, read without reading the file."""
    tail = os.pread(fd, 256, max(0, size - 256))
    match = _TOKEN.search(tail)
    return match.group(1).decode() if match else None


def write_segments(folder: Path, docs: Iterable[dict[str, Any]]) -> int:
    """Write ``docs`` as the segments of a store folder, replacing any there (a migration, under
    the lock). Segment ``n`` is marked as folded from journal ``n``, so the open journal is the
    next number. Returns how many segments were written."""
    ordered = MemoryPart(list(docs)).docs
    count = 0
    entries: dict[int, Entry] = {}
    for count, start in enumerate(range(0, len(ordered), SEGMENT_SIZE), 1):
        chunk = MemoryPart(ordered[start : start + SEGMENT_SIZE])
        entries[count] = write_segment(folder / f"seg-{count:06d}.json", chunk, count)
    for name in os.listdir(folder):
        match = SEGMENT_NAME.fullmatch(name.replace(".idx", ".json"))
        if match and int(match.group(1)) > count:
            (folder / name).unlink()
    write_manifest(folder.parent / MANIFEST_FILE, Manifest(entries, {}))
    fsync_dir(folder)
    fsync_dir(folder.parent)
    return count
