"""The storage adapters the tests run on, in one place: the contract suite (tests/contract) and
core's tests (tests/core) run once per adapter here."""

from __future__ import annotations

import itertools
from pathlib import Path

from cli.bootstrap import memory_services, open_services
from core.clock import Clock
from core.services import Services
from tests.postgres import fresh_database_url

ADAPTERS = ("tiny", "memory", "postgres")
"""The embedded TinyDB folder (the default), the in-memory database, and PostgreSQL (a fresh
database on the tests' server: tests.postgres)."""


def services_on(adapter: str, folder: Path, clock: Clock, portal_id: int) -> Services:
    """cbe's services on a fresh database of ``adapter`` (in ``folder`` if it keeps files),
    with predictable completion ids ``c000001``, ``c000002``, ..."""
    counter = itertools.count(1)

    def new_id() -> str:
        return f"c{next(counter):06d}"

    if adapter == "memory":
        return memory_services(portal_id=portal_id, clock=clock, new_id=new_id)
    if adapter == "postgres":
        return open_services(fresh_database_url(), clock=clock, new_id=new_id, portal_id=portal_id)
    assert adapter == "tiny", adapter
    return open_services(folder, clock=clock, new_id=new_id, portal_id=portal_id)
