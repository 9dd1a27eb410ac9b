"""``GET /cbe/v1/trace/{uuid}`` and the two answers to a send (issue 15): as HubSpot by default,
everything at once with ``--strict``."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from core.models import CrmRecord, EventDefinition


def _send(http: TestClient, event: EventDefinition, **fields: object) -> int:
    body = {"eventName": event.fully_qualified_name, "properties": {}, **fields}
    return http.post("/events/v3/send", json=body).status_code


def test_a_record_that_does_not_exist_is_accepted_and_traced(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    assert _send(http, viewed_car, objectId="999", uuid="t-1") == 204
    trace = http.get("/cbe/v1/trace/t-1")
    assert trace.status_code == 200
    got = trace.json()
    assert got["accepted"] is True and got["refused"] == [] and got["retries"] == []
    (stored,) = got["completions"]
    assert stored["match"]["by"] == "none" and stored["match"]["sent"] == "999"
    assert stored["timeline"] is None
    assert stored["completion"]["unmatchedObjectId"] == "999"
    assert any("kept unassociated" in line for line in got["summary"])


def test_strict_refuses_a_record_that_does_not_exist_and_a_repeated_uuid(
    strict_http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    answer = strict_http.post(
        "/events/v3/send",
        json={"eventName": viewed_car.fully_qualified_name, "properties": {}, "utk": "nobody"},
    )
    assert answer.status_code == 400
    assert [e["code"] for e in answer.json()["errors"]] == ["UNKNOWN_UTK"]
    assert _send(strict_http, viewed_car, objectId=contact.id, uuid="s-1") == 204
    again = strict_http.post(
        "/events/v3/send/batch",
        json={
            "inputs": [
                {"eventName": viewed_car.fully_qualified_name, "properties": {}, "objectId": "1"},
                {
                    "eventName": viewed_car.fully_qualified_name,
                    "properties": {},
                    "objectId": contact.id,
                    "uuid": "s-1",
                },
            ]
        },
    )
    assert again.status_code == 400
    codes = [(e["in"], e["code"]) for e in again.json()["errors"]]
    assert ("inputs[1].uuid", "DUPLICATE_UUID") in codes
    refused = strict_http.get("/cbe/v1/trace/nobody")  # not a uuid: nothing names it
    assert refused.status_code == 404


def test_a_retry_is_stored_once_and_its_trace_says_when_the_first_came(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    for _ in range(3):
        assert _send(http, viewed_car, objectId=contact.id, uuid="t-2") == 204
    got = http.get("/cbe/v1/trace/t-2").json()
    (stored,) = got["completions"]
    assert stored["match"] == {
        "by": "objectId",
        "sent": contact.id,
        "detail": f"Matched a contact by objectId {contact.id!r}.",
    }
    assert stored["timeline"] == {
        "objectType": "CONTACT",
        "objectId": contact.id,
        "name": "Ann Lee",
    }
    assert len(got["retries"]) == 2
    assert all(r["violations"][0]["code"] == "DUPLICATE_UUID" for r in got["retries"])
    retry_lines = [line for line in got["summary"] if "Retry" in line]
    assert len(retry_lines) == 2 and "the first arrived" in retry_lines[0]


def test_a_refused_send_is_traced_with_every_rule(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    answer = http.post(
        "/events/v3/send",
        json={
            "eventName": viewed_car.fully_qualified_name,
            "objectId": contact.id,
            "uuid": "t-3",
            "occurredAt": "soon",
            "properties": {"colour": "red"},
        },
    )
    assert answer.status_code == 400
    got = http.get("/cbe/v1/trace/t-3").json()
    assert got["accepted"] is False and got["completions"] == []
    (refused,) = got["refused"]
    assert [v["code"] for v in refused["violations"]] == ["INVALID_OCCURRED_AT", "UNKNOWN_PROPERTY"]
    by_id = http.get(f"/cbe/v1/trace/{refused['rejectionId']}").json()
    assert by_id["refused"] == got["refused"]


def test_a_collected_send_without_uuid_is_traced_by_the_id_the_collector_gave(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    collected = http.post(
        "/cbe/v1/collect",
        content=json.dumps(
            {
                "eventName": viewed_car.fully_qualified_name,
                "utk": "visitor-9",
                "properties": {"make": "x" * 300, "nope": 1},
            }
        ),
    ).json()
    (stored,) = collected["stored"]
    got = http.get(f"/cbe/v1/trace/{stored['id']}").json()
    (completion,) = got["completions"]
    assert completion["source"] == "js"
    assert (
        completion["match"]["by"] == "none" and "anonymous visitor" in completion["match"]["detail"]
    )
    assert sorted(c["property"] for c in completion["cuts"]) == ["make", "nope"]
    assert any(line.startswith("  Cut: make") for line in got["summary"])


def test_the_trace_needs_the_token_and_answers_an_unknown_key_as_hubspot_does(
    http: TestClient,
) -> None:
    missing = http.get("/cbe/v1/trace/never-sent")
    assert missing.status_code == 404
    body = missing.json()
    assert body["status"] == "error" and body["category"] == "OBJECT_NOT_FOUND"
    assert "correlationId" in body and "'never-sent'" in body["message"]
    del http.headers["Authorization"]
    assert http.get("/cbe/v1/trace/never-sent").status_code == 401


def test_a_refused_send_without_uuid_is_traced_by_the_answers_correlation_id(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    single = http.post(
        "/events/v3/send",
        json={
            "eventName": viewed_car.fully_qualified_name,
            "objectId": contact.id,
            "properties": {"year": "old"},
        },
    )
    batch = http.post(
        "/events/v3/send/batch",
        json={"inputs": [{"eventName": "pe1_nothing", "objectId": contact.id, "properties": {}}]},
    )
    for answer, code in ((single, "INVALID_NUMBER"), (batch, "UNKNOWN_EVENT")):
        assert answer.status_code == 400
        got = http.get(f"/cbe/v1/trace/{answer.json()['correlationId']}").json()
        (refused,) = got["refused"]
        assert refused["rejectionId"] == answer.json()["correlationId"]
        assert [v["code"] for v in refused["violations"]] == [code]
