"""The set of taken ``(event, uuid)``: stable hashes kept in segment indexes, and the set a
write checks its uuids against."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any


@functools.lru_cache(maxsize=1 << 15)
def uuid_hash(event: str, uuid: str) -> int:
    """A stable 64-bit hash of ``(event, uuid)``: kept in segment indexes, so that the set of
    taken uuids is built without reading them. Cached: a write checks its uuids, adds them to
    the set and later indexes them."""
    digest = hashlib.blake2b(f"{event}\n{uuid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def docs_uuid_hashes(docs: Iterable[dict[str, Any]]) -> Iterator[int]:
    """Hashes of ``(event, uuid)`` of the completions whose sender chose the uuid."""
    for doc in docs:
        if doc.get("uuid") and doc["uuid"] != doc["id"]:
            yield uuid_hash(doc["eventName"], doc["uuid"])


class UuidHashes:
    """The hashes of every taken ``(event, uuid)``.

    Kept as the keys of a dict of ``None``, not a set: a dict of ints is a container Python's
    cycle collector does not track, while a set of a million ints had each full collection walk
    it (a third of a batched write's time at a million completions).
    """

    def __init__(self, hashes: Iterable[int]) -> None:
        self.hashes: dict[int, None] = dict.fromkeys(hashes)
        """Test membership here (``in``): each write tests hundreds."""

    def update(self, hashes: Iterable[int]) -> None:
        self.hashes.update(dict.fromkeys(hashes))
