"""The open journal (``journal-000007.jsonl``): one line per acknowledged batch, with a CRC-32,
and what a store has read of it."""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from storage.completions.parts import MemoryPart, epoch_ms
from storage.completions.summaries import MemorySummary, Summary, merge, summarise
from storage.completions.uuids import docs_uuid_hashes

JOURNAL_NAME = re.compile(r"journal-(\d{6})\.jsonl")


_LINE_CRC = re.compile(rb',"crc":(\d+)\}$')


def journal_line(blobs: Sequence[bytes]) -> bytes:
    """One journal line holding a batch's documents (JSON), and a CRC-32 of what precedes it
    so that a damaged line is told from a good one. Lines without ``crc`` (written before it
    was added) are still read."""
    head = b'{"docs":[' + b",".join(blobs) + b"]"
    return head + b',"crc":%d}\n' % zlib.crc32(head)


def parse_journal_line(line: bytes) -> list[dict[str, Any]]:
    """The documents of a journal line; ValueError when it is damaged."""
    match = _LINE_CRC.search(line)
    if match is not None and zlib.crc32(line[: match.start()]) != int(match.group(1)):
        raise ValueError("its checksum does not match")
    try:
        docs = orjson.loads(line)["docs"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(str(error)) from error
    if not isinstance(docs, list):
        raise ValueError("no list of documents")
    return docs


class Tail:
    """The open journal: completions acknowledged but not yet folded into a segment.

    Appending only adds to a list; the time-ordered view reads need is made when asked for
    and kept until the journal changes.
    """

    def __init__(self, number: int, path: Path) -> None:
        self.number = number
        self.path = path
        self.offset = 0
        """Bytes of the journal read so far (always at a line end)."""
        self.inode = 0
        self.docs: list[dict[str, Any]] = []
        self.ms: list[int] = []
        self.blobs: list[bytes | None] = []
        self._view: MemoryPart | None = None
        self.damage: list[str] = []
        """Lines that are whole (they end in a newline) but damaged: left out of reads."""
        self.lines = 0
        self.resets = 0
        self._summary: Summary = {}
        self._summarised = 0
        """How many times the journal was read again from the start (replaced, or cut back
        below what was read: a write that failed)."""

    @property
    def count(self) -> int:
        return len(self.docs)

    def add(
        self,
        docs: list[dict[str, Any]],
        ms: Iterable[int] | None = None,
        blobs: Iterable[bytes] | None = None,
    ) -> None:
        self.docs.extend(docs)
        self.ms.extend((epoch_ms(d["occurredAt"]) for d in docs) if ms is None else ms)
        self.blobs.extend([None] * len(docs) if blobs is None else blobs)
        self._view = None

    def view(self) -> MemoryPart:
        if self._view is None:
            self._view = MemoryPart(self.docs, self.ms, self.blobs)
        return self._view

    def summary(self) -> MemorySummary:
        """Sent values per event, day and property of the journal's completions, kept up to
        date as lines arrive (only the new ones are counted)."""
        done = self._summarised
        if done < len(self.docs):
            merge(self._summary, summarise(self.docs[done:], self.ms[done:]))
            self._summarised = len(self.docs)
        return MemorySummary(self._summary)

    def uuid_hashes(self) -> Iterable[int]:
        return docs_uuid_hashes(self.docs)

    def has_uuid(self, event: str, uuid: str) -> bool:
        return any(d["eventName"] == event and d.get("uuid") == uuid for d in self.docs)

    def replaced(
        self,
        docs: list[dict[str, Any]],
        ms: list[int],
        blobs: list[bytes | None],
        size: int,
        inode: int,
    ) -> None:
        """Take the journal this process has just written in place of the old one (holding
        the lock) as read: the documents are known, so it is not read and parsed again."""
        self.resets += 1
        self.offset, self.inode = size, inode
        self.docs, self.ms, self.blobs, self._view = docs, ms, blobs, None
        self.damage, self.lines = [], 1 if docs else 0
        self._summary, self._summarised = {}, 0

    def read_new(self) -> bool:
        """Take in lines another process appended; True when anything changed.

        A journal replaced by a rewrite (a new inode) is read again from the start.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if st.st_ino != self.inode or st.st_size < self.offset:
            if self.inode or self.offset:
                self.resets += 1
            self.offset, self.docs, self.ms, self.blobs, self._view = 0, [], [], [], None
            self.damage, self.lines = [], 0
            self._summary, self._summarised = {}, 0
            self.inode = st.st_ino
        if st.st_size <= self.offset:
            return False
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read(st.st_size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return False  # a line still being written (or torn): not acknowledged yet
        docs: list[dict[str, Any]] = []
        for line in data[:end].split(b"\n"):
            self.lines += 1
            if not line:
                continue
            try:
                docs.extend(parse_journal_line(line))
            except ValueError as error:
                self.damage.append(
                    f"{self.path} has a damaged line (line {self.lines}, {len(line):,} bytes: "
                    f"{error}); its completions are left out"
                )
        self.offset += end + 1
        self.add(docs)
        return True
