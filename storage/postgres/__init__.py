"""The PostgreSQL adapter: a shared server database for teams whose data or readers outgrow
one machine (issue 17). One PostgreSQL database holds one portal.

- ``schema``: the DDL, its migrations, the monthly partitions of completions;
- ``connections``: the pool, the unit of work and the database's lock;
- ``repositories``: definitions, records, workflows; ``completions``: completions and their
  counts; ``quarantine``: rejected requests; ``outbox``: what is owed to a remote portal;
- ``database``: the Database that holds them, and :func:`open_postgres`;
- ``urls``: telling a URL from a folder, and showing one without its password.
"""

from storage.postgres.database import (
    NotACbeDatabase,
    PostgresDatabase,
    erase_cbe,
    holds_cbe,
    open_postgres,
)
from storage.postgres.urls import is_postgres_url, shown_url

__all__ = [
    "NotACbeDatabase",
    "PostgresDatabase",
    "erase_cbe",
    "holds_cbe",
    "is_postgres_url",
    "open_postgres",
    "shown_url",
]
