"""What a unit of work appended and has not committed: held in memory, read with the rest by
this process (the unit holds the lock, so no one else reads or writes meanwhile), written to the
journal as one line when the unit commits, forgotten when it does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.completions.parts import MemoryPart


class Staged:
    """Completions appended in an open unit of work, in the order they came."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.ms: list[int] = []
        self.hashes: list[int] = []
        """The hashes of their uuids (already in the store's uuid set)."""
        self.changes = 0
        """Counts every change, for the store's version."""
        self._view: MemoryPart | None = None

    def add(self, docs: list[dict[str, Any]], ms: list[int], hashes: list[int]) -> None:
        self.docs.extend(docs)
        self.ms.extend(ms)
        self.hashes.extend(hashes)
        self.changes += 1
        self._view = None

    def view(self) -> MemoryPart:
        if self._view is None:
            self._view = MemoryPart(self.docs, self.ms)
        return self._view

    def has_uuid(self, event: str, uuid: str) -> bool:
        return any(d["eventName"] == event and d.get("uuid") == uuid for d in self.docs)

    def rewrite(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> int:
        """Apply a rewrite (see storage.completions.rewrites) to the staged documents too;
        how many changed."""
        kept: list[tuple[dict[str, Any], int]] = []
        changed = 0
        for doc, ms in zip(self.docs, self.ms, strict=True):
            new = change(doc)
            changed += new is not doc
            if new is not None:
                kept.append((new, ms))
        if changed:
            self.docs = [d for d, _ in kept]
            self.ms = [m for _, m in kept]
            self.changes += 1
            self._view = None
        return changed
