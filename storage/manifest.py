"""The manifest of a database's completion segments, and the damage found against it.

``manifest.json`` (beside ``cbe.json``) lists every segment the store wrote, with what opening
checks cheaply (its size, its completion count, the token it shares with its index) and what
``cbe doctor`` checks in full (sha256 of the segment, first and last times). It is written
atomically before every fold and rewrite: it names the segment to come as ``pending``, so a
writer killed half way leaves nothing that looks damaged.

A fold or rewrite writes the manifest once, before it renames its files: the new segment is
named as pending (beside the old one's entry, for a rewrite), and both are accepted. It is left
so (no second write under the lock): whoever reads the manifest next takes a pending entry whose
file is there as done (:meth:`Manifest.resolve`), and the next verify drops one whose file never
came (the writer was killed before the rename) and writes the manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.errors import WritesRefused
from storage.atomic import CorruptFile, write_atomically

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1


class DamagedDatabase(CorruptFile, WritesRefused):
    """A database folder with damage found in it: writes are refused until ``cbe doctor``."""


@dataclass(frozen=True)
class Entry:
    """What the manifest says about one segment file."""

    token: str
    count: int
    size: int
    sha256: str
    first: int
    """occurredAt of its first completion, epoch milliseconds (0 when empty)."""
    last: int

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "count": self.count,
            "size": self.size,
            "sha256": self.sha256,
            "first": self.first,
            "last": self.last,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            str(data["token"]),
            int(data["count"]),
            int(data["size"]),
            str(data["sha256"]),
            int(data["first"]),
            int(data["last"]),
        )


@dataclass
class Manifest:
    segments: dict[int, Entry]
    pending: dict[int, Entry | None]
    """Segments a fold or rewrite is writing (None: removing) and has not yet listed."""

    def accepts(self, number: int, token: str | None) -> bool:
        """Whether a segment file with ``token`` is one the manifest knows (or expects)."""
        known = self.segments.get(number)
        if known is not None and known.token == token:
            return True
        coming = self.pending.get(number)
        return coming is not None and coming.token == token

    def settle(self, numbers: Iterable[int]) -> None:
        """Take the pending changes of segments ``numbers`` as done."""
        for number in numbers:
            if number not in self.pending:
                continue
            entry = self.pending.pop(number)
            if entry is None:
                self.segments.pop(number, None)
            else:
                self.segments[number] = entry

    def resolve(self, tokens: Mapping[int, str | None]) -> bool:
        """Take as done each pending change that the files show done (``tokens``: the token of
        each segment file there, None for one that cannot be read): a removed segment gone, a
        written one there with the token announced. The others stay pending. Returns whether
        any stays."""
        done = [
            number
            for number, entry in self.pending.items()
            if (number not in tokens if entry is None else tokens.get(number) == entry.token)
        ]
        self.settle(done)
        return bool(self.pending)


def entry_for(payload: bytes, token: str, count: int, first: int, last: int) -> Entry:
    return Entry(token, count, len(payload), hashlib.sha256(payload).hexdigest(), first, last)


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at ``path``; None when there is none; DamagedDatabase when unreadable."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError as error:
        raise DamagedDatabase(
            f"{path} is damaged ({error}); run `cbe doctor --repair` to rebuild it."
        ) from error
    try:
        return Manifest(
            {int(n): Entry.from_json(e) for n, e in data["segments"].items()},
            {
                int(n): None if e is None else Entry.from_json(e)
                for n, e in data.get("pending", {}).items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DamagedDatabase(
            f"{path} is not a manifest cbe wrote ({error!r}); run `cbe doctor --repair`."
        ) from error


def write_manifest(path: Path, manifest: Manifest) -> None:
    write_atomically(path, manifest_bytes(manifest))


def manifest_bytes(manifest: Manifest) -> bytes:
    """The manifest file's contents."""
    data = {
        "version": MANIFEST_VERSION,
        "segments": {f"{n:06d}": e.to_json() for n, e in sorted(manifest.segments.items())},
        "pending": {
            f"{n:06d}": None if e is None else e.to_json()
            for n, e in sorted(manifest.pending.items())
        },
    }
    return orjson.dumps(data, option=orjson.OPT_INDENT_2)
