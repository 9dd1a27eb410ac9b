"""A PostgreSQL server for the tests, and a fresh database on it for each test.

Found in this order: ``$CBE_TEST_POSTGRES_URL`` (a server someone runs; its database is used
to create and drop the tests' databases); else a throwaway cluster this process starts itself
when ``initdb`` and ``pg_ctl`` are on PATH (as the ``postgres`` user when run as root, since
``initdb`` refuses root), in a temporary folder, reached by a unix socket in that folder only;
else the tests that need one are skipped, saying why. ``CBE_REQUIRE_POSTGRES=1`` makes a
missing server a failure (CI).

Each pytest-xdist worker has its own cluster (no port or lock to share: the socket is in the
cluster's own folder). A test's portal is a schema of its own in one database of the server,
cbe's schema made in it, reached by a URL that sets ``search_path`` (``options=-csearch_path=``):
making one takes about 0.1 s where ``CREATE DATABASE ... TEMPLATE`` took 0.7 to 2 s on the test
machine (2 CPUs, busy), which over hundreds of tests is minutes. The schemas of earlier tests
are dropped as new ones are made, and the cluster is stopped when the session ends.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from storage.postgres.schema import migrate

URL_ENV = "CBE_TEST_POSTGRES_URL"
REQUIRE_ENV = "CBE_REQUIRE_POSTGRES"
KEEP = 3
"""Earlier tests' schemas kept (a test may still hold one a moment); older ones are dropped."""


@dataclass
class Server:
    """A server the tests may create databases on."""

    admin_url: str
    folder: Path | None = None
    """The throwaway cluster's folder (None: a server someone else runs)."""
    prefix: str = field(default_factory=lambda: f"cbe_test_{os.getpid()}")
    made: list[str] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    database: str | None = None
    """The database the tests' portals are schemas of, once made."""

    def url(self, database: str, schema: str | None = None) -> str:
        parts = urlsplit(self.admin_url)
        query = [p for p in parts.query.split("&") if p]
        if schema is not None:
            query.append(f"options=-csearch_path%3D{schema}")
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", "&".join(query), ""))

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True)

    def fresh_database(self) -> str:
        """The URL of a new portal: a schema holding cbe's tables and nothing else."""
        if self.database is None:
            with self.admin() as conn:
                name = f"{self.prefix}"
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self.database = name
        schema = f"portal_{next(self.counter)}"
        with psycopg.connect(self.url(self.database), autocommit=True) as conn:
            while len(self.made) > KEEP:
                old = self.made.pop(0)
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(old))
                )
            with conn.transaction():
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema)))
                migrate(conn, None)
        self.made.append(schema)
        return self.url(self.database, schema)

    def stop(self) -> None:
        if self.folder is not None:
            _as_owner(["pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop"])
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
            return
        if self.database is not None:  # someone else's server: leave it as it was found
            with self.admin() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.database)
                    )
                )
            self.database = None
        self.made.clear()


_server: Server | None = None
_why_not: str | None = None


def _as_owner(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as the cluster's owner: ``postgres`` when we are root."""
    program = shutil.which(command[0]) or command[0]
    full = [program, *command[1:]]
    if os.geteuid() == 0:
        full = ["runuser", "-u", "postgres", "--", *full]
    return subprocess.run(full, capture_output=True, text=True, check=True, **options)  # type: ignore[call-overload, no-any-return]


def _start_cluster() -> Server:
    folder = Path(tempfile.mkdtemp(prefix="cbe-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    _as_owner(
        [
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
    )
    options = " ".join(
        [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{folder}'",
            "-c shared_buffers=16MB",
            "-c max_connections=100",
            "-c fsync=off",  # a throwaway cluster: nothing to keep across a machine's crash
            "-c full_page_writes=off",
            "-c synchronous_commit=off",
        ]
    )
    _as_owner(
        ["pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        timeout=60,
    )
    return Server(f"postgresql://postgres@/postgres?host={folder}&port=5432", folder)


def server() -> Server | None:
    """This process's server, found or started the first time it is asked for."""
    global _server, _why_not
    if _server is not None or _why_not is not None:
        return _server
    given = os.environ.get(URL_ENV)
    if given:
        _server = Server(given)
    elif shutil.which("initdb") and shutil.which("pg_ctl"):
        try:
            _server = _start_cluster()
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", "") or ""
            _why_not = f"could not start a PostgreSQL cluster: {error} {detail}".strip()
            return None
    else:
        _why_not = f"no PostgreSQL: set ${URL_ENV}, or put initdb and pg_ctl on PATH"
        return None
    atexit.register(stop_server)
    return _server


def stop_server() -> None:
    """Stop this process's throwaway cluster (or drop the databases made on a given server)."""
    global _server
    if _server is not None:
        found, _server = _server, None
        found.stop()


def fresh_database_url() -> str:
    """A new database with cbe's schema for one test; skips (or, with
    ``$CBE_REQUIRE_POSTGRES=1``, fails) the test when there is no server."""
    found = server()
    if found is None:
        reason = _why_not or "no PostgreSQL server"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return found.fresh_database()
