"""Rejected requests (core.rejections) in PostgreSQL: one row each, oldest first, trimmed by
core's :class:`QuarantineRoom` when more than the bound are kept. A body is kept as the
embedded store writes it (storage.rejections.encode): whatever JSON came, even what orjson
cannot write."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import orjson

from core.ports import Topic
from core.rejections import DEFAULT_BOUND, QuarantineRoom, RejectedRequest
from storage.postgres.connections import Conn, Connections
from storage.rejections import decode, encode

BOUND_KEY = "rejectionsBound"


class PostgresRejectionRepository:
    def __init__(self, connections: Connections) -> None:
        self._c = connections

    @property
    def bound(self) -> int:
        with self._c.connection() as conn:
            return _bound(conn)

    def set_bound(self, bound: int) -> None:
        with self._c.connection(locking=True, writes=Topic.REJECTIONS) as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (%s, %s::json)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [BOUND_KEY, orjson.dumps(bound).decode()],
            )
            _trim(conn, bound)

    def add(self, requests: Sequence[RejectedRequest]) -> None:
        if not requests:
            return
        with self._c.connection(locking=True, writes=Topic.REJECTIONS) as conn:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO rejections (id, doc) VALUES (%s, %s)",
                    [(r.id, encode(r).decode().rstrip("\n")) for r in requests],
                )
            _trim(conn, _bound(conn))

    def list_all(self) -> list[RejectedRequest]:
        with self._c.connection() as conn:
            rows = conn.execute("SELECT doc FROM rejections ORDER BY seq DESC").fetchall()
        return [decode(r[0].encode()) for r in rows]

    def remove(self, ids: Collection[str]) -> int:
        if not ids:
            return 0
        with self._c.connection(locking=True, writes=Topic.REJECTIONS) as conn:
            gone = conn.execute("DELETE FROM rejections WHERE id = ANY(%s::text[])", [list(ids)])
        return gone.rowcount


def _bound(conn: Conn) -> int:
    row = conn.execute("SELECT value FROM settings WHERE key = %s", [BOUND_KEY]).fetchone()
    return DEFAULT_BOUND if row is None else int(row[0])


def _trim(conn: Conn, bound: int) -> None:
    """Keep the newest requests the room admits (the caller holds the lock)."""
    count = conn.execute("SELECT count(*) FROM rejections").fetchone()
    if count is None or count[0] <= bound:
        return
    room = QuarantineRoom(bound)
    gone: list[int] = []
    rows = conn.execute("SELECT seq, doc FROM rejections ORDER BY seq DESC").fetchall()
    for index, (seq, doc) in enumerate(rows):
        admitted = room.admit(decode(doc.encode()))
        if admitted is None:
            gone.extend(r[0] for r in rows[index:])
            break
        if not admitted:
            gone.append(seq)
    if gone:
        conn.execute("DELETE FROM rejections WHERE seq = ANY(%s::bigint[])", [gone])
