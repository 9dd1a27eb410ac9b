"""The PostgreSQL adapter: a shared server database for teams whose data or readers outgrow
one machine (issue 17). One PostgreSQL database holds one portal.

- ``schema``: the DDL, its migrations, the monthly partitions of completions;
- ``connections``: the pool, the unit of work and the database's lock;
- ``repositories``: definitions, records, workflows; ``completions``: completions and their
  counts; ``quarantine``: rejected requests; ``outbox``: what is owed to a remote portal;
- ``database``: the Database that holds them, and :func:`open_postgres`;
- ``urls``: telling a URL from a folder, and showing one without its password.

``database`` (and psycopg with it) is imported when one of its names is first used: a process
that opens a folder (the app, most commands) never loads the PostgreSQL driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from storage.postgres.urls import is_postgres_url, shown_url

if TYPE_CHECKING:
    from storage.postgres.database import (
        NotACbeDatabase,
        PostgresDatabase,
        erase_cbe,
        holds_cbe,
        open_postgres,
    )

__all__ = [
    "NotACbeDatabase",
    "PostgresDatabase",
    "erase_cbe",
    "holds_cbe",
    "is_postgres_url",
    "open_postgres",
    "shown_url",
]

_IN_DATABASE = frozenset(
    {"NotACbeDatabase", "PostgresDatabase", "erase_cbe", "holds_cbe", "open_postgres"}
)


def __getattr__(name: str) -> Any:
    """``storage.postgres.database``'s names, imported on first use (PEP 562)."""
    if name in _IN_DATABASE:
        return getattr(importlib.import_module("storage.postgres.database"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
