"""The index file beside each segment (``seg-000006.idx``): a JSON header line, then columns as
machine arrays, each with a CRC-32."""

from __future__ import annotations

import mmap
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from storage.completions.parts import Part

INDEX_VERSION = 3
"""Version 3 adds a CRC-32 to each column (version 2 indexes are still read, unchecked)."""
_READABLE_INDEX_VERSIONS = (2, 3)
INDEX_MAGIC = b"CBEINDEX\n"


class ChecksumMismatch(ValueError):
    """An index whose bytes are not those written (bits flipped on disk)."""


def build_index(
    part: Part, journal: int, token: str, offsets: Sequence[int], lengths: Sequence[int]
) -> bytes:
    """A segment's index: a JSON header line, then its columns as machine arrays, so that
    opening a store reads them with a copy rather than parsing a million numbers."""
    event_positions: array[int] = array("I")
    event_starts = []
    for event in part.events:
        event_starts.append(len(event_positions))
        event_positions.extend(part.by_event[event])
    record_positions: array[int] = array("I")
    record_starts = []
    for record in part.records:
        record_starts.append(len(record_positions))
        record_positions.extend(part.by_record[record])
    columns = {
        "occurred": array("q", part.occurred).tobytes(),
        "eventOf": array("I", part.event_of).tobytes(),
        "recordOf": array("I", part.record_of).tobytes(),
        "offsets": array("q", offsets).tobytes(),
        "lengths": array("I", lengths).tobytes(),
        "byEvent": event_positions.tobytes(),
        "byRecord": record_positions.tobytes(),
        "ids": "\n".join(part.ids).encode(),
        "uuidPositions": array("I", part.explicit_uuids).tobytes(),
        "uuidHashes": array("q", part.uuid_hashes()).tobytes(),
        "uuids": "\n".join(part.explicit_uuids.values()).encode(),
    }
    body = bytearray()
    sections = {}
    for name, data in columns.items():
        sections[name] = [len(body), len(data), zlib.crc32(data)]
        body += data + b"\0" * (-len(data) % 8)  # each column 8-byte aligned
    header = orjson.dumps(
        {
            "version": INDEX_VERSION,
            "journal": journal,
            "token": token,
            "count": part.count,
            "events": part.events,
            "eventStarts": event_starts,
            "records": part.records,
            "recordStarts": record_starts,
            "utks": {str(p): u for p, u in part.anonymous.items()},
            "tags": {str(p): t for p, t in (part.tagged or {}).items()},
            "sections": sections,
        }
    )
    header += b" " * (-(len(INDEX_MAGIC) + len(header) + 1) % 8)
    return INDEX_MAGIC + header + b"\n" + bytes(body)


@dataclass
class Index:
    header: dict[str, Any]
    body: memoryview

    def section(self, name: str) -> memoryview:
        """A column's bytes, checked against its CRC-32 (version 3): ChecksumMismatch."""
        start, size, *crc = self.header["sections"][name]
        data = self.body[start : start + size]
        if len(data) != size:
            raise ValueError(f"the index ends inside its {name} column")  # torn: rebuilt
        if crc and zlib.crc32(data) != crc[0]:
            raise ChecksumMismatch(f"its {name} column does not match its checksum")
        return data

    def column(self, name: str, kind: Literal["I", "q"]) -> memoryview[int]:
        return self.section(name).cast(kind)

    def strings(self, name: str) -> list[str]:
        data = self.section(name)
        return bytes(data).decode().split("\n") if len(data) else []

    def ids(self) -> list[str]:
        return self.strings("ids")


def read_index(raw: bytes | mmap.mmap) -> Index:
    """Parse an index written by :func:`build_index`; ValueError when it is not one."""
    if raw[: len(INDEX_MAGIC)] != INDEX_MAGIC:
        raise ValueError("not a segment index")
    end = raw.find(b"\n", len(INDEX_MAGIC))
    if end < 0:
        raise ValueError("not a segment index")
    header = orjson.loads(raw[len(INDEX_MAGIC) : end])
    if not isinstance(header, dict) or header.get("version") not in _READABLE_INDEX_VERSIONS:
        raise ValueError("an index of another version")
    return Index(header, memoryview(raw)[end + 1 :])
