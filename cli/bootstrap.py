"""The composition root: where a database lives, and the services built on it.

The CLI, the TUI, the HTTP server, the tests and the screenshot script all build cbe here, so
they all get the same object graph.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from platformdirs import user_data_path

from core.clock import Clock, SystemClock
from core.ingestion import IdFactory
from core.models import Portal
from core.ports import Database, MemoryPreferences, Preferences
from core.services import Services, random_id
from storage.database import PORTAL_FILE, TinyDatabase, open_database
from storage.memory import MemoryDatabase
from storage.postgres import is_postgres_url
from storage.preferences import JsonPreferences, default_preferences_path

if TYPE_CHECKING:
    from core.forwarding import RemoteSender
    from core.remote import RemotePortal, Waiting
    from storage.postgres import PostgresDatabase

# The PostgreSQL adapter (psycopg) and the remote portal's client (urllib, ssl) are imported
# where they are used: the app on a folder, and most commands, start without either.

DB_ENV = "CBE_DB"


def data_home() -> Path:
    """cbe's folder in the user's data directory (``$XDG_DATA_HOME/cbe`` on Linux)."""
    return user_data_path("cbe", appauthor=False)


DatabaseTarget = Path | str
"""Where a database is: a folder (the embedded store), or a PostgreSQL URL (a str)."""


def database_target(value: str | os.PathLike[str]) -> DatabaseTarget:
    """``value`` as a database target: a ``postgresql://`` URL kept as it is, else a folder."""
    text = os.fspath(value)
    return text if is_postgres_url(text) else Path(text).expanduser()


def default_database_path() -> DatabaseTarget:
    """``$CBE_DB`` if set (a folder or a PostgreSQL URL), else the default portal's folder in
    the user's data directory."""
    configured = os.environ.get(DB_ENV)
    if configured:
        return database_target(configured)
    return data_home() / "default"


def demo_database_path() -> Path:
    """Where ``cbe --demo`` keeps its demo database."""
    return data_home() / "demo"


def open_services(
    target: str | os.PathLike[str],
    *,
    clock: Clock | None = None,
    new_id: IdFactory | None = None,
    create: bool = True,
    portal_id: int | None = None,
    preferences: Preferences | None = None,
    read_only: bool | None = False,
    allow_damage: bool = False,
) -> Services:
    """Open (or create) the database ``target`` and build cbe's services on it: a PostgreSQL
    database when ``target`` is a ``postgresql://`` (or ``postgres://``) URL, else the folder
    of an embedded one.

    Preferences default to the user's own file (see storage.preferences).
    """
    clock = clock or SystemClock()
    database: Database
    if is_postgres_url(target):
        from storage.postgres import NotACbeDatabase, open_postgres

        assert isinstance(target, str)
        if read_only:
            raise NotACbeDatabase(
                "--read-only opens a database folder without its lock; for a PostgreSQL "
                "database, connect as a role that may only read."
            )
        database = open_postgres(target, create=create, portal_id=portal_id, clock=clock)
        return Services(
            db=database,
            clock=clock,
            new_id=new_id or random_id,
            preferences=preferences or JsonPreferences(default_preferences_path()),
        )
    database = open_database(
        target,
        create=create,
        portal_id=portal_id,
        clock=clock,
        read_only=read_only,
        allow_damage=allow_damage,
    )
    return Services(
        db=database,
        clock=clock,
        new_id=new_id or random_id,
        preferences=preferences or JsonPreferences(default_preferences_path()),
    )


def memory_services(
    *,
    portal_id: int,
    clock: Clock | None = None,
    new_id: IdFactory | None = None,
    preferences: Preferences | None = None,
) -> Services:
    """cbe's services on a database held in memory (tests, throwaway runs): gone on close."""
    clock = clock or SystemClock()
    portal = Portal.new(clock.now(), portal_id)
    return Services(
        db=MemoryDatabase(portal),
        clock=clock,
        new_id=new_id or random_id,
        preferences=preferences or MemoryPreferences(),
    )


def warm_up(services: Services) -> None:
    """What a server loads once, before its first request, for the store it serves: the
    embedded store's set of taken uuids, and the columns of its records' index that find a
    contact by email and visitor token (its first write would load them otherwise; no record
    is read: storage.table_snapshot)."""
    if isinstance(services.db, TinyDatabase):
        services.db.completions.prepare_writes()
        services.db.records.find_contact_by_email("")
        services.db.records.find_contact_by_utk("")


def bulk_load(db: Database) -> AbstractContextManager[None]:
    """Around many writes in a row (``cbe demo``, ``cbe copy``): the embedded store folds its
    records' log once at the end (TinyDatabase.bulk_load); other stores need nothing."""
    return db.bulk_load() if isinstance(db, TinyDatabase) else nullcontext()


def database_location(services: Services) -> str:
    """Where the database of ``services`` is, for people to read: its folder, or its URL
    without the password."""
    if is_postgres(services.db):
        return services.db.shown_url
    return str(database_folder(services))


def token_location(services: Services) -> str:
    """Where the access token of the database of ``services`` is kept."""
    if is_postgres(services.db):
        return f"the database's portal table ({services.db.shown_url})"
    return str(database_folder(services) / PORTAL_FILE)


def is_postgres(db: Database) -> TypeGuard[PostgresDatabase]:
    """Whether ``db`` is a PostgreSQL database (the adapter is imported only to tell one that
    is not a folder's)."""
    if isinstance(db, TinyDatabase | MemoryDatabase):
        return False
    from storage.postgres import PostgresDatabase

    return isinstance(db, PostgresDatabase)


def database_folder(services: Services) -> Path:
    """The folder the database of ``services`` lives in (what :func:`open_services` opens
    is a folder; core knows a database only by its name)."""
    if not isinstance(services.db, TinyDatabase):
        raise TypeError(f"{services.db.name} is not kept in a folder")
    return services.db.folder


def open_sender(url: str, token: str) -> RemoteSender:
    """A remote portal's send API, for ``cbe serve --forward`` (its 429s waited out as
    ``open_remote``'s, each wait at most 30 s: the relay pauses and tries again itself)."""
    from storage.hubspot_remote import HubSpotRemote

    return HubSpotRemote(
        url,
        token,
        max_wait=30.0,
        timeout=20.0,
        unanswered="what it carried stays owed and is sent again (a uuid is never stored twice).",
    )


def open_remote(url: str, token: str, *, on_wait: Waiting | None = None) -> RemotePortal:
    """A remote portal (HubSpot, or another ``cbe serve``) reached through HubSpot's API."""
    from storage.hubspot_remote import HubSpotRemote

    return HubSpotRemote(url, token, on_wait=on_wait)
