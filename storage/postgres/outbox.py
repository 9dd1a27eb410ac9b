"""What ``cbe serve --forward`` owes a remote portal (core.outbox), in PostgreSQL: a row per
completion owed or refused, oldest first, and a count of those sent. Written in the unit of
work of the completions it owes, so both are kept at one commit or neither."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import orjson

from core.outbox import OutboxCounts, OutboxEntry
from core.ports import Topic
from storage.postgres.connections import Connections

FORWARDED_KEY = "forwarded"
RELAY_KEY = "forwarding_relay"
"""The relay's remote and last error, as ``[remote, last_error]``."""


class PostgresOutboxRepository:
    def __init__(self, connections: Connections) -> None:
        self._c = connections

    def add(self, entries: Sequence[OutboxEntry]) -> None:
        if not entries:
            return
        with self._c.connection(writes=Topic.OUTBOX) as conn, conn.cursor() as cursor:
            cursor.executemany(  # an id already owed is owed once
                "INSERT INTO outbox (id, body, refused) VALUES (%s, %s::json, %s)"
                " ON CONFLICT (id) DO NOTHING",
                [(e.id, orjson.dumps(e.body).decode(), e.refused) for e in entries],
            )

    def owed(self, limit: int) -> list[OutboxEntry]:
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT id, body FROM outbox WHERE refused IS NULL ORDER BY seq LIMIT %s",
                [limit],
            ).fetchall()
        return [OutboxEntry(r[0], r[1]) for r in rows]

    def settle(self, sent: Collection[str], refused: Mapping[str, str]) -> None:
        with self._c.connection(locking=True, writes=Topic.OUTBOX) as conn:
            gone = conn.execute("DELETE FROM outbox WHERE id = ANY(%s::text[])", [list(sent)])
            if gone.rowcount:
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES (%s, to_json(%s::bigint))"
                    " ON CONFLICT (key) DO UPDATE"
                    " SET value = to_json(settings.value::text::bigint + %s)",
                    [FORWARDED_KEY, gone.rowcount, gone.rowcount],
                )
            for key, answer in refused.items():
                conn.execute("UPDATE outbox SET refused = %s WHERE id = %s", [answer, key])

    def refused(self) -> list[OutboxEntry]:
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT id, body, refused FROM outbox WHERE refused IS NOT NULL ORDER BY seq"
            ).fetchall()
        return [OutboxEntry(r[0], r[1], r[2]) for r in rows]

    def requeue(self, ids: Collection[str] | None = None) -> int:
        with self._c.connection(locking=True, writes=Topic.OUTBOX) as conn:
            again = conn.execute(
                "UPDATE outbox SET refused = NULL WHERE refused IS NOT NULL"
                " AND (%s::text[] IS NULL OR id = ANY(%s::text[]))",
                [None if ids is None else list(ids)] * 2,
            )
        return again.rowcount

    def counts(self) -> OutboxCounts:
        with self._c.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE refused IS NULL),"
                " count(*) FILTER (WHERE refused IS NOT NULL),"
                " (SELECT value::text::bigint FROM settings WHERE key = %s),"
                " (SELECT value FROM settings WHERE key = %s)"
                " FROM outbox",
                [FORWARDED_KEY, RELAY_KEY],
            ).fetchone()
        owed, refused, sent, relay = row if row else (0, 0, 0, None)
        remote, error = relay if isinstance(relay, list) and len(relay) == 2 else (None, None)
        return OutboxCounts(owed, sent or 0, refused, remote, error)

    def note_relay(self, remote: str, last_error: str | None) -> None:
        with self._c.connection(locking=True, writes=Topic.OUTBOX) as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (%s, %s::json)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [RELAY_KEY, orjson.dumps([remote, last_error]).decode()],
            )
