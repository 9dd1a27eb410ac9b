"""The forwarding outbox in ``cbe.json`` (core.forwarding.OutboxRepository): a table of what is
owed or refused, and one document with how many were sent. Written in the unit of work of the
completions it owes, so both are kept at one commit or neither."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from tinydb.table import Document, Table

from core.outbox import OutboxCounts, OutboxEntry
from storage.atomic import AtomicJSONStorage
from storage.locking import DatabaseLock

OUTBOX = "outbox"
FORWARDED = "forwarded"


def _table(storage: AtomicJSONStorage, name: str) -> Table:
    return Table(storage, name, cache_size=0)


def _entry(doc: Mapping[str, object]) -> OutboxEntry:
    refused = doc.get("refused")
    body = doc.get("body")
    return OutboxEntry(
        str(doc["id"]),
        dict(body) if isinstance(body, Mapping) else {},
        None if refused is None else str(refused),
    )


class TinyOutboxRepository:
    def __init__(self, storage: AtomicJSONStorage, lock: DatabaseLock) -> None:
        self._storage = storage
        self._lock = lock

    def _docs(self) -> list[Document]:
        return sorted(_table(self._storage, OUTBOX), key=lambda d: d.doc_id)

    def add(self, entries: Sequence[OutboxEntry]) -> None:
        with self._lock:
            table = _table(self._storage, OUTBOX)
            known = {d["id"] for d in table}
            fresh = [
                {"id": e.id, "body": e.body, "refused": e.refused}
                for e in entries
                if e.id not in known
            ]
            if fresh:
                table.insert_multiple(fresh)

    def owed(self, limit: int) -> list[OutboxEntry]:
        with self._lock.reading():
            return [_entry(d) for d in self._docs() if d.get("refused") is None][:limit]

    def settle(self, sent: Collection[str], refused: Mapping[str, str]) -> None:
        gone = set(sent)
        with self._lock:
            table = _table(self._storage, OUTBOX)
            docs = list(table)
            done = [d.doc_id for d in docs if d["id"] in gone]
            if done:
                table.remove(doc_ids=done)
            for doc in docs:
                if doc["id"] in refused:
                    table.update({"refused": refused[doc["id"]]}, doc_ids=[doc.doc_id])
            counter = _table(self._storage, FORWARDED)
            before = counter.get(doc_id=1)
            count = int(before["sent"]) if isinstance(before, Mapping) else 0
            counter.upsert(Document({"sent": count + len(done)}, doc_id=1))

    def refused(self) -> list[OutboxEntry]:
        with self._lock.reading():
            return [_entry(d) for d in self._docs() if d.get("refused") is not None]

    def requeue(self, ids: Collection[str] | None = None) -> int:
        wanted = None if ids is None else set(ids)
        with self._lock:
            table = _table(self._storage, OUTBOX)
            again = [
                d.doc_id
                for d in table
                if d.get("refused") is not None and (wanted is None or d["id"] in wanted)
            ]
            if again:
                table.update({"refused": None}, doc_ids=again)
            return len(again)

    def counts(self) -> OutboxCounts:
        with self._lock.reading():
            docs = list(_table(self._storage, OUTBOX))
            refused = sum(1 for d in docs if d.get("refused") is not None)
            counter = _table(self._storage, FORWARDED).get(doc_id=1)
            sent = int(counter["sent"]) if isinstance(counter, Mapping) else 0
            return OutboxCounts(len(docs) - refused, sent, refused)
