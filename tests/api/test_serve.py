"""``cbe serve`` as a person starts it: what it prints, its token, and who may send."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api import server
from api.app import create_app
from cli.bootstrap import warm_up
from core.clock import FixedClock
from core.models import CrmRecord, ObjectType
from core.occurrences import CompletionQuery
from core.services import Services
from core.workflow_models import DelayAction
from tests.api.conftest import TEST_HOSTS, start_server, stop_server
from tests.conftest import PORTAL_ID


def test_serve_prints_its_url_and_where_the_token_is(tmp_path: Path) -> None:
    server = start_server(tmp_path / "db")
    output = stop_server(server)
    port = server.url.rsplit(":", 1)[1]
    assert f"cbe serves portal {server.portal_id} at http://127.0.0.1:{port}" in output
    assert f"access token:  from {tmp_path / 'db' / 'portal.json'}" in output
    assert f'<script src="http://127.0.0.1:{port}/tracking.js"></script>' in output
    assert "Traceback" not in output


def test_token_option_replaces_the_portal_token_for_the_run(tmp_path: Path) -> None:
    server = start_server(tmp_path / "db", "--token", "run-token")
    try:
        with server.client() as portal_token:
            assert portal_token.get("/events/v3/event-definitions").status_code == 401
        with server.client("run-token") as run_token:
            assert run_token.get("/events/v3/event-definitions").status_code == 200
    finally:
        output = stop_server(server)
    assert "access token:  from --token" in output


def _preflight(client: TestClient, origin: str) -> httpx2.Response:
    return client.options(
        "/cbe/v1/collect",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )


def test_collector_cors_allows_localhost_by_default(services: Services) -> None:
    with TestClient(create_app(services, "t", allowed_hosts=TEST_HOSTS)) as client:
        local = _preflight(client, "http://localhost:3000")
        assert local.headers.get("access-control-allow-origin") == "http://localhost:3000"
        foreign = _preflight(client, "https://shop.example")
        assert "access-control-allow-origin" not in foreign.headers


def test_collector_cors_allows_the_configured_origins(services: Services) -> None:
    with TestClient(
        create_app(services, "t", ["https://shop.example"], allowed_hosts=TEST_HOSTS)
    ) as client:
        assert (
            _preflight(client, "https://shop.example").headers.get("access-control-allow-origin")
            == "https://shop.example"
        )
        assert (
            "access-control-allow-origin" not in _preflight(client, "http://localhost:3000").headers
        )


def test_collector_answers_what_it_stored_and_cut(services: Services) -> None:
    services.definitions.create(
        {"label": "Clicked", "propertyDefinitions": [{"label": "Note", "type": "string"}]}
    )
    with TestClient(create_app(services, "t", allowed_hosts=TEST_HOSTS)) as client:
        answer = client.post(
            "/cbe/v1/collect",
            content=(
                f'{{"eventName": "pe{PORTAL_ID}_clicked", "utk": "u1", "properties": {{"note": "'
                + "y" * 300
                + '", "mystery": 1}}'
            ),
            headers={"Content-Type": "text/plain"},
        ).json()
        assert answer["rejected"] == []
        (stored,) = answer["stored"]
        assert stored["objectId"] is None  # an anonymous visitor until identified
        assert {(c["property"], c["reason"]) for c in stored["cuts"]} == {
            ("note", "VALUE_TOO_LONG"),
            ("mystery", "UNKNOWN_PROPERTY"),
        }
        unknown = client.post("/cbe/v1/collect", content='{"eventName": "nope"}').json()
        assert unknown["stored"] == []
        assert unknown["rejected"][0]["code"] == "UNKNOWN_EVENT"
        beacon = client.get(
            "/__ptbe.gif", params={"n": f"pe{PORTAL_ID}_clicked", "_note": "hi", "u": "u1"}
        )
        assert beacon.headers["content-type"] == "image/gif"
    notes = sorted(
        str(c.properties.get("note"))[:3] for c in services.occurrences.iterate(CompletionQuery())
    )
    assert notes == ["hi", "yyy"]


def test_the_server_moves_workflows_along_by_the_clock(
    services: Services, contact: CrmRecord, clock: FixedClock
) -> None:
    workflow = services.workflows.create("Delay", ObjectType.CONTACT)
    services.workflows.add_action(workflow.id, DelayAction(id="a1", delay_minutes=30))
    services.workflows.set_enabled(workflow.id, True)
    services.workflows.enroll(workflow.id, [contact.id])
    clock.advance(timedelta(hours=1))
    with TestClient(create_app(services, "t", workflow_seconds=0.02, allowed_hosts=TEST_HOSTS)):
        deadline = time.monotonic() + 60
        while services.workflows.enrollments(workflow.id)[0].active:
            assert time.monotonic() < deadline, "the server never advanced the workflow"
            time.sleep(0.02)
    assert not services.workflows.enrollments(workflow.id)[0].active


def test_serve_readies_its_process_before_it_listens(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    class Collector:  # stands for the gc module, which this test process keeps as it is
        def freeze(self) -> None:
            calls.append("freeze")

        def get_threshold(self) -> tuple[int, int, int]:
            return (700, 10, 10)

        def set_threshold(self, *thresholds: int) -> None:
            calls.append(thresholds)

    store = services.db.completions
    monkeypatch.setattr(store, "prepare_writes", lambda: calls.append("prepare_writes"))
    monkeypatch.setattr(server, "gc", Collector())
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append("listen"))
    server.serve(services, "127.0.0.1", 0, "token", warm_up=lambda: warm_up(services))
    # the taken uuids are loaded, frozen with the rest, and the youngest objects collected
    # less often than Python's default of 700
    assert calls == ["prepare_writes", "freeze", (server.YOUNG_OBJECTS, 10, 10), "listen"]
