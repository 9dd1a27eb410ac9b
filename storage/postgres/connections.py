"""The connections a PostgreSQL database is used through, and the unit of work.

A unit of work is one PostgreSQL transaction on one connection taken from the pool, for the
thread that opened it; a unit opened inside another by the same thread joins it. Leaving the
outermost unit rolls back what was not committed; :meth:`_Unit.commit` commits and goes on in
a new transaction (what is written after it needs a commit of its own).

**The database's lock** is a transaction-level advisory lock, one per database (one portal).
A unit takes it when it first does something whose outcome depends on nobody writing between
its read and its write: an id handed out, a write of definitions, records, workflows, the
quarantine, or a rewrite of completions, and the reads such a write is decided on (contacts by
email or utk when none is found, lists of records, enrollments when there are any). It holds
it to the end of its transaction, as the port asks.

Plain ingest needs no lock, so several processes store completions at once: a completion's
``(event_name, uuid)`` is made unique by the database (``completion_uuids``), and what ingest
reads without the lock (definitions, a record by id, a contact found by email) is only ever
added to or edited, never taken back in a way that would make the completion wrong, so each
such unit is as if it ran whole before the write it raced. Two people saving the same event
definition in two processes at the same moment: the later save wins.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from core.errors import StorageUnavailable
from core.models import Portal
from core.ports import Topic

Conn = psycopg.Connection[tuple[Any, ...]]

T = TypeVar("T")

LOCK_KEY = 0x636265
"""The advisory lock that stands for the database's lock ("cbe")."""


def take_lock(conn: Conn) -> None:
    """Hold the database's lock until ``conn``'s transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


@dataclass
class UnitState:
    """What one thread's open unit of work holds."""

    conn: Conn
    locked: bool = False
    portal: Portal | None = None
    """A new portal written in the unit, the database's once it commits."""
    records_version: int | None = None
    """The version of the records (table ``changes``) this unit reads them at, once read."""
    definitions_version: int | None = None
    """The version of the event definitions this unit reads them at, read with the records'
    (-1: the table ``changes`` has none, and definitions are read from their table)."""
    records_written: bool = False
    """Whether the unit wrote records (then it reads them from the table, never a cache)."""
    definitions_written: bool = False
    """Whether the unit wrote definitions (then it reads them from the table, never a cache)."""
    claimed: set[tuple[str, str]] = field(default_factory=set)
    """``(event, uuid)`` keys the unit holds in ``completion_uuids`` for completions it may
    store (storage.postgres.completions): released at its commit unless it stored them."""
    touched: set[Topic] = field(default_factory=set)
    """What the unit wrote: announced once it commits (storage.postgres.watch)."""
    background: list[threading.Thread] = field(default_factory=list)
    """Statements sent on the unit's connection by another thread (:meth:`Connections.
    in_background`): waited for before the unit's transaction ends."""

    def wait_for_background(self) -> None:
        for thread in self.background:
            thread.join()
        self.background.clear()


def release_claims(conn: Conn, keys: set[tuple[str, str]]) -> None:
    """Remove the claims on ``keys`` a unit made and did not store completions under."""
    conn.execute(
        "DELETE FROM completion_uuids u USING unnest(%s::text[], %s::text[])"
        " AS k(event_name, uuid) WHERE u.event_name = k.event_name AND u.uuid = k.uuid",
        [[k[0] for k in keys], [k[1] for k in keys]],
    )


class _Unit:
    """A unit of work on a PostgreSQL database (core.ports.UnitOfWork)."""

    def __init__(self, connections: Connections, state: UnitState, outermost: bool) -> None:
        self._connections = connections
        self._state = state
        self._outermost = outermost

    def commit(self) -> None:
        if not self._outermost:
            return  # a unit inside another: the outermost one commits
        state = self._state
        state.wait_for_background()
        try:
            if state.claimed:  # uuids looked up but not stored: free for anyone again
                release_claims(state.conn, state.claimed)
                state.claimed.clear()
            state.conn.commit()
        except psycopg.Error as error:
            raise StorageUnavailable(
                f"The database did not keep this change ({error}); nothing of it was stored."
            ) from error
        if state.touched:  # kept: now others may hear of it
            self._connections.announce(state.touched)
            state.touched = set()
        state.locked = False  # a transaction-level lock ends with its transaction
        state.records_version = None  # what follows is read afresh
        state.definitions_version = None
        state.records_written = False
        state.definitions_written = False
        if state.portal is not None:
            self._connections.committed_portal(state.portal)
            state.portal = None


class Connections:
    """The pool and each thread's unit of work; what every repository reaches the database by."""

    def __init__(
        self,
        pool: ConnectionPool[Conn],
        portal: Portal,
        announce: Callable[[set[Topic]], None] | None = None,
    ) -> None:
        self.pool = pool
        self._portal = portal
        self._local = threading.local()
        self.announce: Callable[[set[Topic]], None] = announce or (lambda _topics: None)
        """Tells other processes what a committed write changed (storage.postgres.watch)."""

    def unit(self) -> UnitState | None:
        """The calling thread's open unit of work, if any."""
        found: UnitState | None = getattr(self._local, "unit", None)
        return found

    @property
    def portal(self) -> Portal:
        unit = self.unit()
        if unit is not None and unit.portal is not None:
            return unit.portal
        return self._portal

    def committed_portal(self, portal: Portal) -> None:
        self._portal = portal

    @contextmanager
    def transaction(self) -> Iterator[_Unit]:
        state = self.unit()
        if state is not None:  # this thread's unit: join it
            yield _Unit(self, state, outermost=False)
            return
        try:
            conn = self.pool.getconn()
        except psycopg.Error as error:
            raise StorageUnavailable(f"The database cannot be reached: {error}") from error
        state = self._local.unit = UnitState(conn)
        try:
            yield _Unit(self, state, outermost=True)
        finally:
            self._local.unit = None
            state.wait_for_background()  # nothing may use the connection once it is back
            with contextlib.suppress(psycopg.Error):  # a broken one: the pool drops it
                conn.rollback()  # what was not committed
            self.pool.putconn(conn)

    @contextmanager
    def connection(self, locking: bool = False, writes: Topic | None = None) -> Iterator[Conn]:
        """The calling thread's unit's connection, or (outside any unit) a connection whose
        transaction is a unit of its own, committed when the block ends without an error.
        ``locking``: hold the database's lock (to the end of the unit). ``writes``: what the
        block changes, announced once it is committed."""
        state = self.unit()
        try:
            if state is not None:
                if locking and not state.locked:
                    take_lock(state.conn)
                    state.locked = True
                yield state.conn
                if writes is not None:  # announced if the unit commits
                    state.touched.add(writes)
                return
            with self.pool.connection() as conn:
                if locking:
                    take_lock(conn)
                yield conn
        except psycopg.OperationalError as error:  # the server gone, a full disk, a timeout
            raise StorageUnavailable(f"The database did not answer: {error}") from error
        if writes is not None:  # committed as the pool's block ended
            self.announce({writes})

    def records_version(self, state: UnitState) -> int:
        """The version of the records (table ``changes``) ``state``'s unit reads them at: read
        once, by its first read of a record or definition (storage.postgres.repositories)."""
        return self.versions(state)[0]

    def definitions_version(self, state: UnitState) -> int:
        """The version of the event definitions ``state``'s unit reads them at (-1: none kept,
        as in a schema older than version 4)."""
        return self.versions(state)[1]

    def versions(self, state: UnitState) -> tuple[int, int]:
        """The records' and the definitions' versions ``state``'s unit reads them at, both read
        in one statement, once: a unit of ingest reads definitions and records alike."""
        records, definitions = state.records_version, state.definitions_version
        if records is None or definitions is None:
            with self.connection() as conn:
                rows = conn.execute(
                    "SELECT what, version FROM changes WHERE what IN ('records', 'definitions')"
                ).fetchall()
            found = {str(what): int(version) for what, version in rows}
            records = state.records_version = found.get("records", -1)
            definitions = state.definitions_version = found.get("definitions", -1)
        return records, definitions

    def in_background(self, work: Callable[[Conn], T]) -> Callable[[], T]:
        """Run ``work`` on the calling thread's unit's connection in another thread, and give
        what waits for its result (or raises its error, as :meth:`connection` would). What
        the calling thread sends on the connection meanwhile waits for it (a psycopg
        connection takes one statement at a time); the unit waits for it before it ends.
        Outside a unit: ``work`` runs now, on a connection of its own."""
        state = self.unit()
        if state is None:
            with self.connection() as conn:
                done = work(conn)
            return lambda: done
        outcome: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(work(state.conn))
            except BaseException as error:  # handed to the caller
                failure.append(error)

        thread = threading.Thread(target=run, name="cbe-unit-background", daemon=True)
        state.background.append(thread)
        thread.start()

        def result() -> T:
            thread.join()
            if failure:
                error = failure[0]
                if isinstance(error, psycopg.OperationalError):
                    raise StorageUnavailable(f"The database did not answer: {error}") from error
                raise error
            return outcome[0]

        return result

    def lock(self) -> None:
        """Take the database's lock in the calling thread's unit (nothing outside one)."""
        state = self.unit()
        if state is not None and not state.locked:
            take_lock(state.conn)
            state.locked = True

    @property
    def locked(self) -> bool:
        """Whether the calling thread's unit holds the database's lock."""
        state = self.unit()
        return state is not None and state.locked
