"""A cbe database in PostgreSQL: one database per portal; implements core.ports.Database.

Opened by URL (``postgresql://user@host:port/dbname``). The first open creates the schema
(storage.postgres.schema) and the portal; later opens upgrade an older schema and refuse a
newer one. Connections come from a pool; a unit of work is one transaction on one of them
(storage.postgres.connections).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from core.clock import Clock, SystemClock
from core.errors import CbeError, StorageUnavailable
from core.models import Portal
from core.ports import Topic
from storage.postgres.completions import PostgresCompletionRepository
from storage.postgres.connections import Conn, Connections, _Unit, take_lock
from storage.postgres.outbox import PostgresOutboxRepository
from storage.postgres.quarantine import PostgresRejectionRepository
from storage.postgres.repositories import (
    PostgresDefinitionRepository,
    PostgresRecordRepository,
    PostgresWorkflowRepository,
)
from storage.postgres.schema import (
    FUNCTIONS,
    SCHEMA_VERSION,
    TABLES,
    foreign_tables,
    installed_version,
    migrate,
)
from storage.postgres.urls import PoolSize, database_name, shown_url, split_pool_size
from storage.postgres.watch import Announcer, PostgresWatcher


class NotACbeDatabase(CbeError):
    """The PostgreSQL database is missing, unreachable, or holds something other than cbe's."""


def _configure(conn: Conn) -> None:
    set_json_loads(orjson.loads, conn)


class PostgresDatabase:
    """One portal's PostgreSQL database; implements :class:`core.ports.Database`."""

    def __init__(
        self, url: str, pool: ConnectionPool[Conn], portal: Portal, pool_size: PoolSize
    ) -> None:
        self.url = url
        """The URL psycopg connects by (cbe's own parameters, the pool's size, taken out)."""
        self.pool_size = pool_size
        self._announcer = Announcer(url)
        self._c = Connections(pool, portal, self._announcer)
        self._definitions = PostgresDefinitionRepository(self._c)
        self._records = PostgresRecordRepository(self._c)
        self._completions = PostgresCompletionRepository(self._c)
        self._workflows = PostgresWorkflowRepository(self._c)
        self._rejections = PostgresRejectionRepository(self._c)
        self._outbox = PostgresOutboxRepository(self._c)

    @property
    def shown_url(self) -> str:
        """The URL without its password, for people to read."""
        return shown_url(self.url)

    @property
    def portal(self) -> Portal:
        return self._c.portal

    def replace_portal(self, portal: Portal) -> None:
        with self._c.connection(locking=True, writes=Topic.DEFINITIONS) as conn:
            _write_portal(conn, portal)
        unit = self._c.unit()
        if unit is not None:
            unit.portal = portal  # the database's once the unit commits
        else:
            self._c.committed_portal(portal)

    @property
    def name(self) -> str:
        return database_name(self.url)

    @property
    def definitions(self) -> PostgresDefinitionRepository:
        return self._definitions

    @property
    def completions(self) -> PostgresCompletionRepository:
        return self._completions

    @property
    def records(self) -> PostgresRecordRepository:
        return self._records

    @property
    def workflows(self) -> PostgresWorkflowRepository:
        return self._workflows

    @property
    def rejections(self) -> PostgresRejectionRepository:
        return self._rejections

    @property
    def outbox(self) -> PostgresOutboxRepository:
        return self._outbox

    @contextmanager
    def transaction(self) -> Iterator[_Unit]:
        with self._c.transaction() as unit:
            yield unit

    def watch(self) -> PostgresWatcher:
        """A watcher of this database (core.ports.Watchable): LISTEN on a connection of its
        own, outside the pool."""
        return PostgresWatcher(self.url)

    def close(self) -> None:
        self._announcer.close()  # what was written is announced before the process ends
        self._c.pool.close()


def _write_portal(conn: Conn, portal: Portal) -> None:
    conn.execute(
        "INSERT INTO portal (only_row, doc) VALUES (true, %s::json)"
        " ON CONFLICT (only_row) DO UPDATE SET doc = excluded.doc",
        [orjson.dumps(portal.to_json()).decode()],
    )


def open_postgres(
    url: str,
    *,
    create: bool = True,
    portal_id: int | None = None,
    clock: Clock | None = None,
) -> PostgresDatabase:
    """Open the cbe database at ``url``, creating its schema and portal when ``create`` (the
    PostgreSQL database itself must exist: cbe never creates databases on a server). The pool
    keeps the connections ``?pool_size=N`` (or ``$CBE_POOL_SIZE``) asks for at most."""
    url, size = split_pool_size(url)
    shown = shown_url(url)
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            take_lock(conn)  # one process creates or upgrades the schema
            portal = _prepare(conn, shown, create, portal_id, clock or SystemClock())
    except psycopg.OperationalError as error:
        raise StorageUnavailable(f"cbe cannot reach the database at {shown}: {error}") from error
    pool: ConnectionPool[Conn] = ConnectionPool(
        url,
        min_size=size.min_size,
        max_size=size.max_size,
        configure=_configure,
        name="cbe",
        open=True,
        timeout=30.0,
        max_idle=timedelta(minutes=10).total_seconds(),
    )
    database = PostgresDatabase(url, pool, portal, size)
    try:
        now = (clock or SystemClock()).now()
        database.completions.prepare_months([now, now + timedelta(days=31)])
    except BaseException:
        database.close()
        raise
    return database


def _prepare(conn: Conn, shown: str, create: bool, portal_id: int | None, clock: Clock) -> Portal:
    """The schema made or upgraded and the portal read or made, in the caller's transaction."""
    found = installed_version(conn)
    if found is None:
        if not create:
            raise NotACbeDatabase(f"There is no cbe database at {shown}.")
        others = foreign_tables(conn)
        if others:
            raise NotACbeDatabase(
                f"The database at {shown} holds tables that are not cbe's ("
                f"{', '.join(others[:5])}{' and more' if len(others) > 5 else ''}); give cbe "
                "a database of its own (CREATE DATABASE cbe)."
            )
    elif found > SCHEMA_VERSION:
        raise NotACbeDatabase(
            f"The database at {shown} has schema version {found}; this cbe knows versions up "
            f"to {SCHEMA_VERSION}. Upgrade cbe to open it."
        )
    if found != SCHEMA_VERSION:
        migrate(conn, found)
    row = conn.execute("SELECT doc FROM portal").fetchone()
    if row is not None:
        return Portal.model_validate(orjson.loads(row[0]) if isinstance(row[0], str) else row[0])
    if not create:
        raise NotACbeDatabase(f"There is no cbe database at {shown}.")
    portal = Portal.new(clock.now(), portal_id)
    _write_portal(conn, portal)
    return portal


def holds_cbe(url: str) -> bool:
    """Whether the database at ``url`` holds a cbe schema."""
    url = split_pool_size(url)[0]
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            return installed_version(conn) is not None
    except psycopg.OperationalError as error:
        raise StorageUnavailable(
            f"cbe cannot reach the database at {shown_url(url)}: {error}"
        ) from error


def erase_cbe(url: str) -> None:
    """Drop every table of cbe's from the database at ``url`` (``cbe demo --replace``); what
    else the database holds is left alone."""
    url = split_pool_size(url)[0]
    with psycopg.connect(url, connect_timeout=10) as conn:
        take_lock(conn)
        if installed_version(conn) is None:
            return
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
        conn.execute(f"DROP FUNCTION IF EXISTS {', '.join(FUNCTIONS)}")
