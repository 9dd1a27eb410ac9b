"""Test isolation: a run tags what it sends, lists and waits for its own, deletes its own."""

from __future__ import annotations

import re
import threading
import time

from fastapi.testclient import TestClient

from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.sending import send_one


def _body(event: EventDefinition, contact: CrmRecord, make: str) -> dict[str, object]:
    return {
        "eventName": event.fully_qualified_name,
        "objectId": contact.id,
        "properties": {"make": make},
    }


def _makes(http: TestClient, tag: str) -> list[str]:
    answer = http.get("/cbe/v1/completions", params={"tag": tag}).json()
    return [c["properties"]["make"] for c in answer["results"]]


def test_each_run_sees_and_deletes_only_its_own(
    http: TestClient, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    send = "/events/v3/send"
    tagged = http.post(send, json=_body(viewed_car, contact, "A1"), headers={"X-Cbe-Tag": "run-a"})
    assert tagged.status_code == 204
    http.post(send, params={"tag": "run-b"}, json=_body(viewed_car, contact, "B1"))
    http.post(
        "/events/v3/send/batch",
        headers={"X-Cbe-Tag": "run-a"},
        json={"inputs": [_body(viewed_car, contact, "A2"), _body(viewed_car, contact, "A3")]},
    )
    http.post(send, json=_body(viewed_car, contact, "untagged"))
    assert _makes(http, "run-a") == ["A1", "A2", "A3"]
    assert _makes(http, "run-b") == ["B1"]
    one = http.get("/cbe/v1/completions", params={"tag": "run-a"}).json()["results"][0]
    assert one["tag"] == "run-a"

    deleted = http.delete("/cbe/v1/completions", params={"tag": "run-a"})
    assert deleted.json() == {"deleted": 3}
    assert _makes(http, "run-a") == []
    left = http.get("/events/v3/events").json()["results"]
    assert sorted(c["properties"]["make"] for c in left) == ["B1", "untagged"]


def test_waiting_for_n_completions_answers_as_soon_as_they_arrive(
    http: TestClient, services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    def later() -> None:
        for n in range(3):
            time.sleep(0.1)
            send_one(services.ingestion, _body(viewed_car, contact, f"late {n}"), tag="run-w")

    sender = threading.Thread(target=later)
    sender.start()
    began = time.monotonic()
    answer = http.get(
        "/cbe/v1/completions", params={"tag": "run-w", "waitFor": 3, "timeout": 10}
    ).json()
    waited = time.monotonic() - began
    sender.join()
    assert answer["complete"] is True and answer["total"] == 3
    assert waited < 9  # it answered when they came, not at the timeout
    short = http.get(
        "/cbe/v1/completions", params={"tag": "run-w", "waitFor": 4, "timeout": 0.2}
    ).json()
    assert short["complete"] is False and short["total"] == 3


def test_the_tracking_code_tags_what_it_sends_for_a_browser_tests_run(
    http: TestClient, viewed_car: EventDefinition
) -> None:
    tag = "e2e/run+1@ci"  # "/", "+" and "@" survive the trip through a query string
    script = http.get("/tracking.js", params={"tag": tag}).text
    endpoint = re.search(r'"(http[^"]*/cbe/v1/collect[^"]*)"', script)
    assert endpoint is not None and endpoint.group(1).endswith("?tag=e2e%2Frun%2B1%40ci")
    beacon = f'{{"eventName": "{viewed_car.fully_qualified_name}", "utk": "u1"}}'
    answer = http.post(endpoint.group(1), content=beacon, headers={"Content-Type": "text/plain"})
    assert len(answer.json()["stored"]) == 1
    http.get("/__ptbe.gif", params={"n": viewed_car.fully_qualified_name, "u": "u1", "tag": tag})
    http.post("/cbe/v1/collect", content=beacon)  # untagged
    listed = http.get("/cbe/v1/completions", params={"tag": tag}).json()["results"]
    assert [(c["tag"], c["utk"]) for c in listed] == [(tag, "u1"), (tag, "u1")]
    assert http.get("/tracking.js", params={"tag": "no spaces"}).status_code == 400
    assert "?tag=" not in http.get("/tracking.js").text


def test_a_tag_is_required_and_checked(http: TestClient, viewed_car: EventDefinition) -> None:
    assert http.delete("/cbe/v1/completions").status_code == 400
    bad = http.get("/cbe/v1/completions", params={"tag": "no spaces"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["in"] == "tag"
    refused = http.post(
        "/events/v3/send",
        headers={"X-Cbe-Tag": "x" * 101},
        json={"eventName": viewed_car.fully_qualified_name},
    )
    assert refused.status_code == 400


def test_a_tagged_completion_says_its_run_on_the_timeline(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    send_one(services.ingestion, _body(viewed_car, contact, "Saab"), tag="ci-42")
    send_one(services.ingestion, _body(viewed_car, contact, "Kia"))
    entries = services.timeline.page(contact).entries
    rows = {
        e.completion.properties["make"]: [(r.label, r.value) for r in e.rows]
        for e in entries
        if e.completion is not None
    }
    assert ("Test run tag", "ci-42") in rows["Saab"]
    assert all(label != "Test run tag" for label, _ in rows["Kia"])
