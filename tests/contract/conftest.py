"""The contract suite: what every storage adapter does, the same for each (as harlequin's
adapter tests). A test here speaks only core.ports; a new adapter joins tests/adapters.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.clock import FixedClock
from core.models import Completion, CrmRecord, EventDefinition, ObjectType, Source
from core.ports import Database
from core.services import Services
from tests.adapters import ADAPTERS, services_on
from tests.conftest import NOW, PORTAL_ID


@pytest.fixture(params=ADAPTERS)
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """cbe's services on a fresh database of each adapter in turn."""
    built = services_on(request.param, tmp_path / "db", FixedClock(NOW), PORTAL_ID)
    yield built
    built.close()


@pytest.fixture
def db(services: Services) -> Database:
    """A fresh database of each adapter in turn."""
    return services.db


def completion(
    n: int,
    *,
    event: str = "pe12345678_viewed",
    object_id: str | None = "1",
    utk: str | None = None,
    uuid: str | None = None,
    minutes: int | None = None,
    tag: str | None = None,
) -> Completion:
    """Completion ``c{n}``, ``n`` minutes after NOW unless ``minutes`` says otherwise."""
    at = NOW + timedelta(minutes=n if minutes is None else minutes)
    return Completion(
        id=f"c{n}",
        uuid=uuid or f"c{n}",
        event_name=event,
        object_type=ObjectType.CONTACT,
        object_id=object_id,
        utk=utk,
        occurred_at=at,
        received_at=at,
        source=Source.API,
        properties={},
        tag=tag,
    )


def contact(record_id: str, email: str, *, archived: bool = False, utk: str = "") -> CrmRecord:
    properties = {"email": email, **({"hubspotutk": utk} if utk else {})}
    return CrmRecord(
        object_type=ObjectType.CONTACT,
        id=record_id,
        properties=properties,
        created_at=NOW,
        updated_at=NOW,
        archived=archived,
    )


def definition(definition_id: str, name: str) -> EventDefinition:
    return EventDefinition(
        id=definition_id,
        name=name,
        label=name.title(),
        fully_qualified_name=f"pe{PORTAL_ID}_{name}",
        created_at=NOW,
        updated_at=NOW,
    )


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)
