"""PostgreSQL URLs as cbe takes them (``--db``, ``$CBE_DB``) and shows them: never a password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

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
