"""Many processes, one truth (issue 17): ``cbe serve`` processes on one PostgreSQL database.

A server killed with SIGKILL in the middle of a stream of sends loses none it acknowledged, and
a sender's retries store nothing twice; two servers taking sends at once store each completion
once, and each sees what the other stored. What is stored is read back through cbe's own
repositories, on a database of the tests' server (tests.postgres).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cli.bootstrap import open_services
from core.ports import CompletionSelection
from tests.api.conftest import Server, start_server, stop_server
from tests.postgres import fresh_database_url

START = datetime(2026, 10, 1, tzinfo=UTC)


def _define_event(server: Server) -> str:
    with server.client() as client:
        made = client.post(
            "/events/v3/event-definitions",
            json={
                "label": "Viewed",
                "name": "viewed",
                "primaryObject": "CONTACT",
                "includeDefaultProperties": True,
                "propertyDefinitions": [],
            },
        )
        assert made.status_code == 201, made.text
        contact = client.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "ann@example.com"}}
        )
        assert contact.status_code == 201, contact.text
    return str(made.json()["fullyQualifiedName"])


def _send(event: str, uuid: str, n: int) -> dict[str, object]:
    return {
        "eventName": event,
        "email": "ann@example.com",
        "uuid": uuid,
        "occurredAt": (START + timedelta(minutes=n)).isoformat(),
        "properties": {"hs_page_title": f"page {n}"},
    }


def _stored_uuids(url: str) -> Counter[str]:
    services = open_services(url, create=False)
    try:
        return Counter(c.uuid for c in services.db.completions.scan(CompletionSelection()))
    finally:
        services.close()


@pytest.mark.slow
def test_a_server_killed_mid_stream_loses_no_acknowledged_send_and_retries_store_once() -> None:
    url = fresh_database_url()
    server = start_server(url)
    event = _define_event(server)
    acknowledged: list[str] = []
    enough = threading.Event()
    total = 400

    def stream() -> None:
        with server.client() as client:
            for n in range(total):
                uuid = f"u-{n}"
                try:
                    answer = client.post("/events/v3/send", json=_send(event, uuid, n))
                except httpx.TransportError:
                    break  # killed while this one was on its way: never acknowledged
                if answer.status_code == 204:
                    acknowledged.append(uuid)
                if len(acknowledged) == 60:
                    enough.set()
        enough.set()

    sender = threading.Thread(target=stream)
    sender.start()
    enough.wait()
    server.process.kill()  # SIGKILL, while the sender keeps sending
    sender.join()
    stop_server(server)
    assert 60 <= len(acknowledged) < total

    stored = _stored_uuids(url)
    assert all(stored[uuid] == 1 for uuid in acknowledged), "an acknowledged send was lost"
    assert max(stored.values()) == 1

    # The sender retries everything it sent (acknowledged or not) against a new server.
    again = start_server(url)
    try:
        with again.client() as client:
            for n in range(total):
                answer = client.post("/events/v3/send", json=_send(event, f"u-{n}", n))
                assert answer.status_code == 204, answer.text
    finally:
        stop_server(again)
    assert _stored_uuids(url) == Counter({f"u-{n}": 1 for n in range(total)})


@pytest.mark.slow
def test_two_servers_on_one_database_store_each_send_once_and_see_each_others() -> None:
    url = fresh_database_url()
    first = start_server(url)
    second = start_server(url)
    try:
        event = _define_event(first)
        answers: list[int] = []

        def send_to(server: Server, name: str) -> None:
            with server.client() as client:
                for start in range(0, 300, 50):
                    batch = {
                        "inputs": [_send(event, f"{name}-{n}", n) for n in range(start, start + 50)]
                    }
                    answers.append(client.post("/events/v3/send/batch", json=batch).status_code)
                for n in range(40):
                    answers.append(
                        client.post(
                            "/events/v3/send", json=_send(event, f"{name}-single-{n}", n)
                        ).status_code
                    )

        senders = [
            threading.Thread(target=send_to, args=(server, name))
            for server, name in ((first, "a"), (second, "b"))
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        assert set(answers) == {204}

        # The same batch sent to both servers at once (a retry racing its original): both
        # answer as HubSpot answers a retry, and it is stored once.
        raced = {"inputs": [_send(event, f"raced-{n}", n) for n in range(50)]}
        race_answers: list[int] = []

        def race(server: Server) -> None:
            with server.client() as client:
                race_answers.append(client.post("/events/v3/send/batch", json=raced).status_code)

        racers = [threading.Thread(target=race, args=(server,)) for server in (first, second)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert race_answers == [204, 204]

        # A sender's retry to the other server is accepted and stores nothing again.
        with second.client() as client:
            retry = {"inputs": [_send(event, f"a-{n}", n) for n in range(50)]}
            assert client.post("/events/v3/send/batch", json=retry).status_code == 204
            seen = client.get(
                "/events/v3/events/", params={"objectType": "contact", "eventType": event}
            )
        assert seen.status_code == 200, seen.text
        assert seen.json()["results"], "the second server sees what the first stored"
    finally:
        stop_server(first)
        stop_server(second)
    stored = _stored_uuids(url)
    assert sum(stored.values()) == 2 * (300 + 40) + 50
    assert max(stored.values()) == 1
