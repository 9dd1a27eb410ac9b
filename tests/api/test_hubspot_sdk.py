"""HubSpot's own Python SDK (hubspot-api-client 12) against a real ``cbe serve``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from hubspot.events import ApiClient, Error
from hubspot.events import ApiException as EventsApiException
from hubspot.events.send import (
    ApiException,
    BatchedBehavioralEventHttpCompletionRequest,
    BehavioralEventHttpCompletionRequest,
)

from tests.api.conftest import ROOT, Server, start_server, stop_server


@pytest.fixture
def client(server: Server) -> HubSpot:
    # The generated APIs read `host`; api_request reads `base_url`: pass both.
    return HubSpot(access_token=server.token, host=server.url, base_url=server.url)


def _define_viewed_car(client: HubSpot) -> dict[str, object]:
    response = client.api_request(
        {
            "method": "POST",
            "path": "/events/v3/event-definitions",
            "body": {
                "label": "Viewed Car",
                "name": "viewed_car",
                "primaryObject": "CONTACT",
                "includeDefaultProperties": True,
                "propertyDefinitions": [
                    {
                        "name": "condition",
                        "label": "Condition",
                        "type": "enumeration",
                        "options": [
                            {"label": "New", "value": "new", "displayOrder": 0, "hidden": False},
                            {"label": "Used", "value": "used", "displayOrder": 1, "hidden": False},
                        ],
                    },
                    {"name": "year", "label": "Year", "type": "number"},
                    {"name": "make", "label": "Make", "type": "string"},
                ],
            },
        }
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def _contact(client: HubSpot, email: str) -> str:
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"email": email, "firstname": "Ann", "lastname": "Lee"}
        )
    )
    return str(created.id)


def test_definitions_through_api_request(client: HubSpot, server: Server) -> None:
    created = _define_viewed_car(client)
    assert created["fullyQualifiedName"] == f"pe{server.portal_id}_viewed_car"
    assert created["labels"] == {"singular": "Viewed Car", "plural": None}
    listed = client.api_request({"method": "GET", "path": "/events/v3/event-definitions"})
    assert listed.json()["total"] == 1
    got = client.api_request(
        {"method": "GET", "path": f"/events/v3/event-definitions/pe{server.portal_id}_viewed_car"}
    )
    assert got.status_code == 200
    names = [p["name"] for p in got.json()["properties"]]
    assert names[:3] == ["condition", "year", "make"]
    assert len(names) == 3 + 32


def test_crm_contact_create_and_get(client: HubSpot) -> None:
    contact_id = _contact(client, "ann@example.com")
    fetched = client.crm.contacts.basic_api.get_by_id(contact_id=contact_id)
    assert fetched.properties["email"] == "ann@example.com"
    assert fetched.properties["firstname"] == "Ann"


def test_send_then_read_back_with_get_page(client: HubSpot, server: Server) -> None:
    _define_viewed_car(client)
    contact_id = _contact(client, "ann@example.com")
    event = f"pe{server.portal_id}_viewed_car"
    client.events.send.basic_api.send(
        behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
            event_name=event,
            email="ann@example.com",
            occurred_at=datetime(2026, 10, 1, 9, 30, tzinfo=UTC),
            properties={"condition": "used", "year": "2020", "make": "Ford"},
        )
    )
    client.events.send.batch_api.send(
        batched_behavioral_event_http_completion_request=BatchedBehavioralEventHttpCompletionRequest(
            inputs=[
                BehavioralEventHttpCompletionRequest(
                    event_name=event,
                    object_id=contact_id,
                    occurred_at=datetime(2026, 10, day, 12, tzinfo=UTC),
                    properties={"make": f"Make {day}"},
                )
                for day in (2, 3, 4)
            ]
        )
    )
    first = client.events.events_api.get_page(
        object_type="contact", object_id=int(contact_id), limit=2
    )
    assert [e.properties.get("make") for e in first.results] == ["Make 4", "Make 3"]
    assert first.paging.next.after
    second = client.events.events_api.get_page(
        object_type="contact", object_id=int(contact_id), limit=2, after=first.paging.next.after
    )
    assert [e.properties.get("make") for e in second.results] == ["Make 2", "Ford"]
    assert second.paging.next is None  # the last page; paging.prev leads back (events spec)
    assert second.paging.prev.before
    oldest = second.results[-1]
    assert oldest.event_type == event
    assert oldest.occurred_at == datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
    assert oldest.properties == {"condition": "used", "year": "2020", "make": "Ford"}

    filtered = client.events.events_api.get_page(
        object_type="contact",
        event_type=event,
        occurred_after=datetime(2026, 10, 2, tzinfo=UTC),
        occurred_before=datetime(2026, 10, 4, tzinfo=UTC),
        sort=["ASCENDING"],
    )
    assert [e.properties.get("make") for e in filtered.results] == ["Make 2", "Make 3"]
    types = client.events.events_api.get_types()
    assert types.event_types[0] == event  # then HubSpot's own, e_visited_page ...
    assert "e_visited_page" in types.event_types


def test_rejected_send_raises_with_hubspots_error_model(client: HubSpot, server: Server) -> None:
    _define_viewed_car(client)
    _contact(client, "ann@example.com")
    with pytest.raises(ApiException) as raised:
        client.events.send.basic_api.send(
            behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
                event_name=f"pe{server.portal_id}_viewed_car",
                email="ann@example.com",
                properties={"make": "x" * 300, "year": "new", "colour": "red"},
            )
        )
    assert raised.value.status == 400
    # The body parses into the SDK's own Error model, as it would from HubSpot.
    error = ApiClient().deserialize(SimpleNamespace(data=raised.value.body), "Error")
    assert isinstance(error, Error)
    assert error.category == "VALIDATION_ERROR"
    assert error.correlation_id
    assert sorted(d.code for d in error.errors) == [
        "INVALID_NUMBER",
        "UNKNOWN_PROPERTY",
        "VALUE_TOO_LONG",
    ]
    assert {d._in for d in error.errors} == {
        "properties.make",
        "properties.year",
        "properties.colour",
    }
    body = json.loads(raised.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert {(e["in"], e["code"]) for e in body["errors"]} == {
        ("properties.make", "VALUE_TOO_LONG"),
        ("properties.year", "INVALID_NUMBER"),
        ("properties.colour", "UNKNOWN_PROPERTY"),
    }
    too_long = next(e for e in body["errors"] if e["code"] == "VALUE_TOO_LONG")
    assert too_long["context"]["limit"] == ["256"]
    assert too_long["context"]["actual"] == ["300"]
    # nothing was stored
    page = client.events.events_api.get_page(object_type="contact", limit=10)
    assert page.results == []


def test_a_batch_with_one_bad_input_stores_nothing(client: HubSpot, server: Server) -> None:
    _define_viewed_car(client)
    contact_id = _contact(client, "ann@example.com")
    event = f"pe{server.portal_id}_viewed_car"
    good = BehavioralEventHttpCompletionRequest(
        event_name=event, object_id=contact_id, properties={"make": "Kia"}
    )
    bad = BehavioralEventHttpCompletionRequest(  # a rule HubSpot checks at once
        event_name=event, object_id=contact_id, properties={"model": "Rio"}
    )
    with pytest.raises(ApiException) as raised:
        client.events.send.batch_api.send(
            batched_behavioral_event_http_completion_request=BatchedBehavioralEventHttpCompletionRequest(
                inputs=[good, good, bad]
            )
        )
    body = json.loads(raised.value.body)
    assert [(e["in"], e["code"]) for e in body["errors"]] == [
        ("inputs[2].properties.model", "UNKNOWN_PROPERTY")
    ]
    assert client.events.events_api.get_page(object_type="contact").results == []


def test_a_record_that_does_not_exist_does_not_fail_a_batch(
    client: HubSpot, server: Server
) -> None:
    """As HubSpot: which record a completion belongs to is settled after the 204."""
    _define_viewed_car(client)
    contact_id = _contact(client, "ann@example.com")
    event = f"pe{server.portal_id}_viewed_car"
    inputs = [
        BehavioralEventHttpCompletionRequest(
            event_name=event, object_id=contact_id, properties={"make": "Kia"}, uuid=f"u-{i}"
        )
        for i in range(498)
    ]
    inputs.insert(
        100,
        BehavioralEventHttpCompletionRequest(
            event_name=event, object_id="999", properties={}, uuid="nobody-1"
        ),
    )
    inputs.insert(
        200,
        BehavioralEventHttpCompletionRequest(
            event_name=event, email="nobody@example.com", properties={}, uuid="nobody-2"
        ),
    )
    batch = BatchedBehavioralEventHttpCompletionRequest(inputs=inputs)
    client.events.send.batch_api.send(batched_behavioral_event_http_completion_request=batch)
    # a retry after a timeout: 204 again, stored once
    client.events.send.batch_api.send(batched_behavioral_event_http_completion_request=batch)
    client.events.send.basic_api.send(behavioral_event_http_completion_request=inputs[0])
    with server.client() as http:
        for uuid, how in (("u-0", "objectId"), ("nobody-1", "none"), ("nobody-2", "none")):
            trace = http.get(f"/cbe/v1/trace/{uuid}")
            assert trace.status_code == 200, trace.text
            (stored,) = trace.json()["completions"]
            assert stored["match"]["by"] == how
        retried = http.get("/cbe/v1/trace/u-0").json()
        assert len(retried["completions"]) == 1  # stored once
        assert len(retried["retries"]) == 2  # the batch's retry and the single send
        assert http.get("/cbe/v1/trace/nobody-1").json()["completions"][0]["timeline"] is None
    page = client.events.events_api.get_page(object_type="contact", limit=100)
    assert len(page.results) == 100 and page.paging is not None  # 500 stored, not 1,000


def test_a_strict_server_refuses_what_hubspot_settles_later(tmp_path: Path) -> None:
    server = start_server(tmp_path / "db", "--strict")
    try:
        client = HubSpot(access_token=server.token, host=server.url, base_url=server.url)
        _define_viewed_car(client)
        event = f"pe{server.portal_id}_viewed_car"
        with pytest.raises(ApiException) as raised:
            client.events.send.basic_api.send(
                behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
                    event_name=event, email="nobody@example.com", properties={}
                )
            )
        assert raised.value.status == 400
        assert [e["code"] for e in json.loads(raised.value.body)["errors"]] == ["UNKNOWN_EMAIL"]
    finally:
        print(stop_server(server))


def test_a_wrong_token_is_refused(server: Server) -> None:
    stranger = HubSpot(access_token="not-the-token", host=server.url, base_url=server.url)
    with pytest.raises(EventsApiException) as raised:
        stranger.events.events_api.get_types()
    assert raised.value.status == 401
    assert json.loads(raised.value.body)["category"] == "INVALID_AUTHENTICATION"


def test_a_naive_occurred_at_from_the_sdk_is_read_as_utc(client: HubSpot, server: Server) -> None:
    """The SDK sends a datetime without tzinfo as ``2026-10-01T09:30:00``: cbe reads it as UTC."""
    _define_viewed_car(client)
    _contact(client, "ann@example.com")
    client.events.send.basic_api.send(
        behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
            event_name=f"pe{server.portal_id}_viewed_car",
            email="ann@example.com",
            occurred_at=datetime(2026, 10, 1, 9, 30),  # naive
            properties={"make": "Ford"},
        )
    )
    [stored] = client.events.events_api.get_page(object_type="contact").results
    assert stored.occurred_at == datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def test_a_real_portals_hard_coded_names_work_after_set_id(tmp_path: Path) -> None:
    """``cbe portal set-id 87654321``: code that sends pe87654321_... runs against cbe as is."""
    db = tmp_path / "db"
    stop_server(start_server(db))  # a database, as `cbe serve` makes it
    subprocess.run(
        [sys.executable, "-m", "cli", "portal", "set-id", "87654321", "--db", str(db)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    server = start_server(db)
    try:
        assert server.portal_id == 87654321
        client = HubSpot(access_token=server.token, host=server.url, base_url=server.url)
        assert _define_viewed_car(client)["fullyQualifiedName"] == "pe87654321_viewed_car"
        _contact(client, "ann@example.com")
        client.events.send.basic_api.send(
            behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
                event_name="pe87654321_viewed_car",  # hard-coded, as production code has it
                email="ann@example.com",
                properties={"make": "Ford"},
            )
        )
        [stored] = client.events.events_api.get_page(object_type="contact").results
        assert stored.event_type == "pe87654321_viewed_car"
    finally:
        stop_server(server)
