"""HubSpot's rate limits: ``X-HubSpot-RateLimit-*`` on every answer, 429 over a limit.

In process with the test's clock (no waiting for windows), then a real ``cbe serve
--rate-limit`` driven over its burst, and HubSpot's Python SDK waiting out a 429 with its
urllib3 retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hubspot import HubSpot
from hubspot.events.send import ApiException, BehavioralEventHttpCompletionRequest
from urllib3.util.retry import Retry

from api import versions
from api.app import create_app
from cli.main import main
from core.clock import FixedClock
from core.models import CrmRecord, EventDefinition
from core.ratelimit import RateLimits
from core.services import Services
from tests.api.conftest import TEST_HOSTS, TOKEN, start_server, stop_server

HEADERS = (
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Secondly",
    "X-HubSpot-RateLimit-Secondly-Remaining",
)


@pytest.fixture
def limited(services: Services) -> Iterator[TestClient]:
    """The API in process as ``cbe serve --rate-limit 3/10s`` answers, on the test's clock."""
    limits = RateLimits("3/10s", burst=3, interval_ms=10_000, daily=250_000)
    app = create_app(services, TOKEN, allowed_hosts=TEST_HOSTS, rate_limit=limits)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def _send(event: EventDefinition, record: CrmRecord) -> dict[str, object]:
    return {"eventName": event.fully_qualified_name, "objectId": record.id, "properties": {}}


class TestHeaders:
    def test_every_answer_of_hubspots_paths_carries_them_by_default(
        self, http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
    ) -> None:
        answers = [
            http.get("/events/v3/event-definitions"),
            http.post("/events/v3/send", json=_send(viewed_car, contact)),
            http.post("/events/v3/send", json={"eventName": "pe1_nothing", "properties": {}}),
            http.get("/events/v3/event-definitions/nothing"),
            http.get(f"/crm/v3/objects/contacts/{contact.id}"),
        ]
        assert [a.status_code for a in answers] == [200, 204, 400, 404, 200]
        for answer in answers:
            assert all(name in answer.headers for name in HEADERS), answer.headers
        # counted against Free and Starter's limits, as HubSpot reports them
        last = answers[-1].headers
        assert last["X-HubSpot-RateLimit-Max"] == "100"
        assert last["X-HubSpot-RateLimit-Remaining"] == "95"
        assert last["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert last["X-HubSpot-RateLimit-Daily"] == "250000"
        assert last["X-HubSpot-RateLimit-Daily-Remaining"] == "249995"
        assert last["X-HubSpot-RateLimit-Secondly"] == "10"

    def test_the_date_versioned_paths_carry_and_count_them_too(self, http: TestClient) -> None:
        paths = [*versions.DEFINITIONS, *versions.EVENTS]
        answers = [http.get(path, params={"objectType": "contact"}) for path in paths]
        assert {a.status_code for a in answers} == {200}
        assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == [
            str(99 - i) for i in range(len(paths))
        ]

    def test_nothing_is_refused_by_default(self, http: TestClient) -> None:
        answers = [http.get("/events/v3/event-definitions") for _ in range(101)]
        assert {a.status_code for a in answers} == {200}
        assert answers[-1].headers["X-HubSpot-RateLimit-Remaining"] == "0"

    def test_cbes_own_paths_the_collector_and_a_refused_token_carry_none(
        self, http: TestClient
    ) -> None:
        answers = [
            http.get("/cbe/v1/rejections"),
            http.get("/tracking.js"),
            http.get("/events/v3/event-definitions", headers={"Authorization": "Bearer wrong"}),
        ]
        assert [a.status_code for a in answers] == [200, 200, 401]
        for answer in answers:
            assert not [h for h in answer.headers if h.lower().startswith("x-hubspot-ratelimit")]
        # and they do not count
        counted = http.get("/events/v3/event-definitions")
        assert counted.headers["X-HubSpot-RateLimit-Remaining"] == "99"


class TestEnforced:
    def test_the_call_over_the_burst_is_hubspots_429(
        self, limited: TestClient, viewed_car: EventDefinition, contact: CrmRecord
    ) -> None:
        for _ in range(3):
            assert (
                limited.post("/events/v3/send", json=_send(viewed_car, contact)).status_code == 204
            )

        refused = limited.post("/events/v3/send", json=_send(viewed_car, contact))

        assert refused.status_code == 429
        body = refused.json()
        assert body["status"] == "error"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert body["errorType"] == "RATE_LIMIT"
        assert body["category"] == "RATE_LIMITS"
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["correlationId"]
        assert refused.headers["Retry-After"] == "10"
        assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert refused.headers["X-HubSpot-RateLimit-Max"] == "3"
        assert refused.headers["content-type"] == "application/json"

    def test_a_refused_send_stores_nothing_and_the_window_rolls_on(
        self,
        limited: TestClient,
        services: Services,
        clock: FixedClock,
        viewed_car: EventDefinition,
        contact: CrmRecord,
    ) -> None:
        for n in range(4):
            limited.post("/events/v3/send", json={**_send(viewed_car, contact), "uuid": f"u{n}"})
        stored = services.db.completions
        assert [bool(stored.find(f"u{n}")) for n in range(4)] == [True, True, True, False]

        clock.advance(timedelta(seconds=9))
        assert limited.get("/events/v3/event-definitions").status_code == 429
        clock.advance(timedelta(seconds=1))
        after = limited.post("/events/v3/send", json={**_send(viewed_car, contact), "uuid": "u3"})
        assert after.status_code == 204
        assert stored.find("u3")

    def test_reads_and_definitions_count_too(self, limited: TestClient) -> None:
        statuses = [
            limited.get("/events/v3/event-definitions").status_code,
            limited.get("/events/v3/events", params={"objectType": "contact"}).status_code,
            limited.get("/crm/v3/objects/contacts").status_code,
            limited.get("/events/v3/events/event-types").status_code,
        ]
        assert statuses == [200, 200, 200, 429]


def test_a_real_server_refuses_a_burst_over_its_limit(tmp_path: Path) -> None:
    server = start_server(tmp_path / "db", "--rate-limit", "10/60s")
    try:
        with server.client() as client:
            answers = [client.get("/events/v3/event-definitions") for _ in range(12)]
            assert [a.status_code for a in answers] == [200] * 10 + [429] * 2
            refused = answers[-1]
            assert refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
            assert refused.headers["X-HubSpot-RateLimit-Max"] == "10"
            assert refused.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "60000"
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            # cbe's own paths stay open: why a send failed is always answerable
            assert client.get("/cbe/v1/rejections").status_code == 200
    finally:
        output = stop_server(server)
    assert "rate limits:   10 calls per 60 s per token" in output


def test_hubspots_python_sdk_retry_waits_out_a_429(tmp_path: Path) -> None:
    server = start_server(tmp_path / "db", "--rate-limit", "1/3s")
    try:
        with server.client() as client:
            created = client.post(
                "/events/v3/event-definitions",
                json={
                    "label": "Signed up",
                    "name": "signed_up",
                    "primaryObject": "CONTACT",
                    "includeDefaultProperties": True,
                    "propertyDefinitions": [],
                },
            )
            assert created.status_code == 201, created.text  # the one call of this window

        def send(sdk: HubSpot, uuid: str) -> None:
            sdk.events.send.basic_api.send(
                behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
                    event_name=f"pe{server.portal_id}_signed_up",
                    email="ann@example.com",
                    properties={},
                    uuid=uuid,
                )
            )

        plain = HubSpot(access_token=server.token, host=server.url)
        with pytest.raises(ApiException) as refused:
            send(plain, "00000000-0000-4000-8000-000000000001")
        assert refused.value.status == 429
        assert '"policyName":"TEN_SECONDLY_ROLLING"' in refused.value.body
        assert refused.value.headers["Retry-After"] in ("1", "2", "3")

        # HubSpot's documented way: a urllib3 Retry through the SDK's configuration; POST is
        # not retried by default, so allow every method. It honours Retry-After.
        retry = Retry(total=3, status_forcelist=(429,), allowed_methods=None, backoff_factor=0)
        patient = HubSpot(access_token=server.token, host=server.url, retry=retry)
        send(patient, "00000000-0000-4000-8000-000000000002")  # no exception: waited, then 204

        trace = httpx.get(
            f"{server.url}/cbe/v1/trace/00000000-0000-4000-8000-000000000002",
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert trace.status_code == 200
        assert (
            httpx.get(
                f"{server.url}/cbe/v1/trace/00000000-0000-4000-8000-000000000001",
                headers={"Authorization": f"Bearer {server.token}"},
            ).status_code
            == 404
        )
    finally:
        print(stop_server(server))


def test_an_unknown_rate_limit_is_refused_before_serving(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--db", str(tmp_path / "db"), "--rate-limit", "fast"]
    )
    assert result.exit_code == 2
    assert "'fast' is no rate limit: use hubspot, hubspot-professional, hubspot-enterprise" in (
        result.output
    )
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "--rate-limit TIER" in help_text
