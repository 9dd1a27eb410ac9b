"""PostgreSQL URLs as cbe takes them (``--db``, ``$CBE_DB``) and shows them: never a password;
the pool size a URL asks for (``?pool_size=N``), taken out before psycopg sees it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from core.errors import CbeError

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a folder."""
    return isinstance(target, str) and target.lower().startswith(SCHEMES)


def shown_url(url: str) -> str:
    """``url`` as cbe prints it: the password, if any, replaced by ``***``; query parameters
    (which may carry ``password=``) left out."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def database_name(url: str) -> str:
    """The database's name in ``url`` (what a title shows), or the server's when it has none."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    return name or (parts.hostname or "postgres")


POOL_SIZE_ENV = "CBE_POOL_SIZE"
"""The environment variable that sizes a process's connection pool when the URL does not."""

DEFAULT_POOL_SIZE = 8
"""Connections a process keeps at most unless told otherwise: one per thread in a unit of
work (``cbe serve`` writes on one thread, reads on a few), and a few readers."""

MAX_POOL_SIZE = 1000
"""More than any PostgreSQL server allows one client (its ``max_connections`` is 100 unless
raised): a larger number is a typing mistake."""


class InvalidDatabaseUrl(CbeError):
    """A PostgreSQL URL's cbe parameters (the pool's size) are not usable."""


@dataclass(frozen=True)
class PoolSize:
    """How many connections a process's pool keeps open at least, and opens at most."""

    min_size: int = 1
    max_size: int = DEFAULT_POOL_SIZE


SMALLEST_POOL = 2
"""A unit of work holds one connection while a new month's partition is made on another."""


def _pool_number(value: str, name: str, source: str, least: int = SMALLEST_POOL) -> int:
    if not value.strip().isdigit() or not least <= int(value) <= MAX_POOL_SIZE:
        raise InvalidDatabaseUrl(
            f"{name}{source} must be a whole number of connections from {least} to "
            f"{MAX_POOL_SIZE} (a unit of work holds one while partitions are made on "
            f"another); got {value!r}."
        )
    return int(value)


def split_pool_size(url: str, environ: Mapping[str, str] | None = None) -> tuple[str, PoolSize]:
    """``url`` without cbe's own query parameters (psycopg refuses what it does not know),
    and the pool size they give: ``pool_size=N`` the most connections (default
    :data:`DEFAULT_POOL_SIZE`, or ``$CBE_POOL_SIZE``), ``pool_min_size=N`` the fewest kept
    open (default 1, never more than the most)."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    kept: list[str] = []
    given: dict[str, str] = {}
    for pair in parts.query.split("&"):
        key = pair.partition("=")[0]
        if key in ("pool_size", "pool_min_size"):
            given[key] = unquote(pair.partition("=")[2])
        elif pair:
            kept.append(pair)
    if "pool_size" in given:
        largest = _pool_number(given["pool_size"], "pool_size", " in the database URL")
    elif environ.get(POOL_SIZE_ENV, "").strip():
        largest = _pool_number(environ[POOL_SIZE_ENV], f"${POOL_SIZE_ENV}", "")
    else:
        largest = DEFAULT_POOL_SIZE
    smallest = 1
    if "pool_min_size" in given:
        smallest = _pool_number(
            given["pool_min_size"], "pool_min_size", " in the database URL", least=1
        )
        if smallest > largest:
            raise InvalidDatabaseUrl(
                f"pool_min_size in the database URL ({smallest}) is more than the pool's "
                f"size ({largest}): the pool keeps at least pool_min_size connections open "
                "and at most pool_size."
            )
    clean = urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))
    return clean, PoolSize(min(smallest, largest), largest)
