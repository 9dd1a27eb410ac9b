"""Fixtures and helpers for core's tests (on top of ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.clock import FixedClock
from core.errors import ValidationFailed, Violation
from core.models import Completion, CrmRecord, EventDefinition, ObjectType
from core.occurrences import CompletionQuery
from core.services import Services
from tests.adapters import ADAPTERS, services_on
from tests.conftest import PORTAL_ID


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every core test that uses ``services`` runs once per storage adapter, unless marked
    ``@pytest.mark.adapters("tiny")`` (it looks at files, or is slow and not about storage)."""
    if "adapter" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("adapters")
        metafunc.parametrize("adapter", marker.args if marker else ADAPTERS)


@pytest.fixture
def services(adapter: str, db_path: Path, clock: FixedClock) -> Iterator[Services]:
    """cbe's services on a fresh database of ``adapter``, with predictable ids."""
    built = services_on(adapter, db_path, clock, PORTAL_ID)
    yield built
    built.close()


WIDE_CUSTOM = 30
"""Custom properties of ``wide_event``: with the 32 defaults it knows more than 51 names."""


def wide_names() -> list[str]:
    """The custom property names of ``wide_event``: ``p01`` ... ``p30``."""
    return [f"p{i:02d}" for i in range(1, WIDE_CUSTOM + 1)]


@pytest.fixture
def wide_event(services: Services) -> EventDefinition:
    """An event with 30 custom string properties, so a completion can carry more than 50."""
    return services.definitions.create(
        {
            "label": "Wide",
            "propertyDefinitions": [
                {"name": name, "label": name.upper(), "type": "string"} for name in wide_names()
            ],
        }
    )


@pytest.fixture
def bob(services: Services) -> CrmRecord:
    return services.records.create(
        ObjectType.CONTACT,
        {"email": "bob@example.com", "firstname": "Bob", "hubspotutk": "utk-bob"},
    )


def body(event: EventDefinition, **fields: Any) -> dict[str, Any]:
    """A send body for ``event``; keyword arguments are HubSpot's camelCase fields."""
    return {"eventName": event.fully_qualified_name, **fields}


def contact_send(event: EventDefinition, contact: CrmRecord, **properties: Any) -> dict[str, Any]:
    """A send body of ``event`` for ``contact`` (by object id) with these properties."""
    return body(event, objectId=contact.id, properties=properties)


def violations_of(error: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[str, str]]:
    """``(field, rule)`` of every violation, in the order reported."""
    return [(v.field, v.rule.value) for v in error.value.violations]


def only_violation(error: pytest.ExceptionInfo[ValidationFailed]) -> Violation:
    assert len(error.value.violations) == 1, error.value.violations
    return error.value.violations[0]


def stored(services: Services) -> list[Completion]:
    """Every stored completion, oldest first."""
    return list(services.occurrences.iterate(CompletionQuery(newest_first=False)))


def assert_nothing_stored(services: Services) -> None:
    assert stored(services) == []
    assert services.occurrences.page(CompletionQuery()).results == []
    assert sum(s.count for s in services.db.completions.summaries().values()) == 0
