"""Telling when a PostgreSQL database changed (core.ports.StoreWatcher): LISTEN on its channel.

Every statement that writes one of cbe's tables sends the table's name on the schema's channel
(``cbe_channel(schema)``, see migration 2 in storage.postgres.schema), from its own transaction,
so the notification arrives once that commits, whichever process wrote. A watcher holds one
connection of its own, never the pool's (a pooled connection is given to others between uses,
and its LISTEN with it), and waits on it with ``Connection.notifies``.

A connection lost (the server restarted, the backend terminated, the network gone) is made
again, a little later each time it fails; notifications sent meanwhile are lost, so the first
wait after a new connection (the first one included) reports :data:`core.ports.EVERYTHING`.
"""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg
from psycopg import sql

from core.ports import EVERYTHING, Topic
from storage.postgres.connections import Conn

TOPICS: dict[str, frozenset[Topic]] = {
    "completions": frozenset({Topic.COMPLETIONS}),
    "records": frozenset({Topic.RECORDS}),
    "associations": frozenset({Topic.RECORDS}),
    "workflows": frozenset({Topic.WORKFLOWS}),
    "enrollments": frozenset({Topic.WORKFLOWS}),
    "tasks": frozenset({Topic.WORKFLOWS}),
    "definitions": frozenset({Topic.DEFINITIONS}),
    "deleted_definitions": frozenset({Topic.DEFINITIONS}),
    "portal": frozenset({Topic.DEFINITIONS}),
    "settings": frozenset({Topic.DEFINITIONS, Topic.OUTBOX, Topic.REJECTIONS}),
    "outbox": frozenset({Topic.OUTBOX}),
    "rejections": frozenset({Topic.REJECTIONS}),
}
"""What a write of each table (the notification's payload) changed."""

RETRY = (0.2, 5.0)
"""Seconds before connecting again after a failure: the first wait, and the longest."""

PING_AFTER = 15.0
"""Seconds of silence after which the connection is checked (a network that went away
without a word leaves a socket that never reads)."""


class PostgresWatcher:
    """A :class:`core.ports.StoreWatcher` of the cbe database at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Conn | None = None
        self._retry_at = 0.0
        self._retry = RETRY[0]
        self._quiet_since = time.monotonic()
        self._closed = threading.Event()
        self.connections = 0
        """How many connections were made (the first included): a test sees a reconnection."""

    def _connect(self) -> bool:
        """Connect and LISTEN; False (and a later retry) when the database cannot be reached."""
        try:
            conn: Conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error:
            self._failed()
            return False
        try:
            row = conn.execute("SELECT cbe_channel(current_schema())").fetchone()
            assert row is not None
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(str(row[0]))))
        except psycopg.Error:
            conn.close()
            self._failed()
            return False
        self._conn = conn
        self._retry = RETRY[0]
        self._quiet_since = time.monotonic()
        self.connections += 1
        return True

    def _failed(self) -> None:
        self._retry_at = time.monotonic() + self._retry
        self._retry = min(self._retry * 2, RETRY[1])

    def _lost(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
        self._failed()
        self._retry_at = time.monotonic()  # the first attempt at once

    def wait(self, timeout: float) -> frozenset[Topic]:
        deadline = time.monotonic() + timeout
        if self._conn is None:
            while not self._closed.is_set():
                if time.monotonic() >= self._retry_at and self._connect():
                    return EVERYTHING  # what was sent while no one listened is lost
                left = deadline - time.monotonic()
                if left <= 0:
                    return frozenset()
                self._closed.wait(min(left, max(self._retry_at - time.monotonic(), 0.01)))
            return frozenset()
        conn = self._conn
        topics: set[Topic] = set()
        try:
            # At most a second at a time, so that close() is seen soon.
            while not topics and not self._closed.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for note in conn.notifies(timeout=min(left, 1.0), stop_after=1):
                    topics |= TOPICS.get(note.payload, EVERYTHING)
            if topics:  # and whatever came with it
                for note in conn.notifies(timeout=0):
                    topics |= TOPICS.get(note.payload, EVERYTHING)
                self._quiet_since = time.monotonic()
            elif time.monotonic() - self._quiet_since > PING_AFTER:
                conn.execute("SELECT 1")
                self._quiet_since = time.monotonic()
        except psycopg.Error:
            self._lost()
            return frozenset()  # reported as EVERYTHING once connected again
        return frozenset(topics)

    def close(self) -> None:
        self._closed.set()
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
