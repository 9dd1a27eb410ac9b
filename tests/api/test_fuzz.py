"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis).

For every operation, generated requests never get a 5xx answer, and a refused request changes
nothing: no definition, record or completion appears, changes or disappears.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.routes import completions as completions_route
from cli.bootstrap import open_services
from core.clock import FixedClock
from core.models import ObjectType
from core.services import Services
from tests.api.conftest import TEST_HOSTS
from tests.conftest import NOW, PORTAL_ID

TOKEN = "fuzz-token"


def _state(services: Services) -> tuple[object, ...]:
    definitions = tuple(d.to_json().__repr__() for d in services.definitions.search())
    records = tuple(
        r.to_json().__repr__()
        for kind in ObjectType
        for r in services.db.records.list_records(kind)
    )
    completions = tuple(sorted(services.db.completions.summaries().items()))
    return definitions, records, completions, tuple(sorted(services.db.definitions.deleted_names()))


@pytest.fixture
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[schemathesis.BaseSchema, Services]]:
    # a generated waitFor is never met: do not let each such case wait out its timeout
    monkeypatch.setattr(completions_route, "wait_cap", 0.05)
    folder: Path = tmp_path_factory.mktemp("fuzz") / "db"
    services = open_services(folder, clock=FixedClock(NOW), portal_id=PORTAL_ID)
    services.definitions.create(
        {
            "label": "Viewed Car",
            "propertyDefinitions": [
                {"label": "Make", "type": "string"},
                {"label": "Year", "type": "number"},
                {
                    "label": "Condition",
                    "type": "enumeration",
                    "options": [{"label": "New", "value": "new"}],
                },
            ],
        }
    )
    services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
    app = create_app(services, TOKEN, allowed_hosts=TEST_HOSTS)
    yield schemathesis.openapi.from_asgi("/openapi.json", app), services
    services.close()


@pytest.fixture
def api_schema(fuzzed: tuple[schemathesis.BaseSchema, Services]) -> schemathesis.BaseSchema:
    return fuzzed[0]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_no_partial_write(
    case: schemathesis.Case[Any], fuzzed: tuple[schemathesis.BaseSchema, Services]
) -> None:
    services = fuzzed[1]
    before = _state(services)
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert _state(services) == before, f"{case.method} {case.path} was refused but wrote"
        body = response.json()
        assert body["status"] == "error" and body["category"], body
