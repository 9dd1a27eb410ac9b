"""Hostile input at the public collector and the send API (issue 14): who may write, what a
request may cost, and that every refusal is an answer in HubSpot's error shape."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.collector import tracking_script
from api.sendqueue import SendQueue
from cli.bootstrap import open_services
from core.errors import ValidationFailed
from core.ingestion import IngestResult
from core.models import Completion, EventDefinition, ObjectType, TrackingMethod
from core.occurrences import CompletionQuery
from core.services import Services
from tests.api.conftest import TOKEN, Server, start_server, stop_server

NODE = shutil.which("node")
EVIL = "https://evil.example"


def hubspot_error(
    response: httpx.Response | httpx2.Response, status: int, category: str
) -> dict[str, Any]:
    """The body of a refusal, checked to be HubSpot's error shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert isinstance(body["message"], str) and body["message"]
    assert len(body["correlationId"]) == 36
    return body


def completions_in(db: Path) -> list[Completion]:
    services = open_services(db, create=False)
    try:
        return list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    finally:
        services.close()


def folder_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.rglob("*") if p.is_file())


@pytest.fixture
def clicked(server: Server) -> str:
    """A contact event with one string property, on the running server."""
    with server.client() as api:
        created = api.post(
            "/events/v3/event-definitions",
            json={
                "label": "Clicked",
                "includeDefaultProperties": True,
                "propertyDefinitions": [{"label": "Note", "type": "string"}],
            },
        )
        assert created.status_code == 201, created.text
        return str(created.json()["fullyQualifiedName"])


def _contacts(server: Server) -> list[str]:
    with server.client() as api:
        found = api.get("/crm/v3/objects/contacts", params={"properties": "email"}).json()
    return sorted(r["properties"].get("email", "") for r in found["results"])


# -- item 3: only allowed pages write ------------------------------------------------------


def test_the_collector_takes_completions_only_from_allowed_pages_and_programs(
    server: Server, clicked: str
) -> None:
    collect = f"{server.url}/cbe/v1/collect"
    beacon = f"{server.url}/__ptbe.gif"
    payload = {"eventName": clicked, "utk": "visitor-1", "properties": {"note": "hi"}}
    foreign = [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Referer": f"{EVIL}/pricing?x=1"},
        {"Origin": "http://localhost.evil.example:3000"},
        {"Origin": EVIL, "Referer": "http://localhost:3000/"},  # Origin decides
        {"Sec-Fetch-Site": "cross-site"},  # a page that hides its referrer: still a page
    ]
    for headers in foreign:
        refused = httpx.post(collect, content=json.dumps(payload), headers=headers)
        body = hubspot_error(refused, 403, "FORBIDDEN")
        assert "--allow-origin" in body["message"]
        assert "access-control-allow-origin" not in refused.headers
        gif = httpx.get(beacon, params={"n": clicked, "u": "visitor-1"}, headers=headers)
        hubspot_error(gif, 403, "FORBIDDEN")
    # An identify from a foreign page is refused with the rest: no contact, no token moved.
    named = {**payload, "email": "victim@example.com"}
    hubspot_error(httpx.post(collect, json=named, headers={"Origin": EVIL}), 403, "FORBIDDEN")
    assert completions_in(server.db) == []
    assert _contacts(server) == []

    allowed = [
        {},  # a program: no Origin, no Referer
        {"Origin": "http://localhost:3000"},
        {"Origin": "http://127.0.0.1:8080"},
        {"Origin": "http://[::1]:5173"},
        {"Referer": "http://localhost:3000/shop?item=1"},
        {"Sec-Fetch-Site": "same-origin"},  # a page of this server (its /docs)
    ]
    for headers in allowed:
        taken = httpx.post(collect, content=json.dumps(payload), headers=headers)
        assert taken.status_code == 200, taken.text
        assert len(taken.json()["stored"]) == 1
        if "Origin" in headers:
            assert taken.headers["access-control-allow-origin"] == headers["Origin"]
    gif = httpx.get(beacon, params={"n": clicked, "u": "visitor-1"})
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
    assert len(completions_in(server.db)) == len(allowed) + 1

    # A preflight from a foreign page is refused in the same shape.
    preflight = httpx.options(
        collect, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )
    hubspot_error(preflight, 403, "FORBIDDEN")


def test_identify_from_the_collector_never_takes_another_contacts_token(
    server: Server, clicked: str
) -> None:
    collect = f"{server.url}/cbe/v1/collect"

    def send(**fields: Any) -> dict[str, Any]:
        answer = httpx.post(collect, json={"eventName": clicked, **fields})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    # Ann's visits, anonymous at first, then she names herself: joined.
    send(utk="utk-ann")
    joined = send(utk="utk-ann", email="ann@example.com")
    assert "notIdentified" not in joined
    # Mallory sends with Ann's token and her own email: stored on Mallory, token stays Ann's.
    taken = send(utk="utk-ann", email="mallory@example.com")
    assert [n["code"] for n in taken["notIdentified"]] == ["UTK_IN_USE"]
    with server.client() as api:
        found = api.get(
            "/crm/v3/objects/contacts", params={"properties": "email,hubspotutk"}
        ).json()
    tokens = {r["properties"]["email"]: r["properties"].get("hubspotutk") for r in found["results"]}
    assert tokens == {"ann@example.com": "utk-ann", "mallory@example.com": None}
    by_contact = {c.object_id for c in completions_in(server.db) if c.utk == "utk-ann"}
    ids = {r["properties"]["email"]: r["id"] for r in found["results"]}
    assert by_contact == {ids["ann@example.com"], ids["mallory@example.com"]}
    # ... and Ann's earlier anonymous completion stayed Ann's.
    ann = [c for c in completions_in(server.db) if c.object_id == ids["ann@example.com"]]
    assert len(ann) == 2


# -- items 4 and 6, and bodies that are not JSON or too large --------------------------------


def test_the_collector_decides_before_storing_and_costs_little(
    server: Server, clicked: str
) -> None:
    collect = f"{server.url}/cbe/v1/collect"
    before = folder_bytes(server.db)

    # Item 6: an email that is not an address is refused whole: no completion, no contact.
    refused = httpx.post(collect, json={"eventName": clicked, "utk": "v1", "email": "not an email"})
    body = hubspot_error(refused, 400, "VALIDATION_ERROR")
    assert [(e["code"], e["in"]) for e in body["errors"]] == [("INVALID_EMAIL", "email")]
    # A lone surrogate anywhere: refused whole, said in words.
    for fields in (
        {"properties": {"note": "\ud800"}},
        {"utk": "\udfff"},
        {"properties": {"n\ud800": "x"}},
    ):
        raw = json.dumps({"eventName": clicked, "utk": "v1", **fields})  # \\ud800 escapes
        body = hubspot_error(httpx.post(collect, content=raw), 400, "VALIDATION_ERROR")
        assert body["errors"][0]["code"] == "INVALID_VALUE"
        assert "lone surrogate" in body["message"]
    assert completions_in(server.db) == [] and _contacts(server) == []

    # Item 4: 100,000 empty properties (1.4 MB) are over the collector's 64 KiB.
    huge = json.dumps(
        {"eventName": clicked, "utk": "v1", "properties": {f"prop{i}": "" for i in range(100_000)}}
    )
    assert len(huge) > 1_400_000
    too_large = httpx.post(collect, content=huge)
    body = hubspot_error(too_large, 413, "VALIDATION_ERROR")
    assert "64 KiB" in body["message"]
    # Sent without a length (chunked), the same 413, not a 400.
    chunks = (huge[i : i + 8192].encode() for i in range(0, len(huge), 8192))
    hubspot_error(httpx.post(collect, content=chunks), 413, "VALIDATION_ERROR")
    assert completions_in(server.db) == []
    print(f"\n1.4 MB collector body: answer {len(too_large.content)} bytes")

    # Within the limit, thousands of dropped properties are one short cut.
    wide = json.dumps(
        {"eventName": clicked, "utk": "v1", "properties": {f"p{i}": "" for i in range(5_000)}}
    )
    assert len(wide) < 64 * 1024
    answer = httpx.post(collect, content=wide)
    assert answer.status_code == 200, answer.text
    [stored] = answer.json()["stored"]
    [cut] = [c for c in stored["cuts"] if c["reason"] == "TOO_MANY_PROPERTIES"]
    assert cut["detail"].startswith("4950 properties dropped ('p50', 'p51'")
    grown = folder_bytes(server.db) - before
    print(f"{len(wide)} byte body, 5,000 properties: answer {len(answer.content)} bytes, ")
    print(f"store grew {grown} bytes")
    assert len(answer.content) < 12_000  # 50 kept names' unknown-property cuts, then the one
    assert grown < 64 * 1024

    # Deep JSON and broken JSON: 400 in HubSpot's shape, saying where.
    deep = "[" * 30_000 + "]" * 30_000
    for path in ("/cbe/v1/collect", "/events/v3/send"):
        with server.client() as api:
            answer = api.post(path, content=deep, headers={"Content-Type": "application/json"})
            body = hubspot_error(answer, 400, "VALIDATION_ERROR")
            assert "nested too deeply" in body["message"]
            broken = api.post(
                path,
                content='{"eventName": "x" "utk": 1}',
                headers={"Content-Type": "application/json"},
            )
            body = hubspot_error(broken, 400, "VALIDATION_ERROR")
            assert body["message"] == (
                "The body is not valid JSON: expected ',' or '}' at line 1, column 19."
            )
            assert body["errors"][0]["code"] == "INVALID_JSON"
    # The send API's own limit holds for a chunked body too: 413, not 400.
    with server.client() as api:
        big = (b"x" * 65536 for _ in range(8 * 16 + 1))
        answer = api.post(
            "/events/v3/send", content=big, headers={"Content-Type": "application/json"}
        )
        assert "8 MiB" in hubspot_error(answer, 413, "VALIDATION_ERROR")["message"]
    assert len(completions_in(server.db)) == 1  # the wide one only


# -- item 7: one bad send fails no other ---------------------------------------------------


def test_a_poisoned_send_among_concurrent_clients_fails_only_itself(
    server: Server, clicked: str
) -> None:
    with server.client() as api:
        api.post("/crm/v3/objects/contacts", json={"properties": {"email": "ann@example.com"}})
    poisoned = {5, 77, 150}

    def body(i: int) -> str:
        note = "\ud800" if i in poisoned else f"n{i}"
        return json.dumps(
            {
                "eventName": clicked,
                "email": "ann@example.com",
                "uuid": f"c{i}",
                "properties": {"note": note},
            }
        )

    async def run() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
            return await asyncio.gather(
                *(client.post("/events/v3/send", content=body(i)) for i in range(200))
            )

    responses = asyncio.run(run())
    for i, response in enumerate(responses):
        if i in poisoned:
            error = hubspot_error(response, 400, "VALIDATION_ERROR")
            assert [(e["code"], e["in"]) for e in error["errors"]] == [
                ("INVALID_VALUE", "properties.note")
            ]
        else:
            assert response.status_code == 204, response.text
    stored = sorted(c.uuid for c in completions_in(server.db))
    assert stored == sorted(f"c{i}" for i in range(200) if i not in poisoned)


def test_a_group_that_fails_as_a_whole_is_stored_send_by_send(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
    original = services.ingestion.ingest

    def fragile(bodies: Sequence[Any], *args: Any, **kwargs: Any) -> IngestResult:
        if any(b.get("uuid") == "bad" for b in bodies):
            raise RuntimeError("cannot store this one")  # not a validation problem
        return original(bodies, *args, **kwargs)

    services.ingestion.ingest = fragile  # type: ignore[method-assign]
    queue = SendQueue(services.ingestion)
    event = viewed_car.fully_qualified_name
    bodies = [
        {"eventName": event, "email": "ann@example.com", "uuid": f"u{i}", "properties": {}}
        for i in range(30)
    ]
    bodies[11]["uuid"] = "bad"

    async def run() -> list[Any]:
        return await asyncio.gather(*(queue.send(b) for b in bodies), return_exceptions=True)

    outcomes = asyncio.run(run())
    queue.close()
    assert isinstance(outcomes[11], RuntimeError)
    others = [o for i, o in enumerate(outcomes) if i != 11]
    assert all(isinstance(o, Completion) for o in others), others
    assert not any(isinstance(o, ValidationFailed) for o in outcomes)
    assert services.db.completions.summaries()[event].count == 29


# -- Host header -----------------------------------------------------------------------------


@pytest.fixture
def production_app(services: Services) -> Iterator[TestClient]:
    """The app with production's hosts (no "testserver")."""
    app = create_app(services, TOKEN, public_url="https://cbe.example.org:8443")
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        yield client


def test_only_the_servers_own_hosts_are_answered(production_app: TestClient) -> None:
    for host in ("rebound.evil.example", "rebound.evil.example:8765", "testserver", "localhost.x"):
        for path in ("/tracking.js", "/cbe/v1/collect", "/events/v3/event-definitions"):
            answer = production_app.get(path, headers={"Host": host})
            hubspot_error(answer, 421, "MISDIRECTED_REQUEST")
    for host in (
        "localhost:8765",
        "LOCALHOST",
        "127.0.0.1:8765",
        "[::1]:8765",
        "192.168.1.20:8765",
        "cbe.example.org:8443",
    ):
        answer = production_app.get("/tracking.js", headers={"Host": host})
        assert answer.status_code == 200, (host, answer.text)


def test_a_bound_name_and_allowed_hosts_are_answered(services: Services) -> None:
    app = create_app(services, TOKEN, allowed_hosts=["cbe.lan"], bound_host="box.local")
    with TestClient(app, base_url="http://box.local") as client:
        assert client.get("/tracking.js").status_code == 200
        assert client.get("/tracking.js", headers={"Host": "cbe.lan:80"}).status_code == 200
        assert client.get("/tracking.js", headers={"Host": "other.lan"}).status_code == 421


def test_a_real_server_refuses_a_rebound_host(server: Server) -> None:
    answer = httpx.get(f"{server.url}/tracking.js", headers={"Host": "rebound.evil.example"})
    hubspot_error(answer, 421, "MISDIRECTED_REQUEST")
    assert httpx.get(f"{server.url}/tracking.js").status_code == 200


# -- /tracking.js in one pass ----------------------------------------------------------------


def test_placeholder_names_in_a_tag_or_snippet_are_carried_literally(
    http: TestClient, services: Services, tmp_path: Path
) -> None:
    services.definitions.create(
        {
            "label": "Clicked",
            "trackingMethod": TrackingMethod.JAVASCRIPT.value,
            "snippet": 'console.log("__ENDPOINT__ __SNIPPETS__ __PORTAL_ID__");',
        }
    )
    script = http.get("/tracking.js", params={"tag": "__SNIPPETS__"}).text
    assert '"http://testserver/cbe/v1/collect?tag=__SNIPPETS__";' in script
    assert "var SNIPPETS = [" in script
    assert r"console.log(\"__ENDPOINT__ __SNIPPETS__ __PORTAL_ID__\");" in script
    assert script.count("var PORTAL_ID = ") == 1
    assert tracking_script(services, "x").count("__SNIPPETS__") == 1  # only inside the snippet
    if NODE is not None:
        path = tmp_path / "tracking.js"
        path.write_text(script)
        checked = subprocess.run(
            [NODE, "--check", str(path)], capture_output=True, text=True, timeout=120, check=False
        )
        assert checked.returncode == 0, checked.stderr


# -- every error in HubSpot's shape ----------------------------------------------------------


def test_bodies_that_are_not_json_are_answered_in_words(http: TestClient) -> None:
    cases = {
        '{"eventName": "x",\n  "properties": {"a": 1,}}': (
            "expected a property name in double quotes at line 2, column 25."
        ),
        '{"eventName": "x"} extra': "unexpected text after the JSON value at line 1, column 20.",
        "[1, 2": "expected ',' or ']' at line 1, column 6.",
        "": None,
    }
    for raw, expected in cases.items():
        for path in ("/events/v3/send", "/cbe/v1/collect"):
            answer = http.post(path, content=raw, headers={"Content-Type": "application/json"})
            if expected is None:
                continue  # an empty body is a body without fields, answered as such
            body = hubspot_error(answer, 400, "VALIDATION_ERROR")
            assert body["message"] == f"The body is not valid JSON: {expected}", path
    not_utf8 = http.post("/cbe/v1/collect", content=b'{"eventName": "\xff"}')
    assert "not UTF-8" in hubspot_error(not_utf8, 400, "VALIDATION_ERROR")["message"]


def test_serve_beyond_loopback_says_who_can_write_and_serves_its_public_name(
    tmp_path: Path,
) -> None:
    server = start_server(
        tmp_path / "db",
        "--host",
        "0.0.0.0",
        "--public-url",
        "http://cbe.example.org:9000",
        "--allow-origin",
        "https://shop.example",
    )
    try:
        script = httpx.get(f"{server.url}/tracking.js", headers={"Host": "cbe.example.org:9000"})
        assert '"http://cbe.example.org:9000/cbe/v1/collect"' in script.text
        answer = httpx.get(f"{server.url}/tracking.js", headers={"Host": "rebound.example"})
        hubspot_error(answer, 421, "MISDIRECTED_REQUEST")
        collect = f"{server.url}/cbe/v1/collect"
        local = httpx.post(collect, json={}, headers={"Origin": "http://localhost:3000"})
        hubspot_error(local, 403, "FORBIDDEN")  # --allow-origin replaces the default
        assert httpx.post(collect, json={}, headers={"Origin": "https://shop.example"}).is_success
    finally:
        output = stop_server(server)
    assert '<script src="http://cbe.example.org:9000/tracking.js"></script>' in output
    assert "collector:     takes completions from pages on https://shop.example" in output
    assert "Anyone who can reach the port can write completions to the collector" in output
    assert "the events and CRM APIs need the access token" in output


def test_an_error_quoting_a_lone_surrogate_is_still_json(http: TestClient) -> None:
    answer = http.post(
        "/crm/v3/objects/contacts",
        content='{"properties": {"email": "\\ud800"}}',
        headers={"Content-Type": "application/json"},
    )
    body = hubspot_error(answer, 400, "VALIDATION_ERROR")
    # Refused as text that cannot be stored, before the email rule looks at it.
    assert body["errors"][0]["code"] == "INVALID_VALUE"
    assert answer.content.isascii()


def test_records_and_definitions_holding_a_lone_surrogate_are_refused_before_a_write(
    http: TestClient, services: Services, viewed_car: EventDefinition
) -> None:
    """Text that no UTF-8 file can hold is a 400 naming the field, on every path that stores
    text: the write is never attempted (it used to fail inside the store: a 500)."""
    bad = "Ann \\ud800"
    contact = services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
    name = viewed_car.name
    requests = [
        ("post", "/crm/v3/objects/contacts", f'{{"properties": {{"firstname": "{bad}"}}}}'),
        ("patch", f"/crm/v3/objects/contacts/{contact.id}", f'{{"properties": {{"x{bad}": "1"}}}}'),
        (
            "post",
            "/events/v3/event-definitions",
            f'{{"label": "{bad}", "name": "bad_one", "propertyDefinitions": [], '
            '"includeDefaultProperties": true}',
        ),
        ("patch", f"/events/v3/event-definitions/{name}", f'{{"description": "{bad}"}}'),
        (
            "post",
            f"/events/v3/event-definitions/{name}/property",
            f'{{"label": "Colour", "name": "colour", "type": "string", "description": "{bad}"}}',
        ),
        (
            "patch",
            f"/events/v3/event-definitions/{name}/property/condition",
            f'{{"options": [{{"label": "{bad}", "value": "new"}}]}}',
        ),
    ]
    before = services.db.definitions.get(name)
    for method, path, body in requests:
        answer = http.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
        error = hubspot_error(answer, 400, "VALIDATION_ERROR")
        assert [e["code"] for e in error["errors"]] == ["INVALID_VALUE"], (path, error)
        assert "lone surrogate" in error["message"]
    assert services.db.definitions.get(name) == before
    assert services.db.definitions.get("bad_one") is None
    assert [c.properties for c in services.records.search(ObjectType.CONTACT)] == [
        {"email": "ann@example.com"}
    ]
