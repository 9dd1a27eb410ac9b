"""Telling when a PostgreSQL database changed (core.ports.StoreWatcher): NOTIFY after each
write is kept, LISTEN in the app.

**Announcing.** A unit of work that wrote (and any write outside a unit) names what it changed
(core.ports.Topic) to its connections (storage.postgres.connections); once its transaction has
committed, the process's :class:`Announcer` sends those names as notifications on the
schema's channel (:func:`channel`), so only what is kept is announced, and nothing before it is
readable. Not ``pg_notify`` inside the writing transaction, nor a trigger: PostgreSQL
serialises the commits of every transaction that notifies (a lock held until its commit is
flushed), which took ingest from 1,576 to 331 commits a second with 8 writers on the
development machine (bench/README.md). The announcer sends from a connection of its own in
autocommit with ``synchronous_commit`` off, at most every :data:`ANNOUNCE_EVERY` seconds, what
every unit committed since: a burst of sends is one notification per topic. A process that is
killed in the moment between a commit and its announcement leaves that change unannounced: the
app reads it with the next change, or by its slow timer (tui.app.FALLBACK).

**Listening.** A watcher holds one connection of its own, never the pool's (a pooled
connection is given to others between uses, and its LISTEN with it), and waits on it with
``Connection.notifies``. A connection lost (the server restarted, the backend terminated, the
network gone) is made again, a little later each time it fails; notifications sent meanwhile
are lost, so the first wait after a new connection (the first one included) reports
:data:`core.ports.EVERYTHING`.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time

import psycopg
from psycopg import sql

from core.ports import EVERYTHING, Topic
from storage.postgres.connections import Conn

RETRY = (0.2, 5.0)
"""Seconds before connecting again after a failure: the first wait, and the longest."""

PING_AFTER = 15.0
"""Seconds of silence after which the connection is checked (a network that went away
without a word leaves a socket that never reads)."""

ANNOUNCE_EVERY = 0.05
"""Seconds between two announcements of a process: what units commit meanwhile goes in the
next one."""


def channel(schema: str) -> str:
    """The channel a schema's (a portal's) changes are announced on: ``cbe <schema>``, or a
    digest of the schema's name when that would be longer than PostgreSQL's 63 bytes."""
    name = f"cbe {schema}"
    if len(name.encode()) <= 63:
        return name
    return "cbe " + hashlib.md5(schema.encode()).hexdigest()


def listener(channel: str) -> str:
    """The ``application_name`` of a session that listens on ``channel`` (at most 63 bytes, as
    PostgreSQL keeps)."""
    return ("cbe listens: " + channel).encode()[:63].decode(errors="ignore")


def _connect(url: str) -> tuple[Conn, str]:
    """A connection of its own in autocommit, and the channel of the schema it reaches."""
    conn: Conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    try:
        row = conn.execute("SELECT current_schema()").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn, channel(str(row[0] if row else "public"))


def _topics(payload: str) -> frozenset[Topic]:
    try:
        return frozenset({Topic(payload)})
    except ValueError:
        return EVERYTHING  # a newer cbe's word: read everything


class Announcer:
    """Sends what this process's committed writes changed, as notifications (see the module)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pending: set[Topic] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._conn: Conn | None = None
        self._channel = ""

    def __call__(self, topics: set[Topic]) -> None:
        """Announce ``topics`` (what a write that has committed changed), soon."""
        with self._lock:
            self._pending |= topics
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cbe-announcer", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return  # close() sends what is left
            self._send()
            time.sleep(ANNOUNCE_EVERY)  # what comes meanwhile goes together

    def _send(self) -> None:
        with self._lock:
            topics, self._pending = self._pending, set()
        if not topics:
            return
        for attempt in (1, 2):  # a connection found broken is made again once
            try:
                if self._conn is None:
                    self._conn, self._channel = _connect(self.url)
                    # Its commits need not wait for the disk: a notification is not data.
                    self._conn.execute("SET synchronous_commit = off")
                self._conn.execute(
                    "SELECT pg_notify(%s, t) FROM unnest(%s::text[]) AS t",
                    [self._channel, sorted(topics)],
                )
                return
            except psycopg.Error:
                self._drop()
                if attempt == 2:
                    return  # unannounced: the app reads it with the next change

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Send what is still to be announced (a short-lived ``cbe send`` ends here), then
        release the connection."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)
        self._send()
        self._drop()


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
            conn, name = _connect(self.url)
        except psycopg.Error:
            self._failed()
            return False
        try:
            # Named, so that an administrator (and a test) finds the app's listener among the
            # server's sessions whatever it last ran (a LISTEN, or the check of a quiet link).
            conn.execute("SELECT set_config('application_name', %s, false)", [listener(name)])
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
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
                    topics |= _topics(note.payload)
            if topics:  # and whatever came with it
                for note in conn.notifies(timeout=0):
                    topics |= _topics(note.payload)
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
