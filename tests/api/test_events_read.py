"""HubSpot's events read API (``GET /events/v3/events``, ``event-types``) and the date-versioned
paths, with raw HTTP and HubSpot's Python SDK against a real ``cbe serve``.

Each test asserts a row of docs/hubspot-fidelity.md ("Reading completions", "date-versioned
paths"). The seeded server is shared by the module: its tests only read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from hubspot.events import ApiException

from tests.api.conftest import Server, start_server, stop_server

DEFINITION = {
    "label": "Viewed Car",
    "name": "viewed_car",
    "primaryObject": "CONTACT",
    "includeDefaultProperties": True,
    "propertyDefinitions": [{"name": "make", "label": "Make", "type": "string"}],
}


@dataclass
class Seeded:
    server: Server
    event: str
    ann: str
    bob: str
    ann_berg: str
    """A second contact whose first name is Ann."""

    def get(self, path: str = "/events/v3/events", **params: Any) -> httpx.Response:
        with self.server.client() as http:
            return http.get(path, params=params)

    def sdk(self) -> HubSpot:
        return HubSpot(
            access_token=self.server.token, host=self.server.url, base_url=self.server.url
        )


def _contact(http: httpx.Client, **properties: str) -> str:
    created = http.post("/crm/v3/objects/contacts", json={"properties": properties})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _send(http: httpx.Client, path: str, **body: Any) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == 204, answer.text


def _seed(server: Server) -> Seeded:
    with server.client() as http:
        created = http.post("/events/v3/event-definitions", json=DEFINITION)
        assert created.status_code == 201, created.text
        event = created.json()["fullyQualifiedName"]
        ann = _contact(http, email="ann@example.com", firstname="Ann", lifecyclestage="lead")
        bob = _contact(http, email="bob@example.com", firstname="Bob", lifecyclestage="customer")
        ann_berg = _contact(http, email="berg@example.com", firstname="ann", lastname="Berg")
        makes = ["Ford", "Volvo", "Saab", "Fiat", "Audi"]
        for day, make in enumerate(makes, start=1):
            _send(
                http,
                "/events/v3/send",
                eventName=event,
                objectId=ann,
                occurredAt=f"2026-01-{day:02d}T10:00:00Z",
                properties={"make": make},
            )
        for day in (11, 12, 13):
            _send(
                http,
                "/events/v3/send",
                eventName=event,
                email="bob@example.com",
                occurredAt=f"2026-01-{day:02d}T10:00:00Z",
                properties={"make": "Volvo"},
            )
        _send(
            http,
            "/events/v3/send",
            eventName=event,
            objectId=ann_berg,
            occurredAt="2026-01-20T10:00:00Z",
            properties={"make": "Ford"},
        )
        # Belong to no record: an anonymous visitor, an email no contact has.
        _send(
            http,
            "/events/v3/send",
            eventName=event,
            utk="utk-stranger",
            uuid="anonymous-1",
            occurredAt="2026-01-21T10:00:00Z",
            properties={"make": "Ford"},
        )
        _send(
            http,
            "/events/v3/send",
            eventName=event,
            email="nobody@example.com",
            uuid="unknown-email-1",
            occurredAt="2026-01-22T10:00:00Z",
            properties={"make": "Ford"},
        )
    return Seeded(server, event, ann, bob, ann_berg)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    server = start_server(tmp_path_factory.mktemp("events-read") / "db")
    try:
        yield _seed(server)
    finally:
        print(stop_server(server))


def _objects(body: dict[str, Any]) -> list[str]:
    return [r["objectId"] for r in body["results"]]


def _makes(body: dict[str, Any]) -> list[str]:
    return [r["properties"]["make"] for r in body["results"]]


def _error_codes(answer: httpx.Response) -> list[tuple[str, str]]:
    body = answer.json()
    assert answer.status_code == 400, answer.text
    assert body["category"] == "VALIDATION_ERROR" and body["correlationId"]  # HubSpot's shape
    return [(e["in"], e["code"]) for e in body["errors"]]


class TestObjectProperty:
    def test_any_record_property_filters_the_records_completions(self, seeded: Seeded) -> None:
        body = seeded.get(objectType="contact", **{"objectProperty.lifecyclestage": "customer"})
        assert body.status_code == 200, body.text
        assert _objects(body.json()) == [seeded.bob] * 3

    def test_the_value_is_compared_ignoring_case_and_may_match_several_records(
        self, seeded: Seeded
    ) -> None:
        body = seeded.get(objectType="contact", **{"objectProperty.firstname": "ANN"}).json()
        assert sorted(set(_objects(body))) == sorted([seeded.ann, seeded.ann_berg])
        assert len(body["results"]) == 6

    def test_several_record_properties_must_all_match(self, seeded: Seeded) -> None:
        body = seeded.get(
            objectType="contact",
            **{"objectProperty.firstname": "ann", "objectProperty.lastname": "berg"},
        ).json()
        assert _objects(body) == [seeded.ann_berg]

    def test_email_without_object_type_means_contacts(self, seeded: Seeded) -> None:
        body = seeded.get(**{"objectProperty.email": "Bob@Example.com"}).json()
        assert _objects(body) == [seeded.bob] * 3

    def test_hs_object_id_is_the_record_id(self, seeded: Seeded) -> None:
        body = seeded.get(objectType="contact", **{"objectProperty.hs_object_id": seeded.bob})
        assert _objects(body.json()) == [seeded.bob] * 3

    def test_a_property_no_record_has_lists_nothing_not_everything(self, seeded: Seeded) -> None:
        for params in (
            {"objectProperty.favourite_colour": "blue"},
            {"objectProperty.email": "nobody@example.com"},
            {"objectProperty.firstname": "Ann", "objectId": seeded.bob, "objectType": "contact"},
        ):
            answer = seeded.get(**params)
            assert answer.status_code == 200 and answer.json() == {"results": []}, params

    def test_with_an_event_property_filter_both_hold(self, seeded: Seeded) -> None:
        body = seeded.get(
            objectType="contact",
            **{"objectProperty.firstname": "ann", "property.make": "ford"},
        ).json()
        assert sorted(_objects(body)) == sorted([seeded.ann, seeded.ann_berg])


class TestParameters:
    def test_object_id_without_object_type_is_a_400_naming_object_type(
        self, seeded: Seeded
    ) -> None:
        answer = seeded.get(objectId=seeded.ann)
        assert _error_codes(answer) == [("objectType", "REQUIRED")]
        assert "objectId needs objectType" in answer.json()["message"]

    def test_object_id_is_a_number(self, seeded: Seeded) -> None:
        answer = seeded.get(objectType="contact", objectId="ann")
        assert _error_codes(answer) == [("objectId", "INVALID_VALUE")]

    def test_each_unknown_parameter_is_a_400_naming_it(self, seeded: Seeded) -> None:
        answer = seeded.get(hapikey="x", objectid=seeded.ann, count=5)
        assert _error_codes(answer) == [
            ("hapikey", "UNKNOWN_PARAMETER"),
            ("objectid", "UNKNOWN_PARAMETER"),
            ("count", "UNKNOWN_PARAMETER"),
        ]
        assert "'objectid' is not a parameter of this API" in answer.text

    def test_a_single_valued_parameter_given_twice_is_a_400(self, seeded: Seeded) -> None:
        with seeded.server.client() as http:
            answer = http.get("/events/v3/events?objectType=contact&objectType=deal&limit=1")
        assert _error_codes(answer) == [("objectType", "INVALID_VALUE")]
        assert "objectType is given 2 times" in answer.text

    def test_a_property_prefix_without_a_name_is_a_400(self, seeded: Seeded) -> None:
        for key in ("objectProperty.{propname}", "property.{propname}", "property."):
            assert _error_codes(seeded.get(**{key: "x"})) == [(key, "UNKNOWN_PARAMETER")]

    def test_properties_names_the_event_properties_returned(self, seeded: Seeded) -> None:
        body = seeded.get(objectType="contact", objectId=seeded.bob, properties="hs_city").json()
        assert [r["properties"] for r in body["results"]] == [{}, {}, {}]
        body = seeded.get(objectType="contact", objectId=seeded.bob, properties="make").json()
        assert [r["properties"] for r in body["results"]] == [{"make": "Volvo"}] * 3

    def test_event_type_is_a_name_event_types_lists(self, seeded: Seeded) -> None:
        assert len(seeded.get(eventType=seeded.event).json()["results"]) == 9
        answer = seeded.get(eventType="viewed_car")  # the internal name alone
        assert _error_codes(answer) == [("eventType", "INVALID_VALUE")]
        assert f"use its fully qualified name {seeded.event!r}" in answer.text
        assert _error_codes(seeded.get(eventType="pe1_nothing")) == [("eventType", "INVALID_VALUE")]

    def test_sort_is_ascending_or_descending(self, seeded: Seeded) -> None:
        newest = seeded.get(objectType="contact", objectId=seeded.ann, sort="DESCENDING").json()
        assert _makes(newest) == ["Audi", "Fiat", "Saab", "Volvo", "Ford"]
        oldest = seeded.get(objectType="contact", objectId=seeded.ann, sort="ascending").json()
        assert _makes(oldest) == ["Ford", "Volvo", "Saab", "Fiat", "Audi"]
        for bad in ("ASC", "occurredAt", ["ASCENDING", "DESCENDING"]):
            assert _error_codes(seeded.get(sort=bad)) == [("sort", "INVALID_VALUE")], bad

    def test_after_and_before_together_are_a_400(self, seeded: Seeded) -> None:
        first = seeded.get(limit=2).json()
        cursor = first["paging"]["next"]["after"]
        assert _error_codes(seeded.get(after=cursor, before=cursor)) == [
            ("before", "INVALID_VALUE")
        ]

    def test_a_foreign_before_cursor_is_a_400(self, seeded: Seeded) -> None:
        assert _error_codes(seeded.get(before="garbage")) == [("before", "INVALID_VALUE")]


class TestPaging:
    def _walk(self, seeded: Seeded, **params: Any) -> list[list[str]]:
        pages = []
        body = seeded.get(limit=3, **params).json()
        assert "prev" not in body.get("paging", {})  # the first page has none
        pages.append(_makes(body))
        while "next" in body.get("paging", {}):
            body = seeded.get(limit=3, after=body["paging"]["next"]["after"], **params).json()
            pages.append(_makes(body))
        return pages

    def test_after_walks_forward_and_before_walks_back_over_the_same_pages(
        self, seeded: Seeded
    ) -> None:
        params = {"objectType": "contact", "sort": "ASCENDING"}
        forward = self._walk(seeded, **params)
        assert forward == [
            ["Ford", "Volvo", "Saab"],
            ["Fiat", "Audi", "Volvo"],
            ["Volvo", "Volvo", "Ford"],
        ]
        last = seeded.get(limit=3, **params).json()
        while "next" in last.get("paging", {}):
            last = seeded.get(limit=3, after=last["paging"]["next"]["after"], **params).json()
        backward = [_makes(last)]
        body = last
        while "prev" in body.get("paging", {}):
            body = seeded.get(limit=3, before=body["paging"]["prev"]["before"], **params).json()
            backward.append(_makes(body))
        assert backward[::-1] == forward

    def test_links_carry_their_cursor_once_and_the_filters(self, seeded: Seeded) -> None:
        first = seeded.get(limit=3, objectType="contact").json()
        second = seeded.server.client().get(first["paging"]["next"]["link"]).json()
        link = second["paging"]["prev"]["link"]
        assert link.count("before=") == 1 and "after=" not in link
        assert "objectType=contact" in link and "limit=3" in link
        back = seeded.server.client().get(link).json()
        assert back["results"] == first["results"]
        assert second["paging"]["next"]["link"].count("after=") == 1


class TestRecordless:
    def test_completions_of_no_record_are_not_listed(self, seeded: Seeded) -> None:
        """HubSpot's spec requires each result's ``objectId``: what belongs to no record
        (an anonymous visitor's utk, an email no contact has) is not an event of a record."""
        results = seeded.get(limit=100).json()["results"]
        assert len(results) == 9
        assert all(r["objectId"] and r["objectType"] == "CONTACT" for r in results)
        with seeded.server.client() as http:
            trace = http.get("/cbe/v1/trace/anonymous-1").json()
        assert trace["completions"][0]["match"]["by"] == "none"  # kept, and traceable


def test_a_visitors_completions_are_listed_once_the_visitor_is_a_contact(server: Server) -> None:
    with server.client() as http:
        created = http.post("/events/v3/event-definitions", json=DEFINITION)
        event = created.json()["fullyQualifiedName"]
        beacon = {"eventName": event, "utk": "utk-visitor", "properties": {"make": "Ford"}}
        assert http.post("/cbe/v1/collect", json=beacon).status_code == 200
        assert http.get("/events/v3/events").json() == {"results": []}  # no record yet
        identified = {**beacon, "email": "visitor@example.com", "properties": {"make": "Saab"}}
        assert http.post("/cbe/v1/collect", json=identified).status_code == 200
        contact = http.post(
            "/crm/v3/objects/contacts/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "email",
                                "operator": "EQ",
                                "value": "visitor@example.com",
                            }
                        ]
                    }
                ]
            },
        ).json()["results"][0]["id"]
        listed = http.get("/events/v3/events", params={"sort": "ASCENDING"}).json()["results"]
    assert [(r["objectId"], r["properties"]["make"]) for r in listed] == [
        (contact, "Ford"),
        (contact, "Saab"),
    ]


class TestEventTypes:
    def test_lists_the_custom_events_then_hubspots_own(self, seeded: Seeded) -> None:
        types = seeded.get("/events/v3/events/event-types").json()["eventTypes"]
        assert types[0] == seeded.event
        assert "e_visited_page" in types and "e_form_submission" in types
        assert all(t.startswith("e_") for t in types[1:])

    def test_a_hubspot_event_type_lists_no_completions(self, seeded: Seeded) -> None:
        answer = seeded.get(eventType="e_visited_page")
        assert answer.status_code == 200 and answer.json() == {"results": []}


class TestPythonSdk:
    def test_get_page_filters_and_pages_after_and_before(self, seeded: Seeded) -> None:
        events = seeded.sdk().events.events_api
        first = events.get_page(object_type="contact", object_id=int(seeded.ann), limit=2)
        assert [r.properties["make"] for r in first.results] == ["Audi", "Fiat"]
        assert first.paging.prev is None
        second = events.get_page(
            object_type="contact", object_id=int(seeded.ann), limit=2, after=first.paging.next.after
        )
        assert [r.properties["make"] for r in second.results] == ["Saab", "Volvo"]
        back = events.get_page(
            object_type="contact",
            object_id=int(seeded.ann),
            limit=2,
            before=second.paging.prev.before,
        )
        assert [r.id for r in back.results] == [r.id for r in first.results]

    def test_get_page_with_sort_time_bounds_event_type_and_ids(self, seeded: Seeded) -> None:
        events = seeded.sdk().events.events_api
        page = events.get_page(
            object_type="contact",
            event_type=seeded.event,
            sort=["ASCENDING"],
            occurred_after=datetime(2026, 1, 2, tzinfo=UTC),
            occurred_before=datetime(2026, 1, 12, tzinfo=UTC),
        )
        assert [r.properties["make"] for r in page.results] == [
            "Volvo",
            "Saab",
            "Fiat",
            "Audi",
            "Volvo",
        ]
        picked = events.get_page(id=[page.results[0].id, page.results[2].id])
        assert sorted(r.id for r in picked.results) == sorted(
            [page.results[0].id, page.results[2].id]
        )
        assert events.get_page(event_type="e_visited_page").results == []

    def test_object_id_without_object_type_is_refused(self, seeded: Seeded) -> None:
        with pytest.raises(ApiException) as raised:
            seeded.sdk().events.events_api.get_page(object_id=int(seeded.ann))
        assert raised.value.status == 400
        assert json.loads(raised.value.body)["errors"][0]["in"] == "objectType"

    def test_the_sdks_object_property_placeholder_is_refused_not_ignored(
        self, seeded: Seeded
    ) -> None:
        """SDK 12 sends ``objectProperty.{propname}`` literally; cbe will not answer every
        completion for it. Filters on record properties go through ``api_request``."""
        with pytest.raises(ApiException) as raised:
            seeded.sdk().events.events_api.get_page(
                object_property_propname={"email": "ann@example.com"}
            )
        assert raised.value.status == 400
        assert json.loads(raised.value.body)["errors"][0]["in"] == "objectProperty.{propname}"
        answer = seeded.sdk().api_request(
            {
                "method": "GET",
                "path": "/events/v3/events",
                "qs": {"objectType": "contact", "objectProperty.lifecyclestage": "customer"},
            }
        )
        assert answer.status_code == 200
        assert _objects(answer.json()) == [seeded.bob] * 3

    def test_get_types_lists_custom_and_hubspot_event_types(self, seeded: Seeded) -> None:
        types = seeded.sdk().events.events_api.get_types().event_types
        assert seeded.event in types and "e_visited_page" in types


VERSIONS = [
    ("/events/v3/send", "/events/v3/event-definitions", "/events/v3/events"),
    (
        "/events/2026-03/send",
        "/events/2026-03/event-definitions",
        "/events/event-occurrences/2026-03",
    ),
    (
        "/events/custom/2025-09/send",
        "/events/custom/2025-09/event-definitions",
        "/events/event-occurrences/2025-09",
    ),
    (
        "/events/custom/2026-09/send",
        "/events/custom/2026-09/event-definitions",
        "/events/event-occurrences/2026-09",
    ),
]


def test_the_date_versioned_paths_answer_as_v3(tmp_path: Path) -> None:
    """HubSpot's spec collection serves each events API under v3 and dated versions."""
    server = start_server(tmp_path / "db")
    try:
        with server.client() as http:
            for n, (send, definitions, events) in enumerate(VERSIONS):
                name = f"viewed_car_{n}"
                created = http.post(definitions, json={**DEFINITION, "name": name})
                assert created.status_code == 201, (definitions, created.text)
                event = created.json()["fullyQualifiedName"]
                patched = http.patch(f"{definitions}/{name}", json={"label": "Seen"})
                assert patched.status_code == 201, patched.text
                contact = _contact(http, email=f"v{n}@example.com")
                _send(http, send, eventName=event, objectId=contact, properties={"make": "Ford"})
                batch = http.post(
                    f"{send}/batch",
                    json={"inputs": [{"eventName": event, "objectId": contact, "properties": {}}]},
                )
                assert batch.status_code == 204, batch.text
                listed = http.get(events, params={"objectType": "contact", "objectId": contact})
                assert listed.status_code == 200, listed.text
                assert [r["eventType"] for r in listed.json()["results"]] == [event, event]
                types = http.get(f"{events}/event-types").json()["eventTypes"]
                assert event in types and "e_visited_page" in types
                assert http.get(events, params={"bogus": "1"}).status_code == 400
            v3 = http.get("/events/v3/event-definitions").json()
            for _, definitions, events in VERSIONS[1:]:
                assert http.get(definitions).json() == v3
                assert http.get(events).json() == http.get("/events/v3/events").json()
    finally:
        print(stop_server(server))
