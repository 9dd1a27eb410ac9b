"""An email holding control characters is refused by every path of a real ``cbe serve``.

The send API answers 400 naming the field; the public collector (no token) stores nothing and
creates no contact; the CRM API refuses to create or change a contact with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cli.bootstrap import open_services
from core.models import ObjectType
from core.occurrences import CompletionQuery
from tests.api.conftest import Server, start_server, stop_server

HOSTILE = "ann\x1b]52;c;Y3VybA==\x07@example.com"
BIDI = "moc.elpmaxe@\u202eann"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    db = tmp_path_factory.mktemp("hostile-email") / "db"
    services = open_services(db)
    try:
        contact = services.records.create(ObjectType.CONTACT, {"email": "bo@example.com"})
        event = services.definitions.create(
            {"label": "Viewed Car", "propertyDefinitions": [{"label": "Make", "type": "string"}]}
        ).fully_qualified_name
    finally:
        services.close()
    server = start_server(db)
    yield server, event, contact.id
    stop_server(server)


def _stored(server: Server) -> tuple[int, list[str]]:
    """How many completions are stored, and every contact's email."""
    with server.client() as http:
        contacts = http.get("/crm/v3/objects/contacts").json()["results"]
    services = open_services(server.db, create=False)
    try:
        count = sum(1 for _ in services.occurrences.iterate(CompletionQuery()))
    finally:
        services.close()
    return count, [c["properties"].get("email") for c in contacts]


@pytest.mark.parametrize("email", [HOSTILE, BIDI])
def test_send_refuses_it_with_the_field_named(served: tuple[Server, str, str], email: str) -> None:
    server, event, _ = served
    with server.client() as http:
        answer = http.post(
            "/events/v3/send", json={"eventName": event, "email": email, "properties": {}}
        )
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert (error["in"], error["code"]) == ("email", "INVALID_EMAIL")
    assert "holds control characters" in error["message"]
    assert _stored(server) == (0, ["bo@example.com"])


@pytest.mark.parametrize("email", [HOSTILE, BIDI])
def test_the_collector_stores_nothing_and_creates_no_contact(
    served: tuple[Server, str, str], email: str
) -> None:
    server, event, _ = served
    beacon = {"eventName": event, "email": email, "utk": "utk-visitor", "properties": {}}
    posted = httpx.post(f"{server.url}/cbe/v1/collect", json=beacon, timeout=60)
    assert posted.status_code == 400  # judged before anything is stored
    assert [e["code"] for e in posted.json()["errors"]] == ["INVALID_EMAIL"]
    httpx.get(f"{server.url}/__ptbe.gif", params={"n": event, "e": email, "u": "utk-x"}, timeout=60)
    assert _stored(server) == (0, ["bo@example.com"])


def test_the_crm_api_refuses_to_create_or_change_a_contact_with_it(
    served: tuple[Server, str, str],
) -> None:
    server, _, contact_id = served
    with server.client() as http:
        created = http.post("/crm/v3/objects/contacts", json={"properties": {"email": HOSTILE}})
        changed = http.patch(
            f"/crm/v3/objects/contacts/{contact_id}", json={"properties": {"email": BIDI}}
        )
    assert (created.status_code, changed.status_code) == (400, 400)
    assert "INVALID_EMAIL" in created.text and "INVALID_EMAIL" in changed.text
    assert _stored(server) == (0, ["bo@example.com"])
